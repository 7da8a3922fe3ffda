//! `hostnet plan`: what a build would publish, compared with what is published, before anything
//! is built or any host touched. Per host: new, changed, unchanged or retired; for a changed host a
//! unified diff of every file and scriptlet, the devices whose settings change (a bond option, a
//! VLAN, an address, the dockerd flags, a sysctl value) and what must restart for the change to
//! take effect. The same decision as `build` (the content digest), so a plan says what the build
//! will do.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::model::Fleet;
use crate::package::PackageSpec;
use crate::package::versions::{Current, KnownPackages, RELEASE, VersionError};
use crate::render::{self, DOCKER_DROPIN_FILE, MODULES_LOAD_FILE, NETWORK_SCRIPTS, SYSCTL_FILE};
use crate::templates::Templates;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error("{file}: cannot read the published package: {source}")]
    Package {
        file: String,
        #[source]
        source: rpm::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostState {
    New,
    Changed,
    Unchanged,
    Retired,
}

impl std::fmt::Display for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HostState::New => "new",
            HostState::Changed => "changed",
            HostState::Unchanged => "unchanged",
            HostState::Retired => "retired",
        })
    }
}

/// One file (or scriptlet, named `%pre`, `%post`, `%postun`) that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    /// `added`, `removed` or `modified`.
    pub change: &'static str,
    pub diff: String,
}

/// One setting of a device (or of `dockerd`, `sysctl`, `modules`) that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub setting: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceChange {
    pub device: String,
    pub settings: Vec<SettingChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    /// The package name, `hostnet-<host>`.
    pub package: String,
    pub state: HostState,
    /// The newest published version, `N-1`.
    pub published: Option<String>,
    /// The version the build would publish.
    pub planned: Option<String>,
    pub files: Vec<FileChange>,
    pub devices: Vec<DeviceChange>,
    /// What must restart (or be re-applied) on the host for the change to take effect.
    pub restarts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub hosts: Vec<HostPlan>,
}

impl Plan {
    /// Whether publishing would change anything.
    pub fn has_changes(&self) -> bool {
        self.hosts.iter().any(|h| h.state != HostState::Unchanged)
    }

    pub fn count(&self, state: HostState) -> usize {
        self.hosts.iter().filter(|h| h.state == state).count()
    }

    pub fn to_json(&self) -> String {
        let json = serde_json::to_string_pretty(self).expect("a plan serialises");
        crate::terminal::json_printable(&json).into_owned() + "\n"
    }

    /// One line a package that changes (state, versions, what changes, what must restart), then
    /// the totals: what a reviewer of a fleet-wide change reads first.
    pub fn to_summary(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for host in self
            .hosts
            .iter()
            .filter(|h| h.state != HostState::Unchanged)
        {
            let _ = write!(out, "{}: {}{}", host.package, host.state, host.versions());
            let files: Vec<&str> = host.files.iter().map(|f| f.path.as_str()).collect();
            let devices: Vec<&str> = host.devices.iter().map(|d| d.device.as_str()).collect();
            match host.state {
                HostState::New => {
                    let _ = write!(out, "; {} files", files.len());
                }
                HostState::Changed => {
                    let _ = write!(out, "; files: {}", files.join(", "));
                    if !devices.is_empty() {
                        let _ = write!(out, "; settings of: {}", devices.join(", "));
                    }
                    if !host.restarts.is_empty() {
                        let _ = write!(out, "; restarts: {}", host.restarts.len());
                    }
                }
                HostState::Retired | HostState::Unchanged => {}
            }
            out.push('\n');
        }
        out.push_str(&self.totals());
        out
    }

    fn totals(&self) -> String {
        format!(
            "plan: {} new, {} changed, {} unchanged, {} retired\n",
            self.count(HostState::New),
            self.count(HostState::Changed),
            self.count(HostState::Unchanged),
            self.count(HostState::Retired)
        )
    }

