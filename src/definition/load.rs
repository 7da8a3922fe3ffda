//! Reads the `hosts/` tree and merges each host's settings over its group folders and the site.
//!
//! Layout: `hosts/site.toml` (catalog and fleet-wide `[defaults]`), optional `group.toml` in any
//! sub-folder (defaults for the hosts below it; nested folders apply outer to inner), and one
//! `<host>.toml` per host anywhere in the tree. Precedence, lowest first: site `[defaults]`, each
//! enclosing folder's `group.toml` from the top down, the host file. Tables merge key by key;
//! a value (string, number, boolean or array) set at a lower level replaces the inherited one whole.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use walkdir::WalkDir;

use super::toml_errors;

use super::located::Layer;
use super::schema::{HostLayer, SiteFile};
use crate::diagnostic::Diagnostics;
use crate::source::{FileId, Location, SourceMap};

pub const SITE_FILE: &str = "site.toml";
pub const GROUP_FILE: &str = "group.toml";

/// Everything read from a `hosts/` tree.
#[derive(Debug)]
pub struct Definitions {
    /// The hosts tree these were read from.
    pub root: PathBuf,
    pub sources: SourceMap,
    /// `None` when the site file is missing or does not parse (already reported).
    pub site: Option<(FileId, SiteFile)>,
    /// The hosts' definitions, layered over the site and their groups, in file order.
    pub hosts: Vec<HostDefinition>,
    /// Group files by folder, outer folders first.
    groups: Vec<(PathBuf, Option<(FileId, HostLayer)>)>,
}

/// One host's settings after inheritance.
#[derive(Debug, Clone)]
pub struct HostDefinition {
    /// The file name without `.toml`.
    pub name: String,
    pub file: FileId,
    /// The files the settings came from, site first, host last.
    pub chain: Vec<FileId>,
    // Boxed: a layer is some 1.6 KB in place, and a fleet's hosts are moved about in vectors.
    pub merged: Box<HostLayer>,
}

/// Loads every definition under `root`, reporting unreadable or malformed files into `diagnostics`.
/// Hosts whose site or group file is broken are left out: their problems would only echo that one.
pub fn load(root: &Path, diagnostics: &mut Diagnostics) -> Definitions {
    let (mut definitions, host_files) = read(root, diagnostics);
    // Per host, spread over the cores, then reported in file order as one pass would.
    let layered: Vec<(Option<HostDefinition>, Diagnostics)> = host_files
        .par_iter()
        .map(|(name, path, id)| {
            let mut found = Diagnostics::default();
            let site = definitions
                .site
                .as_ref()
                .map(|(site_id, site)| (*site_id, site));
            let host = layer_host(
                &definitions.sources,
                site,
                &definitions.groups,
                (name.clone(), path, *id),
                &mut found,
            );
            (host, found)
        })
        .collect();
    for (host, found) in layered {
        diagnostics.append(found);
        definitions.hosts.extend(host);
    }
    definitions
}

impl Definitions {
    /// What a host with no settings of its own would inherit at `path` (under the tree's root):
    /// the site's `[defaults]` and the group files of its folders. For `hostnet new`, before its
    /// file exists. `None` when a file it would inherit does not parse.
    pub fn inherited_at(&mut self, path: &Path) -> Option<HostDefinition> {
        self.layer_text(path, "").0
    }

    /// A host file that is not on disk (yet): `text` at `path` (under the tree's root), layered
    /// over what it inherits there, with what parsing it found.
    pub fn layer_text(&mut self, path: &Path, text: &str) -> (Option<HostDefinition>, Diagnostics) {
        let mut found = Diagnostics::default();
        let Some(name) = path.file_stem().map(|n| n.to_string_lossy().into_owned()) else {
            return (None, found);
        };
        let id = self.sources.add(path.to_path_buf(), text.to_string());
        let site = self.site.as_ref().map(|(site_id, site)| (*site_id, site));
        let host = layer_host(
            &self.sources,
            site,
            &self.groups,
            (name, path, id),
            &mut found,
        );
        (host, found)
    }
}

/// A host's file, read but not yet layered: its name, path and source.
type HostFile = (String, PathBuf, FileId);

