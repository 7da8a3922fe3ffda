//! A repository server that misbehaves on purpose, on a loopback port, and repositories written by
//! hand. hostnet's HTTP client talks to it as to any server: it is a real HTTP/1.1 server over
//! TCP, answering one request per connection (`Connection: close`), and it records every request
//! line it reads. What each reply models:
//! - `Stall`: a server that accepts the connection, reads the request and then sends nothing
//!   (a hung backend behind a load balancer), until the client gives up or the test ends;
//! - `Endless`: a `200` whose chunked body never ends (a misconfigured proxy serving a device, or
//!   an attacker streaming junk), stopped only by the client closing the connection;
//! - `Answer`: any status, headers and body, such as a `Content-Length` far larger than what is
//!   sent.
//!
//! Every loop here is bounded: a stalled connection is held for at most two minutes, an endless
//! body for at most 1 GiB.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub enum Reply {
    Stall,
    Endless,
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

impl Reply {
    pub fn ok(body: &[u8]) -> Reply {
        Reply::Answer {
            status: 200,
            headers: vec![("Content-Length".into(), body.len().to_string())],
            body: body.to_vec(),
        }
    }

    pub fn not_found() -> Reply {
        Reply::Answer {
            status: 404,
            headers: vec![("Content-Length".into(), "0".into())],
            body: Vec::new(),
        }
    }
}

type Route = dyn Fn(&str) -> Reply + Send + Sync;

pub struct HostileServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl HostileServer {
    /// Serves `route(path)` for every request.
    pub fn start(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let route: Arc<Route> = Arc::new(route);
        let (requests_seen, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (route, requests, stop) = (
                    Arc::clone(&route),
                    Arc::clone(&requests_seen),
                    Arc::clone(&stopping),
                );
                std::thread::spawn(move || serve(stream, &*route, &requests, &stop));
            }
        });
        HostileServer {
            port,
            requests,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `host:port`, as hostnet names a server.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request line read so far (`GET /repodata/repomd.xml`).
    pub fn requested(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut stream: TcpStream, route: &Route, requests: &Mutex<Vec<String>>, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let request_line = head.lines().next().unwrap_or("").to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    requests.lock().unwrap().push(format!("{method} {path}"));
    match route(&path) {
        Reply::Stall => {
            let until = Instant::now() + Duration::from_secs(120);
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Reply::Endless => {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            );
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0usize;
            while sent < 1 << 30 && !stop.load(Ordering::SeqCst) {
                let framed = [
                    format!("{:x}\r\n", chunk.len()).as_bytes(),
                    &chunk[..],
                    b"\r\n",
                ]
                .concat();
                if stream.write_all(&framed).is_err() {
                    break;
                }
                sent += chunk.len();
            }
        }
        Reply::Answer {
            status,
            headers,
            body,
        } => {
            let mut text = format!("HTTP/1.1 {status} Whatever\r\nConnection: close\r\n");
            for (name, value) in headers {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str("\r\n");
            let _ = stream.write_all(text.as_bytes());
            if method != "HEAD" {
                let _ = stream.write_all(&body);
            }
        }
    }
}

/// Writes a repository by hand into `root`: `primary` as its only metadata document
/// (gzip-compressed as `compressed` gives it, or compressed here), and `repomd.xml` naming it with
/// its checksum. Returns the document's location.
pub fn write_repository(root: &Path, primary: &[u8], compressed: Option<Vec<u8>>) -> String {
    use sha2::Digest as _;
    let compressed = compressed.unwrap_or_else(|| gzip(primary));
    let checksum = hex(&sha2::Sha256::digest(&compressed));
    let href = format!("repodata/{checksum}-primary.xml.gz");
    std::fs::create_dir_all(root.join("repodata")).unwrap();
    std::fs::write(root.join(&href), &compressed).unwrap();
    let repomd = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n  <revision>1</revision>\n  <data type=\"primary\">\n    <checksum type=\"sha256\">{checksum}</checksum>\n    <location href=\"{href}\"/>\n    <size>{}</size>\n  </data>\n</repomd>\n",
        compressed.len()
    );
    std::fs::write(root.join("repodata/repomd.xml"), repomd).unwrap();
    href
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A primary document listing one package named `name` (XML text, references allowed).
pub fn primary_listing(name: &str, version: u32) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"1\">\n<package type=\"rpm\">\n  <name>{name}</name>\n  <arch>noarch</arch>\n  <version epoch=\"0\" ver=\"{version}\" rel=\"1\"/>\n  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>\n  <summary>x</summary>\n  <description>x</description>\n  <size package=\"100\" installed=\"0\" archive=\"0\"/>\n  <location href=\"Packages/hostnet-evil-{version}-1.noarch.rpm\"/>\n</package>\n</metadata>\n",
        "a".repeat(64)
    )
}

/// Serves the files under `root` (a repository written by hand) as they are; 404 for the rest.
pub fn serve_directory(root: &Path) -> impl Fn(&str) -> Reply + Send + Sync + 'static {
    let root = root.to_path_buf();
    move |path| {
        let relative = path.trim_start_matches('/');
        if relative.split('/').any(|part| part == "..") {
            return Reply::not_found();
        }
        match std::fs::read(root.join(relative)) {
            Ok(bytes) => Reply::ok(&bytes),
            Err(_) => Reply::not_found(),
        }
    }
}
