//! Reading typed values out of a table's located fields, each problem reported where it is: the
//! one helper behind every checker (a host's tables, the site's `[kickstart]` and `[pxe]`).

use crate::definition::schema::Field;
use crate::diagnostic::{Diagnostics, Severity};
use crate::model::ClosedSet;
use crate::source::{FileId, Location};

pub struct Fields<'a> {
    pub diagnostics: &'a mut Diagnostics,
    /// Starts every key in messages (`kickstart.`); empty where callers give keys in full.
    prefix: &'static str,
    /// Where a missing required setting is reported: the table, or the host's file.
    table: Location,
    /// The host whose merged settings these are, so that a problem found in a shared (site or
    /// group) file says which host it concerns.
    host: Option<(FileId, &'a str)>,
    /// What every text value must pass before its own check.
    precheck: fn(&str) -> Result<(), String>,
    /// No error reported so far.
    pub ok: bool,
}

/// What a setting left out means.
pub enum Missing<'d> {
    /// This value.
    Default(&'d str),
    /// An error: the setting is required; the hint says what to give.
    Required(&'d str),
}

impl<'a> Fields<'a> {
    /// Fields of one host's merged settings, reported against `file`.
    pub fn for_host(diagnostics: &'a mut Diagnostics, file: FileId, host: &'a str) -> Self {
        Fields {
            diagnostics,
            prefix: "",
            table: Location::file_start(file),
            host: Some((file, host)),
            precheck: |_| Ok(()),
            ok: true,
        }
    }

    /// Fields of a site table at `table`, named `prefix` in messages, whose every value must pass
    /// `precheck` first.
    pub fn for_table(
        diagnostics: &'a mut Diagnostics,
        table: Location,
        prefix: &'static str,
        precheck: fn(&str) -> Result<(), String>,
    ) -> Self {
        Fields {
            diagnostics,
            prefix,
            table,
            host: None,
            precheck,
            ok: true,
        }
    }

    /// The location problems about the table as a whole are reported at.
    pub fn table(&self) -> Location {
        self.table.clone()
    }

    pub fn error(&mut self, at: &Location, message: String) {
        self.report(Severity::Error, at, message);
    }

    pub fn warning(&mut self, at: &Location, message: String) {
        self.report(Severity::Warning, at, message);
    }

    fn report(&mut self, severity: Severity, at: &Location, message: String) {
        if severity == Severity::Error {
            self.ok = false;
        }
        let host = self
            .host
            .filter(|(file, _)| at.file != *file)
            .map(|(_, name)| name);
        self.diagnostics.push_inherited(severity, at, message, host);
    }

    /// A required setting left out.
    pub fn missing(&mut self, key: &str, hint: &str) {
        let at = self.table.clone();
        self.error(&at, format!("{}{key}: missing; {hint}", self.prefix));
    }

    /// A string field parsed by `parse`, or its default (which parses by construction).
    pub fn parsed<T>(
        &mut self,
        field: &Field<String>,
        key: &str,
        missing: Missing,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let Some(value) = field else {
            return match missing {
                Missing::Default(text) => match parse(text) {
                    Ok(parsed) => Some(parsed),
                    Err(e) => unreachable!("hostnet's default {key} = {text:?} is refused: {e}"),
                },
                Missing::Required(hint) => {
                    self.missing(key, hint);
                    None
                }
            };
        };
        match (self.precheck)(&value.value).and_then(|()| parse(&value.value)) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                self.error(&value.at, format!("{}{key}: {e}", self.prefix));
                None
            }
        }
    }

    /// A string field checked by `check`, or its default.
    pub fn text(
        &mut self,
        field: &Field<String>,
        key: &str,
        missing: Missing,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        self.parsed(field, key, missing, |text| {
            check(text).map(|()| text.to_string())
        })
    }

    /// Every item parsed by `parse`, none listed twice; `default` when absent.
    pub fn parsed_list<T>(
        &mut self,
        field: &Field<Vec<String>>,
        key: &str,
        default: &[&str],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        let Some(list) = field else {
            return default.iter().map(|text| parse(text).ok()).collect();
        };
        let mut parsed = Vec::new();
        let mut ok = true;
        for (i, item) in list.value.iter().enumerate() {
            match (self.precheck)(item).and_then(|()| parse(item)) {
                Err(e) => {
                    self.error(&list.at, format!("{}{key}[{i}]: {e}", self.prefix));
                    ok = false;
                }
                Ok(_) if list.value[..i].contains(item) => {
                    let message = format!("{}{key}[{i}]: {item:?} is listed twice", self.prefix);
                    self.error(&list.at, message);
                    ok = false;
                }
                Ok(value) => parsed.push(value),
            }
        }
        ok.then_some(parsed)
    }

    /// Every item checked by `check`, none listed twice; `default` when absent.
    pub fn list(
        &mut self,
        field: &Field<Vec<String>>,
        key: &str,
        default: &[&str],
        check: fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        self.parsed_list(field, key, default, |text| {
            check(text).map(|()| text.to_string())
        })
    }

    /// A closed-set field parsed into its type, or the default; `what` names the set in messages
    /// ("a log driver dockerd knows").
    pub fn choice<T: std::str::FromStr + ClosedSet>(
        &mut self,
        field: &Field<String>,
        key: &str,
        default: T,
        what: &str,
    ) -> Option<T> {
        let Some(value) = field else {
            return Some(default);
        };
        let prefix = self.prefix;
        let parsed = (self.precheck)(&value.value).and_then(|()| {
            value.value.parse::<T>().map_err(|_| {
                format!(
                    "{:?} is not {what}; use one of {}",
                    value.value,
                    T::choices()
                )
            })
        });
        match parsed {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                self.error(&value.at, format!("{prefix}{key}: {e}"));
                None
            }
        }
    }
}
