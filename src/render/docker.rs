//! The dockerd systemd drop-in: an empty `ExecStart=` resets docker-ce's own line, then hostnet's.

use super::{DOCKER_DROPIN_FILE, RenderedFile, header};
use crate::model::Host;
use crate::validate::dockerd_flags::ManagedFlag;

/// dockerd's arguments after the base ones: the flags hostnet manages, in their fixed order, then
/// the definition's extra flags.
pub fn dockerd_flags(host: &Host) -> Vec<String> {
    let mut flags: Vec<String> = ManagedFlag::ALL
        .into_iter()
        .flat_map(|flag| {
            let values = flag.values(host);
            values
                .into_iter()
                .map(move |value| format!("--{}={value}", flag.name()))
        })
        .collect();
    flags.extend(host.docker.extra_flags.iter().cloned());
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
