//! Lays a rendered host out as a directory for review: files at their install paths, scriptlets
//! apart under `scriptlets/` (no such directory exists in an installed system's root).

use std::path::Path;

use super::RenderedHost;
use crate::output::{OutputError, Staging};

pub const SCRIPTLET_DIR: &str = "scriptlets";

/// Writes one host's tree under `base` (a staging directory or a sub-directory of one).
pub fn write_host(
    staging: &Staging,
    base: &Path,
    rendered: &RenderedHost,
) -> Result<(), OutputError> {
    for file in &rendered.files {
        let relative = base.join(file.path.trim_start_matches('/'));
        staging.write(&relative, file.content.as_bytes(), file.mode)?;
    }
    let scriptlets = &rendered.scriptlets;
    for (name, body) in [
        ("pre.sh", &scriptlets.pre),
        ("post.sh", &scriptlets.post),
        ("postun.sh", &scriptlets.postun),
    ] {
        staging.write(&base.join(SCRIPTLET_DIR).join(name), body.as_bytes(), 0o755)?;
    }
    Ok(())
}
