//! The yum repository metadata (`repodata/`) for the built and kept packages, in the form EL7's yum reads:
//! `primary`, `filelists` and `other` as gzip-compressed XML (createrepo_c 1.x defaults to zstd, which
//! EL7 cannot read), described by `repomd.xml` with sha256 checksums. Written deterministically: the
//! same packages and `SOURCE_DATE_EPOCH` give the same bytes.

use std::fmt::Write as _;
use std::io::Write as _;

use rpm::{Dependency, DependencyFlags, PackageMetadata};

use crate::output::sha256_hex;

/// One package's elements in `primary`, `filelists` and `other`, each a `<package>` element
/// without a final newline: computed once from the package file when it is built, or carried
/// from the metadata that listed it before, so that the metadata of a build never re-reads
/// packages it did not change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageEntries {
    pub primary: String,
    pub filelists: String,
    pub other: String,
}

impl PackageEntries {
    /// The entries of the package file `bytes`, published as `Packages/<file_name>`.
    pub fn of_file(file_name: &str, bytes: &[u8]) -> Result<PackageEntries, rpm::Error> {
        let metadata = PackageMetadata::parse(&mut std::io::Cursor::new(bytes))?;
        let entry = Entry::read(&metadata, file_name, bytes)?;
        let element = |write: fn(&Entry, &mut String)| {
            let mut text = String::new();
            write(&entry, &mut text);
            text.truncate(text.trim_end_matches('\n').len());
            text
        };
        Ok(PackageEntries {
            primary: element(Entry::primary),
            filelists: element(Entry::filelists),
            other: element(Entry::other),
        })
    }
}

/// One of the three metadata documents, uncompressed.
pub struct Document {
    pub kind: &'static str,
    pub xml: String,
}

/// One compressed document as `repomd.xml` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub kind: String,
    pub checksum: String,
    pub open_checksum: String,
    pub size: u64,
    pub open_size: u64,
}

impl DataFile {
    /// `<checksum>-<kind>.xml.gz`, under `repodata/`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.xml.gz", self.checksum, self.kind)
    }
}

/// `primary`, `filelists` and `other` listing `packages` in the order given.
pub fn documents<E: std::borrow::Borrow<PackageEntries>>(packages: &[E]) -> [Document; 3] {
    let count = packages.len();
    let join = |element: fn(&PackageEntries) -> &str| {
        let mut text =
            String::with_capacity(packages.iter().map(|p| element(p.borrow()).len() + 1).sum());
        for package in packages {
            text.push_str(element(package.borrow()));
            text.push('\n');
        }
        text
    };
    [
        Document {
            kind: "primary",
            xml: format!(
                "{XML_DECL}<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{count}\">\n{}</metadata>\n",
                join(|p| &p.primary)
            ),
        },
        Document {
            kind: "filelists",
            xml: format!(
                "{XML_DECL}<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{count}\">\n{}</filelists>\n",
                join(|p| &p.filelists)
            ),
        },
        Document {
            kind: "other",
            xml: format!(
                "{XML_DECL}<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{count}\">\n{}</otherdata>\n",
                join(|p| &p.other)
            ),
        },
    ]
}

impl Document {
    pub fn open_checksum(&self) -> String {
        sha256_hex(self.xml.as_bytes())
    }

    /// The gzip-compressed document and its description.
    pub fn compress(&self, open_checksum: String) -> (DataFile, Vec<u8>) {
        let compressed = gzip(self.xml.as_bytes());
        let file = DataFile {
            kind: self.kind.to_string(),
            checksum: sha256_hex(&compressed),
            open_checksum,
            size: compressed.len() as u64,
            open_size: self.xml.len() as u64,
        };
        (file, compressed)
    }
}

