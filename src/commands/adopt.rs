//! Adding hosts and seeing the fleet: `new` (a host with the next free address and slice) and
//! `list` (every host with its group, target, addresses and version).

use std::path::{Component, Path};
use std::process::ExitCode;

use super::inspect::write_json;
use super::{CommandResult, checked_fleet, report, write_stdout};
use crate::cli::Format;
use crate::definition::schema::VlanRef;
use crate::model::Fleet;

/// `hostnet new HOST [--group FOLDER]`.
pub fn new(hosts: &Path, name: &str, group: Option<&Path>) -> CommandResult {
    crate::validate::values::host_label(name)
        .map_err(|e| format!("host name {name:?} {e}; a host is named by its file name"))?;
    let Some((mut definitions, _, fleet)) = checked_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    if fleet.host(name).is_some() {
        return Err(format!("host {name} is already defined; choose another name").into());
    }
    let folder = group_folder(hosts, group)?;
    let path = folder.join(format!("{name}.toml"));
    let inherited = definitions
        .inherited_at(&path)
        .ok_or("a file the new host would inherit does not parse (hostnet check)")?;
    let vlan_of = |field: &Option<crate::definition::located::Located<VlanRef>>, key: &str| {
        let reference = field.as_ref().ok_or_else(|| {
            format!(
                "{}: a new host there inherits no {key}; set it in the site's [defaults] or the folder's group.toml",
                folder.display()
            )
        })?;
        crate::validate::catalog::find_vlan(&fleet.site.vlans, &reference.value).ok_or_else(|| {
            format!("{key}: the VLAN the new host inherits is not in the site's catalog")
        })
    };
    let management_vlan = vlan_of(&inherited.merged.management.vlan, "management.vlan")?;
    let containers_vlan = vlan_of(&inherited.merged.containers.vlan, "containers.vlan")?;
    let address = crate::allocate::next_address(&fleet, management_vlan)?;
    let prefix = crate::allocate::slice_prefix(&fleet, containers_vlan);
    let slice = crate::allocate::next_slice(&fleet, containers_vlan, prefix)?;
    let text = format!(
        "# Written by `hostnet new`. Add boot-mac = \"..\" for a PXE boot entry.\n\n[management]\naddress = \"{address}\"\n\n[containers]\nslice = \"{slice}\"\n"
    );
    write_new_file(&path, text.as_bytes())?;
    // The fleet with the new host must check as it did without it; a file that does not is
    // taken back.
    check_with_new_files(
        hosts,
        std::slice::from_ref(&path),
        "a hostnet bug; please report it",
    )?;
    crate::say!(
        "wrote {}: management address {address} (VLAN {} {}), container slice {slice} (VLAN {} {})",
        path.display(),
        management_vlan.name,
        management_vlan.id,
        containers_vlan.name,
        containers_vlan.id
    );
    Ok(ExitCode::SUCCESS)
}

/// The folder `--group` names in the tree at `hosts` (the tree itself without it), which must be
/// there and inside the tree.
fn group_folder(hosts: &Path, group: Option<&Path>) -> Result<std::path::PathBuf, String> {
    let folder = match group {
        None => hosts.to_path_buf(),
        Some(group) => {
            let inside = group
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
            if !inside || group.as_os_str().is_empty() {
                return Err(format!(
                    "--group {}: give a folder of the definitions tree, relative to it (e.g. rack-a)",
                    group.display()
                ));
            }
            hosts.join(group)
        }
    };
    if !folder.is_dir() {
        return Err(format!(
            "{}: no such folder; create it (with a group.toml for its hosts' defaults) first",
            folder.display()
        ));
    }
    Ok(folder)
}

/// Writes `path` whole, or not at all, and never over a file that is there.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::io::Write::write_all(&mut file, bytes).map_err(|e| format!("{}: {e}", dir.display()))?;
    file.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{}: already exists; hostnet new never replaces a file",
                path.display()
            )
        } else {
            format!("{}: {}", path.display(), e.error)
        }
    })?;
    Ok(())
}

