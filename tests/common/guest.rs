//! A qemu guest on Debian's own kernel (this machine's kernel has no bond or VLAN devices) with no
//! network backend: `tests/guest/make-guest.sh` builds it once per machine, and each boot runs a
//! payload directory's `run.sh` as the guest's only job.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Fleet, copy_tree, repo_root, require_tool, run_ok, stderr, stdout};

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
    boot_for(cache, payload, 240)
}

/// [`boot`], killing the guest after `seconds`.
pub fn boot_for(cache: &Path, payload: &Path, seconds: u32) -> String {
    let output = Command::new(repo_root().join("tests/guest/run-guest.sh"))
        .arg(cache)
        .arg(payload)
        .env("HOSTNET_GUEST_TIMEOUT", seconds.to_string())
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

/// procps' `sysctl -q [-e] -p FILE...` and `-w KEY=VALUE`, as CentOS 7's reads sysctl.d (the guest's
/// busybox sysctl takes no `-e` and cannot write a dotted interface name): `key = value` lines, `#`
/// and `;` comments, dots separating levels and a `/` in a name standing for a dot; with `-e`, an
/// unknown key is no error.
pub const SYSCTL: &str = r#"#!/bin/bash
files=() ignore=no status=0
write() {
    local key=${1%%=*} value=${1#*=} path= part
    key=${key//[[:space:]]/}; value=${value#"${value%%[![:space:]]*}"}; value=${value%"${value##*[![:space:]]}"}
    IFS=. read -r -a parts <<< "$key"
    for part in "${parts[@]}"; do path=${path:+$path/}${part//\//.}; done
    if [ -w "/proc/sys/$path" ]; then
        echo "$value" > "/proc/sys/$path" || status=1
    elif [ "$ignore" = no ]; then
        echo "sysctl: cannot stat /proc/sys/$path" >&2; status=1
    fi
}
while [ $# -gt 0 ]; do
    case $1 in
        -q) ;;
        -e) ignore=yes ;;
        -p) files+=("$2"); shift ;;
        -w) write "$2"; shift ;;
        *) write "$1" ;;
    esac
    shift
done
for file in "${files[@]}"; do
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in ''|'#'*|';'*) continue ;; esac
        write "$line"
    done < "$file"
done
exit "$status"
"#;

