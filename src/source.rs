//! The definition files as read from disk, kept so that diagnostics can point into them.
//!
//! Not for parsing: this module only stores text and turns byte offsets into lines and columns.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub usize);

/// A byte range inside one definition file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: FileId,
    pub span: Range<usize>,
}

impl Location {
    pub fn new(file: FileId, span: Range<usize>) -> Self {
        Location { file, span }
    }

    /// The start of a file, for problems that concern a whole file.
    pub fn file_start(file: FileId) -> Self {
        Location { file, span: 0..0 }
    }
}

#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user will recognise it (relative to where hostnet was pointed).
    pub path: PathBuf,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        self.files.push(SourceFile { path, text });
        FileId(self.files.len() - 1)
    }

    /// Frees the room left for files not added.
    pub fn shrink_to_fit(&mut self) {
        self.files.shrink_to_fit();
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    pub fn path(&self, id: FileId) -> &Path {
        &self.files[id.0].path
    }

    /// One-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, id: FileId, offset: usize) -> (usize, usize) {
        let text = &self.files[id.0].text;
        let offset = offset.min(text.len());
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// The full text of the line holding `offset`, without its newline.
    pub fn line_text(&self, id: FileId, offset: usize) -> &str {
        let text = &self.files[id.0].text;
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        text[start..end].trim_end_matches('\r')
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let mut map = SourceMap::default();
        let id = map.add("a.toml".into(), "a = 1\nbé = \"x\"\n".into());
        assert_eq!(map.line_col(id, 0), (1, 1));
        assert_eq!(map.line_col(id, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(map.line_col(id, 11), (2, 5));
        assert_eq!(map.line_text(id, 8), "bé = \"x\"");
    }
}
