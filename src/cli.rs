//! The command line, defined once: `--help`, the man page and shell completions all come from it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hostnet",
    version,
    about = "Compile Docker host network definitions into ifcfg files, signed EL7 RPMs and kickstarts",
    long_about = "hostnet reads per-host definitions (TOML under a hosts/ tree, inheriting site -> group -> host \
defaults) and compiles each host's bonded, VLAN-bridged Docker network into the files CentOS 7 needs: \
ifcfg files, sysctl and modules-load drop-ins, a dockerd systemd drop-in and package scriptlets.\n\n\
Exit status: 0 on success, 1 when the definitions are invalid or an output cannot be written, \
2 for `plan` when something would change, 64 on a usage error.",
    after_help = "Start with `hostnet check`, then `hostnet show HOST` and `hostnet render HOST --out DIR`."
)]
pub struct Cli {
    /// The definitions tree: site.toml, optional group folders with group.toml, one <host>.toml per
    /// host [default: hosts]
    #[arg(long, value_name = "DIR", env = "HOSTNET_HOSTS")]
    pub hosts: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// `--hosts` after the subcommand, for the subcommands that read definitions (and only those: it
/// means nothing to keygen, publish, completions or man).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HostsArg {
    /// The definitions tree (as `hostnet --hosts DIR`) [default: hosts]
    #[arg(long = "hosts", value_name = "DIR")]
    pub hosts: Option<PathBuf>,
}

/// What was built and published before, read as `build` reads it (for `plan` and `list`).
#[derive(Debug, Clone, clap::Args)]
pub struct BuiltBefore {
    /// The build's output directory, whose repo/ counts as published
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// What was published, as for build
    #[arg(long, value_name = "REPO")]
    pub previous: Option<String>,
}

