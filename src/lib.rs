//! hostnet compiles Docker host network definitions (TOML under `hosts/`) into the files a CentOS 7
//! host needs: ifcfg files, sysctl and modules-load drop-ins, a dockerd systemd drop-in and package
//! scriptlets; later stages package them as signed RPMs and kickstarts.
//!
//! The pipeline runs one way: [`definition`] loads and merges, [`validate`] checks and resolves into
//! the [`model`], [`render`] turns the model into files.

pub mod allocate;
pub mod build;
pub mod cli;
pub mod commands;
pub mod definition;
pub mod diagnostic;
pub mod digest;
pub mod http;
pub mod import;
pub mod kickstart;
pub mod memo;
pub mod model;
pub mod output;
pub mod package;
pub mod plan;
pub mod publish;
pub mod render;
pub mod repodata;
pub mod repository;
pub mod settings;
pub mod shell;
pub mod show;
pub mod source;
pub mod templates;
pub mod terminal;
pub mod timing;
pub mod validate;

use std::path::Path;

use diagnostic::Diagnostics;

/// Loads and checks a `hosts/` tree: the one entry point every command uses. The definitions
/// are returned for the diagnostics' sources and for `show`.
pub fn load_fleet(root: &Path) -> (definition::Definitions, Diagnostics, Option<model::Fleet>) {
    let mut diagnostics = Diagnostics::default();
    let definitions = definition::load(root, &mut diagnostics);
    let fleet = validate::check(&definitions, &mut diagnostics);
    (definitions, diagnostics, fleet)
}

/// Drops `value` on a thread of its own. Freeing a large fleet's structures (tens of thousands of
/// strings) takes a noticeable part of a quick run; the caller need not wait for it, and a process
/// that exits meanwhile simply returns the memory to the system.
pub fn drop_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("hostnet-drop".into())
        .spawn(move || drop(value));
    // Without a thread, the value was dropped here with the closure that held it.
    drop(spawned);
}
