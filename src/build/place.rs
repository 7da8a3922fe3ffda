//! Placing each package's versions in the new generation: a host's package built when its
//! content is new, kept when not (without rendering the host when the memo remembers it), its
//! older versions kept or retired.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::metadata::entry_texts;
use super::progress::progress_bar;
use super::{
    BuildError, BuildOptions, KICKSTART_DIR, Listed, ListedAs, Listing, PACKAGES_DIR, PXE_DIR,
    PackageState, RetiredPackage,
};
use crate::digest::Sha256;
use crate::kickstart::pxe;
use crate::memo::{self, NextMemo, RenderMemo};
use crate::model::{Fleet, Host, Site};
use crate::output::{Generation, STATE_DIR, io_error};
use crate::package::PackageSpec;
use crate::package::versions::{Current, HostPlan, KnownPackage, KnownPackages, RELEASE};
use crate::render;
use crate::repodata::PackageEntries;
use crate::repository::index::EntriesWriter;
use crate::repository::{ListedPackage, Stored};
use crate::templates::Templates;

/// The host's kickstart and, with a boot MAC, its PXE entries: each file's path and sha256.
fn write_install_files(
    staging: &Generation,
    site: &Site,
    templates: &Templates,
    host: &Host,
) -> Result<Vec<(PathBuf, Sha256)>, BuildError> {
    let Some(kickstart) = &site.kickstart else {
        return Ok(Vec::new());
    };
    let mut files = vec![(
        Path::new(KICKSTART_DIR).join(format!("{}.ks", host.name)),
        crate::kickstart::render(templates, kickstart, host)?,
    )];
    if let (Some(pxe), Some(mac)) = (&site.pxe, host.boot_mac) {
        let stem = pxe::mac_file_stem(&mac);
        files.push((
            Path::new(PXE_DIR).join("pxelinux.cfg").join(&stem),
            pxe::pxelinux_entry(pxe, kickstart, host)?,
        ));
        files.push((
            Path::new(PXE_DIR).join(format!("grub.cfg-{stem}")),
            pxe::grub_entry(pxe, kickstart, host)?,
        ));
    }
    files
        .into_iter()
        .map(|(path, text)| {
            let sha256 = staging.write(&path, text.as_bytes(), 0o644)?;
            Ok((path, sha256))
        })
        .collect()
}

/// The versions of one package the new repository lists, and the ones it retires.
type PackageVersions<'k> = (Vec<Listed<'k>>, Vec<RetiredPackage>);

/// What placing a package's versions in the new generation needs.
pub(super) struct Placing<'k, 's> {
    pub known: &'k KnownPackages,
    pub keep_versions: u32,
    pub site: &'s Site,
    pub templates: &'s Templates,
    pub staging: &'s Generation,
    pub spill: &'s std::sync::Mutex<EntriesWriter>,
    pub options: &'s BuildOptions<'s>,
}

