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
2 on a usage error.",
    after_help = "Start with `hostnet check`, then `hostnet show HOST` and `hostnet render HOST --out DIR`."
)]
pub struct Cli {
    /// The definitions tree: site.toml, optional group folders with group.toml, one <host>.toml per host
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "HOSTNET_HOSTS",
        default_value = "hosts"
    )]
    pub hosts: PathBuf,

    #[command(subcommand)]
    pub command: Command,
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
        /// Treat warnings as errors
        #[arg(long)]
        deny_warnings: bool,
    },

    /// Print a host's effective definition after inheritance, with where each value came from
    Show {
        /// Host name (the definition file's name without .toml)
        host: String,
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
        /// Hosts to render
        #[arg(
            value_name = "HOST",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        names: Vec<String>,
        /// Render every host, each into DIR/<host>/
        #[arg(long)]
        all: bool,
        /// Output directory
        #[arg(long, short, value_name = "DIR")]
        out: PathBuf,
    },

    /// Print shell completions for hostnet
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print hostnet's man page (roff)
    Man,
}
