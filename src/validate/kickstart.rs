//! The site's `[kickstart]` and `[pxe]` tables. Every value lands in a kickstart (parsed by anaconda,
//! with `%post` run by bash as root) or on a kernel command line, so each has a strict grammar.

use std::path::Path;

use crate::definition::located::Located;
use crate::definition::schema::{KickstartSection, PxeSection};
use crate::diagnostic::Diagnostics;
use crate::model::{ExtraRepo, KickstartSettings, PxeSettings};

use super::fields::{Fields, Missing};
use super::{urls, values};
use crate::settings::{self, KICKSTART};

/// Kickstart commands and kernel command lines read a word starting with `-` as an option
/// (`lang --addsupport`), whatever the setting.
fn not_an_option(text: &str) -> Result<(), String> {
    if text.starts_with('-') {
        return Err(format!(
            "{text:?} starts with '-', so the installer would read it as an option; give the value itself"
        ));
    }
    Ok(())
}

fn required_hint(key: &str) -> &'static str {
    match key {
        "install-url" => {
            "give the installation tree, e.g. \"http://mirror.example.com/centos/7/os/x86_64\""
        }
        "repo-url" => "give the URL the published hostnet repo/ is served at",
        "root-password-hash" => "give a crypt(3) hash, e.g. from `openssl passwd -6`",
        "kickstart-url" => "give the URL the kickstart/ directory is served at",
        "kernel" | "initrd" => {
            "give the installer's path relative to the TFTP root, e.g. \"centos7/vmlinuz\""
        }
        _ => "set it",
    }
}

