//! The settings tables checked against the reference and against what the parser accepts.

use super::*;
use crate::definition::schema::{HostLayer, KickstartSection, SiteFile};

/// The rows (setting, default) of the reference's table after `heading`.
fn reference_rows(heading: &str) -> Vec<(String, String)> {
    let reference = include_str!("../../docs/reference.md");
    let start = reference
        .find(heading)
        .expect("docs/reference.md has the table");
    reference[start..]
        .lines()
        .skip_while(|line| !line.starts_with("| setting"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            (
                cells[0].trim().trim_matches('`').to_string(),
                cells[1].trim().to_string(),
            )
        })
        .collect()
}

fn ours(table: &[Setting]) -> Vec<(String, String)> {
    table
        .iter()
        .map(|s| (s.key.to_string(), s.default_text()))
        .collect()
}

#[test]
fn the_reference_lists_every_setting_with_its_default() {
    assert_eq!(reference_rows("### Host settings"), ours(HOST));
    assert_eq!(reference_rows("`[kickstart]`:"), ours(KICKSTART));
    assert_eq!(reference_rows("The other site settings:"), ours(SITE));
}

/// The keys serde accepts in a table, from the error for a key it does not.
fn accepted<T: serde::de::DeserializeOwned + std::fmt::Debug>(toml_text: &str) -> Vec<String> {
    let error = toml::from_str::<T>(toml_text).expect_err("an unknown key is refused");
    let message = error.message().to_string();
    // serde writes `expected one of `a`, `b``, `expected `a` or `b`` or `expected `a``.
    let (_, expected) = message
        .split_once(", expected ")
        .unwrap_or_else(|| panic!("{message}"));
    let expected = expected.trim_start_matches("one of ");
    let mut keys: Vec<String> = expected
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|key| key.trim().trim_matches('`').to_string())
        .collect();
    keys.sort();
    keys
}

/// The keys `table` defines directly under `prefix` (`bond.` -> `name`, `options`...).
fn defined(table: &[Setting], prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = table
        .iter()
        .filter_map(|s| s.key.strip_prefix(prefix))
        .map(|rest| rest.split('.').next().unwrap_or(rest).to_string())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn the_definition_parser_accepts_exactly_these_settings() {
    assert_eq!(
        accepted::<HostLayer>("not-a-setting = 1"),
        defined(HOST, "")
    );
    for table in ["bond", "management", "containers", "docker", "rollout"] {
        assert_eq!(
            accepted::<HostLayer>(&format!("[{table}]\nnot-a-setting = 1")),
            defined(HOST, &format!("{table}.")),
            "[{table}]"
        );
    }
    // `root-password` is accepted only to be refused with advice (docs/reference.md, [kickstart]).
    let mut kickstart = defined(KICKSTART, "");
    kickstart.push("root-password".into());
    kickstart.sort();
    assert_eq!(accepted::<KickstartSection>("not-a-setting = 1"), kickstart);

    let site = "[vlans.v]\nid = 1\nsubnet = \"10.0.0.0/24\"\ngateway = \"10.0.0.1\"\n";
    assert_eq!(
        accepted::<SiteFile>(&format!("not-a-setting = 1\n{site}")),
        defined(SITE, "")
    );
    for table in ["site", "package", "pxe"] {
        assert_eq!(
            accepted::<SiteFile>(&format!("{site}[{table}]\nnot-a-setting = 1\n")),
            defined(SITE, &format!("{table}.")),
            "[{table}]"
        );
    }
    assert_eq!(
        accepted::<SiteFile>(&format!("{site}not-a-setting = 1\n")),
        defined(SITE, "vlans.<name>."),
        "[vlans.<name>]"
    );
}

#[test]
fn defaults_parse_as_their_settings() {
    assert_eq!(
        default_text(HOST, "containers.bridge"),
        crate::model::DEFAULT_BRIDGE
    );
    let _: u32 = default_of(HOST, "bond.miimon");
    let _: crate::model::StorageDriver = default_of(HOST, "docker.storage-driver");
    let _: crate::model::LogDriver = default_of(HOST, "docker.log-driver");
    let _: crate::model::Autopart = default_of(KICKSTART, "autopart");
    let _: crate::model::SelinuxMode = default_of(KICKSTART, "selinux");
}
