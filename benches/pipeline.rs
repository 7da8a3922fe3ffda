//! `make bench`: how long load + check + render take for a synthetic fleet, per stage and per host.
//! A plain binary (no timing assertions anywhere): it prints figures to compare across changes.

use std::time::{Duration, Instant};

fn write_fleet(root: &std::path::Path, hosts: usize) {
    let site = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/hosts/site.toml"))
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

fn make_key(dir: &std::path::Path, bits: usize) -> std::path::PathBuf {
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
    path: std::path::PathBuf,
    signs_per_second: Option<f64>,
}

/// Signatures per second per core from `openssl speed` (the machine's bound for RSA), if present.
fn openssl_signs_per_second(bits: usize) -> Option<f64> {
    let output = std::process::Command::new("openssl")
        .args(["speed", "-mr", "-seconds", "2", &format!("rsa{bits}")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.strip_prefix("+F2:")?.split(':').collect();
            (fields.get(1)? == &bits.to_string().as_str()).then(|| fields.get(2)?.parse().ok())?
        })
}

/// One RSA signature over a package-sized input: the `pgp` crate's signer (pure-Rust RSA) against
/// the OpenSSL package signer, and OpenSSL's own figure.
fn bench_signatures(keys: &[BenchKey]) {
    use rpm::signature::Signing as _;
    println!("\nper RSA signature of 16 KiB (best of 3 x 20):");
    let data = vec![0x5au8; 16 * 1024];
    for BenchKey {
        bits,
        path,
        signs_per_second,
    } in keys
    {
        let key = hostnet::package::signing::SigningKey::load(path, None).unwrap();
        let time = rpm::Timestamp(1_700_000_000);
        let (pgp, _) = best_of(3, || {
            (0..20)
                .map(|_| key.signer.sign(&data[..], time).unwrap().len())
                .sum::<usize>()
        });
        let (fast, _) = best_of(3, || {
            (0..20)
                .map(|_| key.package_signer.sign(&data[..], time).unwrap().len())
                .sum::<usize>()
        });
        let bound = signs_per_second.map_or("n/a".into(), |per_second| {
            format!("{:.2}ms", 1e3 / per_second)
        });
        println!(
            "  RSA-{bits}: pgp crate {:>7.2}ms, hostnet (OpenSSL) {:>7.2}ms, `openssl speed` {bound}",
            pgp.as_secs_f64() * 1e3 / 20.0,
            fast.as_secs_f64() * 1e3 / 20.0,
        );
    }
}

/// `hostnet build` as a user runs it: a full build, a rebuild with nothing changed and one with one
/// host changed, with the time per package against the machine's bound (two signatures per
/// package, spread over every core).
fn bench_builds(hosts: usize, keys: &[BenchKey]) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("\n`hostnet build`, {hosts} hosts, {cores} cores:");
    for BenchKey {
        bits,
        path: key,
        signs_per_second,
    } in keys
    {
        let dir = tempfile::tempdir().unwrap();
        let hosts_dir = dir.path().join("hosts");
        write_fleet(&hosts_dir, hosts);
        let out = dir.path().join("out");
        let errors = dir.path().join("stderr");
        // Time and peak memory (the kernel's high-water mark of the process, read while it runs).
        let run = || {
            let start = Instant::now();
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hostnet"))
                .args(["--hosts", hosts_dir.to_str().unwrap(), "build", "--out"])
                .arg(&out)
                .arg("--key")
                .arg(key)
                .env("SOURCE_DATE_EPOCH", "1700000000")
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
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(
                status.success(),
                "{}",
                std::fs::read_to_string(&errors).unwrap_or_default()
            );
            (start.elapsed(), peak_kib)
        };
        let (full, full_peak) = run();
        let (unchanged, _) = run();
        let changed_host = hosts_dir.join("host-00001.toml");
        let text = std::fs::read_to_string(&changed_host).unwrap();
        std::fs::write(
            &changed_host,
            format!("{text}[sysctl]\n\"net.core.somaxconn\" = 4096\n"),
        )
        .unwrap();
        let (one_changed, _) = run();
        let per_package = full.as_secs_f64() * 1e3 / (hosts + 1) as f64;
        let bound = signs_per_second.map(|per_second| 2.0 * 1e3 / per_second / cores as f64);
        println!(
            "  RSA-{bits}: full {:>7.2}s ({per_package:.2}ms per package{}, peak memory {:.0} MiB), nothing changed {:>6.2}s, one host changed {:>6.2}s",
            full.as_secs_f64(),
            bound.map_or(String::new(), |b| format!(
                ", bound {b:.2}ms, {:.1}x the bound",
                per_package / b
            )),
            full_peak as f64 / 1024.0,
            unchanged.as_secs_f64(),
            one_changed.as_secs_f64(),
        );
    }
}

fn main() {
    let templates = hostnet::templates::Templates::new(None).unwrap();
    let sizes: Vec<usize> = std::env::var("HOSTNET_BENCH_HOSTS")
        .ok()
        .map(|v| v.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![100, 1000, 10000]);
    println!(
        "{:>6} {:>14} {:>14} {:>16}",
        "hosts", "load+check", "render all", "render per host"
    );
    for &hosts in &sizes {
        let dir = tempfile::tempdir().unwrap();
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
        println!(
            "{hosts:>6} {:>12.1}ms {:>12.1}ms {:>14.1}us",
            check_time.as_secs_f64() * 1e3,
            render_time.as_secs_f64() * 1e3,
            render_time.as_secs_f64() * 1e6 / hosts as f64
        );
    }
    let key_dir = tempfile::tempdir().unwrap();
    let keys: Vec<BenchKey> = [2048, 4096]
        .into_iter()
        .map(|bits| BenchKey {
            bits,
            path: make_key(key_dir.path(), bits),
            signs_per_second: openssl_signs_per_second(bits),
        })
        .collect();
    bench_signatures(&keys);
    let build_hosts = std::env::var("HOSTNET_BENCH_BUILD_HOSTS")
        .ok()
        .map_or(1000, |v| v.trim().parse().unwrap());
    bench_builds(build_hosts, &keys);
}
