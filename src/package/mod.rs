//! One host's configuration as an EL7 RPM: `hostnet-<host>`, noarch, format v4, gzip payload,
//! every rendered file root-owned with an explicit mode and plain `%config`, signed so that rpm 4.11
//! verifies header and payload.

pub mod el7;
pub mod openssl_signer;
pub mod signing;
pub mod versions;

use rpm::{BuildConfig, CompressionType, Dependency, FileOptions, PackageBuilder};
use sha2::Digest as _;

use crate::model::{Host, Site};
use crate::render::{RenderedFile, RenderedHost};
use signing::SigningKey;

/// Lower-case hex, as rpm writes digests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// rpmlint's limit for description lines.
const DESCRIPTION_WIDTH: usize = 79;

/// Greedy word wrap.
fn wrap(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines.join("\n")
}

/// The package of host-side tools (`hostnet-verify`) every host package requires: a change to the
/// tools is one new package, not a new version of every host.
pub const TOOLS_PACKAGE: &str = "hostnet-tools";
const VERIFY_SCRIPT: &str = include_str!("../../tools/hostnet-verify");
pub const VERIFY_PATH: &str = "/usr/sbin/hostnet-verify";
const APPLY_SCRIPT: &str = include_str!("../../tools/hostnet-apply");
pub const APPLY_PATH: &str = "/usr/sbin/hostnet-apply";

/// The names of the packages a fleet publishes: one per host and `hostnet-tools`. Any other
/// package a repository holds is retired.
pub fn fleet_packages(fleet: &crate::model::Fleet) -> std::collections::HashSet<String> {
    fleet
        .hosts
        .iter()
        .map(|h| format!("hostnet-{}", h.name))
        .chain([TOOLS_PACKAGE.to_string()])
        .collect()
}

/// One hostnet host package per machine. Each package provides `hostnet-host = V`, where V is a
/// number unique to its host ([`host_identity`]), and conflicts with `hostnet-host < V` and
/// `hostnet-host > V`: another host's package is refused, while the package's own copy is not. A
/// plain `Conflicts: hostnet-host` would also do that on rpm 4.16 and later, but rpm 4.11 (EL7)
/// checks a `--replacepkgs` reinstall's conflicts against the installed copy of the same package
/// and refuses the reinstall.
pub const HOST_CAPABILITY: &str = "hostnet-host";

/// The host's number in the `hostnet-host` capability: the first 64 bits of the sha256 of its name,
/// in decimal. Digits only, because rpm's version comparison splits letters from digits (`a-1` and
/// `a1` would compare equal); 64 bits, so two hosts of a fleet never share one (a build checks).
pub fn host_identity(host_name: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(host_name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("building hostnet-{host}: {source}")]
    Rpm {
        host: String,
        #[source]
        source: rpm::Error,
    },
    #[error("sealing hostnet-{host}: {source}")]
    Seal {
        host: String,
        #[source]
        source: el7::SealError,
    },
}

/// Requires with the phase they are needed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Always(String),
    Pre(String),
}

/// Everything that goes into a host package except its version, release and signature. Its
/// digest decides whether a host changed (see [`versions`]).
#[derive(Debug, Clone)]
pub struct PackageSpec {
    pub name: String,
    pub summary: String,
    pub description: String,
    pub license: String,
    pub url: Option<String>,
    pub vendor: Option<String>,
    pub packager: Option<String>,
    pub requires: Vec<Requirement>,
    /// V of `hostnet-host = V`; `None` for `hostnet-tools`, which any host may hold.
    pub host_identity: Option<String>,
    pub rendered: RenderedHost,
}