impl Cli {
    /// The definitions tree: `--hosts` after the subcommand, else before it (or $HOSTNET_HOSTS),
    /// else `hosts`.
    pub fn hosts_dir(&self) -> PathBuf {
        let after = match &self.command {
            Command::Check { definitions, .. }
            | Command::Show { definitions, .. }
            | Command::Render { definitions, .. }
            | Command::Build { definitions, .. }
            | Command::Plan { definitions, .. }
            | Command::New { definitions, .. }
            | Command::Import { definitions, .. }
            | Command::List { definitions, .. }
            | Command::Spec { definitions, .. } => definitions.hosts.clone(),
            _ => None,
        };
        after
            .or_else(|| self.hosts.clone())
            .unwrap_or_else(|| PathBuf::from("hosts"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every definition and report all problems as path:line:col: error: message
    #[command(
        long_about = "Check every definition and report all problems at once, each as \
`path:line:col: error: message` (or `warning:`) followed by the offending line. Exits 0 when the fleet \
is valid (warnings allowed), 1 when any error is found."
    )]
    Check {
        #[command(flatten)]
        definitions: HostsArg,
        /// Treat warnings as errors
        #[arg(long)]
        deny_warnings: bool,
        /// text (problems on stderr, as a compiler reports), or json (one document on stdout)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },

    /// Print a host's effective definition after inheritance, with where each value came from
    Show {
        #[command(flatten)]
        definitions: HostsArg,
        /// Host name (the definition file's name without .toml)
        host: String,
        /// text (annotated TOML), or json (each setting with its value and where it came from)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },

    /// Write a new host's definition with the next free management address and container slice
    #[command(
        long_about = "Write DIR/<HOST>.toml (DIR: the definitions tree, or its folder --group) with \
the next free management address of the VLAN the host inherits and the next free container slice \
(the size the other hosts of that VLAN have, else /28), neither used by any host of the fleet nor \
the gateway; no boot MAC until you add one. The fleet must check first; the new file is checked \
with it, and never replaces an existing file. Refused when a VLAN is full."
    )]
    New {
        #[command(flatten)]
        definitions: HostsArg,
        /// The new host's name (its file name without .toml)
        host: String,
        /// The folder of the definitions tree the host goes in, whose group.toml it inherits
        #[arg(long, value_name = "FOLDER")]
        group: Option<PathBuf>,
    },

    /// Write host definitions from hand-made hosts' configuration files (ifcfg, sysctl, docker)
    #[command(
        long_about = "Read each SOURCE (a directory or a tarball of one host's files, collected with \
`ssh HOST 'tar -C / --ignore-failed-read -czf - etc/hostname etc/sysconfig/network-scripts \
etc/sysctl.conf etc/sysctl.d etc/modules-load.d etc/systemd/system/docker.service \
etc/systemd/system/docker.service.d etc/docker/daemon.json' > HOST.tar.gz`) and write its \
definition into the tree (or --group FOLDER): only what differs from what the host inherits, the \
VLANs matched to the site's catalog by id and subnet. What a definition cannot say (routes, \
aliases, other devices, other modules) is printed and kept as comments, with file and line; the \
original write-up's mistakes are named. Nothing is written unless every SOURCE imports and the \
fleet checks with the new hosts; no file is ever replaced. Then `hostnet plan` shows what the \
first install changes."
    )]
    Import {
        #[command(flatten)]
        definitions: HostsArg,
        /// A directory or tarball of one host's files
        #[arg(value_name = "SOURCE", required = true)]
        sources: Vec<PathBuf>,
        /// The folder of the definitions tree the hosts go in
        #[arg(long, value_name = "FOLDER")]
        group: Option<PathBuf>,
        /// The host's name, when its /etc/hostname is not among the files (one SOURCE only)
        #[arg(long, value_name = "HOST")]
        name: Option<String>,
        /// The host's container slice, when no dockerd command line among the files gives it
        /// (one SOURCE only)
        #[arg(long, value_name = "CIDR")]
        slice: Option<String>,
    },

    /// List every host: its group, target, management address, container slice and version
    List {
        #[command(flatten)]
        definitions: HostsArg,
        #[command(flatten)]
        before: BuiltBefore,
        /// text (aligned columns), or json
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },

    /// Write hosts' files as they will be installed, plus the package scriptlets, for review
    #[command(
        long_about = "Write each host's files into DIR exactly as they will be installed \
(DIR/etc/sysconfig/network-scripts/ifcfg-*, DIR/etc/sysctl.d/90-hostnet.conf, ...) and the package \
scriptlets under DIR/scriptlets/. With several hosts or --all, each host gets DIR/<host>/. \
The fleet is checked first; nothing is written if it has errors. DIR is replaced as a whole, \
atomically; hostnet refuses to replace a non-empty directory it did not write."
    )]
    Render {
        #[command(flatten)]
        definitions: HostsArg,
        /// Hosts to render
        #[arg(value_name = "HOST", conflicts_with = "all")]
        names: Vec<String>,
        /// Render every host, each into DIR/<host>/
        #[arg(long)]
        all: bool,
        /// Output directory
        #[arg(long, short, value_name = "DIR")]
        out: PathBuf,
        /// Template overrides, as for build (default: [kickstart] template-dir in site.toml)
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },

    /// Build a signed, reproducible EL7 RPM for every host into DIR/repo/Packages/
    #[command(
        long_about = "Build hostnet-<host>-<N>-1.noarch.rpm for every host of the fleet into \
DIR/repo/Packages/, signed with an RSA key EL7 can verify, with the public key as \
DIR/repo/RPM-GPG-KEY-hostnet, yum metadata in DIR/repo/repodata/ and a SHA256SUMS file; with \
[kickstart] in site.toml also DIR/kickstart/<host>.ks, and with [pxe] the per-MAC boot entries in \
DIR/pxe/. Same definitions and SOURCE_DATE_EPOCH give \
byte-identical packages. A host whose content is unchanged since its previous package (in \
DIR/repo or --previous) keeps that package as it is; a changed host gets N+1. The metadata lists \
the newest [package] keep-versions versions of each host (default 3) for yum downgrade; older \
ones and hosts no longer defined are retired, each printed. A package that is published but not \
at hand stays where it is: the metadata lists it and `hostnet publish` leaves it. \
build owns DIR/repo, DIR/kickstart and DIR/pxe and switches them together once everything is \
written; anything else in DIR is left alone."
    )]
    Build {
        #[command(flatten)]
        definitions: HostsArg,
        /// Output directory
        #[arg(long, short, value_name = "DIR", default_value = "out")]
        out: PathBuf,
        /// Armored (or binary) OpenPGP secret key: RSA, primary key signs, file not world-readable
        #[arg(long, value_name = "FILE", env = "HOSTNET_SIGNING_KEY")]
        key: Option<PathBuf>,
        /// File whose first line is the key's passphrase (otherwise $HOSTNET_KEY_PASSPHRASE)
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Build unsigned packages (tests only: yum with gpgcheck=1 refuses them)
        #[arg(long, conflicts_with_all = ["key", "passphrase_file"])]
        unsigned: bool,
        /// Sign again every package of an output another key (or none) signed; without it such a
        /// build is refused, since hosts trust the key they were installed with
        #[arg(long)]
        new_key: bool,
        /// What was published before: the repository (a directory or an http(s):// URL of the
        /// directory holding repodata/; only its metadata is read) or a directory of packages.
        /// DIR/repo counts too.
        #[arg(long, value_name = "REPO")]
        previous: Option<String>,
        /// Template overrides: DIR/kickstart/*.ks.j2 and DIR/specs/*.sh.j2 replace the built-in ones
        /// (default: [kickstart] template-dir in site.toml)
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },

    /// Write a spec file and a source tarball per package, for rpmbuild, mock or koji
    #[command(
        long_about = "For sites that build and sign RPMs in their own infrastructure: write, per \
package, DIR/<package>.spec (from specs/package.spec.j2, overridable with --templates) and the \
reproducible source DIR/<package>-<N>.tar.gz (sorted entries, root-owned, dated \
SOURCE_DATE_EPOCH). `rpmbuild -ba` of them makes the package `hostnet build` makes: same files, \
modes, owners, %config flags, dependencies and scriptlets. N is the version `hostnet build` would \
give against --previous (the published repository): the published one when the content is \
unchanged, the next one otherwise, 1 for a package it does not list; --version sets N instead. \
With --all, every host and hostnet-tools. DIR is replaced as a whole, atomically."
    )]
    Spec {
        #[command(flatten)]
        definitions: HostsArg,
        /// Hosts to write specs for
        #[arg(value_name = "HOST", conflicts_with = "all")]
        names: Vec<String>,
        /// Every host, and hostnet-tools
        #[arg(long)]
        all: bool,
        /// Output directory
        #[arg(long, short, value_name = "DIR")]
        out: PathBuf,
        /// What was published before (a repository directory or URL), to number versions as build does
        #[arg(long, value_name = "REPO", conflicts_with = "version")]
        previous: Option<String>,
        /// The version to write instead (a whole number from 1)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        version: Option<u64>,
        /// Template overrides, as for build
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },

    /// Show what a build would publish, against what is published: per host and per file
    #[command(
        long_about = "Compare what `hostnet build` would publish with what is published (DIR/repo and \
--previous, read as build reads them) without building anything: per host new, changed, unchanged \
or retired; for a changed host a unified diff of every file and scriptlet, the devices whose \
settings change (bond options, VLANs, addresses, dockerd flags, sysctl values) and what must \
restart on the host for the change to take effect. Exit status: 0 nothing changes, 2 something \
changes, 1 an error (a pipeline can gate on it)."
    )]
    Plan {
        #[command(flatten)]
        definitions: HostsArg,
        #[command(flatten)]
        before: BuiltBefore,
        /// human (every diff), summary (a line a package), or json for machines
        #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
        format: PlanFormat,
        /// Template overrides, as for build
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },

    /// Publish a built repo/ to the internal repository, keeping every client consistent
    #[command(
        long_about = "Publish a signed repo/ written by `hostnet build` to TARGET: a directory (local or \
mounted) served by a web server, or an http(s):// URL. Over HTTP, --server webdav PUTs each file \
under a temporary name and MOVEs it into place, the lock a MKCOL'd collection (nginx's dav module, \
Apache, wsgidav); --server put PUTs each file under its final name, for servers without MKCOL or \
MOVE (Nexus raw repositories, Artifactory), the lock its owner file PUT with If-None-Match: *, \
which not every server honours (publish says so: then serialise publishes in the pipeline); \
--server auto (the default) tries MKCOL and MOVE and says which it chose; --server pulp publishes \
through Pulp 3's REST API to the repository and distribution named by the URL's path \
(https://pulp.example.com/hostnet): packages uploaded, one repository version, a publication whose \
metadata Pulp signs with --signing-service, the distribution switched to it in one update. Packages go first, then \
the new metadata files, then repodata/repomd.xml and its signature, so a client never sees \
metadata naming a missing file. Files the new metadata no longer names stay for --grace seconds, for \
clients that read the previous repomd.xml, and are deleted by a later publish. A lock on the \
target keeps two publishers apart. Interrupted at any point, a publish run again completes. \
Credentials for a URL come from $HOSTNET_REPO_USER and $HOSTNET_REPO_PASSWORD or a netrc file \
($NETRC, else ~/.netrc), never from the command line."
    )]
    Publish {
        /// The repository or directory to publish to
        #[arg(value_name = "TARGET")]
        target: String,
        /// The built repository
        #[arg(long, value_name = "DIR", default_value = "out/repo")]
        repo: PathBuf,
        /// Seconds a superseded metadata file or retired package stays on the target
        #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
        grace: u64,
        /// Seconds after which a lock is taken to be left by a publisher that died
        #[arg(long, value_name = "SECONDS", default_value_t = 900)]
        lock_timeout: u64,
        /// How an http(s):// TARGET is written: webdav (PUT to a temporary name, MOVE into place,
        /// MKCOL lock), put (PUT under the final name, repomd.xml last: Nexus, Artifactory), or
        /// auto (webdav if the server makes and moves a collection, else put)
        #[arg(long, value_enum, default_value_t = crate::publish::ServerMode::Auto)]
        server: crate::publish::ServerMode,
        /// With --server pulp: the Pulp signing service that signs the repository's metadata with
        /// the build's key (set once; the repository keeps it)
        #[arg(long, value_name = "NAME")]
        signing_service: Option<String>,
    },

    /// Create an RSA signing key EL7 can use (primary key signs, no subkeys)
    #[command(
        long_about = "Create an RSA OpenPGP key whose primary key signs (rpm 4.11 cannot use \
signing subkeys or verify EdDSA/ECDSA). Writes the armored secret key with mode 0600 and the armored \
public key for yum's gpgkey= and `rpm --import`. Never overwrites an existing file. The passphrase, if \
any, comes from --passphrase-file or $HOSTNET_KEY_PASSPHRASE, never from the command line."
    )]
    Keygen {
        /// User ID of the key, e.g. "Example Ops <ops@example.com>"
        #[arg(long, value_name = "UID")]
        uid: String,
        /// RSA key size
        #[arg(long, default_value_t = 4096, value_parser = parse_key_bits)]
        bits: usize,
        /// Where to write the secret key
        #[arg(long, value_name = "FILE", default_value = "hostnet-signing-key.asc")]
        secret_key: PathBuf,
        /// Where to write the public key
        #[arg(long, value_name = "FILE", default_value = "RPM-GPG-KEY-hostnet")]
        public_key: PathBuf,
        /// File whose first line is the passphrase to protect the key with
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },

    /// Print shell completions for hostnet
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print hostnet's man page (roff), or write it and one page per subcommand into a directory
    Man {
        /// Write hostnet.1 and hostnet-<subcommand>.1 (which hostnet.1 refers to) into DIR
        #[arg(long, value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
    },
}

