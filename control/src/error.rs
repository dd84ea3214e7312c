//! Errors a person can act on: every store error names the file, the document and the field.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where an object came from: file, 1-based document index, and list item if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    /// 1-based index of the YAML document (or 1 for a JSON file).
    pub document: usize,
    /// 0-based index inside a `kind: List`, if the object came from one.
    pub item: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.file.display(), self.document)
    }
}

impl Origin {
    /// Document `document` (1-based) of `file`, not inside a List.
    pub fn document(file: &Path, document: usize) -> Self {
        Self {
            file: file.to_path_buf(),
            document,
            item: None,
        }
    }

    /// The field path as seen from the document root (`items[3].spec...` inside a List).
    pub fn field(&self, path: &str) -> String {
        match self.item {
            Some(i) if path.is_empty() => format!("items[{i}]"),
            Some(i) => format!("items[{i}].{path}"),
            None => path.to_string(),
        }
    }
}

/// A problem in one field of one object, before the object's origin is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything that can make a store unusable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: not valid YAML/JSON: {message}")]
    Syntax { origin: Origin, message: String },
    #[error("{origin}: {field}: {message}", field = display_field(.field))]
    Invalid {
        origin: Origin,
        field: String,
        message: String,
    },
}

fn display_field(field: &str) -> &str {
    if field.is_empty() {
        "(document)"
    } else {
        field
    }
}

impl StoreError {
    /// Attach an origin to a field error.
    pub fn invalid(origin: &Origin, err: FieldError) -> Self {
        StoreError::Invalid {
            field: origin.field(&err.field),
            origin: origin.clone(),
            message: err.message,
        }
    }
}
