//! Quoting for the two shell dialects hostnet writes: ifcfg assignments (sourced by bash as root by
//! network-scripts, and parsed by NetworkManager's ifcfg-rh reader) and scriptlet words.
//!
//! Validation already limits every value to a safe alphabet; quoting is the second wall, so it is
//! exact for any input and refuses what no quoting can make safe in a line-based file.

/// Characters that need no quoting in either bash or ifcfg-rh.
fn is_bare(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.,:/+@=%-".contains(c)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{value:?} cannot be written to a line-based shell file: it contains a control character")]
pub struct UnquotableValue {
    pub value: String,
}

/// The right-hand side of `KEY=value` in an ifcfg file.
///
/// Bare when every character is plain, otherwise in double quotes (as network-scripts' own files and
/// `BONDING_OPTS="mode=0 miimon=100"` are), with `\`, `"`, `$` and `` ` `` escaped. Control
/// characters (newline, NUL...) are refused: ifcfg-rh reads one assignment per line.
pub fn ifcfg_value(value: &str) -> Result<String, UnquotableValue> {
    if value.chars().any(char::is_control) {
        return Err(UnquotableValue {
            value: value.to_string(),
        });
    }
    if !value.is_empty() && value.chars().all(is_bare) {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// One word for a POSIX shell script, single-quoted unless plain.
pub fn sh_word(value: &str) -> String {
    if !value.is_empty() && value.chars().all(is_bare) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_bare() {
        assert_eq!(ifcfg_value("bond0.51").unwrap(), "bond0.51");
        assert_eq!(
            ifcfg_value("mode=0 miimon=100").unwrap(),
            "\"mode=0 miimon=100\""
        );
        assert_eq!(ifcfg_value("").unwrap(), "\"\"");
    }

    #[test]
    fn hostile_values_are_escaped_or_refused() {
        assert_eq!(
            ifcfg_value("a\"$(id)`x`\\").unwrap(),
            r#""a\"\$(id)\`x\`\\""#
        );
        assert!(ifcfg_value("a\nb").is_err());
        assert!(ifcfg_value("a\0b").is_err());
        assert_eq!(sh_word("it's $HOME"), r"'it'\''s $HOME'");
        assert_eq!(sh_word("apps"), "apps");
    }
}
