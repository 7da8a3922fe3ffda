//! The yum repository metadata (`repodata/`) for the built and kept packages, in the form EL7's yum reads:
//! `primary`, `filelists` and `other` as gzip-compressed XML (createrepo_c 1.x defaults to zstd, which
//! EL7 cannot read), described by `repomd.xml` with sha256 checksums. Written deterministically: the
//! same packages and `SOURCE_DATE_EPOCH` give the same bytes.

use std::fmt::Write as _;
use std::io::{self, Write};

use quick_xml::events::BytesText;

use rpm::{Dependency, DependencyFlags, PackageMetadata};

use crate::digest::{Sha256, sha256_hex};

/// One package's elements in `primary`, `filelists` and `other`, each a `<package>` element
/// without a final newline: computed once from the package file when it is built, or carried
/// from the metadata that listed it before, so that the metadata of a build never re-reads
/// packages it did not change.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
        let write = |write: fn(&Entry, &mut XmlWriter<Vec<u8>>) -> io::Result<()>| {
            let mut out = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
            write(&entry, &mut out).expect("writing to memory");
            String::from_utf8(out.into_inner()).expect("quick-xml writes the UTF-8 it is given")
        };
        Ok(PackageEntries {
            primary: write(Entry::primary),
            filelists: write(Entry::filelists),
            other: write(Entry::other),
        })
    }
}

/// One compressed document as `repomd.xml` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub kind: Kind,
    pub checksum: Sha256,
    pub open_checksum: Sha256,
    pub size: u64,
    pub open_size: u64,
}

impl DataFile {
    /// `<checksum>-<kind>.xml.gz`, under `repodata/`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.xml.gz", self.checksum, self.kind.name())
    }
}

/// The three metadata documents, in the order `repomd.xml` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Primary,
    Filelists,
    Other,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Primary, Kind::Filelists, Kind::Other];

    /// The kind `repomd.xml` names `name` (its `<data type=..>`), if it is one of the three.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Primary => "primary",
            Kind::Filelists => "filelists",
            Kind::Other => "other",
        }
    }

    /// The document's opening, for `count` packages.
    fn opening(self, count: usize) -> String {
        let (root, namespaces) = match self {
            Kind::Primary => (
                "metadata",
                "xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\"",
            ),
            Kind::Filelists => (
                "filelists",
                "xmlns=\"http://linux.duke.edu/metadata/filelists\"",
            ),
            Kind::Other => (
                "otherdata",
                "xmlns=\"http://linux.duke.edu/metadata/other\"",
            ),
        };
        format!("{XML_DECL}<{root} {namespaces} packages=\"{count}\">\n")
    }

    fn closing(self) -> &'static str {
        match self {
            Kind::Primary => "</metadata>\n",
            Kind::Filelists => "</filelists>\n",
            Kind::Other => "</otherdata>\n",
        }
    }

    /// This document's entry of a package.
    pub fn of(self, entries: &PackageEntries) -> &str {
        match self {
            Kind::Primary => &entries.primary,
            Kind::Filelists => &entries.filelists,
            Kind::Other => &entries.other,
        }
    }
}

/// One metadata document, hashed and compressed as its entries are given, one package after
/// another, into a temporary file: a large fleet's documents (tens of megabytes) are never held
/// uncompressed, nor compressed (megabytes) in memory. The file is named for its checksum, known
/// only at the end, so it is placed by the caller ([`crate::output::Generation::adopt`]).
pub struct DocumentWriter {
    kind: Kind,
    hasher: sha2::Sha256,
    open_size: u64,
    // Fed in large blocks: compressing is the same for any split, and each call costs.
    encoder:
        io::BufWriter<flate2::write::GzEncoder<Digesting<io::BufWriter<tempfile::NamedTempFile>>>>,
}

impl DocumentWriter {
    /// The document of `kind` listing `count` packages, whose entries follow, written into a
    /// temporary file in `dir`.
    pub fn new(kind: Kind, count: usize, dir: &std::path::Path) -> io::Result<DocumentWriter> {
        let file = io::BufWriter::with_capacity(1 << 16, tempfile::NamedTempFile::new_in(dir)?);
        let compressed = Digesting {
            inner: file,
            hasher: sha2::Digest::new(),
            size: 0,
        };
        let encoder = flate2::GzBuilder::new()
            .mtime(0)
            .write(compressed, flate2::Compression::best());
        let mut writer = DocumentWriter {
            kind,
            hasher: sha2::Digest::new(),
            open_size: 0,
            encoder: io::BufWriter::with_capacity(1 << 17, encoder),
        };
        writer.write(kind.opening(count).as_bytes())?;
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        sha2::Digest::update(&mut self.hasher, bytes);
        self.open_size += bytes.len() as u64;
        self.encoder.write_all(bytes)
    }

