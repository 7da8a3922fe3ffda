//! A qemu guest on Debian's own kernel (this machine's kernel has no bond or VLAN devices) with no
//! network backend: `tests/guest/make-guest.sh` builds it once per machine, and each boot runs a
//! payload directory's `run.sh` as the guest's only job.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{repo_root, require_tool, run_ok, stderr, stdout};

/// The guest's kernel and initramfs tree, made once per machine.
pub fn guest() -> PathBuf {
    for tool in [
        "qemu-system-x86_64",
        "busybox",
        "cpio",
        "apt-get",
        "dpkg-deb",
        "socat",
        "curl",
    ] {
        require_tool(tool);
    }
    let cache = repo_root().join("target/test-guest/debian-6.1");
    run_ok(
        repo_root()
            .join("tests/guest/make-guest.sh")
            .to_str()
            .unwrap(),
        &[cache.to_str().unwrap()],
    );
    cache
}

/// Boots the guest with `payload` as /test and returns its console.
pub fn boot(cache: &Path, payload: &Path) -> String {
    let output = Command::new(repo_root().join("tests/guest/run-guest.sh"))
        .arg(cache)
        .arg(payload)
        .output()
        .unwrap();
    let console = stdout(&output);
    assert!(
        console.contains("HOSTNET-GUEST-DONE"),
        "the guest did not finish:\n{console}\n{}",
        stderr(&output)
    );
    console
}

/// The text between `BEGIN name` and `END name status=N` on the console, and N.
pub fn section<'a>(console: &'a str, name: &str) -> (&'a str, i32) {
    let begin = format!("BEGIN {name}\n");
    let begin = console
        .find(&begin)
        .or_else(|| console.find(&begin.replace('\n', "\r\n")))
        .unwrap_or_else(|| panic!("no {name} in:\n{console}"));
    let start = begin + format!("BEGIN {name}").len();
    let end_marker = format!("END {name} status=");
    let end = start
        + console[start..]
            .find(&end_marker)
            .unwrap_or_else(|| panic!("{name} did not end in:\n{console}"));
    let status: String = console[end + end_marker.len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (console[start..end].trim(), status.parse().unwrap())
}
