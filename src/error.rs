//! The crate's one error type.
//!
//! Invariants: every variant's `Display` is a sentence a user can act on; every I/O failure
//! carries the operation and the path it was working on; bad input never panics, it lands in
//! one of these variants.

use std::io;
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::names::{NameKind, NameProblem};

/// Result with the crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `sweepstore`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A unique config is not a finite JSON object (see [`ConfigError`]).
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),

    /// A task name, result name or `sub_dir` was rejected.
    #[error("{kind} {name:?} is invalid: {problem}")]
    InvalidName {
        /// Which kind of name was rejected.
        kind: NameKind,
        /// The rejected input (lossy if it was not printable).
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },

    /// A hex string could not be parsed as a run key or content hash.
    #[error("{what} {input:?} is not valid: expected 64 lowercase hexadecimal digits")]
    InvalidHash {
        /// `run key` or `content hash`.
        what: &'static str,
        /// The rejected input.
        input: String,
    },

    /// No type with this name is registered in the store's type registry.
    #[error(
        "unknown result type `{type_name}`; register it with TypeRegistry::register \
         (built-in types: json, binary, pickle, text, bytes)"
    )]
    UnknownType {
        /// The type name that was asked for.
        type_name: String,
    },

    /// A type with this name is already registered.
    #[error("result type `{type_name}` is already registered; pick another name")]
    TypeAlreadyRegistered {
        /// The duplicated type name.
        type_name: String,
    },

    /// The Rust type given to save or load does not fit the stored type.
    #[error(
        "result type `{type_name}` holds values of Rust type `{expected}`, but `{found}` was asked for"
    )]
    WrongRustType {
        /// The registered type name.
        type_name: String,
        /// The Rust type the codec works with.
        expected: &'static str,
        /// The Rust type the caller used.
        found: &'static str,
    },

    /// A value could not be encoded with its type's codec.
    #[error("cannot encode a value as type `{type_name}`: {reason}")]
    Encode {
        /// The type name used to encode.
        type_name: String,
        /// What the codec reported.
        reason: String,
    },

    /// Stored bytes could not be decoded with their type's codec (or into the asked Rust type).
    #[error("cannot decode a stored `{type_name}` value: {reason}")]
    Decode {
        /// The stored type name.
        type_name: String,
        /// What the codec reported.
        reason: String,
    },

    /// The type needs a file-system path, which this store does not have.
    #[error("result type `{type_name}` saves through a file path, which {store} does not have")]
    NeedsPath {
        /// The type name.
        type_name: String,
        /// The store that cannot provide a path.
        store: &'static str,
    },

    /// Something that must exist does not (for example a result opened for reading).
    #[error("{what} does not exist")]
    NotFound {
        /// What was looked for, e.g. ``result `metrics` of task `train` ``.
        what: String,
    },

    /// Something that must not exist already does (for example a result opened with mode `x`).
    #[error("{what} already exists")]
    AlreadyExists {
        /// What already exists.
        what: String,
    },

    /// An open mode string is not one of `r`, `r+`, `w`, `w+`, `a`, `a+`, `x`, `x+` (each with
    /// an optional `b`).
    #[error(
        "open mode {mode:?} is not valid; use one of r, r+, w, w+, a, a+, x, x+, each optionally with b"
    )]
    InvalidMode {
        /// The rejected mode string.
        mode: String,
    },

    /// Text written in a text mode (no `b`) is not valid UTF-8.
    #[error("result `{name}` was opened in text mode but what was written is not valid UTF-8")]
    InvalidText {
        /// The result name.
        name: String,
    },

    /// Content read back does not hash to the address it was stored under.
    #[error("stored content is corrupt: expected blake3 {expected}, found {actual} ({location})")]
    HashMismatch {
        /// The content hash the value was stored under.
        expected: String,
        /// The hash of what was actually read.
        actual: String,
        /// Where it was read from.
        location: String,
    },

    /// An operation on a [`File`](crate::File) that its open mode does not allow, or on a
    /// closed file.
    #[error("cannot {op} result `{name}`: it was opened with mode {mode}")]
    FileMode {
        /// The attempted operation (`read`, `write`, ...).
        op: &'static str,
        /// The result name.
        name: String,
        /// The mode it was opened with.
        mode: String,
    },

    /// An I/O operation failed.
    #[error("failed to {op} {path}: {source}", path = path.display())]
    Io {
        /// What was being done, e.g. `read`, `create directory`.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An I/O operation on a stream that has no path (an in-memory file or a caller's reader).
    #[error("failed to {op}: {source}")]
    Stream {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Converts to an `io::Error` for `Read`/`Write` impls, keeping this error as the source.
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            Error::Stream { source, .. } => source,
            other => io::Error::other(other),
        }
    }
}