    /// The report for a terminal or a merge request.
    pub fn to_human(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for host in &self.hosts {
            let _ = writeln!(out, "{}: {}{}", host.package, host.state, host.versions());
            if host.state == HostState::Retired {
                let _ = writeln!(
                    out,
                    "  no longer defined: every version leaves the repository"
                );
            }
            for device in &host.devices {
                let _ = writeln!(out, "  {}:", device.device);
                for setting in &device.settings {
                    let show = |v: &Option<String>| {
                        v.as_ref()
                            .map_or_else(|| "(unset)".to_string(), |v| format!("{v:?}"))
                    };
                    let _ = writeln!(
                        out,
                        "    {}: {} -> {}",
                        setting.setting,
                        show(&setting.before),
                        show(&setting.after)
                    );
                }
            }
            if !host.restarts.is_empty() {
                let _ = writeln!(out, "  takes effect after: {}", host.restarts.join("; "));
            }
            for file in &host.files {
                out.push_str(&file.diff);
            }
        }
        out.push_str(&self.totals());
        out
    }
}

impl HostPlan {
    /// ` (published -> planned)`, or the one version there is.
    fn versions(&self) -> String {
        match (&self.published, &self.planned) {
            (Some(old), Some(new)) if old != new => format!(" ({old} -> {new})"),
            (Some(old), _) => format!(" ({old})"),
            (None, Some(new)) => format!(" ({new})"),
            (None, None) => String::new(),
        }
    }
}

/// The plan for `fleet` against what `known` holds, each host planned on its own, on every core.
pub fn plan(
    fleet: &Fleet,
    templates: &Templates,
    known: &KnownPackages,
) -> Result<Plan, PlanError> {
    let site = &fleet.site;
    let planned: Vec<Result<HostPlan, PlanError>> = fleet
        .hosts
        .par_iter()
        .map(|host| {
            let rendered = render::render_host(templates, host)?;
            plan_package(&PackageSpec::new(site, host, rendered), known)
        })
        .collect();
    // The first host's error in definition order, whichever thread met it first.
    let mut hosts = planned
        .into_iter()
        .collect::<Result<Vec<HostPlan>, PlanError>>()?;
    hosts.push(plan_package(&PackageSpec::tools(site), known)?);
    let mut retired: Vec<String> = known
        .orphans(&crate::package::fleet_packages(
            fleet.hosts.iter().map(|h| h.name.as_str()),
        ))
        .into_iter()
        .map(|p| p.name().to_string())
        .collect();
    retired.dedup();
    for name in retired {
        let newest = known
            .newest(&name)
            .map(|n| format!("{}-{RELEASE}", n.version));
        hosts.push(HostPlan {
            package: name,
            state: HostState::Retired,
            published: newest,
            planned: None,
            files: Vec::new(),
            devices: Vec::new(),
            restarts: Vec::new(),
        });
    }
    hosts.sort_by(|a, b| a.package.cmp(&b.package));
    Ok(Plan { hosts })
}

/// What installing `rendered` (package `package`) would change on a host whose own files are
/// `current` (by install path): for `hostnet import`, before a hand-made host's first install.
/// Only the files the package installs that `compared` takes are compared (the ones the host's
/// files were read from); its scriptlets are not files of the host.
pub fn first_install(
    package: &str,
    current: &BTreeMap<String, String>,
    rendered: &render::RenderedHost,
    compared: impl Fn(&str) -> bool,
) -> Plan {
    let mut after = files_of_rendered(rendered);
    after.retain(|path, _| path.starts_with('/') && compared(path));
    let before: BTreeMap<String, String> = after
        .keys()
        .filter_map(|path| Some((path.clone(), current.get(path)?.clone())))
        .collect();
    let mut plan = HostPlan {
        package: package.to_string(),
        state: HostState::Changed,
        published: None,
        planned: None,
        files: Vec::new(),
        devices: Vec::new(),
        restarts: Vec::new(),
    };
    compare(&before, &after, "on the host", &mut plan);
    if plan.files.is_empty() {
        plan.state = HostState::Unchanged;
    }
    Plan { hosts: vec![plan] }
}

/// A network restart cuts connections: on the host, `hostnet-apply` does it with a rollback.
const NETWORK_RESTART: &str = "systemctl restart network (cuts connections; hostnet-apply does it and rolls back unless confirmed)";
/// The same under NetworkManager (el8, el9): the new profiles loaded and brought up.
const PROFILES_RELOAD: &str = "nmcli connection reload and the profiles brought up again (cuts connections; hostnet-apply does it inside a NetworkManager checkpoint, rolled back unless confirmed)";

