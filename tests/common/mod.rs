//! Helpers shared by the integration tests: a scratch hosts tree and running the real binary.
#![allow(dead_code)]

pub mod guest;
pub mod hostile;
pub mod root;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tests' own copy of the example fleet. `hosts/` is the user's: tests never read it, so a
/// host added there changes no test.
pub fn example_fleet() -> PathBuf {
    repo_root().join("tests/fixtures/example-fleet")
}

/// A copy of the example fleet in a temporary directory, to break or extend.
pub struct Fleet {
    pub dir: tempfile::TempDir,
}

impl Fleet {
    pub fn example() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&example_fleet(), &dir.path().join("hosts"));
        Fleet { dir }
    }

    /// The example site with `count` more hosts (`host-00000`...), half of them in a group folder;
    /// the VLANs are widened to /16 so that every host gets its own address and slice.
    pub fn with_extra_hosts(count: usize) -> Fleet {
        let fleet = Fleet::example();
        let site = std::fs::read_to_string(fleet.hosts().join("site.toml"))
            .unwrap()
            .replace("subnet = \"172.20.56.0/24\"", "subnet = \"172.20.0.0/16\"")
            .replace("gateway = \"172.20.56.1\"", "gateway = \"172.20.0.1\"")
            .replace("subnet = \"10.20.51.0/24\"", "subnet = \"10.20.0.0/16\"")
            .replace("gateway = \"10.20.51.1\"", "gateway = \"10.20.0.1\"");
        fleet.write("site.toml", &site);
        for i in 0..count {
            let (hi, lo) = (100 + i / 250, i % 250 + 2);
            let slice = 0x8000 + i * 16;
            let text = format!(
                "boot-mac = \"52:54:00:01:{:02x}:{:02x}\"\n[management]\naddress = \"10.20.{hi}.{lo}\"\n[containers]\nslice = \"172.20.{}.{}/28\"\n",
                i / 256,
                i % 256,
                slice / 256,
                slice % 256
            );
            let folder = if i % 2 == 0 { "rack-a/" } else { "" };
            fleet.write(&format!("{folder}host-{i:05}.toml"), &text);
        }
        fleet
    }

    /// The example site with `[pxe] installer-vlan = true`, and a host `arp` with a boot MAC whose
    /// bond option `arp_ip_target` holds two addresses, which dracut's `bond=` cannot take. Also
    /// returns the example's `site.toml` as it was.
    pub fn with_a_bond_option_the_installer_cannot_take() -> (Fleet, String) {
        let fleet = Fleet::example();
        let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
        fleet.write(
            "site.toml",
            &site.replace("[pxe]\n", "[pxe]\ninstaller-vlan = true\n"),
        );
        fleet.write(
            "arp.toml",
            "boot-mac = \"52:54:00:aa:00:01\"\n[bond]\nmode = 1\nmiimon = 0\n[bond.options]\narp_interval = 100\narp_ip_target = \"10.20.51.1,10.20.51.2\"\n[management]\naddress = \"10.20.51.80\"\n[containers]\nslice = \"172.20.56.192/28\"\n",
        );
        (fleet, site)
    }

    pub fn hosts(&self) -> PathBuf {
        self.dir.path().join("hosts")
    }

    /// Writes (or replaces) a file relative to the hosts tree.
    pub fn write(&self, relative: &str, content: &str) -> &Self {
        let path = self.hosts().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    pub fn append(&self, relative: &str, content: &str) -> &Self {
        let path = self.hosts().join(relative);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(content);
        std::fs::write(path, text).unwrap();
        self
    }

    pub fn run(&self, args: &[&str]) -> Output {
        hostnet(self.dir.path(), args)
    }
}

/// Runs the hostnet binary in `cwd` (so that paths in messages read `hosts/...`).
pub fn hostnet(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(args)
        .current_dir(cwd)
        .env_remove("HOSTNET_HOSTS")
        .output()
        .expect("run hostnet")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Whether a command exists; tests that need a real tool fail loudly when it is missing,
/// because `make test` installs it.
pub fn require_tool(name: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed; run the tests with `make test`, which installs it"
    );
}

