//! Adding hosts and seeing the fleet: `new` (a host with the next free address and slice) and
//! `list` (every host with its group, target, addresses and version).

use std::path::{Component, Path};
use std::process::ExitCode;

use super::inspect::write_json;
use super::{CommandResult, report, write_stdout};
use crate::cli::Format;
use crate::definition::schema::VlanRef;
use crate::model::{Fleet, Vlan};

/// `hostnet new HOST [--group FOLDER]`.
pub fn new(hosts: &Path, name: &str, group: Option<&Path>) -> CommandResult {
    crate::validate::values::host_label(name)
        .map_err(|e| format!("host name {name:?} {e}; a host is named by its file name"))?;
    let (mut definitions, diagnostics, fleet) = crate::load_fleet(hosts);
    let Some(fleet) = fleet.filter(|_| !diagnostics.has_errors()) else {
        report(&definitions, &diagnostics);
        crate::tell!("hostnet: the definitions have errors; fix them first (hostnet check)");
        return Ok(ExitCode::from(1));
    };
    if fleet.host(name).is_some() {
        return Err(format!("host {name} is already defined; choose another name").into());
    }
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
                )
                .into());
            }
            hosts.join(group)
        }
    };
    if !folder.is_dir() {
        return Err(format!(
            "{}: no such folder; create it (with a group.toml for its hosts' defaults) first",
            folder.display()
        )
        .into());
    }
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
        find_vlan(&fleet, &reference.value).ok_or_else(|| {
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
    let (definitions, diagnostics, checked) = crate::load_fleet(hosts);
    if diagnostics.has_errors() || checked.is_none() {
        let _ = std::fs::remove_file(&path);
        report(&definitions, &diagnostics);
        return Err(format!(
            "{}: the new definition did not check, and was removed (a hostnet bug; please report it with the errors above)",
            path.display()
        )
        .into());
    }
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

fn find_vlan<'f>(fleet: &'f Fleet, reference: &VlanRef) -> Option<&'f Vlan> {
    fleet.site.vlans.iter().find(|vlan| match reference {
        VlanRef::Id(id) => i64::from(vlan.id) == *id,
        VlanRef::Name(name) => vlan.name == *name,
    })
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
    let (definitions, diagnostics, fleet) = crate::load_fleet(hosts);
    let Some(fleet) = fleet.filter(|_| !diagnostics.has_errors()) else {
        report(&definitions, &diagnostics);
        crate::tell!("hostnet: the definitions have errors; fix them first (hostnet check)");
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
