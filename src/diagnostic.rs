//! Problems found in the definitions, rendered like a compiler's: `path:line:col: error: message`,
//! followed by the offending line with the value underlined.

use std::fmt::Write as _;

use crate::source::{Location, SourceMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Location,
    /// Says what is wrong and what would be right; starts with the field's dotted name.
    pub message: String,
    /// For a problem in a site or group file that shows only in some hosts: those hosts.
    pub inherited_by: Vec<String>,
    /// For a fleet rule's problem: the hosts it is about (both of a clashing pair), wherever
    /// it is reported.
    pub about_hosts: Vec<String>,
}

impl Diagnostic {
    /// Whether this is about host `name`: reported in its file, in a value it inherits, or by a
    /// fleet rule that names it.
    pub fn concerns(&self, name: &str, file: crate::source::FileId) -> bool {
        self.location.file == file
            || self.inherited_by.iter().any(|host| host == name)
            || self.about_hosts.iter().any(|host| host == name)
    }
}

impl Diagnostic {
    pub fn full_message(&self) -> String {
        match self.inherited_by.as_slice() {
            [] => self.message.clone(),
            [host] => format!("{} (inherited by host {host})", self.message),
            hosts => format!("{} (inherited by hosts {})", self.message, hosts.join(", ")),
        }
    }
}

/// All problems found so far. Checking goes on after a problem so that one run reports them all.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    /// Errors reported, counting those merged into an earlier identical one.
    error_reports: usize,
}

impl Diagnostics {
    pub fn error(&mut self, location: &Location, message: impl Into<String>) {
        self.push(Severity::Error, location, message.into());
    }

    pub fn warning(&mut self, location: &Location, message: impl Into<String>) {
        self.push(Severity::Warning, location, message.into());
    }

    fn push(&mut self, severity: Severity, location: &Location, message: String) {
        self.push_inherited(severity, location, message, None);
    }

    /// A fleet rule's error about `hosts`, reported at `location`.
    pub fn error_about(&mut self, location: &Location, message: String, hosts: [&str; 2]) {
        self.error_reports += 1;
        let mut about_hosts: Vec<String> = hosts.map(String::from).into();
        about_hosts.dedup();
        self.items.push(Diagnostic {
            severity: Severity::Error,
            location: location.clone(),
            message,
            inherited_by: Vec::new(),
            about_hosts,
        });
    }

    /// A problem found while checking `host` in a value it inherited: reported once, naming every
    /// host it shows in.
    pub fn push_inherited(
        &mut self,
        severity: Severity,
        location: &Location,
        message: String,
        host: Option<&str>,
    ) {
        if severity == Severity::Error {
            self.error_reports += 1;
        }
        let same = |d: &&mut Diagnostic| {
            d.severity == severity && d.location == *location && d.message == message
        };
        match self.items.iter_mut().find(same) {
            Some(existing) => {
                if let Some(host) = host
                    && !existing.inherited_by.iter().any(|h| h == host)
                {
                    existing.inherited_by.push(host.to_string());
                }
            }
            None => self.items.push(Diagnostic {
                severity,
                location: location.clone(),
                message,
                inherited_by: host.map(String::from).into_iter().collect(),
                about_hosts: Vec::new(),
            }),
        }
    }

    /// Adds what `other` found after what this holds, as if each of its problems had been
    /// reported here in turn: checks that ran apart (one host per thread) report like one run.
    pub fn append(&mut self, other: Diagnostics) {
        let error_reports = self.error_reports + other.error_reports;
        for item in other.items {
            if !item.about_hosts.is_empty() {
                self.items.push(item);
                continue;
            }
            if item.inherited_by.is_empty() {
                self.push_inherited(item.severity, &item.location, item.message, None);
                continue;
            }
            for host in &item.inherited_by {
                let message = item.message.clone();
                self.push_inherited(item.severity, &item.location, message, Some(host));
            }
        }
        self.error_reports = error_reports;
    }

    /// How many errors have been reported so far, including repeats that were merged.
    pub fn error_reports(&self) -> usize {
        self.error_reports
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warning_count(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// In file order, then line order, so the report reads top to bottom.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut items: Vec<&Diagnostic> = self.items.iter().collect();
        items.sort_by(|a, b| {
            (a.location.file, a.location.span.start, a.severity).cmp(&(
                b.location.file,
                b.location.span.start,
                b.severity,
            ))
        });
        items
    }

    /// Each problem for machines (a CI annotation, an editor): where, how bad, what it says and
    /// the hosts it concerns, in the order [`Diagnostics::render`] prints them.
    pub fn to_json(&self, sources: &SourceMap) -> serde_json::Value {
        let items: Vec<serde_json::Value> = self
            .sorted()
            .into_iter()
            .map(|diagnostic| {
                let location = &diagnostic.location;
                let (line, column) = sources.line_col(location.file, location.span.start);
                serde_json::json!({
                    "severity": diagnostic.severity.to_string(),
                    "path": sources.path(location.file).to_string_lossy(),
                    "line": line,
                    "column": column,
                    "message": diagnostic.message,
                    "inherited-by": diagnostic.inherited_by,
                    "about-hosts": diagnostic.about_hosts,
                })
            })
            .collect();
        serde_json::Value::Array(items)
    }

    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        for diagnostic in self.sorted() {
            out.push_str(&render_one(diagnostic, sources));
        }
        out
    }
}

/// Longest message printed whole; a longer one (a huge value quoted in it) keeps its start, where
/// the setting is named, and its end, where the fix is said.
const MAX_MESSAGE: usize = 600;
/// Characters of the source line shown around the underlined value.
const SNIPPET_WIDTH: usize = 100;
/// Of those, how many come before the value.
const SNIPPET_LEAD: usize = 40;