/// Reads and parses every file under `root`, the site's and groups' settings checked for what
/// belongs only in a host file; returns the host files still to layer.
fn read(root: &Path, diagnostics: &mut Diagnostics) -> (Definitions, Vec<HostFile>) {
    let mut sources = SourceMap::default();
    if !root.is_dir() {
        let id = sources.add(root.to_path_buf(), String::new());
        diagnostics.error(
            &Location::file_start(id),
            "not a directory; point --hosts (or $HOSTNET_HOSTS) at the tree that holds site.toml",
        );
        let definitions = Definitions {
            root: root.to_path_buf(),
            sources,
            site: None,
            hosts: Vec::new(),
            groups: Vec::new(),
        };
        return (definitions, Vec::new());
    }

    let site_path = root.join(SITE_FILE);
    let site = match read_file(&mut sources, &site_path, diagnostics) {
        Some(id) => parse::<SiteFile>(&sources, id, diagnostics).map(|mut site| {
            site.defaults.set_file(id);
            site.site.set_file(id);
            site.package.set_file(id);
            for located in site.kickstart.iter_mut() {
                located.at.file = id;
                located.value.set_file(id);
            }
            for located in site.pxe.iter_mut() {
                located.at.file = id;
                located.value.set_file(id);
            }
            for vlan in site.vlans.values_mut() {
                vlan.at.file = id;
                vlan.value.set_file(id);
            }
            (id, site)
        }),
        None => None,
    };

    let mut groups: Vec<(PathBuf, Option<(FileId, HostLayer)>)> = Vec::new();
    let mut host_files: Vec<HostFile> = Vec::new();
    for entry in WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_ignored_name(&e.file_name().to_string_lossy()))
    {
        let entry = match entry {
            Ok(entry) => entry,
            // An editor's lock file is often a dangling symlink: walkdir reports it as an error
            // before any filter sees its name.
            Err(err)
                if err
                    .path()
                    .and_then(Path::file_name)
                    .is_some_and(|n| is_ignored_name(&n.to_string_lossy())) =>
            {
                continue;
            }
            Err(err) => {
                let path = err.path().unwrap_or(root).to_path_buf();
                let id = sources.add(path, String::new());
                diagnostics.error(&Location::file_start(id), format!("cannot read: {err}"));
                continue;
            }
        };
        let path = entry.path();
        if !entry.file_type().is_file() || path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let is_top = entry.depth() == 1;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if is_top && file_name == SITE_FILE {
            continue;
        }
        let Some(id) = read_file(&mut sources, path, diagnostics) else {
            continue;
        };
        if file_name == SITE_FILE {
            diagnostics.error(
                &Location::file_start(id),
                format!("a site file belongs at the top of the tree ({}); in a folder, use group.toml for the group's defaults",
                    site_path.display()),
            );
            continue;
        }
        if file_name == GROUP_FILE {
            if is_top {
                diagnostics.error(
                    &Location::file_start(id),
                    "group.toml is for folders of hosts; fleet-wide defaults go under [defaults] in site.toml",
                );
                continue;
            }
            let layer = parse::<HostLayer>(&sources, id, diagnostics).map(|mut layer| {
                layer.set_file(id);
                reject_host_only(&layer, "a group file", diagnostics);
                (id, layer)
            });
            groups.push((path.parent().unwrap_or(root).to_path_buf(), layer));
            continue;
        }
        let name = file_name.trim_end_matches(".toml").to_string();
        host_files.push((name, path.to_path_buf(), id));
    }

    crate::timing::mark("definition files read");
    if let Some((_, site)) = &site {
        reject_host_only(&site.defaults, "the site's [defaults]", diagnostics);
    }

    if host_files.is_empty()
        && let Some((site_id, _)) = &site
    {
        diagnostics.warning(
            &Location::file_start(*site_id),
            format!(
                "no host definitions: add one <host>.toml per host under {}",
                root.display()
            ),
        );
    }
    // Outer folders first, whatever the names: `rack-a/a-row/group.toml` sorts before
    // `rack-a/group.toml` but must apply after it.
    groups.sort_by_key(|(folder, _)| folder.components().count());
    let definitions = Definitions {
        root: root.to_path_buf(),
        sources,
        site,
        hosts: Vec::new(),
        groups,
    };
    (definitions, host_files)
}

/// One host's settings over the site's `[defaults]` and its folders' group files; `None` when
/// its own file, the site file or a group file it inherits did not parse (already reported).
fn layer_host(
    sources: &SourceMap,
    site: Option<(FileId, &SiteFile)>,
    groups: &[(PathBuf, Option<(FileId, HostLayer)>)],
    (name, path, id): (String, &Path, FileId),
    diagnostics: &mut Diagnostics,
) -> Option<HostDefinition> {
    let mut own = parse::<HostLayer>(sources, id, diagnostics)?;
    own.set_file(id);
    let (site_id, site) = site?;
    let mut merged = site.defaults.clone();
    let mut chain = vec![site_id];
    for (folder, group) in groups {
        if !path.starts_with(folder) {
            continue;
        }
        let (group_id, layer) = group.as_ref()?;
        merged.overlay(layer.clone());
        chain.push(*group_id);
    }
    merged.overlay(own);
    chain.push(id);
    Some(HostDefinition {
        name,
        file: id,
        chain,
        merged: Box::new(merged),
    })
}

/// Names the loader never reads, files and folders alike: hidden ones (`.git`, vim's `.x.swp`,
/// emacs' lock file `.#x.toml`), emacs' auto-save `#x#` and backups `x~`. Of the rest, only
/// `*.toml` files are definitions.
pub fn is_ignored_name(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('#') || name.ends_with('~')
}