    /// The next package's entry in this document (its `<package>` element, as
    /// [`PackageEntries`] holds it).
    pub fn entry(&mut self, entry: &[u8]) -> io::Result<()> {
        self.write(entry)?;
        self.write(b"\n")
    }

    /// The document's description, and the temporary file holding it gzip-compressed.
    pub fn finish(mut self) -> io::Result<(DataFile, tempfile::NamedTempFile)> {
        self.write(self.kind.closing().as_bytes())?;
        let encoder = self.encoder.into_inner().map_err(|e| e.into_error())?;
        let compressed = encoder.finish()?;
        let file = compressed.inner.into_inner().map_err(|e| e.into_error())?;
        let data_file = DataFile {
            kind: self.kind,
            checksum: Sha256::from_bytes(sha2::Digest::finalize(compressed.hasher).into()),
            open_checksum: Sha256::from_bytes(sha2::Digest::finalize(self.hasher).into()),
            size: compressed.size,
            open_size: self.open_size,
        };
        Ok((data_file, file))
    }
}

/// Hashes and counts the bytes written through it.
struct Digesting<W> {
    inner: W,
    hasher: sha2::Sha256,
    size: u64,
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        sha2::Digest::update(&mut self.hasher, &bytes[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
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
            file.kind.name(),
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
/// gzip at the best ratio with no timestamp, for the same bytes from the same content.
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

    /// `<version epoch=… ver=… rel=…/>`.
    fn version<W: Write>(&self, out: &mut XmlWriter<W>) -> io::Result<()> {
        out.create_element("version")
            .with_attributes([
                ("epoch", self.epoch.to_string().as_str()),
                ("ver", &text(&self.version)),
                ("rel", &text(&self.release)),
            ])
            .write_empty()?;
        Ok(())
    }

    fn primary<W: Write>(&self, out: &mut XmlWriter<W>) -> io::Result<()> {
        out.create_element("package")
            .with_attribute(("type", "rpm"))
            .write_inner_content(|out| {
                element(out, "name", &self.name)?;
                element(out, "arch", "noarch")?;
                self.version(out)?;
                out.create_element("checksum")
                    .with_attributes([("type", "sha256"), ("pkgid", "YES")])
                    .write_text_content(BytesText::new(&self.pkgid))?;
                element(out, "summary", &self.summary)?;
                element(out, "description", &self.description)?;
                element(out, "packager", &self.packager)?;
                element(out, "url", &self.url)?;
                let build_time = self.build_time.to_string();
                out.create_element("time")
                    .with_attributes([("file", build_time.as_str()), ("build", &build_time)])
                    .write_empty()?;
                out.create_element("size")
                    .with_attributes([
                        ("package", self.package_size.to_string().as_str()),
                        ("installed", &self.installed_size.to_string()),
                        ("archive", &self.archive_size.to_string()),
                    ])
                    .write_empty()?;
                out.create_element("location")
                    .with_attribute((
                        "href",
                        format!("Packages/{}", text(&self.file_name)).as_str(),
                    ))
                    .write_empty()?;
                out.create_element("format").write_inner_content(|out| {
                    element(out, "rpm:license", &self.license)?;
                    element(out, "rpm:vendor", &self.vendor)?;
                    element(out, "rpm:group", &self.group)?;
                    element(out, "rpm:buildhost", &self.build_host)?;
                    element(out, "rpm:sourcerpm", "")?;
                    out.create_element("rpm:header-range")
                        .with_attributes([
                            ("start", self.header_range.0.to_string().as_str()),
                            ("end", &self.header_range.1.to_string()),
                        ])
                        .write_empty()?;
                    dependencies(out, "provides", &self.provides)?;
                    dependencies(out, "requires", &self.requires)?;
                    dependencies(out, "conflicts", &self.conflicts)?;
                    // primary carries only the files dependency solvers look up most, by
                    // createrepo's rule: under /etc, in a bin directory, or /usr/lib/sendmail.
                    // filelists has them all.
                    let in_primary = |path: &str| {
                        path.starts_with("/etc/")
                            || path.contains("bin/")
                            || path == "/usr/lib/sendmail"
                    };
                    for (path, is_dir) in self.files.iter().filter(|(p, _)| in_primary(p)) {
                        file(out, path, *is_dir)?;
                    }
                    Ok(())
                })?;
                Ok(())
            })?;
        Ok(())
    }

    /// A package in filelists and other: identified by pkgid, name and version.
    fn by_pkgid<W: Write>(
        &self,
        out: &mut XmlWriter<W>,
        content: impl FnOnce(&mut XmlWriter<W>) -> io::Result<()>,
    ) -> io::Result<()> {
        out.create_element("package")
            .with_attributes([
                ("pkgid", self.pkgid.as_str()),
                ("name", &text(&self.name)),
                ("arch", "noarch"),
            ])
            .write_inner_content(|out| {
                self.version(out)?;
                content(out)
            })?;
        Ok(())
    }

    fn filelists<W: Write>(&self, out: &mut XmlWriter<W>) -> io::Result<()> {
        self.by_pkgid(out, |out| {
            for (path, is_dir) in &self.files {
                file(out, path, *is_dir)?;
            }
            Ok(())
        })
    }

    fn other<W: Write>(&self, out: &mut XmlWriter<W>) -> io::Result<()> {
        self.by_pkgid(out, |out| {
            for entry in &self.changelog {
                out.create_element("changelog")
                    .with_attributes([
                        ("author", text(&entry.name).as_str()),
                        ("date", &entry.timestamp.to_string()),
                    ])
                    .write_text_content(BytesText::new(&text(&entry.description)))?;
            }
            Ok(())
        })
    }
}

type XmlWriter<W> = quick_xml::Writer<W>;

/// `<name>text</name>`, the text escaped by quick-xml.
fn element<W: Write>(out: &mut XmlWriter<W>, name: &str, content: &str) -> io::Result<()> {
    out.create_element(name)
        .write_text_content(BytesText::new(&text(content)))?;
    Ok(())
}

fn file<W: Write>(out: &mut XmlWriter<W>, path: &str, is_dir: bool) -> io::Result<()> {
    let element = out.create_element("file");
    let element = if is_dir {
        element.with_attribute(("type", "dir"))
    } else {
        element
    };
    element.write_text_content(BytesText::new(&text(path)))?;
    Ok(())
}

/// The size of the uncompressed cpio archive, as createrepo records it (`<size archive=...>`).
fn archive_size(payload: &[u8]) -> u64 {
    std::io::copy(
        &mut flate2::read::GzDecoder::new(payload),
        &mut std::io::sink(),
    )
    .unwrap_or(0)
}

fn dependencies<W: Write>(
    out: &mut XmlWriter<W>,
    element: &str,
    list: &[Dependency],
) -> io::Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let mut entries: Vec<Vec<(&str, String)>> = Vec::new();
    for dependency in list {
        let mut attributes = vec![("name", text(&dependency.name))];
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
            attributes.push(("flags", comparison.into()));
            attributes.push(("epoch", text(epoch)));
            attributes.push(("ver", text(ver)));
            if let Some(rel) = rel {
                attributes.push(("rel", text(rel)));
            }
        }
        let install_time =
            DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST;
        if element == "requires" && flags.intersects(install_time) {
            attributes.push(("pre", "1".into()));
        }
        // rpm lists an interpreter once per scriptlet; the metadata needs it once.
        if !entries.contains(&attributes) {
            entries.push(attributes);
        }
    }
    out.create_element(format!("rpm:{element}"))
        .write_inner_content(|out| {
            for attributes in &entries {
                out.create_element("rpm:entry")
                    .with_attributes(attributes.iter().map(|(k, v)| (*k, v.as_str())))
                    .write_empty()?;
            }
            Ok(())
        })?;
    Ok(())
}

/// Text as XML 1.0 may carry it: without the control characters it forbids. The metadata comes
/// from checked definitions, so this is belt and braces; quick-xml escapes the rest.
fn text(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_stripped_of_what_xml_forbids() {
        let mut out = quick_xml::Writer::new(Vec::new());
        element(&mut out, "summary", "a'b\"c<d>e&f\u{1}g\nh").unwrap();
        assert_eq!(
            String::from_utf8(out.into_inner()).unwrap(),
            "<summary>a&apos;b&quot;c&lt;d&gt;e&amp;fg\nh</summary>"
        );
    }
}