/// One package's plan: what `build` decides for it (the same [`KnownPackages::plan`]), and for a
/// change what differs from the newest known version.
fn plan_package(spec: &PackageSpec, known: &KnownPackages) -> Result<HostPlan, PlanError> {
    let decision = known.plan(&spec.name, &spec.digest(), 1, |v| {
        spec.file_name(&v.to_string(), RELEASE)
    })?;
    let newest = known.newest(&spec.name);
    let version = |v: u64| format!("{v}-{RELEASE}");
    let state = match (&decision.current, newest) {
        (Current::Keep(_), _) => HostState::Unchanged,
        (Current::Build(_), None) => HostState::New,
        (Current::Build(_), Some(_)) => HostState::Changed,
    };
    let planned = version(decision.current.version());
    let mut plan = HostPlan {
        package: spec.name.clone(),
        state,
        published: newest.map(|n| version(n.version)),
        planned: Some(planned),
        files: Vec::new(),
        devices: Vec::new(),
        restarts: Vec::new(),
    };
    if state != HostState::Unchanged {
        let before = match newest {
            Some(n) => files_of_package(&n.bytes()?, n.file_name())?,
            None => BTreeMap::new(),
        };
        let label = newest.map_or("(none)".to_string(), |n| n.file_name().to_string());
        compare(
            &before,
            &files_of_rendered(&spec.rendered),
            &label,
            &mut plan,
        );
    }
    Ok(plan)
}

/// Path (or scriptlet name) to content, as the package will carry them.
fn files_of_rendered(rendered: &render::RenderedHost) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = rendered
        .files
        .iter()
        .map(|f| (f.path.clone(), f.content.clone()))
        .collect();
    let scriptlets = &rendered.scriptlets;
    for (name, script) in [
        ("%pre", &scriptlets.pre),
        ("%post", &scriptlets.post),
        ("%postun", &scriptlets.postun),
    ] {
        if !script.is_empty() {
            files.insert(name.to_string(), script_lines(script));
        }
    }
    files
}

/// The same from a package file.
fn files_of_package(bytes: &[u8], file_name: &str) -> Result<BTreeMap<String, String>, PlanError> {
    let failed = |source| PlanError::Package {
        file: file_name.to_string(),
        source,
    };
    let package = rpm::Package::parse(&mut std::io::Cursor::new(bytes)).map_err(failed)?;
    let mut files = BTreeMap::new();
    for file in package.files().map_err(failed)? {
        let file = file.map_err(failed)?;
        // A directory the package owns has no content to compare (the rendered files list none).
        if file.metadata.file_type() == rpm::FileType::Dir {
            continue;
        }
        if let Some(content) = file.content() {
            files.insert(
                file.metadata.path().to_string_lossy().into_owned(),
                String::from_utf8_lossy(content).into_owned(),
            );
        }
    }
    let metadata = &package.metadata;
    for (name, script) in [
        ("%pre", metadata.get_pre_install_script()),
        ("%post", metadata.get_post_install_script()),
        ("%postun", metadata.get_post_uninstall_script()),
    ] {
        if let Ok(script) = script {
            files.insert(name.to_string(), script_lines(&script.script));
        }
    }
    Ok(files)
}

/// A scriptlet as lines that each end in a newline: packages store scriptlets without the last
/// one (as rpmbuild does; earlier hostnet builds kept it), which is no change to show.
fn script_lines(script: &str) -> String {
    format!("{}\n", script.trim_end_matches('\n'))
}

