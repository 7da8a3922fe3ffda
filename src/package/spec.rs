//! The rpmbuild path: per package, a spec file (from `specs/package.spec.j2`, overridable like
//! every template) and a reproducible source tarball, for sites that build and sign RPMs in their
//! own infrastructure (rpmbuild, mock, koji with a signing server). rpmbuild makes from them the
//! package `hostnet build` makes: same files, modes, owners, `%config` flags, dependencies and
//! scriptlets (tests/spec.rs builds both and compares).

use std::io::Write as _;
use std::path::Path;

use minijinja::context;

use super::{HOST_CAPABILITY, PackageSpec, Requirement};
use crate::templates::Templates;

pub const SPEC_TEMPLATE: &str = "specs/package.spec.j2";

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{name}: {message}")]
    Template { name: String, message: String },
    #[error("{name}: cannot write the source tarball: {source}")]
    Tarball {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// Text that goes into a spec verbatim: rpmbuild expands `%` everywhere, scriptlets included.
fn literal(line: &str) -> String {
    line.replace('%', "%%")
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(literal).collect()
}

impl PackageSpec {
    /// `<name>-<version>.tar.gz`, the spec's Source0.
    pub fn source_name(&self, version: &str) -> String {
        format!("{}-{version}.tar.gz", self.name)
    }

    pub fn spec_file(
        &self,
        templates: &Templates,
        version: &str,
        release: &str,
        source_date: u32,
    ) -> Result<String, SpecError> {
        let requires: Vec<minijinja::Value> = self
            .requires
            .iter()
            .map(|requirement| match requirement {
                Requirement::Always(name) => context! { name => name, pre => false },
                Requirement::Pre(name) => context! { name => name, pre => true },
            })
            .collect();
        let description =
            crate::digest::describe_with_content_digest(&self.description, &self.digest());
        let scriptlets = &self.rendered.scriptlets;
        let sections: Vec<minijinja::Value> = [
            ("pre", &scriptlets.pre),
            ("post", &scriptlets.post),
            ("postun", &scriptlets.postun),
        ]
        .into_iter()
        .filter(|(_, body)| !body.is_empty())
        .map(|(name, body)| context! { name => name, lines => lines(body) })
        .collect();
        let files: Vec<minijinja::Value> = self
            .rendered
            .files
            .iter()
            .map(|file| {
                context! {
                    path => &file.path,
                    mode => format!("{:04o}", file.mode),
                    config => super::is_config(&file.path),
                }
            })
            .collect();
        let changelog_date = chrono_day(source_date);
        let context = context! {
            hostnet_version => env!("CARGO_PKG_VERSION"),
            name => &self.name,
            version => version,
            release => release,
            summary => literal(&self.summary),
            license => literal(&self.license),
            url => self.url.as_deref().map(literal),
            vendor => self.vendor.as_deref().map(literal),
            packager => self.packager.as_deref().map(literal),
            source => self.source_name(version),
            requires => requires,
            identity => &self.host_identity,
            capability => HOST_CAPABILITY,
            description => lines(&description),
            scriptlets => sections,
            directories => &self.rendered.directories,
            has_config => self.rendered.files.iter().any(|f| super::is_config(&f.path)),
            files => files,
            changelog_date => changelog_date,
            changelog_author => literal(self.packager.as_deref().unwrap_or("hostnet")),
            changelog_text => literal(&super::changelog_text(&self.rendered.host, version)),
        };
        templates
            .render(SPEC_TEMPLATE, context)
            .map_err(|e| SpecError::Template {
                name: self.name.clone(),
                message: e.to_string(),
            })
    }

    /// The gzip'd tar of every file and directory the package installs, under
    /// `<name>-<version>/`: sorted, owned by root, dated `source_date`, so the same inputs give the
    /// same bytes.
    pub fn source_tarball(&self, version: &str, source_date: u32) -> Result<Vec<u8>, SpecError> {
        let top = format!("{}-{version}", self.name);
        let tarball_error = |source| SpecError::Tarball {
            name: self.name.clone(),
            source,
        };
        let mut entries: Vec<(String, Option<&[u8]>, u32)> = vec![(top.clone(), None, 0o755)];
        // Every directory on the way to each installed path, the owned directories included.
        let ancestors_of = |path: &str, including_itself: bool| {
            let path = Path::new(path.trim_start_matches('/'));
            path.ancestors()
                .skip(usize::from(!including_itself))
                .filter(|a| !a.as_os_str().is_empty())
                .map(|a| (format!("{top}/{}", a.display()), None, 0o755))
                .collect::<Vec<_>>()
        };
        for directory in &self.rendered.directories {
            entries.extend(ancestors_of(directory, true));
        }
        for file in &self.rendered.files {
            let relative = file.path.trim_start_matches('/');
            entries.extend(ancestors_of(relative, false));
            entries.push((
                format!("{top}/{relative}"),
                Some(file.content.as_bytes()),
                file.mode,
            ));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|a, b| a.0 == b.0);

        let gzip = flate2::GzBuilder::new()
            .mtime(source_date)
            .write(Vec::new(), flate2::Compression::best());
        let mut archive = tar::Builder::new(gzip);
        archive.mode(tar::HeaderMode::Deterministic);
        for (path, content, mode) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(u64::from(source_date));
            header.set_uid(0);
            header.set_gid(0);
            header.set_username("root").map_err(tarball_error)?;
            header.set_groupname("root").map_err(tarball_error)?;
            header.set_mode(mode);
            match content {
                Some(bytes) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(bytes.len() as u64);
                    header.set_cksum();
                    archive
                        .append_data(&mut header, &path, bytes)
                        .map_err(tarball_error)?;
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    header.set_cksum();
                    archive
                        .append_data(&mut header, format!("{path}/"), std::io::empty())
                        .map_err(tarball_error)?;
                }
            }
        }
        let mut gzip = archive.into_inner().map_err(tarball_error)?;
        gzip.flush().map_err(tarball_error)?;
        gzip.finish().map_err(tarball_error)
    }
}

/// A `%changelog` date (`Tue Nov 14 2023`) from Unix time, in UTC.
fn chrono_day(time: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(time), 0)
        .expect("a u32 of seconds is a valid date")
        .format("%a %b %d %Y")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changelog_dates_are_rpms_format() {
        assert_eq!(chrono_day(0), "Thu Jan 01 1970");
        assert_eq!(chrono_day(1_700_000_000), "Tue Nov 14 2023");
        assert_eq!(chrono_day(951_782_400), "Tue Feb 29 2000");
    }
}
