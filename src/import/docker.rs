//! dockerd's command line, as systemd reads the docker unit and its drop-ins: the flags hostnet
//! manages into their settings, the others kept as base arguments or extra flags.

use ipnet::Ipv4Net;
use toml::Value;

use super::{Collected, Imported, Stack};
use crate::validate::dockerd_flags::{self, ManagedFlag};

/// The dockerd command line: the docker unit's `ExecStart`, then each drop-in's in name order (an
/// empty `ExecStart=` resets it), as systemd reads them.
pub(super) fn docker(collected: &Collected, imported: &mut Imported, stack: Option<&Stack>) {
    let mut units: Vec<(&str, &str)> = collected
        .files
        .get_key_value("etc/systemd/system/docker.service")
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .into_iter()
        .collect();
    units.extend(
        collected
            .under("etc/systemd/system/docker.service.d")
            .filter(|(path, _)| path.ends_with(".conf")),
    );
    let mut exec: Option<(&str, usize, &str)> = None;
    let mut setters = Vec::new();
    for (path, text) in units {
        for (number, line) in text.lines().enumerate() {
            if let Some(command) = line.trim().strip_prefix("ExecStart=") {
                exec = (!command.trim().is_empty()).then_some((path, number + 1, command.trim()));
                if path.contains(".service.d/") && !path.ends_with("/hostnet.conf") {
                    setters.push((path, number + 1));
                }
            }
        }
    }
    for (path, line) in setters {
        imported.note(path, line, "sets ExecStart, which would replace hostnet's dockerd flags: the package's %pre refuses to install while it does; remove the line once this definition holds the flags");
    }
    if let Some(json) = collected.files.get("etc/docker/daemon.json") {
        let managed: Vec<&str> = ManagedFlag::ALL
            .iter()
            .map(|flag| flag.daemon_json_key())
            .filter(|key| json.contains(&format!("\"{key}\"")))
            .collect();
        if !managed.is_empty() {
            imported.note("etc/docker/daemon.json", 0, format!(
                "sets {}, which hostnet passes as dockerd flags: dockerd refuses to start with both; remove them from daemon.json before installing the package",
                managed.join(", ")
            ));
        }
    }
    let Some((path, line, command)) = exec else {
        imported.note("etc/systemd/system", 0, "no ExecStart for docker found: the container slice cannot be read from dockerd's flags; give it with --slice");
        return;
    };
    let mut words: Vec<String> = command.split_whitespace().map(String::from).collect();
    let program = words.remove(0);
    if words.first().map(String::as_str) == Some("daemon") {
        words.remove(0);
        imported.note(path, line, "`docker daemon` is Docker 1.x's command; dockerd replaced it (hostnet writes /usr/bin/dockerd)");
    } else {
        imported.set("docker", "dockerd", Value::String(program));
    }
    let flags = match dockerd_flags::parse(&words) {
        Ok(flags) => flags,
        Err(error) => {
            imported.note(
                path,
                line,
                format!(
                    "dockerd's flags cannot be read ({}): none imported",
                    error.message
                ),
            );
            return;
        }
    };
    // A list no flag fills is empty on this host, whatever the site's defaults hold; a flag not
    // given has dockerd's own default, which hostnet writes out.
    for key in ["registry-mirrors", "insecure-registries"] {
        imported.set("docker", key, Value::Array(Vec::new()));
    }
    let given = |name: &str| flags.iter().any(|flag| flag.name == name);
    for (flag, key, dockerds) in [
        ("ip-forward", "ip-forward", Value::Boolean(true)),
        ("iptables", "iptables", Value::Boolean(true)),
        (
            "log-driver",
            "log-driver",
            Value::String("json-file".into()),
        ),
    ] {
        if !given(flag) {
            imported.set("docker", key, dockerds);
        }
    }
    if !given("bip") && !given("bridge") {
        imported.note(path, line, "no --bip: dockerd gives docker0 an address of its own (172.17.0.1/16 unless configured elsewhere); hostnet passes the bridge's address");
    }
    let mut base = Vec::new();
    let mut extra = Vec::new();
    for (at, flag) in flags.iter().enumerate() {
        let end = flags.get(at + 1).map_or(words.len(), |next| next.index);
        let spelled = words[flag.index..end.max(flag.index + 1)].to_vec();
        let value = flag.value.clone().unwrap_or_else(|| "true".into());
        let Some(managed) = ManagedFlag::named(&flag.name) else {
            if matches!(flag.name.as_str(), "host" | "containerd") {
                base.extend(spelled);
            } else {
                extra.extend(spelled);
            }
            continue;
        };
        match managed {
            ManagedFlag::Bip => {
                let address = value.split('/').next().unwrap_or(&value).to_string();
                imported.set("containers", "bridge-address", Value::String(address));
            }
            ManagedFlag::Bridge => {
                if stack.is_some_and(|s| s.bridge != value) {
                    imported.note(
                        path,
                        line,
                        format!("--bridge={value} is not the bridge the ifcfg files make"),
                    );
                }
            }
            ManagedFlag::FixedCidr => imported.set("containers", "slice", Value::String(value)),
            ManagedFlag::DefaultGateway => {
                imported.set("containers", "gateway", Value::String(value))
            }
            ManagedFlag::RegistryMirror => {
                imported.push("docker", "registry-mirrors", Value::String(value))
            }
            ManagedFlag::InsecureRegistry => {
                imported.push("docker", "insecure-registries", Value::String(value))
            }
            ManagedFlag::StorageDriver => {
                if value == "overlay" {
                    imported.note(path, line, "--storage-driver=overlay, as the original write-up has it: removed in Docker 24; hostnet accepts it with a warning, overlay2 is the driver to use");
                }
                imported.set("docker", "storage-driver", Value::String(value));
            }
            ManagedFlag::LogDriver => imported.set("docker", "log-driver", Value::String(value)),
            ManagedFlag::IpForward => {
                imported.set("docker", "ip-forward", Value::Boolean(value == "true"))
            }
            ManagedFlag::Iptables => {
                imported.set("docker", "iptables", Value::Boolean(value == "true"))
            }
        }
    }
    let base = base.into_iter().map(Value::String).collect();
    imported.set("docker", "base-args", Value::Array(base));
    let extra = extra.into_iter().map(Value::String).collect();
    imported.set("docker", "extra-flags", Value::Array(extra));
    if let Some(stack) = stack
        && let Some(Value::Table(containers)) = imported.settings.get("containers")
        && let Some(Value::String(slice)) = containers.get("slice")
        && let Ok(slice) = slice.parse::<Ipv4Net>()
        && !stack.containers_vlan.subnet.contains(&slice)
    {
        let vlan = &stack.containers_vlan;
        imported.note(
            path,
            line,
            format!(
                "--fixed-cidr={slice} is outside VLAN {} ({})",
                vlan.id, vlan.subnet
            ),
        );
    }
}