pub fn check_kickstart(
    section: &Located<KickstartSection>,
    hosts_root: &Path,
    diagnostics: &mut Diagnostics,
) -> Option<KickstartSettings> {
    let k = &section.value;
    let mut c = Fields::for_table(diagnostics, section.at.clone(), "kickstart.", not_an_option);
    if let Some(plain) = &k.root_password {
        c.error(
            &plain.at,
            "kickstart.root-password: plain-text passwords are refused; give root-password-hash, a crypt(3) hash made with e.g. `openssl passwd -6` or `python3 -c 'import crypt; print(crypt.crypt(input(), crypt.METHOD_SHA512))'`".into(),
        );
    }
    let required = |key| Missing::Required(required_hint(key));
    let default = |key| Missing::Default(settings::default_text(KICKSTART, key));
    let repo_url = c
        .text(&k.repo_url, "repo-url", required("repo-url"), |v| {
            urls::check(v, urls::YUM)
        })
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    let settings = KickstartSettings {
        install_url: c
            .text(
                &k.install_url,
                "install-url",
                required("install-url"),
                |v| urls::check(v, urls::INSTALL_TREE),
            )
            .unwrap_or_default(),
        repo_key_url: k
            .repo_key_url
            .as_ref()
            .and_then(|_| {
                c.text(&k.repo_key_url, "repo-key-url", Missing::Default(""), |v| {
                    urls::check(v, urls::YUM)
                })
            })
            .unwrap_or_else(|| format!("{repo_url}/{}", crate::package::PUBLIC_KEY_NAME)),
        repo_url,
        lang: c
            .text(&k.lang, "lang", default("lang"), locale)
            .unwrap_or_default(),
        keyboard: c
            .text(&k.keyboard, "keyboard", default("keyboard"), word)
            .unwrap_or_default(),
        timezone: c
            .text(&k.timezone, "timezone", default("timezone"), timezone)
            .unwrap_or_default(),
        // With a plain-text password given, that is the error to report, not a missing hash.
        root_password_hash: match &k.root_password {
            Some(_) => String::new(),
            None => c
                .text(
                    &k.root_password_hash,
                    "root-password-hash",
                    required("root-password-hash"),
                    crypt_hash,
                )
                .unwrap_or_default(),
        },
        ssh_keys: c
            .list(&k.ssh_keys, "ssh-keys", &[], ssh_key)
            .unwrap_or_default(),
        disks: c.list(&k.disks, "disks", &[], disk).unwrap_or_default(),
        autopart: c
            .choice(
                &k.autopart,
                "autopart",
                settings::default_of(KICKSTART, "autopart"),
                "an autopart type",
            )
            .unwrap_or_else(|| settings::default_of(KICKSTART, "autopart")),
        packages: c
            .list(&k.packages, "packages", &[], package)
            .unwrap_or_default(),
        repos: Vec::new(),
        services_enabled: c
            .list(
                &k.services_enabled,
                "services-enabled",
                &["network", "sshd"],
                service,
            )
            .unwrap_or_default(),
        services_disabled: c
            .list(
                &k.services_disabled,
                "services-disabled",
                &["NetworkManager"],
                service,
            )
            .unwrap_or_default(),
        selinux: c
            .choice(
                &k.selinux,
                "selinux",
                settings::default_of(KICKSTART, "selinux"),
                "an SELinux mode",
            )
            .unwrap_or_else(|| settings::default_of(KICKSTART, "selinux")),
        firewall: k.firewall.as_ref().is_none_or(|f| f.value),
        reboot: k.reboot.as_ref().is_none_or(|r| r.value),
        template_dir: None,
        targets: Default::default(),
    };
    let mut settings = settings;
    settings.repos = extra_repos(
        &mut c,
        k.repos
            .iter()
            .map(|(name, repo)| (name, &repo.value, &repo.at)),
        "kickstart.repos",
    );
    // A target's table is one value: its problems are reported at the table.
    for (name, target) in &k.targets {
        let Some(parsed) = target_name(&mut c, name, &target.at, "kickstart") else {
            continue;
        };
        let t = &target.value;
        let install_url = t.install_url.clone();
        if let Some(url) = &install_url
            && let Err(e) = not_an_option(url).and_then(|()| urls::check(url, urls::INSTALL_TREE))
        {
            c.error(
                &target.at,
                format!("kickstart.targets.{name}.install-url: {e}"),
            );
        }
        let repos = extra_repos(
            &mut c,
            t.repos
                .iter()
                .map(|(repo_name, repo)| (repo_name, repo, &target.at)),
            &format!("kickstart.targets.{name}.repos"),
        );
        settings
            .targets
            .insert(parsed, crate::model::TargetInstall { install_url, repos });
    }
    if let Some(dir) = &k.template_dir {
        let path = hosts_root.join(&dir.value);
        if !path.is_dir() {
            c.error(&dir.at, format!("kickstart.template-dir: {} is not a directory (the path is relative to the hosts tree)", path.display()));
        }
        settings.template_dir = Some(path);
    }
    c.ok.then_some(settings)
}

/// `[kickstart.repos.NAME]` (or a target's): each a name yum takes, URLs of its own, a key to check
/// its packages with.
fn extra_repos<'r>(
    c: &mut Fields,
    repos: impl Iterator<
        Item = (
            &'r String,
            &'r crate::definition::schema::ExtraRepo,
            &'r crate::source::Location,
        ),
    >,
    table: &str,
) -> Vec<ExtraRepo> {
    let mut checked = Vec::new();
    for (name, repo, at) in repos {
        let key = format!("{table}.{name}");
        if let Err(e) = values::host_label(name) {
            c.error(at, format!("{key}: repository name {e}"));
        }
        if name == "hostnet" {
            c.error(
                at,
                format!(
                    "{key}: \"hostnet\" is the repository hostnet writes itself; pick another name"
                ),
            );
        }
        if let Err(e) = urls::check(&repo.url, urls::YUM) {
            c.error(at, format!("{key}.url: {e}"));
        }
        if let Some(gpgkey) = &repo.gpgkey {
            if let Err(e) = urls::check(gpgkey, urls::YUM) {
                c.error(at, format!("{key}.gpgkey: {e}"));
            }
        } else {
            c.diagnostics.warning(at, format!("{key}: no gpgkey, so its packages are installed unchecked (gpgcheck=0); add the repository's key URL"));
        }
        checked.push(ExtraRepo {
            name: name.clone(),
            url: repo.url.clone(),
            gpgkey: repo.gpgkey.clone(),
        });
    }
    checked
}