/// Runs a command and returns its output, panicking with stderr when it fails.
pub fn run_ok(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

/// A signing key made by `hostnet keygen` (RSA-2048 to keep tests quick).
pub fn hostnet_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let secret = dir.join(format!("{name}.asc"));
    let public = dir.join(format!("RPM-GPG-KEY-{name}"));
    let output = hostnet(
        dir,
        &[
            "keygen",
            "--uid",
            &format!("{name} <{name}@example.com>"),
            "--bits",
            "2048",
            "--secret-key",
            secret.to_str().unwrap(),
            "--public-key",
            public.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    (secret, public)
}

/// `hostnet build` of `fleet` with a fixed SOURCE_DATE_EPOCH.
pub fn build(fleet: &Fleet, key: Option<&Path>, out: &Path, epoch: &str) -> Output {
    build_with(fleet, key, out, epoch, &[])
}

/// [`build`] with more arguments.
pub fn build_with(
    fleet: &Fleet,
    key: Option<&Path>,
    out: &Path,
    epoch: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "build".to_string(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ];
    match key {
        Some(key) => args.extend(["--key".into(), key.to_str().unwrap().into()]),
        None => args.push("--unsigned".into()),
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(&args)
        .current_dir(fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", epoch)
        .env_remove("HOSTNET_SIGNING_KEY")
        .env_remove("HOSTNET_KEY_PASSPHRASE")
        .output()
        .unwrap()
}

pub fn package_path(out: &Path, host: &str, version: u32) -> PathBuf {
    out.join(format!(
        "repo/Packages/hostnet-{host}-{version}-1.noarch.rpm"
    ))
}

/// A real nginx on a loopback port, serving `root()` and taking uploads under `/repo/`, which need
/// basic auth as `user`/`password` when `with_auth`: WebDAV (`PUT`, `DELETE`, `MKCOL`, `MOVE`), or
/// with [`Nginx::start_put_only`] only `PUT` and `DELETE`, creating parent paths on `PUT` and
/// answering 405 to `MKCOL`, `MOVE`, `PROPFIND` and `LOCK`, as a Nexus raw repository does.
/// Stopped when dropped.
pub struct Nginx {
    child: std::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
    with_auth: bool,
}

pub const NGINX_USER: &str = "publisher";
pub const NGINX_PASSWORD: &str = "s3cret-for-tests";

impl Nginx {
    pub fn start(with_auth: bool) -> Nginx {
        Nginx::start_with(with_auth, "PUT DELETE MKCOL COPY MOVE")
    }

    pub fn start_put_only(with_auth: bool) -> Nginx {
        Nginx::start_with(with_auth, "PUT DELETE")
    }

    fn start_with(with_auth: bool, dav_methods: &str) -> Nginx {
        require_tool("nginx");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        std::fs::create_dir_all(root.join("repo")).unwrap();
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let auth = if with_auth {
            let hash = stdout(&run_ok("openssl", &["passwd", "-apr1", NGINX_PASSWORD]));
            std::fs::write(
                dir.path().join("htpasswd"),
                format!("{NGINX_USER}:{}\n", hash.trim()),
            )
            .unwrap();
            format!(
                "limit_except GET HEAD {{ auth_basic \"hostnet\"; auth_basic_user_file {}/htpasswd; }}",
                dir.path().display()
            )
        } else {
            String::new()
        };
        let d = dir.path().display();
        let config = format!(
            "user root;\nmaster_process off;\nworker_processes 1;\ndaemon off;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  client_max_body_size 100m;\n  server {{\n    listen 127.0.0.1:{port};\n    root {};\n    location /repo/ {{\n      dav_methods {dav_methods};\n      create_full_put_path on;\n      dav_access user:rw group:r all:r;\n      {auth}\n    }}\n  }}\n}}\n",
            root.display()
        );
        std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = Nginx {
            child,
            port,
            dir,
            with_auth,
        };
        // Bounded: 200 tries, 25 ms apart.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!(
            "nginx did not listen on 127.0.0.1:{port}: {}",
            std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default()
        );
    }

    /// The directory nginx serves; `/repo/` is `root()/repo`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server publish writes to and clients read from: its URL for a path under its root, and the
/// directory it serves `/repo/` from.
pub trait RepoServer {
    fn url(&self, path: &str) -> String;
    fn root(&self) -> PathBuf;
    /// Whether uploads need the test credentials ([`NGINX_USER`]) while reads need none.
    fn checks_credentials(&self) -> bool;
    /// Whether a file PUT or MOVEd onto an existing one replaces it in one step (nginx renames
    /// into place), or the old one is gone for a moment first (wsgidav deletes the destination of
    /// a MOVE first, as RFC 4918 describes MOVE).
    fn replaces_in_one_step(&self) -> bool;
}

impl RepoServer for Nginx {
    fn url(&self, path: &str) -> String {
        Nginx::url(self, path)
    }

    fn root(&self) -> PathBuf {
        Nginx::root(self)
    }

    fn checks_credentials(&self) -> bool {
        self.with_auth
    }

    fn replaces_in_one_step(&self) -> bool {
        true
    }
}

/// wsgidav (from PyPI), a WebDAV server of its own (MKCOL, MOVE, PUT refused with 409 where the
/// parent is missing, LOCK), on a loopback port, serving `root()/repo` as `/repo/` to anyone.
/// Stopped when dropped.
pub struct WsgiDav {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl WsgiDav {
    pub fn start() -> WsgiDav {
        require_tool("wsgidav");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("www/repo")).unwrap();
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let config = format!(
            "host: 127.0.0.1\nport: {port}\nprovider_mapping:\n  \"/repo\": \"{}\"\nhttp_authenticator:\n  domain_controller: null\nsimple_dc:\n  user_mapping:\n    \"*\": true\nverbose: 1\nlogging:\n  enable_loggers: []\nlock_storage: true\nproperty_manager: true\n",
            dir.path().join("www/repo").display()
        );
        std::fs::write(dir.path().join("wsgidav.yaml"), config).unwrap();
        let child = Command::new("wsgidav")
            .arg("--config")
            .arg(dir.path().join("wsgidav.yaml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start wsgidav");
        let server = WsgiDav { child, port, dir };
        // Bounded: 400 tries, 25 ms apart (Python starts slower than nginx).
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("wsgidav did not listen on 127.0.0.1:{port}");
    }
}

impl RepoServer for WsgiDav {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    fn checks_credentials(&self) -> bool {
        false
    }

    fn replaces_in_one_step(&self) -> bool {
        false
    }
}

impl Drop for WsgiDav {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` with its output discarded, sends it SIGKILL after `delay` and reaps it.
pub fn kill_after(command: &mut Command, delay: std::time::Duration) {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().unwrap();
}