/// `repomd.xml` describing `files`.
pub fn repomd(files: &[DataFile], revision: u32) -> Vec<u8> {
    let mut repomd = format!(
        "{XML_DECL}<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>{revision}</revision>\n"
    );
    for file in files {
        let _ = write!(
            repomd,
            "  <data type=\"{}\">\n    <checksum type=\"sha256\">{}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"repodata/{}\"/>\n    <timestamp>{revision}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            file.kind,
            file.checksum,
            file.open_checksum,
            file.file_name(),
            file.size,
            file.open_size
        );
    }
    repomd.push_str("</repomd>\n");
    repomd.into_bytes()
}

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// gzip without a file name or time stamp, so that the bytes depend on the content alone.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

struct Entry {
    pkgid: String,
    name: String,
    version: String,
    release: String,
    epoch: u32,
    summary: String,
    description: String,
    packager: String,
    url: String,
    license: String,
    vendor: String,
    group: String,
    build_host: String,
    build_time: u64,
    file_name: String,
    package_size: usize,
    installed_size: u64,
    archive_size: u64,
    header_range: (u64, u64),
    provides: Vec<Dependency>,
    requires: Vec<Dependency>,
    conflicts: Vec<Dependency>,
    files: Vec<(String, bool)>,
    changelog: Vec<rpm::ChangelogEntry>,
}

impl Entry {
    fn read(
        metadata: &PackageMetadata,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<Entry, rpm::Error> {
        let offsets = metadata.get_package_segment_offsets();
        let files = metadata
            .get_file_entries()?
            .into_iter()
            .map(|f| {
                (
                    f.path().to_string_lossy().into_owned(),
                    f.file_type() == rpm::FileType::Dir,
                )
            })
            .collect();
        let text = |value: Result<&str, rpm::Error>| value.unwrap_or_default().to_string();
        let provides = metadata.get_provides()?;
        // rpmlib() needs are rpm's own business, and a package satisfies its own config() need;
        // createrepo leaves both out.
        let requires = metadata
            .get_requires()?
            .into_iter()
            .filter(|d| !d.name.starts_with("rpmlib("))
            .filter(|d| {
                !provides
                    .iter()
                    .any(|p| p.name == d.name && p.version == d.version)
            })
            .collect();
        Ok(Entry {
            pkgid: sha256_hex(bytes),
            name: metadata.get_name()?.to_string(),
            version: metadata.get_version()?.to_string(),
            release: metadata.get_release()?.to_string(),
            epoch: metadata.get_epoch().unwrap_or(0),
            summary: text(metadata.get_summary()),
            description: text(metadata.get_description()),
            packager: text(metadata.get_packager()),
            url: text(metadata.get_url()),
            license: text(metadata.get_license()),
            vendor: text(metadata.get_vendor()),
            group: text(metadata.get_group()),
            build_host: text(metadata.get_build_host()),
            build_time: metadata.get_build_time()?,
            file_name: file_name.to_string(),
            package_size: bytes.len(),
            installed_size: metadata.get_installed_size()?,
            archive_size: archive_size(&bytes[offsets.payload as usize..]),
            header_range: (offsets.header, offsets.payload),
            provides,
            requires,
            conflicts: metadata.get_conflicts()?,
            files,
            changelog: metadata.get_changelog_entries().unwrap_or_default(),
        })
    }

    fn version_element(&self) -> String {
        format!(
            "<version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
            self.epoch,
            xml(&self.version),
            xml(&self.release)
        )
    }

    fn primary(&self, out: &mut String) {
        let _ = write!(
            out,
            "<package type=\"rpm\">\n  <name>{}</name>\n  <arch>noarch</arch>\n  {}\n  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>\n  <summary>{}</summary>\n  <description>{}</description>\n  <packager>{}</packager>\n  <url>{}</url>\n  <time file=\"{}\" build=\"{}\"/>\n  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>\n  <location href=\"Packages/{}\"/>\n  <format>\n    <rpm:license>{}</rpm:license>\n    <rpm:vendor>{}</rpm:vendor>\n    <rpm:group>{}</rpm:group>\n    <rpm:buildhost>{}</rpm:buildhost>\n    <rpm:sourcerpm></rpm:sourcerpm>\n    <rpm:header-range start=\"{}\" end=\"{}\"/>\n",
            xml(&self.name),
            self.version_element(),
            self.pkgid,
            xml(&self.summary),
            xml(&self.description),
            xml(&self.packager),
            xml(&self.url),
            self.build_time,
            self.build_time,
            self.package_size,
            self.installed_size,
            self.archive_size,
            xml(&self.file_name),
            xml(&self.license),
            xml(&self.vendor),
            xml(&self.group),
            xml(&self.build_host),
            self.header_range.0,
            self.header_range.1,
        );
        dependencies(out, "provides", &self.provides);
        dependencies(out, "requires", &self.requires);
        dependencies(out, "conflicts", &self.conflicts);
        // primary carries only the files dependency solvers look up most, by createrepo's rule:
        // under /etc, in a bin directory, or /usr/lib/sendmail. filelists has them all.
        let in_primary = |path: &str| {
            path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
        };
        for (path, is_dir) in self.files.iter().filter(|(p, _)| in_primary(p)) {
            let kind = if *is_dir { " type=\"dir\"" } else { "" };
            let _ = writeln!(out, "    <file{kind}>{}</file>", xml(path));
        }
        out.push_str("  </format>\n</package>\n");
    }

    /// The opening of a package in filelists and other: identified by pkgid, name and version.
    fn open_by_pkgid(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "<package pkgid=\"{}\" name=\"{}\" arch=\"noarch\">\n  {}",
            self.pkgid,
            xml(&self.name),
            self.version_element()
        );
    }

