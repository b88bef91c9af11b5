//! One error type for the whole crate: a single line that names the input and what is wrong,
//! and the kind of failure, so that callers (the Python module's exception classes, a batch
//! deciding whether to go on) can tell a bad file from a bad value without reading the text.

use std::fmt;

/// What failed. The message says which input and why; the kind says what sort of problem it
/// is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// A setting, flag, number or combination that no experiment can have.
    #[default]
    Invalid,
    /// A file that cannot be read or written, or whose content is malformed.
    File,
    /// More memory than the run can hold.
    Resource,
    /// The device asked for cannot run (no GPU adapter, or one that fails).
    Device,
}

/// A user-facing error. The message is one line, names the offending input, and says what is
/// wrong with it; the CLI prints it and exits non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String, pub ErrorKind);

impl Error {
    /// A bad value or setting ([`ErrorKind::Invalid`]).
    pub fn new(msg: impl Into<String>) -> Self {
        Error(msg.into(), ErrorKind::Invalid)
    }

    /// An error of a given kind.
    pub fn of_kind(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error(msg.into(), kind)
    }

    /// A file that cannot be read or written, or is malformed ([`ErrorKind::File`]).
    pub fn file(msg: impl Into<String>) -> Self {
        Error(msg.into(), ErrorKind::File)
    }

    /// The same message, as a problem of the file being read (a reader's errors are about
    /// its file, whatever the check that found them).
    pub fn in_file(self) -> Self {
        match self.1 {
            ErrorKind::Invalid => Error(self.0, ErrorKind::File),
            _ => self,
        }
    }

    /// The message prefixed by `what` (`"what: message"`), of the same kind.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error(format!("{what}: {}", self.0), self.1)
    }

    pub fn kind(&self) -> ErrorKind {
        self.1
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for `Err(Error::new(format!(...)))`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::Error::new(format!($($arg)*))) };
}
