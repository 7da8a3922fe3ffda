//! `make bench`: how long load + check + render take for a synthetic fleet, per stage and per host.
//! A plain binary (no timing assertions anywhere): it prints figures to compare across changes.

use std::time::{Duration, Instant};

fn write_fleet(root: &std::path::Path, hosts: usize) {
    let site = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/hosts/site.toml"))
        .unwrap()
        .replace("subnet = \"172.20.56.0/24\"", "subnet = \"172.20.0.0/16\"")
        .replace("gateway = \"172.20.56.1\"", "gateway = \"172.20.0.1\"")
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
            "boot-mac = \"52:54:00:00:{:02x}:{:02x}\"\n[management]\naddress = \"10.20.{hi}.{lo}\"\n[containers]\nslice = \"172.20.{}.{}/28\"\n",
            i / 256,
            i % 256,
            slice_base / 256,
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

/// Packaging and signing: the costly part of `hostnet build`, per host.
fn bench_packages() {
    use hostnet::package::signing::{KeygenRequest, SigningKey, keygen};
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = (dir.path().join("k.asc"), dir.path().join("k.pub"));
    keygen(&KeygenRequest {
        user_id: "bench <bench@example.com>",
        bits: 4096,
        passphrase: None,
        secret_path: &secret,
        public_path: &public,
    })
    .unwrap();
    let key = SigningKey::load(&secret, None).unwrap();
    let fleet_dir = tempfile::tempdir().unwrap();
    write_fleet(fleet_dir.path(), 50);
    let (_, _, fleet) = hostnet::load_fleet(fleet_dir.path());
    let fleet = fleet.unwrap();
    let templates = hostnet::templates::Templates::new(None).unwrap();
    let specs: Vec<_> = fleet
        .hosts
        .iter()
        .map(|h| {
            hostnet::package::PackageSpec::new(
                &fleet.site,
                h,
                hostnet::render::render_host(&templates, h).unwrap(),
            )
        })
        .collect();
    for (label, key) in [("unsigned", None), ("signed, RSA-4096", Some(&key))] {
        let (time, bytes) = best_of(3, || {
            specs
                .iter()
                .map(|s| s.build("1", "1", 1_700_000_000, key).unwrap().len())
                .sum::<usize>()
        });
        println!(
            "package {label:>17}: {:>8.2}ms per host ({} hosts, {} bytes per package)",
            time.as_secs_f64() * 1e3 / specs.len() as f64,
            specs.len(),
            bytes / specs.len()
        );
    }
}

fn main() {
    let templates = hostnet::templates::Templates::new(None).unwrap();
    println!(
        "{:>6} {:>14} {:>14} {:>16}",
        "hosts", "load+check", "render all", "render per host"
    );
    for hosts in [10, 100, 1000, 4000] {
        let dir = tempfile::tempdir().unwrap();
        write_fleet(dir.path(), hosts);
        let (check_time, (_, diagnostics, fleet)) = best_of(3, || hostnet::load_fleet(dir.path()));
        let fleet = fleet.unwrap_or_else(|| panic!("synthetic fleet invalid:\n{diagnostics:?}"));
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
    bench_packages();
}