impl PackageSpec {
    pub fn new(site: &Site, host: &Host, rendered: RenderedHost) -> PackageSpec {
        let version = env!("CARGO_PKG_VERSION");
        let mut requires = vec![
            Requirement::Always("initscripts".into()),
            Requirement::Always("bridge-utils".into()),
            Requirement::Always("systemd".into()),
            Requirement::Pre("shadow-utils".into()),
            // Pre as well: %pre runs hostnet-apply --snapshot before the files change.
            Requirement::Always(TOOLS_PACKAGE.into()),
            Requirement::Pre(TOOLS_PACKAGE.into()),
        ];
        if let Some(docker) = &host.docker.package {
            requires.push(Requirement::Always(docker.clone()));
        }
        let management = &host.management;
        let containers = &host.containers;
        let summary_paragraph = format!(
            "Network and Docker daemon configuration for {fqdn}, generated by hostnet {version} from its \
host definition (site {site}): {bond} bonds {slaves} in mode {mode}; the management address \
{address}/{prefix} sits on {mgmt_if} (VLAN {mgmt_vlan}); VLAN {cvlan} ({cif}) is bridged into {bridge}, \
where dockerd hands out {slice} with gateway {gateway}.",
            fqdn = host.fqdn,
            site = site.name,
            bond = host.bond.name,
            slaves = host.bond.slaves.join(", "),
            mode = host.bond.mode,
            address = management.address,
            prefix = management.prefix,
            mgmt_if = management.interface,
            mgmt_vlan = management.vlan.id,
            cvlan = containers.vlan.id,
            cif = containers.interface,
            bridge = containers.bridge,
            slice = containers.slice,
            gateway = containers.gateway,
        );
        let description = format!(
            "{}\n\n{}",
            wrap(&summary_paragraph, DESCRIPTION_WIDTH),
            wrap(
                "Installing it does not restart the network or docker; hostnet-apply (from hostnet-tools) \
puts it into effect and rolls it back unless confirmed.",
                DESCRIPTION_WIDTH
            )
        );
        PackageSpec {
            name: format!("hostnet-{}", host.name),
            summary: format!(
                "Network configuration for Docker host {} (hostnet {version})",
                host.fqdn
            ),
            description,
            license: site.package.license.clone(),
            url: site.package.url.clone(),
            vendor: site.package.vendor.clone(),
            packager: site.package.packager.clone(),
            requires,
            host_identity: Some(host_identity(&host.name)),
            rendered,
        }
    }

    /// `hostnet-tools`, from the scripts in `tools/`.
    pub fn tools(site: &Site) -> PackageSpec {
        let version = env!("CARGO_PKG_VERSION");
        PackageSpec {
            name: TOOLS_PACKAGE.into(),
            summary: format!("Host-side tools of hostnet {version}: hostnet-apply, hostnet-verify"),
            description: format!(
                "{}\n\n{}",
                wrap(
                    "hostnet-apply puts an installed hostnet host package into effect: it checkpoints the \
running network configuration, restarts the network, probes the gateway, DNS and repository, and restores \
the checkpoint when a probe fails or nobody confirms the change in time.",
                    DESCRIPTION_WIDTH,
                ),
                wrap(
                    "hostnet-verify compares the running network and dockerd with the state the \
installed hostnet host package expects (/usr/share/hostnet/expected-state) and names every drift.",
                    DESCRIPTION_WIDTH,
                )
            ),
            license: site.package.license.clone(),
            url: site.package.url.clone(),
            vendor: site.package.vendor.clone(),
            packager: site.package.packager.clone(),
            requires: vec![
                Requirement::Always("bash".into()),
                Requirement::Always("coreutils".into()),
                Requirement::Always("iproute".into()),
                Requirement::Always("util-linux".into()),
            ],
            host_identity: None,
            rendered: RenderedHost {
                host: "tools".into(),
                files: vec![
                    RenderedFile {
                        path: APPLY_PATH.into(),
                        mode: 0o755,
                        content: APPLY_SCRIPT.into(),
                    },
                    RenderedFile {
                        path: VERIFY_PATH.into(),
                        mode: 0o755,
                        content: VERIFY_SCRIPT.into(),
                    },
                ],
                directories: Vec::new(),
                scriptlets: Default::default(),
            },
        }
    }

