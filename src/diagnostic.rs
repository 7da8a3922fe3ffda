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
}

/// All problems found so far. Checking goes on after a problem so that one run reports them all.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn error(&mut self, location: &Location, message: impl Into<String>) {
        self.push(Severity::Error, location, message.into());
    }

    pub fn warning(&mut self, location: &Location, message: impl Into<String>) {
        self.push(Severity::Warning, location, message.into());
    }

    fn push(&mut self, severity: Severity, location: &Location, message: String) {
        let diagnostic = Diagnostic {
            severity,
            location: location.clone(),
            message,
        };
        // Fleet rules may reach the same conclusion from two hosts; say it once.
        if !self.items.contains(&diagnostic) {
            self.items.push(diagnostic);
        }
    }

    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            self.push(d.severity, &d.location, d.message);
        }
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
            (a.location.file, a.location.span.start, a.severity)
                .cmp(&(b.location.file, b.location.span.start, b.severity))
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
        diagnostic.message
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
