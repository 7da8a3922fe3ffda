//! The package's `%pre`, `%post` and `%postun` scriptlets, from the `specs/*.sh.j2` templates.

use minijinja::context;

use super::{
    MODULES_LOAD_FILE, NETWORK_SCRIPTS, RenderError, RenderedFile, SYSCTL_FILE, ifcfg, keyfile,
};
use crate::model::Host;
use crate::templates::{TemplateError, Templates};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scriptlets {
    pub pre: String,
    pub post: String,
    pub postun: String,
}

pub fn render(
    templates: &Templates,
    host: &Host,
    files: &[RenderedFile],
) -> Result<Scriptlets, RenderError> {
    // The names of the package's files in `dir`.
    let names_in = |dir: &str| -> Vec<String> {
        files
            .iter()
            .filter_map(|f| {
                f.path
                    .strip_prefix(dir)?
                    .strip_prefix('/')
                    .map(String::from)
            })
            .collect()
    };
    let ifcfg_files = names_in(NETWORK_SCRIPTS);
    let keyfiles = names_in(keyfile::SYSTEM_CONNECTIONS);
    let context = context! {
        target => host.target.name(),
        keyfiles => keyfiles,
        connections_dir => keyfile::SYSTEM_CONNECTIONS,
        version => env!("CARGO_PKG_VERSION"),
        host => &host.name,
        fqdn => &host.fqdn,
        boot_mac => host.boot_mac.map(|m| m.to_string()),
        group => &host.docker.group,
        user => &host.docker.user,
        users => &host.docker.users,
        devices => ifcfg::managed_devices(host).iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        ifcfg_files => ifcfg_files,
        management_interface => host.management.interface.as_str(),
        sysctl_file => SYSCTL_FILE,
        modules_file => MODULES_LOAD_FILE,
        docker_dropin_dir => super::DOCKER_DROPIN_DIR,
        docker_dropin_file => super::DOCKER_DROPIN_FILE,
        daemon_json_keys => crate::validate::dockerd_flags::ManagedFlag::ALL
            .map(|flag| flag.daemon_json_key())
            .join("|"),
    };
    let render = |name: &str| {
        templates
            .render(name, context.clone())
            .map_err(template_error)
    };
    // One pair of network scriptlets a network stack; %pre (identity, docker, users) serves both.
    let (post, postun) = if host.target.network_manager() {
        (
            "specs/post-networkmanager.sh.j2",
            "specs/postun-networkmanager.sh.j2",
        )
    } else {
        ("specs/post.sh.j2", "specs/postun.sh.j2")
    };
    Ok(Scriptlets {
        pre: render("specs/pre.sh.j2")?,
        post: render(post)?,
        postun: render(postun)?,
    })
}

pub(crate) fn template_error(error: TemplateError) -> RenderError {
    RenderError::Template {
        message: error.to_string(),
    }
}
