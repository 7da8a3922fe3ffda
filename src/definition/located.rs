//! A value read from a definition file together with where it was written.

use serde::{Deserialize, Deserializer};

use crate::source::{FileId, Location};

/// A value and the file and byte range it came from.
///
/// Deserialised without its file (serde only sees the text); the loader stamps the file on every value
/// with [`Layer::set_file`] right after parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub at: Location,
}

impl<T> Located<T> {
    pub fn new(value: T, at: Location) -> Self {
        Located { value, at }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<T>::deserialize(deserializer)?;
        let span = spanned.span();
        Ok(Located {
            value: spanned.into_inner(),
            at: Location::new(FileId(usize::MAX), span),
        })
    }
}

/// One level of settings (site defaults, a group's defaults or a host) that can be laid over another.
pub trait Layer {
    /// Take every value that `upper` sets; keep ours where it sets nothing.
    fn overlay(&mut self, upper: Self);
    /// Record which file every value came from.
    fn set_file(&mut self, file: FileId);
}

impl<T> Layer for Option<Located<T>> {
    fn overlay(&mut self, upper: Self) {
        if upper.is_some() {
            *self = upper;
        }
    }

    fn set_file(&mut self, file: FileId) {
        if let Some(located) = self {
            located.at.file = file;
        }
    }
}

/// Maps merge key by key: a lower level adds or replaces single entries.
impl<T> Layer for std::collections::BTreeMap<String, Located<T>> {
    fn overlay(&mut self, upper: Self) {
        self.extend(upper);
    }

    fn set_file(&mut self, file: FileId) {
        for located in self.values_mut() {
            located.at.file = file;
        }
    }
}

/// Implements [`Layer`] for a settings table by overlaying each field in turn.
macro_rules! layered {
    ($type:ty { $($field:ident),* $(,)? }) => {
        impl $crate::definition::located::Layer for $type {
            fn overlay(&mut self, upper: Self) {
                $( self.$field.overlay(upper.$field); )*
            }
            fn set_file(&mut self, file: $crate::source::FileId) {
                $( self.$field.set_file(file); )*
            }
        }
    };
}
pub(crate) use layered;
