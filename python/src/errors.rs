//! The core crate's errors as Python exceptions. The exception classes live in the pure-Python
//! module `sweepstore.errors` (so they can also derive from `ValueError`, `LookupError`, ...);
//! this file only picks the class for each error and keeps the core crate's message.
//!
//! Invariant: every `sweepstore::Error` maps to a subclass of `sweepstore.errors.SweepstoreError`
//! (variants added later land in the base class until they get a class of their own).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use sweepstore::Error;

/// The class name in `sweepstore.errors` for `error`.
fn class_of(error: &Error) -> &'static str {
    match error {
        Error::InvalidConfig(_) => "InvalidConfig",
        Error::InvalidName { .. } | Error::ReservedPath { .. } | Error::SymlinkInStore { .. } => {
            "InvalidName"
        }
        Error::UnknownType { .. } => "UnknownType",
        Error::InvalidHash { .. }
        | Error::TypeAlreadyRegistered { .. }
        | Error::InvalidMode { .. }
        | Error::FileMode { .. }
        | Error::NeedsPath { .. }
        | Error::TooLarge { .. }
        | Error::BadAddress { .. } => "InvalidInput",
        Error::FileInTheWay { .. } | Error::InvalidClaim { .. } | Error::Unsupported { .. } => {
            "InvalidInput"
        }
        Error::WrongRustType { .. } | Error::Encode { .. } | Error::NestedTooDeep { .. } => {
            "EncodeError"
        }
        Error::Decode { .. } => "DecodeError",
        Error::NotFound { .. } => "NotFound",
        Error::AlreadyExists { .. } => "AlreadyExists",
        Error::HashMismatch { .. }
        | Error::CorruptRecord { .. }
        | Error::CorruptFile { .. }
        | Error::WalCorrupt { .. }
        | Error::ContentCollected { .. } => "CorruptError",
        Error::AlreadyOpen { .. } | Error::AlreadyServed { .. } | Error::NotServed { .. } => {
            "AlreadyOpen"
        }
        Error::OutcomeUnknown { .. } => "OutcomeUnknown",
        Error::NotAStore { .. } | Error::UnsupportedFormat { .. } => "NotAStore",
        Error::Closed | Error::Poisoned { .. } => "StoreClosed",
        Error::ServerUnavailable { .. }
        | Error::Disconnected { .. }
        | Error::Protocol { .. }
        | Error::Server { .. } => "ServerError",
        Error::Io { .. } | Error::Stream { .. } | Error::Storage { .. } => "StorageError",
        #[cfg(feature = "mongodb")]
        Error::MongoUnreachable { .. } | Error::Mongo { .. } | Error::MongoGcStuck { .. } => {
            "ServerError"
        }
        _ => "SweepstoreError",
    }
}

/// Converts a core error into the matching `sweepstore.errors` exception, message intact.
pub(crate) fn to_py(error: Error) -> PyErr {
    Python::attach(|py| {
        let message = error.to_string();
        let class = py
            .import("sweepstore.errors")
            .and_then(|module| module.getattr(class_of(&error)));
        match class.and_then(|class| class.call1((message.clone(),))) {
            Ok(exception) => PyErr::from_value(exception),
            // Only if the package is broken (sweepstore.errors missing): keep the message.
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

/// `Result<T, sweepstore::Error>` → `PyResult<T>`.
pub(crate) trait IntoPy<T> {
    /// Maps the error with [`to_py`].
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for sweepstore::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
