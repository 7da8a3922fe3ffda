//! `[docker]`: the docker-ce package and the dockerd flags hostnet writes or passes through.

use ipnet::Ipv4Net;

use super::HostChecker;
use crate::definition::schema::Field;
use crate::model::{Docker, StorageDriver};
use crate::settings::{self, HOST};
use crate::validate::fields::Missing;
use crate::validate::{dockerd_flags, values};

impl HostChecker<'_> {
    pub(super) fn docker(&mut self) -> Option<Docker> {
        let layer = &self.def.merged.docker;
        let package = match &layer.package {
            Some(_) => self
                .fields
                .text(
                    &layer.package,
                    "docker.package",
                    Missing::Required("give the docker package's name"),
                    values::package_name,
                )
                .map(Some),
            None => Some(None),
        };
        let dockerd = self.fields.text(
            &layer.dockerd,
            "docker.dockerd",
            Missing::Default(settings::default_text(HOST, "docker.dockerd")),
            values::absolute_path,
        );
        let base_args = match &layer.base_args {
            Some(_) => self
                .fields
                .list(
                    &layer.base_args,
                    "docker.base-args",
                    &[],
                    values::command_word,
                )
                .and_then(|args| {
                    self.check_dockerd_flags(args, "docker.base-args", &layer.base_args)
                }),
            None => Some(
                settings::default_text(HOST, "docker.base-args")
                    .split(' ')
                    .map(String::from)
                    .collect(),
            ),
        };
        let storage_driver = self.fields.choice(
            &layer.storage_driver,
            "docker.storage-driver",
            settings::default_of(HOST, "docker.storage-driver"),
            "a storage driver dockerd knows",
        );
        if let (Some(StorageDriver::Overlay), Some(field)) = (storage_driver, &layer.storage_driver)
        {
            self.fields.warning(&field.at, "docker.storage-driver: \"overlay\" was deprecated in Docker 18.09 and removed in 24; use \"overlay2\" (XFS needs ftype=1)".into());
        }
        let log_driver = self.fields.choice(
            &layer.log_driver,
            "docker.log-driver",
            settings::default_of(HOST, "docker.log-driver"),
            "a log driver dockerd knows",
        );
        let registry_mirrors = self.fields.list(
            &layer.registry_mirrors,
            "docker.registry-mirrors",
            &[],
            values::registry_url,
        );
        let insecure_registries = self.fields.list(
            &layer.insecure_registries,
            "docker.insecure-registries",
            &[],
            insecure_registry,
        );
        let extra_flags = self.fields.list(
            &layer.extra_flags,
            "docker.extra-flags",
            &[],
            values::command_word,
        );
        let extra_flags = extra_flags.and_then(|flags| {
            self.check_dockerd_flags(flags, "docker.extra-flags", &layer.extra_flags)
        });
        let group = self.fields.text(
            &layer.group,
            "docker.group",
            Missing::Default(settings::default_text(HOST, "docker.group")),
            values::posix_name,
        );
        let user = self.fields.text(
            &layer.user,
            "docker.user",
            Missing::Default(settings::default_text(HOST, "docker.user")),
            values::posix_name,
        );
        let users = self
            .fields
            .list(&layer.users, "docker.users", &[], values::posix_name);
        Some(Docker {
            package: package?,
            dockerd: dockerd?,
            base_args: base_args?,
            storage_driver: storage_driver?,
            log_driver: log_driver?,
            registry_mirrors: registry_mirrors?,
            insecure_registries: insecure_registries?,
            ip_forward: layer.ip_forward.as_ref().is_some_and(|v| v.value),
            iptables: layer.iptables.as_ref().is_some_and(|v| v.value),
            extra_flags: extra_flags?,
            group: group?,
            user: user?,
            users: users?,
        })
    }

    /// `docker.base-args` and `docker.extra-flags` as dockerd reads them: a flag hostnet writes
    /// itself may appear in neither, in any spelling.
    fn check_dockerd_flags(
        &mut self,
        flags: Vec<String>,
        key: &str,
        field: &Field<Vec<String>>,
    ) -> Option<Vec<String>> {
        let at = field.as_ref().map_or(self.fields.table(), |f| f.at.clone());
        let parsed = match dockerd_flags::parse(&flags) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.fields
                    .error(&at, format!("{key}[{}]: {}", e.index, e.message));
                return None;
            }
        };
        let mut ok = true;
        for flag in parsed {
            if let Some(managed) = dockerd_flags::ManagedFlag::named(&flag.name) {
                self.fields.error(
                    &at,
                    format!(
                        "{key}[{}]: {:?} sets --{}, which hostnet writes itself; set {} instead",
                        flag.index,
                        flags[flag.index],
                        flag.name,
                        managed.setting()
                    ),
                );
                ok = false;
            }
        }
        ok.then_some(flags)
    }
}

fn insecure_registry(text: &str) -> Result<(), String> {
    if let Ok(net) = text.parse::<Ipv4Net>() {
        return if net == net.trunc() {
            Ok(())
        } else {
            Err(format!(
                "{text:?} has host bits set; did you mean {}?",
                net.trunc()
            ))
        };
    }
    values::host_port(text).map_err(|e| format!("{e} (or a CIDR such as 10.0.0.0/8)"))
}