/// `hostnet list`.
pub fn list(hosts: &Path, out: &Path, previous: Option<&str>, format: Format) -> CommandResult {
    let Some((definitions, _, fleet)) = checked_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    let known = crate::package::versions::KnownPackages::load(
        &out.join("repo"),
        &crate::build::repository_index_path(out),
        previous,
        None,
    )?;
    let mut hosts: Vec<&crate::model::Host> = fleet.hosts.iter().collect();
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<[String; 6]> = hosts
        .into_iter()
        .map(|host| {
            let file = definitions.sources.path(host.source);
            let group = file
                .parent()
                .and_then(|folder| folder.strip_prefix(&definitions.root).ok())
                .map(|g| g.display().to_string())
                .filter(|g| !g.is_empty())
                .unwrap_or_else(|| "-".into());
            let version = known
                .newest(&crate::package::host_package_name(&host.name))
                .map_or_else(
                    || "-".into(),
                    |p| format!("{}-{}", p.version, crate::package::versions::RELEASE),
                );
            [
                host.name.clone(),
                group,
                host.target.to_string(),
                host.management.address.addr().to_string(),
                host.containers.slice.to_string(),
                version,
            ]
        })
        .collect();
    const HEADINGS: [&str; 6] = ["host", "group", "target", "address", "slice", "version"];
    match format {
        Format::Json => {
            let hosts: Vec<serde_json::Value> = rows
                .iter()
                .map(|row| {
                    let object: serde_json::Map<String, serde_json::Value> = HEADINGS
                        .iter()
                        .zip(row)
                        .map(|(key, value)| {
                            (key.to_string(), serde_json::Value::String(value.clone()))
                        })
                        .collect();
                    serde_json::Value::Object(object)
                })
                .collect();
            write_json(&serde_json::Value::Array(hosts))?;
        }
        Format::Text => {
            let mut widths = HEADINGS.map(str::len);
            for row in &rows {
                for (width, cell) in widths.iter_mut().zip(row) {
                    *width = (*width).max(cell.len());
                }
            }
            let mut text = String::new();
            let headings = HEADINGS.map(String::from);
            for row in std::iter::once(&headings).chain(&rows) {
                let cells: Vec<String> = row
                    .iter()
                    .zip(widths)
                    .map(|(cell, width)| format!("{cell:<width$}"))
                    .collect();
                text.push_str(cells.join("  ").trim_end());
                text.push('\n');
            }
            write_stdout(text.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks the fleet with the files just written; when it does not check, they are removed again
/// and the problems reported.
fn check_with_new_files(
    hosts: &Path,
    written: &[std::path::PathBuf],
    why: &str,
) -> Result<Fleet, String> {
    let (definitions, diagnostics, checked) = crate::load_fleet(hosts);
    if let Some(fleet) = checked.filter(|_| !diagnostics.has_errors()) {
        return Ok(fleet);
    }
    for path in written {
        let _ = std::fs::remove_file(path);
    }
    report(&definitions, &diagnostics);
    Err(format!(
        "the fleet does not check with the new definitions, which were removed ({why})"
    ))
}

/// `hostnet import SOURCE... [--group FOLDER] [--name HOST]`: every source imported, minimised
/// and checked before any file is written; then all written, and the fleet checked with them.
pub fn import(
    hosts: &Path,
    sources: &[std::path::PathBuf],
    group: Option<&Path>,
    (name, slice): (Option<&str>, Option<&str>),
) -> CommandResult {
    if (name.is_some() || slice.is_some()) && sources.len() > 1 {
        return Err("--name and --slice are one host's: give one SOURCE with them".into());
    }
    let Some((mut definitions, _, fleet)) = checked_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    let folder = group_folder(hosts, group)?;
    let checker = crate::validate::HostTextChecker::new(&definitions)
        .ok_or("the definitions have no site.toml")?;
    let mut planned: Vec<Planned> = Vec::new();
    let mut failed = false;
    for source in sources {
        let collected = crate::import::collect(source)?;
        let mut imported = crate::import::import(&collected, &fleet.site.vlans);
        if let Some(slice) = slice {
            imported.give_slice(slice);
        }
        let host_name = match name.map(String::from).or(imported.name.clone()) {
            Some(host_name) => host_name,
            None => {
                crate::tell!(
                    "hostnet: error: {}: no etc/hostname among its files; give the host's name with --name",
                    source.display()
                );
                failed = true;
                continue;
            }
        };
        if !imported.errors.is_empty() {
            for error in &imported.errors {
                crate::tell!("hostnet: error: {}: {error}", source.display());
            }
            for note in &imported.notes {
                crate::tell!("hostnet: note: {}: {note}", source.display());
            }
            failed = true;
            continue;
        }
        crate::validate::values::host_label(&host_name).map_err(|e| {
            format!(
                "{}: host name {host_name:?} {e}; give another with --name",
                source.display()
            )
        })?;
        let taken = fleet.host(&host_name).is_some() || planned.iter().any(|p| p.name == host_name);
        if taken {
            return Err(format!(
                "{}: host {host_name} is already defined; give another name with --name",
                source.display()
            )
            .into());
        }
        let path = folder.join(format!("{host_name}.toml"));
        let imported_notes = imported.notes;
        match minimal_definition(&checker, &mut definitions, &path, imported.settings) {
            Ok(text) => planned.push(Planned {
                path,
                name: host_name,
                text,
                notes: imported_notes,
                collected,
            }),
            Err(problems) => {
                crate::tell!(
                    "hostnet: error: {}: what it holds does not make a valid definition:\n{problems}",
                    source.display()
                );
                for note in &imported_notes {
                    crate::tell!("hostnet: note: {}: {note}", source.display());
                }
                failed = true;
            }
        }
    }
    if failed {
        return Ok(ExitCode::from(1));
    }
    let mut written = Vec::new();
    for Planned {
        path, text, notes, ..
    } in &planned
    {
        let mut file = String::from(
            "# Imported by `hostnet import`; only what differs from what the host inherits.\n",
        );
        for note in notes {
            file.push_str(&format!("# {note}\n"));
        }
        file.push('\n');
        file.push_str(text);
        if let Err(error) = write_new_file(path, file.as_bytes()) {
            for path in &written {
                let _ = std::fs::remove_file(path);
            }
            return Err(error.into());
        }
        written.push(path.clone());
    }
    let fleet = check_with_new_files(
        hosts,
        &written,
        "a fleet-wide rule: an address, a slice or a MAC shared with another host",
    )?;
    let templates = super::site_templates(&fleet.site, None)?;
    for planned in &planned {
        crate::say!(
            "imported {}: {} note(s), kept as comments",
            planned.path.display(),
            planned.notes.len()
        );
        for note in &planned.notes {
            crate::say!("  {note}");
        }
        // What the first install would change on the host, file by file.
        let host = fleet
            .host(&planned.name)
            .ok_or("an imported host is in the fleet")?;
        let rendered = crate::render::render_host(&templates, host)?;
        let current = planned
            .collected
            .files
            .iter()
            .map(|(path, text)| (format!("/{path}"), text.clone()))
            .collect();
        let package = crate::package::host_package_name(&host.name);
        let first_install = crate::plan::first_install(&package, &current, &rendered, |path| {
            crate::import::collect::wanted(path.trim_start_matches('/'))
        });
        crate::say!("what installing {package} would change on the host:");
        write_stdout(first_install.to_human().as_bytes())?;
    }
    let texts: Vec<&str> = planned.iter().map(|p| p.text.as_str()).collect();
    if let Some(shared) = shared_settings(&texts) {
        crate::say!(
            "the {} hosts share these settings: to give them once, put them in {} and remove them from each host:\n{shared}",
            texts.len(),
            folder.join(crate::definition::GROUP_FILE).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One source, imported: where its definition goes, and what the host has now.
struct Planned {
    path: std::path::PathBuf,
    name: String,
    text: String,
    notes: Vec<crate::import::Note>,
    collected: crate::import::Collected,
}

/// The settings every one of several host definitions gives the same value, as TOML; `None` for
/// fewer than two hosts or nothing shared. Host-only settings (`fqdn`, `boot-mac`) and each
/// host's own addresses are never proposed.
fn shared_settings(texts: &[&str]) -> Option<String> {
    if texts.len() < 2 {
        return None;
    }
    let tables: Vec<toml::Table> = texts
        .iter()
        .map(|text| toml::from_str(text).unwrap_or_default())
        .collect();
    let per_host = |key: &str, inner: &str| {
        matches!(
            (key, inner),
            ("management", "address") | ("containers", "slice" | "bridge-address")
        )
    };
    let mut shared = toml::Table::new();
    for (key, value) in &tables[0] {
        if matches!(key.as_str(), "fqdn" | "boot-mac") {
            continue;
        }
        let everywhere = |inner: Option<&str>, value: &toml::Value| {
            tables[1..].iter().all(|table| {
                let found = table.get(key);
                let found = match inner {
                    Some(inner) => found.and_then(|t| t.get(inner)),
                    None => found,
                };
                found == Some(value)
            })
        };
        match value {
            toml::Value::Table(first) => {
                let common: toml::Table = first
                    .iter()
                    .filter(|(inner, value)| {
                        !per_host(key, inner) && everywhere(Some(inner), value)
                    })
                    .map(|(inner, value)| (inner.clone(), value.clone()))
                    .collect();
                if !common.is_empty() {
                    shared.insert(key.clone(), toml::Value::Table(common));
                }
            }
            value if everywhere(None, value) => {
                shared.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    (!shared.is_empty()).then(|| toml::to_string(&shared).unwrap_or_default())
}

/// `settings` as host-file TOML, without any setting whose absence gives the same host (it
/// inherits that value, or it is the default). Err: what checking the whole of it found.
fn minimal_definition(
    checker: &crate::validate::HostTextChecker,
    definitions: &mut crate::definition::Definitions,
    path: &Path,
    mut settings: toml::Table,
) -> Result<String, String> {
    let text_of = |settings: &toml::Table| toml::to_string(settings).unwrap_or_default();
    let (whole, found) = checker.check(definitions, path, &text_of(&settings));
    let Some(whole) = whole else {
        return Err(found.render(&definitions.sources));
    };
    let goal = crate::memo::host_digest(&whole);
    // Leaf settings, one table deep or two (bond.options): tried one at a time.
    let mut leaves: Vec<Vec<String>> = Vec::new();
    for (key, value) in &settings {
        match value {
            toml::Value::Table(table) => {
                for (inner, value) in table {
                    match value {
                        toml::Value::Table(deeper) => leaves.extend(
                            deeper
                                .keys()
                                .map(|k| vec![key.clone(), inner.clone(), k.clone()]),
                        ),
                        _ => leaves.push(vec![key.clone(), inner.clone()]),
                    }
                }
            }
            _ => leaves.push(vec![key.clone()]),
        }
    }
    for leaf in leaves {
        let mut without = settings.clone();
        remove_leaf(&mut without, &leaf);
        let (host, _) = checker.check(definitions, path, &text_of(&without));
        if host.is_some_and(|host| crate::memo::host_digest(&host) == goal) {
            settings = without;
        }
    }
    Ok(text_of(&settings))
}

/// Removes the setting at `leaf`, and the tables it leaves empty.
fn remove_leaf(table: &mut toml::Table, leaf: &[String]) {
    match leaf {
        [] => {}
        [key] => {
            table.remove(key);
        }
        [key, rest @ ..] => {
            if let Some(toml::Value::Table(inner)) = table.get_mut(key) {
                remove_leaf(inner, rest);
                if inner.is_empty() {
                    table.remove(key);
                }
            }
        }
    }
}