fn render_one(diagnostic: &Diagnostic, sources: &SourceMap) -> String {
    let location = &diagnostic.location;
    let (line, col) = sources.line_col(location.file, location.span.start);
    let mut out = format!(
        "{}:{}:{}: {}: {}\n",
        printable(&sources.path(location.file).to_string_lossy()),
        line,
        col,
        diagnostic.severity,
        shortened(&printable(&diagnostic.full_message()), MAX_MESSAGE)
    );
    // An empty span at the start stands for the whole file; elsewhere it marks a position.
    if location.span == (0..0) {
        return out;
    }
    let text = sources.line_text(location.file, location.span.start);
    let gutter = line.to_string().len();
    let (end_line, end_col) = sources.line_col(location.file, location.span.end);
    let width = if end_line == line {
        end_col.saturating_sub(col).max(1)
    } else {
        text.chars().count().saturating_sub(col - 1).max(1)
    };
    let (shown, caret_at, caret_width) = snippet(text, col - 1, width);
    let _ = writeln!(out, "{line:>gutter$} | {shown}");
    let _ = writeln!(
        out,
        "{:>gutter$} | {}{}",
        "",
        " ".repeat(caret_at),
        "^".repeat(caret_width.max(1))
    );
    out
}

/// One character as a terminal can show it: control characters (newline, tab, NUL, escape...)
/// as Rust-style escapes, so that a hostile value can neither break the report's lines nor send
/// terminal control sequences.
fn printable_char(c: char) -> String {
    if c.is_control() {
        c.escape_default().collect()
    } else {
        c.to_string()
    }
}

pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars().map(printable_char).collect()
}

/// `text` cut in the middle to about `max` characters, saying how much was left out.
fn shortened(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let keep = max / 2;
    let head: String = text.chars().take(keep).collect();
    let tail: String = text.chars().skip(count - keep).collect();
    format!("{head}…({} characters left out)…{tail}", count - 2 * keep)
}

/// The part of `line` around the characters `start..start + width` (counted in characters),
/// escaped, with the display column and width of the underline.
fn snippet(line: &str, start: usize, width: usize) -> (String, usize, usize) {
    let chars: Vec<char> = line.chars().collect();
    let from = start.saturating_sub(SNIPPET_LEAD);
    let to = chars
        .len()
        .min(from + SNIPPET_WIDTH)
        .max(start.min(chars.len()));
    let mut shown = String::new();
    if from > 0 {
        shown.push('…');
    }
    let (mut caret_at, mut caret_end) = (None, None);
    for (i, c) in chars.iter().enumerate().take(to).skip(from) {
        if i == start {
            caret_at = Some(shown.chars().count());
        }
        shown.push_str(&printable_char(*c));
        if i + 1 == start + width {
            caret_end = Some(shown.chars().count());
        }
    }
    let caret_at = caret_at.unwrap_or(shown.chars().count());
    let caret_end = caret_end.unwrap_or(shown.chars().count());
    if to < chars.len() {
        shown.push('…');
    }
    (shown, caret_at, caret_end.saturating_sub(caret_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_problems_read_as_if_reported_in_one_pass() {
        let at = |file, start| Location::new(crate::source::FileId(file), start..start + 1);
        let report = |diagnostics: &mut Diagnostics, host: &str| {
            // Inherited from the site file: once, naming every host; twice for one host counts.
            for _ in 0..2 {
                diagnostics.push_inherited(
                    Severity::Error,
                    &at(0, 5),
                    "bond.mode: wrong".into(),
                    Some(host),
                );
            }
            diagnostics.warning(&at(1, 2), format!("{host}: a warning"));
        };
        let mut one_pass = Diagnostics::default();
        let mut appended = Diagnostics::default();
        for host in ["a", "b", "c"] {
            report(&mut one_pass, host);
            let mut apart = Diagnostics::default();
            report(&mut apart, host);
            appended.append(apart);
        }
        assert_eq!(appended.items, one_pass.items);
        assert_eq!(appended.error_reports(), one_pass.error_reports());
        assert_eq!(appended.error_reports(), 6);
        assert_eq!(appended.items[0].inherited_by, ["a", "b", "c"]);
    }

    #[test]
    fn long_lines_are_cut_around_the_value() {
        let line = format!("key = \"{}\"", "x".repeat(10_000));
        let (shown, at, width) = snippet(&line, 6, 10_002);
        assert!(shown.chars().count() <= SNIPPET_WIDTH + 2, "{shown}");
        assert_eq!(at, 6);
        assert_eq!(width, SNIPPET_WIDTH - 6);
        let line = format!("{}key = 1", "y".repeat(5_000));
        let (shown, at, width) = snippet(&line, 5_006, 1);
        assert!(shown.starts_with('…') && shown.ends_with('1'), "{shown}");
        assert_eq!(shown.chars().nth(at), Some('1'));
        assert_eq!(width, 1);
    }

    #[test]
    fn control_characters_are_escaped_and_the_caret_follows() {
        let (shown, at, width) = snippet("a = \"\0\x1b[2J\tb\"", 4, 8);
        assert_eq!(shown, "a = \"\\u{0}\\u{1b}[2J\\tb\"");
        assert_eq!(at, 4);
        assert_eq!(width, shown.chars().count() - 5);
        assert_eq!(printable("hosts/a\nb.toml"), "hosts/a\\nb.toml");
        let message = format!("field: {:?} is wrong; write 1", "z".repeat(5_000));
        let cut = shortened(&message, MAX_MESSAGE);
        assert!(cut.starts_with("field: ") && cut.ends_with("; write 1"));
        assert!(cut.chars().count() < MAX_MESSAGE + 50);
    }
}
