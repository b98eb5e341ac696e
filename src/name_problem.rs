//! Why a name was rejected: [`NameKind`] and [`NameProblem`], the data of
//! [`Error::InvalidName`](crate::Error::InvalidName).
//!
//! Invariant: this file imports nothing of the crate, so `error.rs` can name these types and
//! `names.rs` (which checks names and returns [`Error`](crate::Error)) can use both without a
//! circle.

use std::fmt;

/// Which kind of name an [`Error::InvalidName`](crate::Error::InvalidName) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// A task name.
    Task,
    /// A result name.
    Result,
    /// A `sub_dir` path.
    SubDir,
    /// A run name (the prefix of a run directory, `<run name>-<counter>`).
    Run,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Task => "task name",
            NameKind::Result => "result name",
            NameKind::SubDir => "sub_dir",
            NameKind::Run => "run name",
        })
    }
}

/// Why a name was rejected; each problem is its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty.
    #[error("it is empty")]
    Empty,
    /// The name is longer than allowed.
    #[error("it is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The name contains a NUL byte.
    #[error("it contains a NUL byte")]
    ContainsNul,
    /// A name contains a path separator.
    #[error("it contains the path separator {0:?}; names cannot contain `/` or `\\`")]
    ContainsSeparator(char),
    /// The name is `.` or `..`.
    #[error("`.` and `..` are reserved directory names")]
    DotName,
    /// A `sub_dir` contains a `..` component.
    #[error("it contains `..`; a sub_dir must stay inside its run")]
    ParentDir,
    /// A `sub_dir` is an absolute path.
    #[error("it is an absolute path; a sub_dir must be relative to its run")]
    Absolute,
}