/// The target a `targets.NAME` table is for.
fn target_name(
    c: &mut Fields,
    name: &str,
    at: &crate::source::Location,
    table: &str,
) -> Option<crate::model::Target> {
    use crate::model::ClosedSet as _;
    let parsed = name.parse::<crate::model::Target>().ok();
    if parsed.is_none() {
        c.error(
            at,
            format!(
                "{table}.targets.{name}: {name:?} is not a target; use one of {}",
                crate::model::Target::choices()
            ),
        );
    }
    parsed
}

pub fn check_pxe(
    section: &Located<PxeSection>,
    diagnostics: &mut Diagnostics,
) -> Option<PxeSettings> {
    let p = &section.value;
    let mut c = Fields::for_table(diagnostics, section.at.clone(), "pxe.", not_an_option);
    let required = |key| Missing::Required(required_hint(key));
    let settings = PxeSettings {
        kickstart_url: c
            .text(
                &p.kickstart_url,
                "kickstart-url",
                required("kickstart-url"),
                |v| urls::check(v, urls::KICKSTART_SOURCE),
            )
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string(),
        kernel: c
            .text(&p.kernel, "kernel", required("kernel"), tftp_path)
            .unwrap_or_default(),
        initrd: c
            .text(&p.initrd, "initrd", required("initrd"), tftp_path)
            .unwrap_or_default(),
        kernel_args: c
            .list(&p.kernel_args, "kernel-args", &[], kernel_argument)
            .unwrap_or_default(),
        installer_vlan: p.installer_vlan.as_ref().is_some_and(|v| v.value),
        targets: Default::default(),
    };
    let mut settings = settings;
    for (name, target) in &p.targets {
        let Some(parsed) = target_name(&mut c, name, &target.at, "pxe") else {
            continue;
        };
        let t = &target.value;
        let mut path = |value: &Option<String>, key: &str| {
            let value = value.as_ref()?;
            match not_an_option(value).and_then(|()| tftp_path(value)) {
                Ok(()) => Some(value.clone()),
                Err(e) => {
                    c.error(&target.at, format!("pxe.targets.{name}.{key}: {e}"));
                    None
                }
            }
        };
        let boot = (path(&t.kernel, "kernel"), path(&t.initrd, "initrd"));
        settings.targets.insert(parsed, boot);
    }
    c.ok.then_some(settings)
}

/// Installer arguments hostnet writes itself, and where to set what they say.
const GENERATED_KERNEL_ARGUMENTS: &[(&str, &str)] = &[
    ("inst.ks", "pxe.kickstart-url"),
    ("ks", "pxe.kickstart-url"),
    (
        "inst.ks.device",
        "pxe.installer-vlan and the host's boot-mac",
    ),
    ("ksdevice", "pxe.installer-vlan and the host's boot-mac"),
    ("inst.repo", "kickstart.install-url"),
    ("repo", "kickstart.install-url"),
    ("method", "kickstart.install-url"),
    ("ip", "pxe.installer-vlan and the host's management table"),
    ("bond", "pxe.installer-vlan and the host's bond table"),
    ("vlan", "pxe.installer-vlan and the host's management.vlan"),
    (
        "bridge",
        "pxe.installer-vlan (the installer never needs the container bridge)",
    ),
    ("team", "the host's bond table"),
    ("nameserver", "the management VLAN's dns or management.dns"),
    ("BOOTIF", "nothing: pxelinux appends it itself (IPAPPEND 2)"),
    ("initrd", "pxe.initrd"),
];

/// One extra installer argument: a plain word, not one hostnet writes itself.
fn kernel_argument(text: &str) -> Result<(), String> {
    values::command_word(text)?;
    let name = text.split('=').next().unwrap_or(text);
    if let Some((_, setting)) = GENERATED_KERNEL_ARGUMENTS
        .iter()
        .find(|(generated, _)| *generated == name)
    {
        return Err(format!(
            "{text:?}: hostnet writes {name}= itself; set {setting} instead"
        ));
    }
    Ok(())
}

