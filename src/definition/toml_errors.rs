//! TOML and serde errors said in the terms of the definition language: which setting, what was
//! found, what to write. serde's own messages name Rust types (`expected i64`, `expected struct
//! BondLayer`) and the parser's name no key (`duplicate key`, `invalid float`).

use std::ops::Range;

/// The dotted setting whose key or value covers `offset` (`bond.miimon`, `sysctl."net.core.x"`),
/// read from the document's own spans.
pub fn setting_at(text: &str, offset: usize) -> Option<String> {
    let document = toml_edit::Document::parse(text).ok()?;
    let path = path_in_table(document.as_table(), offset)?;
    (!path.is_empty()).then(|| path.join("."))
}

fn covers(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

fn display_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn path_in_table(table: &toml_edit::Table, offset: usize) -> Option<Vec<String>> {
    for (name, item) in table.iter() {
        let key_span = table.key(name).and_then(toml_edit::Key::span);
        let inner = match item {
            toml_edit::Item::Table(inner) => path_in_table(inner, offset),
            toml_edit::Item::ArrayOfTables(array) => {
                array.iter().find_map(|t| path_in_table(t, offset))
            }
            toml_edit::Item::Value(value) => path_in_value(value, offset),
            toml_edit::Item::None => None,
        };
        if let Some(mut rest) = inner {
            rest.insert(0, display_key(name));
            return Some(rest);
        }
        if covers(key_span, offset) || covers(item.span(), offset) {
            return Some(vec![display_key(name)]);
        }
    }
    None
}

fn path_in_value(value: &toml_edit::Value, offset: usize) -> Option<Vec<String>> {
    match value {
        toml_edit::Value::InlineTable(table) => table.iter().find_map(|(name, inner)| {
            let key_span = table.key(name).and_then(toml_edit::Key::span);
            if let Some(mut rest) = path_in_value(inner, offset) {
                rest.insert(0, display_key(name));
                Some(rest)
            } else if covers(key_span, offset) || covers(inner.span(), offset) {
                Some(vec![display_key(name)])
            } else {
                None
            }
        }),
        toml_edit::Value::Array(array) => array
            .iter()
            .enumerate()
            .find_map(|(i, inner)| covers(inner.span(), offset).then(|| vec![format!("[{i}]")])),
        _ => None,
    }
}

/// `"bond.miimon: found the string \"100\", expected a whole number"` from serde's
/// `invalid type: string "100", expected i64`; `spanned` is the text the error points at.
pub fn explain(message: &str, setting: Option<&str>, spanned: &str, line: &str) -> String {
    let message = message.trim_end();
    let prefix = setting.map(|s| format!("{s}: ")).unwrap_or_default();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (field, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let expected = expected.replace("one of ", "");
        let allowed: Vec<&str> = expected
            .split(", ")
            .flat_map(|part| part.split(" or "))
            .map(|s| s.trim_matches('`'))
            .filter(|s| !s.is_empty())
            .collect();
        let typed = field.trim_matches('`');
        let suggestion = allowed
            .iter()
            .map(|candidate| (strsim::damerau_levenshtein(typed, candidate), *candidate))
            .filter(|(distance, candidate)| {
                *distance <= 2.max(candidate.len() / 3) && *distance < candidate.len()
            })
            .min()
            .map(|(_, candidate)| format!("did you mean `{candidate}`? "))
            .unwrap_or_default();
        return if expected.is_empty() {
            format!("unknown setting {field}")
        } else {
            format!("unknown setting {field}; {suggestion}allowed here: {expected}")
        };
    }
    if message == "duplicate key" {
        return format!(
            "{} is set twice in this table; keep one of them",
            spanned.trim()
        );
    }
    if (message.starts_with("invalid float")
        || message.starts_with("invalid number")
        || message.starts_with("invalid unquoted string")
        || message.contains("expected nothing"))
        && let Some((key, value)) = line.split_once('=')
    {
        let (key, value) = (key.trim(), value.trim());
        if !value.starts_with('"') && !value.is_empty() {
            return format!(
                "{key}: {value} is not a TOML value; text such as an address is written in quotes: {key} = \"{value}\""
            );
        }
    }
    let mismatch = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "));
    if let Some((found, expected)) = mismatch {
        return format!(
            "{prefix}found {}, expected {}",
            describe_found(found),
            describe_expected(expected)
        );
    }
    let message = message
        .replace(
            "data did not match any variant of untagged enum VlanRef",
            "expected a VLAN id (number) or a VLAN name from the catalog (string)",
        )
        .replace(
            "data did not match any variant of untagged enum ScalarValue",
            "expected a number, a string or true/false",
        );
    format!("{prefix}{message}")
}

/// serde's "string \"x\"", "integer `3`", "map"... as a user would say it.
fn describe_found(found: &str) -> String {
    let quoted = |text: &str| text.trim_matches('`').to_string();
    if let Some(text) = found.strip_prefix("string ") {
        format!("the string {text}")
    } else if let Some(n) = found.strip_prefix("integer ") {
        format!("the number {}", quoted(n))
    } else if let Some(n) = found.strip_prefix("floating point ") {
        format!("the number {}", quoted(n))
    } else if let Some(b) = found.strip_prefix("boolean ") {
        quoted(b)
    } else if found == "sequence" {
        "a list".into()
    } else if found == "map" {
        "a table".into()
    } else {
        found.to_string()
    }
}

/// serde's expectation (a Rust type or a visitor's phrase) in the definition language's words.
fn describe_expected(expected: &str) -> String {
    match expected {
        "i64" | "u64" | "u32" | "u16" | "u8" | "i32" | "usize" | "an integer" => {
            "a whole number (without quotes)".into()
        }
        "a string" => "a string (in double quotes)".into(),
        "a boolean" => "true or false (without quotes)".into(),
        "a sequence" => "a list, e.g. [\"a\", \"b\"]".into(),
        "a map" => "a table".into(),
        other if other.starts_with("struct ") => "a table (a [section] or { key = value })".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_found_by_offset() {
        let text = "[bond]\nmiimon = \"100\"\n[sysctl]\n\"net.core.x\" = 1\n[docker]\nusers = [\"a\", 3]\nx = { y = 2 }\n";
        let at = |needle: &str| setting_at(text, text.find(needle).unwrap());
        assert_eq!(at("\"100\"").as_deref(), Some("bond.miimon"));
        assert_eq!(at("miimon").as_deref(), Some("bond.miimon"));
        assert_eq!(at("1\n").as_deref(), Some("sysctl.\"net.core.x\""));
        assert_eq!(at("3]").as_deref(), Some("docker.users.[1]"));
        assert_eq!(at("2 }").as_deref(), Some("docker.x.y"));
    }

    #[test]
    fn messages_use_the_language_of_the_files() {
        assert_eq!(
            explain(
                "invalid type: string \"100\", expected i64",
                Some("bond.miimon"),
                "\"100\"",
                ""
            ),
            "bond.miimon: found the string \"100\", expected a whole number (without quotes)"
        );
        assert_eq!(
            explain(
                "invalid type: integer `3`, expected struct BondLayer",
                Some("bond"),
                "3",
                ""
            ),
            "bond: found the number 3, expected a table (a [section] or { key = value })"
        );
        assert_eq!(
            explain("duplicate key", None, "miimon", "miimon = 200"),
            "miimon is set twice in this table; keep one of them"
        );
        assert_eq!(
            explain(
                "invalid float, expected nothing",
                None,
                ".51.77",
                "address = 10.20.51.77"
            ),
            "address: 10.20.51.77 is not a TOML value; text such as an address is written in quotes: address = \"10.20.51.77\""
        );
        assert!(
            explain(
                "unknown field `slavs`, expected one of `name`, `slaves`, `mode`",
                None,
                "slavs",
                ""
            )
            .contains("did you mean `slaves`? allowed here:")
        );
        // serde lists two fields as "`a` or `b`".
        assert!(
            explain(
                "unknown field `domian`, expected `name` or `domain`",
                None,
                "domian",
                ""
            )
            .contains("did you mean `domain`? allowed here: `name` or `domain`")
        );
        assert!(
            !explain(
                "unknown field `zzzzzz`, expected one of `name`, `slaves`",
                None,
                "",
                ""
            )
            .contains("did you mean")
        );
    }
}