/// RSA sizes EL7 verifies and hostnet accepts.
fn parse_key_bits(text: &str) -> Result<usize, String> {
    match text {
        "2048" | "3072" | "4096" => Ok(text.parse().expect("matched digits")),
        _ => Err("use 2048, 3072 or 4096".into()),
    }
}

/// How `hostnet plan` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// Per package its state, the settings that change, what must restart, and every diff.
    Human,
    /// Per package one line: its state, versions, files and devices that change.
    Summary,
    Json,
}

/// How `check` and `show` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Appended to clap's bash completion: host names for `show`, `render` and `spec`, read from the
/// definitions tree the command line names (`--hosts`), else $HOSTNET_HOSTS, else `hosts`. Only
/// names a host may have (letters, digits, `.`, `_`, `-`) are offered: a file name is never
/// expanded by the shell.
pub const BASH_HOST_COMPLETION: &str = r#"
_hostnet_host_names() {
    local dir=${HOSTNET_HOSTS:-hosts} i file name
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --hosts) dir=${COMP_WORDS[i+1]} ;;
            --hosts=*) dir=${COMP_WORDS[i]#--hosts=} ;;
        esac
    done
    [[ -d $dir ]] || return 0
    while IFS= read -r file; do
        name=${file##*/}
        name=${name%.toml}
        [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ && $name != site && $name != group ]] && printf '%s
' "$name"
    done < <(find "$dir" -mindepth 1 -name '.*' -prune -o -type f -name '*.toml' -print 2>/dev/null)
}

_hostnet_with_host_names() {
    _hostnet "$@"
    local cur=${COMP_WORDS[COMP_CWORD]} previous=${COMP_WORDS[COMP_CWORD-1]} i word command=
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            --hosts) ((i++)) ;;
            -*) ;;
            *) command=$word; break ;;
        esac
    done
    case $command in show | render | spec) ;; *) return 0 ;; esac
    case $cur in -*) return 0 ;; esac
    case $previous in --hosts | --out | -o | --templates | --previous | --version | --format) return 0 ;; esac
    local name
    while IFS= read -r name; do
        [[ $name == "$cur"* ]] && COMPREPLY+=("$name")
    done < <(_hostnet_host_names)
}

complete -F _hostnet_with_host_names -o nosort -o bashdefault -o default hostnet
"#;