fn compare(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    label: &str,
    plan: &mut HostPlan,
) {
    let paths: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut restarts: Vec<&str> = Vec::new();
    // What puts the network files into effect is the planned package's network stack.
    let network_restart = if after.keys().any(|path| keyfile_device(path).is_some()) {
        PROFILES_RELOAD
    } else {
        NETWORK_RESTART
    };
    for path in paths {
        let (old, new) = (before.get(path), after.get(path));
        if old == new {
            continue;
        }
        let change = match (old, new) {
            (None, _) => "added",
            (_, None) => "removed",
            _ => "modified",
        };
        let old_text = old.map_or("", String::as_str);
        let new_text = new.map_or("", String::as_str);
        let diff = similar::TextDiff::from_lines(old_text, new_text)
            .unified_diff()
            .context_radius(3)
            .header(&format!("{path} ({label})"), &format!("{path} (planned)"))
            .to_string();
        plan.files.push(FileChange {
            path: path.clone(),
            change,
            diff,
        });
        if let Some(device) = path
            .strip_prefix(NETWORK_SCRIPTS)
            .and_then(|name| name.strip_prefix("/ifcfg-"))
        {
            push_device(
                plan,
                device,
                ifcfg_settings(old_text),
                ifcfg_settings(new_text),
            );
            restarts.push(network_restart);
        } else if let Some(device) = keyfile_device(path) {
            push_device(
                plan,
                device,
                keyfile_settings(old_text),
                keyfile_settings(new_text),
            );
            restarts.push(network_restart);
        } else if path == MODULES_LOAD_FILE {
            push_device(plan, "modules", lines(old_text), lines(new_text));
            restarts.push(network_restart);
        } else if path == SYSCTL_FILE {
            push_device(
                plan,
                "sysctl",
                sysctl_settings(old_text),
                sysctl_settings(new_text),
            );
            restarts.push("sysctl -p /etc/sysctl.d/90-hostnet.conf");
        } else if path == DOCKER_DROPIN_FILE {
            push_device(
                plan,
                "dockerd",
                dockerd_flags(old_text),
                dockerd_flags(new_text),
            );
            restarts.push(
                "systemctl daemon-reload && systemctl restart docker (stops the containers; hostnet-apply --restart-docker does it)",
            );
        }
    }
    restarts.sort();
    restarts.dedup();
    plan.restarts = restarts.into_iter().map(String::from).collect();
}

fn push_device(
    plan: &mut HostPlan,
    device: &str,
    before: BTreeMap<String, String>,
    after: BTreeMap<String, String>,
) {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let settings: Vec<SettingChange> = keys
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| SettingChange {
            setting: k.clone(),
            before: before.get(k).cloned(),
            after: after.get(k).cloned(),
        })
        .collect();
    if !settings.is_empty() {
        plan.devices.push(DeviceChange {
            device: device.to_string(),
            settings,
        });
    }
}

/// `KEY=value` lines of an ifcfg file, with the quoting hostnet writes undone.
fn ifcfg_settings(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map_or_else(
                    || v.to_string(),
                    |v| v.replace("\\\"", "\"").replace("\\\\", "\\"),
                );
            (k.to_string(), v)
        })
        .collect()
}

/// `key = value` lines of a sysctl file.
/// The device of a NetworkManager keyfile hostnet writes: `<device>.nmconnection`.
fn keyfile_device(path: &str) -> Option<&str> {
    path.strip_prefix(render::keyfile::SYSTEM_CONNECTIONS)?
        .strip_prefix('/')?
        .strip_suffix(".nmconnection")
}

/// A keyfile's settings as `group.key`, the names nmcli uses (`ipv4.address1`).
fn keyfile_settings(text: &str) -> BTreeMap<String, String> {
    let mut group = "";
    let mut settings = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            group = name;
        } else if let Some((key, value)) = line.split_once('=')
            && !line.starts_with('#')
        {
            settings.insert(format!("{group}.{}", key.trim()), value.trim().to_string());
        }
    }
    settings
}

fn sysctl_settings(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Non-comment lines, as a set.
fn lines(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| (l.trim().to_string(), "present".to_string()))
        .collect()
}

/// The dockerd command line of a drop-in: the program, then each flag by its long name (read as
/// dockerd reads them, [`crate::validate::dockerd_flags::parse`]), a flag given no value as `on`,
/// a repeated flag with every value. A line dockerd could not read is one setting, as written.
fn dockerd_flags(text: &str) -> BTreeMap<String, String> {
    let Some(line) = text
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .find(|l| !l.trim().is_empty())
    else {
        return BTreeMap::new();
    };
    let mut words = line.split_whitespace().map(String::from);
    let mut flags = BTreeMap::new();
    flags.insert("(program)".to_string(), words.next().unwrap_or_default());
    let arguments: Vec<String> = words.collect();
    let Ok(parsed) = crate::validate::dockerd_flags::parse(&arguments) else {
        flags.insert("(arguments)".to_string(), arguments.join(" "));
        return flags;
    };
    for flag in parsed {
        let value = flag.value.unwrap_or_else(|| "on".into());
        flags
            .entry(format!("--{}", flag.name))
            .and_modify(|values: &mut String| {
                values.push(' ');
                values.push_str(&value);
            })
            .or_insert(value);
    }
    flags
}
