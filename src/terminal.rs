//! What hostnet prints. Much of it holds strings from outside: package names and locations from a
//! repository's metadata, HTTP answers, file names, values from definitions. A control character
//! in them (ESC starting a terminal sequence, BEL, a carriage return that overwrites the line, a
//! bidirectional override that reorders what is shown) would act on the reader's terminal or hide
//! text in a CI log, so everything printed goes through [`printable`], and JSON through
//! [`json_printable`]. Not for files hostnet writes: those have their own quoting.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is: every control character (C0, DEL, C1) and the
/// invisible characters that change how the text around them is shown.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

/// `text` with each unsafe character but newline and tab written as `\u{..}`, the way hostnet's
/// diagnostics show them.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(
        text,
        |c| c != '\n' && c != '\t' && is_unsafe(c),
        |c| format!("\\u{{{:x}}}", c as u32),
    )
}

/// Serialized JSON with the unsafe characters serde leaves as they are (DEL, C1, bidirectional
/// controls) written as `\uXXXX` escapes: the same JSON value, safe to show. Such characters only
/// occur inside strings, where the escape means the same character.
pub fn json_printable(json: &str) -> Cow<'_, str> {
    // A newline or tab outside a string is layout; serde escapes every one inside.
    escape(
        json,
        |c| c != '\n' && c != '\t' && is_unsafe(c),
        |c| {
            let mut units = [0u16; 2];
            c.encode_utf16(&mut units)
                .iter()
                .map(|unit| format!("\\u{unit:04x}"))
                .collect()
        },
    )
}

fn escape(
    text: &str,
    unsafe_char: impl Fn(char) -> bool,
    write: impl Fn(char) -> String,
) -> Cow<'_, str> {
    if !text.chars().any(&unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&write(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `println!` through [`printable`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", $crate::terminal::printable(&format!($($arg)*)))
    };
}

/// `eprintln!` through [`printable`].
#[macro_export]
macro_rules! tell {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::terminal::printable(&format!($($arg)*)))
    };
}

/// A character as a message names it: `a newline`, `the control character U+001B`, `'$'`.
pub fn describe_char(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\0' => "a NUL byte".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("{c:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_written_out() {
        assert_eq!(
            printable("hostnet-a\u{1b}]0;owned\u{7}\r\u{9b}2J\u{202e}x\n\tnext"),
            "hostnet-a\\u{1b}]0;owned\\u{7}\\u{d}\\u{9b}2J\\u{202e}x\n\tnext"
        );
        assert!(matches!(printable("plain\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_stays_the_same_value() {
        let value = serde_json::json!({"name": "a\u{1b}b\u{7f}c\u{9b}d\u{202e}e\u{1f600}\n\t"});
        let json = serde_json::to_string_pretty(&value).unwrap();
        let shown = json_printable(&json);
        assert!(!shown.chars().any(|c| c != '\n' && is_unsafe(c)), "{shown}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
            value
        );
    }
}
