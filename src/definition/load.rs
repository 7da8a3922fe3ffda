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
    /// The hosts' definitions, once layered ([`load`], or [`read`] then [`Definitions::layer`]).
    pub hosts: Vec<HostDefinition>,
    /// The host files read but not yet layered, in file order.
    unlayered: Vec<HostFile>,
    /// Group files by folder, outer folders first.
    groups: Vec<(PathBuf, Option<(FileId, HostLayer)>)>,
}

/// A host's file, read but not yet layered over the site and its groups.
#[derive(Debug, Clone)]
pub struct HostFile {
    name: String,
    path: PathBuf,
    id: FileId,
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
    let mut definitions = read(root, diagnostics);
    definitions.layer_all(diagnostics);
    definitions
}

impl Definitions {
    /// Layers every host file not yet layered into [`Definitions::hosts`]: per host, spread over
    /// the cores, then reported in file order as one pass would.
    pub fn layer_all(&mut self, diagnostics: &mut Diagnostics) {
        let host_files = self.take_unlayered();
        let layered = self.layer_each(&host_files);
        self.hosts.reserve_exact(layered.len());
        for (host, found) in layered {
            diagnostics.append(found);
            self.hosts.extend(host);
        }
    }

    /// Each of `files` layered ([`Definitions::layer`]), spread over the cores, in file order.
    pub fn layer_each(&self, files: &[HostFile]) -> Vec<(Option<HostDefinition>, Diagnostics)> {
        files.par_iter().map(|file| self.layer(file)).collect()
    }

    /// The host files not yet layered, taken to be layered one by one with [`Definitions::layer`].
    pub fn take_unlayered(&mut self) -> Vec<HostFile> {
        std::mem::take(&mut self.unlayered)
    }

    /// One host's settings over the site's `[defaults]` and its folders' group files, with what
    /// parsing its file found; `None` when its own file, the site file or a group file it
    /// inherits did not parse (already reported).
    pub fn layer(&self, file: &HostFile) -> (Option<HostDefinition>, Diagnostics) {
        let mut found = Diagnostics::default();
        let site = self.site.as_ref().map(|(site_id, site)| (*site_id, site));
        let HostFile { name, path, id } = file;
        let host = layer_host(
            &self.sources,
            site,
            &self.groups,
            (name.clone(), path, *id),
            &mut found,
        );
        (host, found)
    }
}

/// Reads and parses every file under `root`, the site's and groups' settings checked for what
/// belongs only in a host file, and leaves the hosts to layer ([`Definitions::take_unlayered`]).
pub fn read(root: &Path, diagnostics: &mut Diagnostics) -> Definitions {
    let mut sources = SourceMap::default();
    if !root.is_dir() {
        let id = sources.add(root.to_path_buf(), String::new());
        diagnostics.error(
            &Location::file_start(id),
            "not a directory; point --hosts (or $HOSTNET_HOSTS) at the tree that holds site.toml",
        );
        return Definitions {
            root: root.to_path_buf(),
            sources,
            site: None,
            hosts: Vec::new(),
            unlayered: Vec::new(),
            groups: Vec::new(),
        };
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
        host_files.push(HostFile {
            name,
            path: path.to_path_buf(),
            id,
        });
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
    // Grown by doubling while the tree was walked; a build keeps both for its whole run.
    host_files.shrink_to_fit();
    sources.shrink_to_fit();
    Definitions {
        root: root.to_path_buf(),
        sources,
        site,
        hosts: Vec::new(),
        unlayered: host_files,
        groups,
    }
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

fn parse<T: serde::de::DeserializeOwned>(
    sources: &SourceMap,
    id: FileId,
    diagnostics: &mut Diagnostics,
) -> Option<T> {
    let text = &sources.file(id).text;
    match toml::from_str::<T>(text) {
        Ok(value) => Some(value),
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            let setting = toml_errors::setting_at(text, span.start);
            let spanned = text.get(span.clone()).unwrap_or("");
            let line = sources.line_text(id, span.start);
            diagnostics.error(
                &Location::new(id, span),
                toml_errors::explain(err.message(), setting.as_deref(), spanned, line),
            );
            None
        }
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