/// Shell helpers a payload's run.sh sources: `show` prints the devices, addresses and routes and
/// what hostnet-verify says of the expected state but dockerd (none runs in the guest); `run NAME
/// COMMAND...` frames a command's output as a section ([`section`]); `wait_for SECONDS COMMAND...`
/// polls, bounded; `has_address DEVICE ADDRESS`, `has_default_route GATEWAY`; `same_files
/// VERSION`: the files are byte for byte those of /test/VERSION, and `$profile_dir` (where the
/// network's profiles are) holds no file that version lacks.
pub const HELPERS: &str = r#"
show() {
    echo "links: $(ls /sys/class/net | grep -v -e '^lo$' -e '^bonding_masters$' | sort | tr '\n' ' ')"
    ip -4 -o addr show | while read -r n d f a rest; do [ "$d" = lo ] || echo "address: $d $a"; done
    ip -4 route show | while read -r line; do echo "route: $line"; done
    grep -v '^dockerd' /usr/share/hostnet/expected-state > /tmp/network-state
    /bin/bash /test/hostnet-verify --state /tmp/network-state > /tmp/verify.out 2>&1
    echo "verify: $? $(tail -n 1 /tmp/verify.out)"
    grep -v '^hostnet-verify' /tmp/verify.out
    return 0
}
run() {
    local name=$1; shift
    echo "$(date +%T) $name" >> /tmp/timeline
    echo "BEGIN $name"
    "$@"
    echo "END $name status=$?"
}
wait_for() {
    local seconds=$1 i; shift
    for i in $(seq 1 "$seconds"); do "$@" && return 0; sleep 1; done
    echo "gave up after ${seconds}s waiting for: $*"
    return 1
}
has_address() { ip -4 -o addr show dev "$1" 2>/dev/null | grep -q " $2/"; }
has_default_route() { ip -4 route show default | grep -q "via $1 "; }
same_files() {
    local file status=0
    for file in $(cd "/test/$1" && find etc usr/share/hostnet -type f); do
        cmp -s "/test/$1/$file" "/$file" || { echo "differs from $1: /$file"; status=1; }
    done
    for file in "${profile_dir:?}"/*; do
        [ -f "/test/$1$file" ] || { echo "not in $1: $file"; status=1; }
    done
    return $status
}
"#;

/// The "switch": a network namespace joined to the bond's two NICs (`enp2s0f0`, `enp2s0f1`) by
/// veth pairs, holding the management gateways of VLANs 51 and 53 (VLAN 52 has none), both DNS
/// servers (socat echoing UDP/53) and the repository (busybox httpd serving /test/www on
/// 10.20.0.80). Sourced by a payload's run.sh; nothing leaves the guest, which has no NIC.
pub const SWITCH: &str = r#"
ip netns add switch
ip link add enp2s0f0 type veth peer name port0 netns switch
ip link add enp2s0f1 type veth peer name port1 netns switch
ip -n switch link add name sw0 type bridge
ip -n switch link set dev port0 master sw0
ip -n switch link set dev port1 master sw0
ip -n switch link add link sw0 name sw0.51 type vlan id 51
ip -n switch addr add 10.20.51.1/24 dev sw0.51
# VLAN 53 has its gateway; VLAN 52 has none.
ip -n switch link add link sw0 name sw0.53 type vlan id 53
ip -n switch addr add 10.20.53.1/24 dev sw0.53
for address in 10.20.0.53 10.20.0.54 10.20.0.80; do ip -n switch addr add "$address/32" dev lo; done
for device in lo port0 port1 sw0 sw0.51 sw0.53; do ip -n switch link set dev "$device" up; done
# Each server answers from its own address, as a DNS server bound to it does.
for address in 10.20.0.53 10.20.0.54; do
    nsenter --net=/run/netns/switch socat "UDP4-RECVFROM:53,bind=$address,fork" EXEC:cat &
done
nsenter --net=/run/netns/switch httpd -p 10.20.0.80:80 -h /test/www
"#;

/// The example's dockerhost-01 rendered into `payload/name` with `management` in place of its
/// `[management]` address and `containers` added to its `[containers]`.
pub fn render_version_with(
    fleet: &Fleet,
    payload: &Path,
    name: &str,
    management: &str,
    containers: &str,
) {
    let host_file = fleet.hosts().join("dockerhost-01.toml");
    let original = std::fs::read_to_string(&host_file).unwrap();
    let address = "address = \"10.20.51.21\"";
    let slice = "slice = \"172.20.56.16/28\"";
    assert!(original.contains(address) && original.contains(slice));
    let changed = original
        .replace(address, management)
        .replace(slice, &format!("{slice}\n{containers}"));
    std::fs::write(&host_file, changed).unwrap();
    let rendered = fleet.dir.path().join(format!("rendered-{name}"));
    let output = fleet.run(&[
        "render",
        "dockerhost-01",
        "--out",
        rendered.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{name}: {}", stderr(&output));
    std::fs::write(&host_file, original).unwrap();
    for tree in ["etc", "usr"] {
        copy_tree(&rendered.join(tree), &payload.join(name).join(tree));
    }
}

/// The state `show` printed in section `name`: exactly the links `links`, a line for each of
/// `expected`, and hostnet-verify clean on the network part of the expected state.
pub fn assert_state(console: &str, name: &str, links: &str, expected: &[&str]) -> String {
    let (state, _) = section(console, name);
    assert!(
        state.contains(&format!("links: {links} \n"))
            || state.contains(&format!("links: {links} \r\n")),
        "{name}: links other than {links}:\n{state}"
    );
    for line in expected {
        assert!(state.contains(line), "{name}: no {line:?} in:\n{state}");
    }
    assert!(
        state.contains("verify: 0 "),
        "{name}: hostnet-verify found drift:\n{state}"
    );
    state.to_string()
}

/// The example fleet on the [`SWITCH`]: its repository at 10.20.0.80, and VLANs 52 (no gateway
/// answers) and 53 (its gateway does) in the catalog; `rollout` is the site's `[defaults.rollout]`.
pub fn switch_fleet(rollout: &str) -> Fleet {
    let fleet = Fleet::example();
    let site = fleet.hosts().join("site.toml");
    let text = std::fs::read_to_string(&site).unwrap();
    let text = text.replace(
        "http://repo.example.com/hostnet\"",
        "http://10.20.0.80/hostnet\"",
    );
    let vlans = "[vlans.mgmt52]\nid = 52\nsubnet = \"10.20.52.0/24\"\ngateway = \"10.20.52.1\"\ndns = [\"10.20.0.53\", \"10.20.0.54\"]\n\n[vlans.mgmt53]\nid = 53\nsubnet = \"10.20.53.0/24\"\ngateway = \"10.20.53.1\"\ndns = [\"10.20.0.53\", \"10.20.0.54\"]\n";
    std::fs::write(
        &site,
        format!("{vlans}\n{text}\n[defaults.rollout]\n{rollout}"),
    )
    .unwrap();

    fleet
}