impl<'k> Placing<'k, '_> {
    /// Every host's package and hostnet-tools, in the new repository's order (by file name), and
    /// the packages it retires (by file name), each with why.
    pub fn place_fleet(
        &self,
        fleet: &Fleet,
        memos: (&RenderMemo, &NextMemo),
    ) -> Result<(Vec<Listed<'k>>, Vec<RetiredPackage>), BuildError> {
        let progress = progress_bar(fleet.hosts.len());
        let placed: Vec<Result<PackageVersions, BuildError>> = fleet
            .hosts
            .par_iter()
            .map(|host| {
                let placed = self.place_host(memos, host);
                progress.inc();
                placed
            })
            .collect();
        progress.finish();
        crate::timing::mark("hosts rendered and packaged");
        let tools = PackageSpec::tools(self.site);
        let (mut listed, mut retired) =
            self.place(self.plan(&tools.name, &tools.digest())?, Some(&tools))?;
        for host in placed {
            let (versions, host_retired) = host?;
            listed.extend(versions);
            retired.extend(host_retired);
        }
        let names = crate::package::fleet_packages(fleet.hosts.iter().map(|h| h.name.as_str()));
        for orphan in self.known.orphans(&names) {
            retired.push(RetiredPackage {
                reason: crate::package::versions::orphan_reason(orphan.name()),
                file_name: orphan.file_name().to_string(),
            });
        }
        retired.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        // A repository lists a file name once.
        listed.sort_by(|(_, a), (_, b)| a.file_name().cmp(b.file_name()));
        Ok((listed, retired))
    }

    /// A host's package and install files, and its line of the next memo. A host whose rendering
    /// inputs the memo knows, whose package stays and whose install files the live build holds,
    /// is not rendered at all.
    fn place_host(
        &self,
        (memo, next_memo): (&RenderMemo, &NextMemo),
        host: &Host,
    ) -> Result<PackageVersions<'k>, BuildError> {
        let inputs = memo.inputs_of(&memo::host_digest(host));
        let remembered = inputs.as_ref().and_then(|inputs| memo.get(inputs));
        if let Some((inputs, remembered)) = inputs.zip(remembered).filter(|(_, remembered)| {
            remembered
                .install_files
                .iter()
                .all(|(path, sha256)| self.staging.holds_live(path, sha256))
        }) {
            let name = crate::package::host_package_name(&host.name);
            let plan = self.plan(&name, &remembered.content_digest)?;
            if matches!(plan.current, Current::Keep(kept) if self.signed_as_this_build_signs(kept))
            {
                for (path, sha256) in &remembered.install_files {
                    self.staging.keep_live(path, sha256);
                }
                let versions = self.place(plan, None)?;
                next_memo.rendered(&inputs, remembered);
                return Ok(versions);
            }
        }
        let (site, templates) = (self.site, self.templates);
        let rendered = render::render_host(templates, host)?;
        let spec = PackageSpec::new(site, host, rendered);
        let content_digest = spec.digest();
        let plan = self.plan(&spec.name, &content_digest)?;
        let versions = self.place(plan, Some(&spec))?;
        let install_files = write_install_files(self.staging, site, templates, host)?;
        if let Some(inputs) = inputs {
            let rendered = memo::Rendered {
                content_digest,
                install_files,
            };
            next_memo.rendered(&inputs, &rendered);
        }
        Ok(versions)
    }

    fn plan(&self, name: &str, content_digest: &str) -> Result<HostPlan<'k>, BuildError> {
        Ok(self
            .known
            .plan(name, content_digest, self.keep_versions, |version| {
                crate::package::package_file_name(name, &version.to_string(), RELEASE)
            })?)
    }

    /// Builds the package from `spec` if `plan` says its content is new, else keeps its current
    /// package; keeps the older versions `keep-versions` allows (in the generation, or listed
    /// from the published metadata) and retires the rest. `spec` may be absent only when the
    /// current package is kept.
    fn place(
        &self,
        plan: HostPlan<'k>,
        spec: Option<&PackageSpec>,
    ) -> Result<PackageVersions<'k>, BuildError> {
        // Sized exactly: ten thousand hosts hold these until the metadata is written, and a
        // pushed-to empty Vec would reserve room for four of these large tuples.
        let mut listed = Vec::with_capacity(1 + plan.retained.len());
        let mut retired = Vec::new();
        let build = match (&plan.current, spec) {
            (Current::Keep(package), _) if self.signed_as_this_build_signs(package) => {
                listed.push(self.carry(package, PackageState::Unchanged)?);
                None
            }
            // The same content signed otherwise (another key, or none): made again at the same
            // version, signed as this build signs; the file replaces the other one.
            (Current::Keep(package), Some(spec)) => Some((package.version, spec)),
            (Current::Build(version), Some(spec)) => Some((*version, spec)),
            (_, None) => unreachable!("a package is built only from a rendered spec"),
        };
        if let Some((version, spec)) = build {
            let version = version.to_string();
            let bytes = spec.build(
                &version,
                RELEASE,
                self.options.source_date,
                self.options.key,
            )?;
            let file_name = spec.file_name(&version, RELEASE);
            listed.push(self.add_file(file_name, PackageState::Built, &bytes)?);
        }
        for package in &plan.retained {
            if self.signed_as_this_build_signs(package) {
                listed.push(self.carry(package, PackageState::Retained)?);
            } else {
                retired.push(RetiredPackage {
                    file_name: package.file_name().to_string(),
                    reason: "signed with another key or unsigned, and its content cannot be made again to sign it".into(),
                });
            }
        }
        let keep_versions = self.keep_versions;
        retired.extend(plan.retired.iter().map(|p| RetiredPackage {
            file_name: p.file_name().to_string(),
            reason: format!(
                "older than the {keep_versions} versions kept ([package] keep-versions)"
            ),
        }));
        Ok((listed, retired))
    }

    /// Whether `package` is signed as this build signs, so that it may be listed as it is: always
    /// for an unsigned build; for a signed one, when metadata verified with the key lists it,
    /// when the live output was signed with the key, or else when its own signature names the
    /// key (read from the file).
    fn signed_as_this_build_signs(&self, package: &KnownPackage) -> bool {
        let Some(key) = self.options.key else {
            return true;
        };
        if package.vouched {
            return true;
        }
        if self.live_listing(package).is_some() && self.staging.live_signed_alike() {
            return true;
        }
        package
            .local()
            .and_then(|path| rpm::PackageMetadata::open(path).ok())
            .and_then(|metadata| {
                let packet = metadata
                    .signature
                    .get_entry_data_as_binary(rpm::IndexSignatureTag::RPMSIGTAG_RSA)
                    .ok()?;
                crate::package::signer::signature_issuer(packet)
            })
            .is_some_and(|issuer| issuer == key.key_id())
    }

    /// A package file into the generation, with its metadata entries read from it.
    fn add_file(
        &self,
        file_name: String,
        state: PackageState,
        bytes: &[u8],
    ) -> Result<Listed<'k>, BuildError> {
        let entries = PackageEntries::of_file(&file_name, bytes).map_err(BuildError::Repodata)?;
        let mut listing =
            ListedPackage::of_entries(entries).map_err(|detail| BuildError::RepodataEntry {
                file_name: file_name.clone(),
                detail,
            })?;
        let spilled_at = self
            .spill
            .lock()
            .expect("no thread panics while spilling")
            .append(entry_texts(&listing.entries))
            .map_err(io_error(&self.options.out.join(STATE_DIR)))?;
        listing.entries = PackageEntries::default();
        listing.stored = Some(Stored::Spilled(spilled_at));
        self.staging
            .write(&Path::new(PACKAGES_DIR).join(&file_name), bytes, 0o644)?;
        let listed_as = ListedAs { state, local: true };
        Ok((listed_as, Listing::Made(Box::new(listing))))
    }

    /// A package built before, into the new repository as it is. One the live build holds, as
    /// its metadata lists it, is neither read nor written again.
    fn carry(
        &self,
        package: &'k KnownPackage,
        state: PackageState,
    ) -> Result<Listed<'k>, BuildError> {
        let listed_as_it_is = |listed: &'k ListedPackage, local: bool| {
            (ListedAs { state, local }, Listing::Known(listed))
        };
        if let Some((listed, sha256)) = self.live_listing(package) {
            let relative = Path::new(PACKAGES_DIR).join(package.file_name());
            self.staging.keep_live(&relative, &sha256);
            return Ok(listed_as_it_is(listed, true));
        }
        if let Some(path) = package.local() {
            let bytes = std::fs::read(&path).map_err(io_error(&path))?;
            return self.add_file(package.file_name().to_string(), state, &bytes);
        }
        let listed = package
            .listed()
            .expect("a package without a local file comes from repository metadata");
        Ok(listed_as_it_is(listed, false))
    }

    /// The metadata listing `package`, when the live build holds it as listed (same content, at
    /// `Packages/<file>`), with its sha256: then it is neither read nor written again.
    fn live_listing(&self, package: &'k KnownPackage) -> Option<(&'k ListedPackage, Sha256)> {
        let relative = Path::new(PACKAGES_DIR).join(package.file_name());
        let listed = package.listed()?;
        let sha256 = Sha256::from_hex(&listed.pkgid)?;
        let held = Path::new(&listed.location)
            == relative.strip_prefix("repo").unwrap_or(&relative)
            && self.staging.holds_live(&relative, &sha256);
        held.then_some((listed, sha256))
    }
}