    /// sha256 over a canonical listing of everything in the package but version, release and time.
    pub fn digest(&self) -> String {
        let mut hasher = sha2::Sha256::new();
        let mut field = |label: &str, value: &str| {
            hasher.update(label.as_bytes());
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value.as_bytes());
        };
        field("name", &self.name);
        field("summary", &self.summary);
        field("description", &self.description);
        field("license", &self.license);
        for (label, value) in [
            ("url", &self.url),
            ("vendor", &self.vendor),
            ("packager", &self.packager),
        ] {
            field(label, value.as_deref().unwrap_or(""));
        }
        for requirement in &self.requires {
            field("requires", &format!("{requirement:?}"));
        }
        field(
            "host-identity",
            self.host_identity.as_deref().unwrap_or_default(),
        );
        for file in &self.rendered.files {
            field("file", &file.path);
            field("mode", &format!("{:o}", file.mode));
            field("content", &file.content);
        }
        for directory in &self.rendered.directories {
            field("directory", directory);
        }
        let scriptlets = &self.rendered.scriptlets;
        field("pre", &scriptlets.pre);
        field("post", &scriptlets.post);
        field("postun", &scriptlets.postun);
        hex(&hasher.finalize())
    }

    /// Builds the package file's bytes. `source_date` sets build time, file mtimes and signature time.
    pub fn build(
        &self,
        version: &str,
        release: &str,
        source_date: u32,
        key: Option<&SigningKey>,
    ) -> Result<Vec<u8>, PackageError> {
        let host = self.rendered.host.clone();
        let rpm_error = |source| PackageError::Rpm {
            host: host.clone(),
            source,
        };
        let config = BuildConfig::v4()
            .compression(CompressionType::Gzip)
            .source_date(source_date)
            .reserved_space(None);
        let description = format!(
            "{}\n\n{}{}",
            self.description,
            versions::DIGEST_MARKER,
            self.digest()
        );
        let mut builder =
            PackageBuilder::new(&self.name, version, &self.license, "noarch", &self.summary);
        builder
            .using_config(config)
            .release(release)
            .description(description)
            .group("System Environment/Base")
            .build_host("hostnet")
            .add_changelog_entry(
                format!(
                    "{} - {version}-{release}",
                    self.packager.as_deref().unwrap_or("hostnet")
                ),
                format!(
                    "- configuration {version} of {}, generated by hostnet {}",
                    self.rendered.host,
                    env!("CARGO_PKG_VERSION")
                ),
                source_date,
            );
        if let Some(url) = &self.url {
            builder.url(url);
        }
        if let Some(vendor) = &self.vendor {
            builder.vendor(vendor);
        }
        if let Some(packager) = &self.packager {
            builder.packager(packager);
        }
        for requirement in &self.requires {
            builder.requires(match requirement {
                Requirement::Always(name) => Dependency::any(name),
                Requirement::Pre(name) => Dependency::script_pre(name),
            });
        }
        if let Some(identity) = &self.host_identity {
            builder.provides(Dependency::eq(HOST_CAPABILITY, identity));
            builder.conflicts(Dependency::less(HOST_CAPABILITY, identity));
            builder.conflicts(Dependency::greater(HOST_CAPABILITY, identity));
        }
        for directory in &self.rendered.directories {
            builder
                .with_dir_entry(
                    FileOptions::dir(directory)
                        .user("root")
                        .group("root")
                        .permissions(0o755),
                )
                .map_err(rpm_error)?;
        }
        for file in &self.rendered.files {
            let options = FileOptions::new(&file.path)
                .user("root")
                .group("root")
                .permissions(file.mode as u16);
            // Configuration lives under /etc; the expected state under /usr/share is data.
            let options = if file.path.starts_with("/etc/") {
                options.config()
            } else {
                options
            };
            builder
                .with_file_contents(file.content.as_bytes(), options)
                .map_err(rpm_error)?;
        }
        let scriptlets = &self.rendered.scriptlets;
        // Named explicitly, as rpmbuild does, rather than left to rpm's default.
        let shell = |body: &str| rpm::Scriptlet::new(body).prog(vec!["/bin/sh"]);
        if !scriptlets.pre.is_empty() {
            builder.pre_install_script(shell(&scriptlets.pre));
        }
        if !scriptlets.post.is_empty() {
            builder.post_install_script(shell(&scriptlets.post));
        }
        if !scriptlets.postun.is_empty() {
            builder.post_uninstall_script(shell(&scriptlets.postun));
        }
        let package = builder.build().map_err(rpm_error)?;
        el7::seal(package, key, source_date).map_err(|source| PackageError::Seal {
            host: host.clone(),
            source,
        })
    }

    pub fn file_name(&self, version: &str, release: &str) -> String {
        format!("{}-{version}-{release}.noarch.rpm", self.name)
    }
}
