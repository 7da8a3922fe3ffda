//! `hostnet show`: a host's effective definition after inheritance, as TOML, each value annotated
//! with the file and line it came from, or how hostnet derived it.

use crate::definition::schema::Field;
use crate::definition::{Definitions, HostDefinition};
use crate::model::Host;
use crate::source::Location;

struct Printer<'a> {
    definitions: &'a Definitions,
    out: String,
    /// The same settings for machines: section, then key, each `{"value": .., "from": ..}`.
    json: serde_json::Map<String, serde_json::Value>,
    section: String,
}

/// A host's effective definition, as annotated TOML and as JSON.
pub struct Effective {
    pub text: String,
    pub json: serde_json::Value,
}

impl Printer<'_> {
    fn origin(&self, at: &Location) -> String {
        let sources = &self.definitions.sources;
        let (line, _) = sources.line_col(at.file, at.span.start);
        format!("{}:{line}", sources.path(at.file).display())
    }

    /// `key = value`, annotated with where `field` was set or, if nowhere, `otherwise`.
    fn line<T>(&mut self, key: &str, value: String, field: &Field<T>, otherwise: &str) {
        let origin = match field {
            Some(located) => self.origin(&located.at),
            None => otherwise.to_string(),
        };
        let setting = format!("{key} = {value}");
        self.out.push_str(&format!("{setting:<48} # {origin}\n"));
        // The value as TOML reads it (the text is TOML), the key as a TOML key.
        let parsed = |text: &str| {
            toml::from_str::<toml::Table>(&format!("v = {text}"))
                .ok()
                .and_then(|mut table| table.remove("v"))
        };
        let key = toml::from_str::<toml::Table>(&format!("{key} = 0"))
            .ok()
            .and_then(|table| table.keys().next().cloned())
            .unwrap_or_else(|| key.to_string());
        let entry = serde_json::json!({
            "value": parsed(&value).map_or(serde_json::Value::String(value), |v| {
                serde_json::to_value(v).unwrap_or_default()
            }),
            "from": origin,
        });
        let table = if self.section.is_empty() {
            &mut self.json
        } else {
            self.json
                .entry(self.section.clone())
                .or_insert_with(|| serde_json::Value::Object(Default::default()))
                .as_object_mut()
                .expect("a section is an object")
        };
        table.insert(key, entry);
    }

    fn section(&mut self, name: &str) {
        self.out.push_str(&format!("\n[{name}]\n"));
        self.section = name.to_string();
    }
}

/// How a host setting left out got its value, from the settings table: `default`, or the
/// derivation (`default: first address of the slice`).
fn default_note(key: &str) -> String {
    match crate::settings::find(crate::settings::HOST, key).map(|s| s.default) {
        Some(crate::settings::Default::Words(words)) => {
            format!("default: {}", words.replace('`', ""))
        }
        Some(_) => "default".into(),
        None => unreachable!("{key} is not a host setting"),
    }
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list<T: ToString>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(|i| quoted(&i.to_string())).collect();
    format!("[{}]", items.join(", "))
}

