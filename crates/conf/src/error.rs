//! Error types.

use std::fmt;

use crate::locate::{format_path, PathElem};

/// A configuration error: a readable message, with `file:line:col:` in front when
/// the error comes from a YAML file and its position is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    message: String,
    not_found: bool,
    /// Where the error is, for validation errors (turned into a line by `from_yaml`).
    pub(crate) key_path: Option<Vec<PathElem>>,
}

impl ConfError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ConfError {
            message: message.into(),
            not_found: false,
            key_path: None,
        }
    }

    /// An error saying that something (a path configuration) does not exist.
    /// The API turns these into `404 Not Found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ConfError {
            message: message.into(),
            not_found: true,
            key_path: None,
        }
    }

    /// A validation error about the key at `path`; the message gets the key path in front.
    pub(crate) fn at(path: Vec<PathElem>, message: impl Into<String>) -> Self {
        let message = format!("{}: {}", format_path(&path), message.into());
        ConfError {
            message,
            not_found: false,
            key_path: Some(path),
        }
    }

    /// The message (same as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether this error says that a path configuration does not exist.
    pub fn is_not_found(&self) -> bool {
        self.not_found
    }

    pub(crate) fn with_prefix(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}{}", self.message);
        self
    }
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfError {}

/// Why an authentication failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// What went wrong, for logs.
    pub message: String,
    /// True when credentials were given and are wrong, or when credentials are
    /// required and were not given: the client should be asked for (other) credentials.
    pub wrong_credentials: bool,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuthError {}