fn read_file(
    sources: &mut SourceMap,
    path: &Path,
    diagnostics: &mut Diagnostics,
) -> Option<FileId> {
    let shown = display_path(path);
    match std::fs::read_to_string(path) {
        Ok(text) => Some(sources.add(shown, text)),
        Err(err) => {
            let id = sources.add(shown, String::new());
            let hint = if err.kind() == std::io::ErrorKind::NotFound && path.ends_with(SITE_FILE) {
                ": every hosts tree needs a site.toml with the VLAN catalog"
            } else {
                ""
            };
            diagnostics.error(
                &Location::file_start(id),
                format!("cannot read: {err}{hint}"),
            );
            None
        }
    }
}

/// Paths are shown as given on the command line (`hosts/rack-a/x.toml`), which is what an operator
/// types into an editor.
fn display_path(path: &Path) -> PathBuf {
    path.strip_prefix("./").unwrap_or(path).to_path_buf()
}

/// A file's settings, every unknown key and wrong type reported at once: after each such error
/// the setting it names is set aside and the rest read again, so that a file with six mistakes
/// takes one round, not six. A syntax error stops the file at once (nothing after it can be read
/// reliably).
fn parse<T: serde::de::DeserializeOwned>(
    sources: &SourceMap,
    id: FileId,
    diagnostics: &mut Diagnostics,
) -> Option<T> {
    let text = &sources.file(id).text;
    let report = |err: &toml::de::Error, diagnostics: &mut Diagnostics| {
        let span = err.span().unwrap_or(0..0);
        let setting = toml_errors::setting_at(text, span.start);
        let spanned = text.get(span.clone()).unwrap_or("");
        let line = sources.line_text(id, span.start);
        diagnostics.error(
            &Location::new(id, span),
            toml_errors::explain(err.message(), setting.as_deref(), spanned, line),
        );
    };
    let mut document = match toml::de::DeTable::parse(text) {
        Ok(document) => document,
        Err(err) => {
            report(&err, diagnostics);
            return None;
        }
    };
    let mut found_any = false;
    for _ in 0..MAX_SETTING_ERRORS_PER_FILE {
        let err = match T::deserialize(toml::de::Deserializer::from(document.clone())) {
            Ok(value) => return (!found_any).then_some(value),
            Err(err) => err,
        };
        // A setting set aside may be one that is required: its absence is no news.
        if found_any && err.message().starts_with("missing field") {
            return None;
        }
        report(&err, diagnostics);
        found_any = true;
        let span = err.span()?;
        if !set_aside(document.get_mut(), &span) {
            return None;
        }
    }
    None
}

/// How many unknown keys and wrong types one file reports before the rest are left for the next
/// run: each costs a pass over the file.
const MAX_SETTING_ERRORS_PER_FILE: usize = 64;

/// Removes from `table` the innermost setting `span` lies in (its key or its value); `false` when
/// it lies in none. A table's own span is only its header, so every sub-table is searched.
fn set_aside(table: &mut toml::de::DeTable<'_>, span: &std::ops::Range<usize>) -> bool {
    let inside = |outer: std::ops::Range<usize>| outer.start <= span.start && span.end <= outer.end;
    let holder = table
        .iter()
        .find(|(key, value)| inside(key.span()) || inside(value.span()))
        .map(|(key, _)| key.clone());
    if let Some(key) = holder {
        let is_table = matches!(
            table.get(&key).map(|v| v.get_ref()),
            Some(toml::de::DeValue::Table(_))
        );
        if !is_table || inside(key.span()) || !set_aside_within(table, &key, span) {
            return table.remove(&key).is_some();
        }
        return true;
    }
    let keys: Vec<_> = table.keys().cloned().collect();
    keys.iter().any(|key| set_aside_within(table, key, span))
}

/// [`set_aside`] in the sub-table at `key`, if it is one.
fn set_aside_within<'i>(
    table: &mut toml::de::DeTable<'i>,
    key: &toml::Spanned<std::borrow::Cow<'i, str>>,
    span: &std::ops::Range<usize>,
) -> bool {
    match table.get_mut(key).map(|value| value.get_mut()) {
        Some(toml::de::DeValue::Table(inner)) => set_aside(inner, span),
        _ => false,
    }
}

fn reject_host_only(layer: &HostLayer, place: &str, diagnostics: &mut Diagnostics) {
    if let Some(fqdn) = &layer.fqdn {
        diagnostics.error(
            &fqdn.at,
            format!("fqdn: names one machine, so it belongs in a host file, not in {place}"),
        );
    }
    if let Some(mac) = &layer.boot_mac {
        diagnostics.error(
            &mac.at,
            format!(
                "boot-mac: names one machine's NIC, so it belongs in a host file, not in {place}"
            ),
        );
    }
}