    fn filelists(&self, out: &mut String) {
        self.open_by_pkgid(out);
        for (path, is_dir) in &self.files {
            let kind = if *is_dir { " type=\"dir\"" } else { "" };
            let _ = writeln!(out, "  <file{kind}>{}</file>", xml(path));
        }
        out.push_str("</package>\n");
    }

    fn other(&self, out: &mut String) {
        self.open_by_pkgid(out);
        for entry in &self.changelog {
            let _ = writeln!(
                out,
                "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
                xml(&entry.name),
                entry.timestamp,
                xml(&entry.description)
            );
        }
        out.push_str("</package>\n");
    }
}

/// The size of the uncompressed cpio archive, as createrepo records it (`<size archive=...>`).
fn archive_size(payload: &[u8]) -> u64 {
    std::io::copy(
        &mut flate2::read::GzDecoder::new(payload),
        &mut std::io::sink(),
    )
    .unwrap_or(0)
}

fn dependencies(out: &mut String, element: &str, list: &[Dependency]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{element}>");
    let mut written: Vec<String> = Vec::new();
    for dependency in list {
        let mut line = String::new();
        let out = &mut line;
        let _ = write!(out, "      <rpm:entry name=\"{}\"", xml(&dependency.name));
        let flags = dependency.flags;
        let comparison = match (flags
            & (DependencyFlags::LESS | DependencyFlags::GREATER | DependencyFlags::EQUAL))
            .bits()
        {
            0x02 => Some("LT"),
            0x04 => Some("GT"),
            0x08 => Some("EQ"),
            0x0a => Some("LE"),
            0x0c => Some("GE"),
            _ => None,
        };
        if let Some(comparison) = comparison {
            let (epoch, rest) = dependency
                .version
                .split_once(':')
                .unwrap_or(("0", &dependency.version));
            let (ver, rel) = match rest.split_once('-') {
                Some((v, r)) => (v, Some(r)),
                None => (rest, None),
            };
            let _ = write!(
                out,
                " flags=\"{comparison}\" epoch=\"{}\" ver=\"{}\"",
                xml(epoch),
                xml(ver)
            );
            if let Some(rel) = rel {
                let _ = write!(out, " rel=\"{}\"", xml(rel));
            }
        }
        let install_time =
            DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST;
        if element == "requires" && flags.intersects(install_time) {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
        // rpm lists an interpreter once per scriptlet; the metadata needs it once.
        if !written.contains(&line) {
            written.push(line);
        }
    }
    for line in written {
        out.push_str(&line);
    }
    let _ = writeln!(out, "    </rpm:{element}>");
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML 1.0; the metadata comes from checked definitions, so this is belt and braces.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}
