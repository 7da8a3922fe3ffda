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
            }),
        }
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

    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        for diagnostic in self.sorted() {
            out.push_str(&render_one(diagnostic, sources));
        }
        out
    }
}

fn render_one(diagnostic: &Diagnostic, sources: &SourceMap) -> String {
    let location = &diagnostic.location;
    let (line, col) = sources.line_col(location.file, location.span.start);
    let mut out = format!(
        "{}:{}:{}: {}: {}\n",
        sources.path(location.file).display(),
        line,
        col,
        diagnostic.severity,
        diagnostic.full_message()
    );
    if location.span.is_empty() {
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
    let _ = writeln!(out, "{line:>gutter$} | {text}");
    let _ = writeln!(
        out,
        "{:>gutter$} | {}{}",
        "",
        " ".repeat(col - 1),
        "^".repeat(width)
    );
    out
}
