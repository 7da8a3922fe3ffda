//! `docker.extra-flags` read the way dockerd reads its command line (spf13/pflag): `--name`,
//! `--name=value`, `--name value`, `-x value`, `-xvalue`, `-x=value` and clusters of short flags
//! (`-Db docker1`). Only then can a flag hostnet writes itself be recognised in every spelling.

/// dockerd's one-letter flags: the long name each stands for, and whether it takes a value.
const SHORT_FLAGS: &[(char, &str, bool)] = &[
    ('b', "bridge", true),
    ('D', "debug", false),
    ('G', "group", true),
    ('g', "graph", true),
    ('H', "host", true),
    ('h', "help", false),
    ('l', "log-level", true),
    ('p', "pidfile", true),
    ('s', "storage-driver", true),
    ('v', "version", false),
];

/// One flag as dockerd would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerdFlag {
    /// The long name, without dashes (`-s` gives `storage-driver`).
    pub name: String,
    /// Index of the list entry the flag starts in.
    pub index: usize,
}

/// An entry dockerd would refuse or misread, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    pub index: usize,
    pub message: String,
}

fn is_long_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Reads the whole list as dockerd's argv would be read.
pub fn parse(entries: &[String]) -> Result<Vec<DockerdFlag>, FlagError> {
    let mut flags = Vec::new();
    let mut index = 0;
    while index < entries.len() {
        let entry = &entries[index];
        let error = |message: String| FlagError { index, message };
        if let Some(long) = entry.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            if !is_long_name(name) {
                return Err(error(format!(
                    "{entry:?} is not a flag dockerd can read; write --name or --name=value"
                )));
            }
            flags.push(DockerdFlag {
                name: name.to_string(),
                index,
            });
            // `--name value`: a following entry that is not a flag is this flag's value.
            if !long.contains('=') && entries.get(index + 1).is_some_and(|v| !v.starts_with('-')) {
                index += 1;
            }
        } else if let Some(cluster) = entry.strip_prefix('-') {
            if cluster.is_empty() {
                return Err(error(
                    "\"-\" is not a flag; write --name or --name=value".into(),
                ));
            }
            for (at, letter) in cluster.char_indices() {
                let Some((_, long, takes_value)) =
                    SHORT_FLAGS.iter().find(|(short, _, _)| *short == letter)
                else {
                    return Err(error(format!(
                        "{entry:?}: dockerd has no flag -{letter}; write the long form, --name or --name=value"
                    )));
                };
                flags.push(DockerdFlag {
                    name: long.to_string(),
                    index,
                });
                if *takes_value {
                    // The rest of the cluster is the value (`-bdocker1`, `-b=docker1`); if
                    // nothing is left, the next entry is.
                    if at + letter.len_utf8() == cluster.len() {
                        if entries.get(index + 1).is_none_or(|v| v.starts_with('-')) {
                            return Err(error(format!(
                                "{entry:?}: -{letter} (--{long}) needs a value; write --{long}=value"
                            )));
                        }
                        index += 1;
                    }
                    break;
                }
                // A boolean short flag may carry `=true`/`=false`; nothing may follow that.
                if cluster[at + 1..].starts_with('=') {
                    break;
                }
            }
        } else {
            return Err(error(format!(
                "{entry:?} is not a flag and no flag before it takes a value; write each as --name or --name=value"
            )));
        }
        index += 1;
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[&str]) -> Result<Vec<String>, usize> {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        parse(&entries)
            .map(|flags| flags.into_iter().map(|f| f.name).collect())
            .map_err(|e| e.index)
    }

    #[test]
    fn every_spelling_of_a_flag_gives_its_long_name() {
        assert_eq!(names(&["-bdocker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["-b=docker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["-b", "docker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["--bridge", "docker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["--bridge=docker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["-svfs"]), Ok(vec!["storage-driver".into()]));
        assert_eq!(
            names(&["-Dsvfs"]),
            Ok(vec!["debug".into(), "storage-driver".into()])
        );
        assert_eq!(
            names(&["-Db", "x"]),
            Ok(vec!["debug".into(), "bridge".into()])
        );
        assert_eq!(
            names(&["--live-restore", "--max-concurrent-downloads=3"]),
            Ok(vec![
                "live-restore".into(),
                "max-concurrent-downloads".into()
            ])
        );
    }

    #[test]
    fn what_dockerd_would_refuse_is_refused() {
        assert_eq!(names(&["-x"]), Err(0));
        assert_eq!(names(&["--ok", "-"]), Err(1));
        assert_eq!(names(&["-b"]), Err(0));
        assert_eq!(names(&["-b", "--debug"]), Err(0));
        assert_eq!(names(&["---bip=1"]), Err(0));
        assert_eq!(names(&["--debug", "--", "x"]), Err(1));
        assert_eq!(names(&["value"]), Err(0));
    }
}