pub fn effective_definition(
    definitions: &Definitions,
    definition: &HostDefinition,
    host: &Host,
) -> Effective {
    let merged = &definition.merged;
    let chain: Vec<String> = definition
        .chain
        .iter()
        .map(|id| definitions.sources.path(*id).display().to_string())
        .collect();
    let mut p = Printer {
        definitions,
        out: format!(
            "# Effective definition of host {}\n# Inherited, lowest precedence first: {}\n\n",
            host.name,
            chain.join(" -> ")
        ),
        json: serde_json::Map::new(),
        section: String::new(),
    };
    let inherited = serde_json::json!(chain);
    p.line(
        "fqdn",
        quoted(&host.fqdn),
        &merged.fqdn,
        &default_note("fqdn"),
    );
    match host.boot_mac {
        Some(mac) => p.line("boot-mac", quoted(&mac.to_string()), &merged.boot_mac, ""),
        None => p.out.push_str("# boot-mac: not set\n"),
    }
    p.line(
        "target",
        quoted(host.target.name()),
        &merged.target,
        &default_note("target"),
    );

    let bond = &host.bond;
    let layer = &merged.bond;
    p.section("bond");
    p.line(
        "name",
        quoted(&bond.name),
        &layer.name,
        &default_note("bond.name"),
    );
    p.line("slaves", list(&bond.slaves), &layer.slaves, "");
    p.line(
        "mode",
        quoted(bond.mode.name()),
        &layer.mode,
        &default_note("bond.mode"),
    );
    p.line(
        "miimon",
        bond.miimon.to_string(),
        &layer.miimon,
        &default_note("bond.miimon"),
    );
    match bond.mtu {
        Some(mtu) => p.line("mtu", mtu.to_string(), &layer.mtu, ""),
        None => p.out.push_str("# mtu: not set (kernel default 1500)\n"),
    }
    for option in &bond.options {
        let field = layer.options.get(option.name()).cloned();
        let value = quoted(&option.value());
        p.line(&format!("options.{}", option.name()), value, &field, "");
    }

    let m = &host.management;
    let layer = &merged.management;
    let catalog = format!("VLAN {} ({}) in the site catalog", m.vlan.name, m.vlan.id);
    p.section("management");
    p.line("vlan", quoted(&m.vlan.name), &layer.vlan, "");
    p.line(
        "tagged",
        m.tagged.to_string(),
        &layer.tagged,
        &default_note("management.tagged"),
    );
    p.line(
        "address",
        quoted(&m.address.addr().to_string()),
        &layer.address,
        "",
    );
    p.line(
        "prefix",
        m.address.prefix_len().to_string(),
        &layer.prefix,
        &catalog,
    );
    p.line(
        "gateway",
        quoted(&m.gateway.to_string()),
        &layer.gateway,
        &catalog,
    );
    p.line("dns", list(&m.dns), &layer.dns, &catalog);
    p.out.push_str(&format!("# interface: {}\n", m.interface));

    let c = &host.containers;
    let layer = &merged.containers;
    let catalog = format!("VLAN {} ({}) in the site catalog", c.vlan.name, c.vlan.id);
    p.section("containers");
    p.line("vlan", quoted(&c.vlan.name), &layer.vlan, "");
    p.line(
        "bridge",
        quoted(&c.bridge),
        &layer.bridge,
        &default_note("containers.bridge"),
    );
    p.line("slice", quoted(&c.slice.to_string()), &layer.slice, "");
    p.line(
        "bridge-address",
        quoted(&c.bridge_address.to_string()),
        &layer.bridge_address,
        &default_note("containers.bridge-address"),
    );
    p.line(
        "gateway",
        quoted(&c.gateway.to_string()),
        &layer.gateway,
        &catalog,
    );
    p.out.push_str(&format!("# interface: {}\n", c.interface));

    let d = &host.docker;
    let layer = &merged.docker;
    p.section("docker");
    match &d.package {
        Some(package) => p.line("package", quoted(package), &layer.package, ""),
        None => p
            .out
            .push_str("# package: not set (no docker package required)\n"),
    }
    p.line(
        "dockerd",
        quoted(&d.dockerd),
        &layer.dockerd,
        &default_note("docker.dockerd"),
    );
    p.line(
        "base-args",
        list(&d.base_args),
        &layer.base_args,
        &default_note("docker.base-args"),
    );
    p.line(
        "storage-driver",
        quoted(d.storage_driver.name()),
        &layer.storage_driver,
        &default_note("docker.storage-driver"),
    );
    p.line(
        "log-driver",
        quoted(d.log_driver.name()),
        &layer.log_driver,
        &default_note("docker.log-driver"),
    );
    p.line(
        "registry-mirrors",
        list(&d.registry_mirrors),
        &layer.registry_mirrors,
        &default_note("docker.registry-mirrors"),
    );
    p.line(
        "insecure-registries",
        list(&d.insecure_registries),
        &layer.insecure_registries,
        &default_note("docker.insecure-registries"),
    );
    p.line(
        "ip-forward",
        d.ip_forward.to_string(),
        &layer.ip_forward,
        &default_note("docker.ip-forward"),
    );
    p.line(
        "iptables",
        d.iptables.to_string(),
        &layer.iptables,
        &default_note("docker.iptables"),
    );
    p.line(
        "extra-flags",
        list(&d.extra_flags),
        &layer.extra_flags,
        &default_note("docker.extra-flags"),
    );
    p.line(
        "group",
        quoted(&d.group),
        &layer.group,
        &default_note("docker.group"),
    );
    p.line(
        "user",
        quoted(&d.user),
        &layer.user,
        &default_note("docker.user"),
    );
    p.line(
        "users",
        list(&d.users),
        &layer.users,
        &default_note("docker.users"),
    );

    let r = &host.rollout;
    let layer = &merged.rollout;
    p.section("rollout");
    p.line(
        "rollback-after",
        r.rollback_after.to_string(),
        &layer.rollback_after,
        &default_note("rollout.rollback-after"),
    );
    p.line(
        "probe-timeout",
        r.probe_timeout.to_string(),
        &layer.probe_timeout,
        &default_note("rollout.probe-timeout"),
    );
    let probes: Vec<String> = [
        (r.probe_gateway, "gateway"),
        (r.probe_dns, "dns"),
        (r.probe_repository.is_some(), "repository"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| name.to_string())
    .collect();
    p.line(
        "probes",
        list(&probes),
        &layer.probes,
        &default_note("rollout.probes"),
    );
    p.line(
        "probe-urls",
        list(&r.probe_urls),
        &layer.probe_urls,
        &default_note("rollout.probe-urls"),
    );
    if let Some(url) = &r.probe_repository {
        p.out.push_str(&format!(
            "# repository probe: {url} (from [kickstart] repo-url)\n"
        ));
    }

    if !host.sysctl.is_empty() {
        p.section("sysctl");
        for (key, value) in &host.sysctl {
            let field = merged.sysctl.get(key).cloned();
            p.line(&quoted(key), quoted(value), &field, "");
        }
    }
    let json = serde_json::json!({
        "host": host.name,
        "inherited": inherited,
        "settings": p.json,
    });
    Effective { text: p.out, json }
}
