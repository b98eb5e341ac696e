//! [`FilePromise`]: fluidml's lazy handle on a stored file, with the load options saved
//! alongside it.
//!
//! Invariant: a `FilePromise` wraps a [`Promise`] (so it reads the version it was made for and
//! verifies its hash) and never changes what the store holds.

use std::any::Any;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::codec::{PICKLE, PYTHON_PICKLE};
use crate::error::{Error, Result};
use crate::local::info::LoadInfo;
use crate::pickle;
use crate::promise::Promise;

/// A stored result of a [`LocalFileStore`](crate::LocalFileStore), not loaded yet (fluidml's
/// `FilePromise`): its [`Promise`], the path of its file, and the open and load options saved
/// with it.
#[derive(Debug, Clone)]
pub struct FilePromise {
    promise: Promise,
    path: PathBuf,
    open_options: Map<String, Value>,
    load_options: Map<String, Value>,
}

impl FilePromise {
    pub(crate) fn new(promise: Promise, path: PathBuf, info: LoadInfo) -> Self {
        FilePromise {
            promise,
            path,
            open_options: info.open_options,
            load_options: info.load_options,
        }
    }

    /// The promise (content hash, type, size); open it as a file with
    /// [`File::from_promise`](crate::File::from_promise).
    pub fn promise(&self) -> &Promise {
        &self.promise
    }

    /// Where the content was found when the promise was made (it may have been overwritten
    /// since; the promise still reads the version it was made for).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open options saved with the result.
    pub fn open_options(&self) -> &Map<String, Value> {
        &self.open_options
    }

    /// The load options saved with the result.
    pub fn load_options(&self) -> &Map<String, Value> {
        &self.load_options
    }

    /// Loads the value with the saved load options.
    ///
    /// # Errors
    /// As [`FilePromise::load_with`].
    pub fn load<T: DeserializeOwned + Any>(&self) -> Result<T> {
        self.load_with(&Map::new())
    }

    /// Loads the value with the saved load options overridden key by key by `overrides`
    /// (fluidml's `promise.load(**kwargs)`). The options reach the decoder of
    /// [`PICKLE`](crate::PICKLE) values (`replace_unresolved_globals`,
    /// `decode_strings`), which then load into any `T` through JSON; the built-in codecs take
    /// no options and ignore them.
    ///
    /// # Errors
    /// [`Error::Decode`] if the value does not decode into `T`; as [`Promise::load`].
    pub fn load_with<T: DeserializeOwned + Any>(
        &self,
        overrides: &Map<String, Value>,
    ) -> Result<T> {
        let type_name = self.promise.type_name();
        if type_name != PICKLE && type_name != PYTHON_PICKLE {
            return self.promise.load();
        }
        let mut options = self.load_options.clone();
        options.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        let decode_error = |reason: String| Error::Decode {
            type_name: type_name.to_owned(),
            reason,
        };
        let value = pickle::decode_value(&self.promise.bytes()?, &options).map_err(decode_error)?;
        serde_json::from_value(value).map_err(|e| decode_error(e.to_string()))
    }
}