fn locale(text: &str) -> Result<(), String> {
    values::only(text, "_.-@")
        .then_some(())
        .ok_or_else(|| format!("{text:?} is not a locale such as en_US.UTF-8"))
}

fn word(text: &str) -> Result<(), String> {
    values::only(text, "_-")
        .then_some(())
        .ok_or_else(|| format!("{text:?} is not a keymap such as us or de-nodeadkeys"))
}

fn timezone(text: &str) -> Result<(), String> {
    (values::only(text, "_-+/") && !text.contains(".."))
        .then_some(())
        .ok_or_else(|| format!("{text:?} is not a time zone such as Etc/UTC or Europe/Berlin"))
}

/// A crypt(3) SHA-512 (`$6$`) or SHA-256 (`$5$`) hash, as `rootpw --iscrypted` takes.
pub fn crypt_hash(text: &str) -> Result<(), String> {
    let parts: Vec<&str> = text.split('$').collect();
    let salt_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 16
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "./".contains(c))
    };
    let valid = match parts.as_slice() {
        ["", id, rest @ ..] if *id == "5" || *id == "6" => {
            let (rounds, rest) = match rest {
                [r, tail @ ..] if r.starts_with("rounds=") => {
                    (r[7..].chars().all(|c| c.is_ascii_digit()), tail)
                }
                _ => (true, rest),
            };
            let expected = if *id == "6" { 86 } else { 43 };
            matches!(rest, [salt, hash] if rounds && salt_ok(salt) && hash.len() == expected && hash.chars().all(|c| c.is_ascii_alphanumeric() || "./".contains(c)))
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err("is not a SHA-512 or SHA-256 crypt(3) hash ($6$salt$... or $5$salt$...); a plain-text password is refused: make a hash with `openssl passwd -6`".into())
    }
}

fn ssh_key(text: &str) -> Result<(), String> {
    let mut parts = text.splitn(3, ' ');
    let kind = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    let comment = parts.next().unwrap_or("");
    let kinds = [
        "ssh-rsa",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ];
    let body_ok = !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
    if !kinds.contains(&kind) || !body_ok {
        return Err(format!(
            "is not an OpenSSH public key line (type, base64 key, optional comment); types: {}",
            kinds.join(", ")
        ));
    }
    if let Some(c) = comment
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || " @._-+:".contains(*c)))
    {
        return Err(format!(
            "the key's comment contains {}; use letters, digits and @ . _ - + :",
            crate::terminal::describe_char(c)
        ));
    }
    Ok(())
}

fn disk(text: &str) -> Result<(), String> {
    (values::only(text, "_-/.:") && !text.starts_with('-'))
        .then_some(())
        .ok_or_else(|| {
            format!(
                "{text:?} is not a disk name such as sda or disk/by-path/pci-0000:00:1f.2-ata-1"
            )
        })
}

fn package(text: &str) -> Result<(), String> {
    values::package_name(text.strip_prefix('@').unwrap_or(text))
        .map_err(|_| format!("{text:?} is not a package name or @group"))
}

fn service(text: &str) -> Result<(), String> {
    (values::only(text, "@._-") && !text.starts_with('-'))
        .then_some(())
        .ok_or_else(|| format!("{text:?} is not a service name"))
}

fn tftp_path(text: &str) -> Result<(), String> {
    (values::only(text, "/._-+") && !text.split('/').any(|p| p == ".."))
        .then_some(())
        .ok_or_else(|| {
            format!("{text:?} is not a path relative to the TFTP root (letters, digits, / . _ - +)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypt_hashes() {
        let sha512 = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eCoIUwvJbS/xFBqPSa5z1";
        assert!(crypt_hash(sha512).is_ok());
        assert!(crypt_hash("$6$rounds=5000$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eCoIUwvJbS/xFBqPSa5z1").is_ok());
        for bad in ["hunter2", "$1$abc$def", "$6$salt$short", "", "$6$sa lt$x"] {
            assert!(crypt_hash(bad).is_err(), "{bad}");
        }
    }
}
