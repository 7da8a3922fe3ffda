//! The dockerd systemd drop-in: an empty `ExecStart=` resets docker-ce's own line, then hostnet's.

use super::{DOCKER_DROPIN_FILE, RenderedFile, header};
use crate::model::Host;

/// dockerd's arguments after the base ones, in a fixed order.
pub fn dockerd_flags(host: &Host) -> Vec<String> {
    let containers = &host.containers;
    let docker = &host.docker;
    let mut flags = Vec::new();
    if containers.bridge_is_dockers_default() {
        flags.push(format!("--bip={}", containers.bridge_address));
    } else {
        flags.push(format!("--bridge={}", containers.bridge));
    }
    flags.push(format!("--fixed-cidr={}", containers.slice));
    flags.push(format!("--default-gateway={}", containers.gateway));
    flags.extend(
        docker
            .registry_mirrors
            .iter()
            .map(|m| format!("--registry-mirror={m}")),
    );
    flags.extend(
        docker
            .insecure_registries
            .iter()
            .map(|r| format!("--insecure-registry={r}")),
    );
    flags.push(format!("--storage-driver={}", docker.storage_driver));
    flags.push(format!("--ip-forward={}", docker.ip_forward));
    flags.push(format!("--iptables={}", docker.iptables));
    flags.push(format!("--log-driver={}", docker.log_driver));
    flags.extend(docker.extra_flags.iter().cloned());
    flags
}

pub fn render_dropin(host: &Host) -> RenderedFile {
    let docker = &host.docker;
    let mut words = vec![docker.dockerd.clone()];
    words.extend(docker.base_args.iter().cloned());
    words.extend(dockerd_flags(host));
    let content = format!(
        "{}[Service]\nExecStart=\nExecStart={}\n",
        header(host, "#"),
        words.join(" ")
    );
    RenderedFile {
        path: DOCKER_DROPIN_FILE.into(),
        mode: 0o644,
        content,
    }
}
