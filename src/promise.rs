//! Lazy values: a [`Promise`] names stored content by hash and loads it on demand.
//!
//! Invariants: a promise holds (content hash, type name, size) and a handle to the content,
//! never a result name, so it stays valid when the name is overwritten or deleted (as long
//! as the backend keeps the content). Every resolution re-hashes what it read and fails with
//! [`Error::HashMismatch`] instead of returning other bytes.

use std::any::Any;
use std::fmt;
use std::io::{self, Read, Seek};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::codec::TypeRegistry;
use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::key::ContentHash;

/// A readable, seekable stream of stored content.
pub(crate) trait ContentReader: Read + Seek + Send {}
impl<T: Read + Seek + Send> ContentReader for T {}

/// Where a backend keeps the bytes a promise points at.
pub(crate) trait ContentSource: Send + Sync {
    /// Opens the content stored under `hash` (unverified; callers verify).
    fn open(&self, hash: &ContentHash) -> Result<Box<dyn ContentReader>>;
    /// Names where `hash` is kept, for error messages.
    fn location(&self, hash: &ContentHash) -> String;
}

/// A lazily loaded result (fluidml's `Promise`): resolve it with [`Promise::load`].
#[derive(Clone)]
pub struct Promise {
    hash: ContentHash,
    type_name: String,
    size: u64,
    source: Arc<dyn ContentSource>,
    types: TypeRegistry,
}

impl fmt::Debug for Promise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("hash", &self.hash)
            .field("type_name", &self.type_name)
            .field("size", &self.size)
            .finish()
    }
}

impl Promise {
    pub(crate) fn new(
        hash: ContentHash,
        type_name: String,
        size: u64,
        source: Arc<dyn ContentSource>,
        types: TypeRegistry,
    ) -> Self {
        Promise {
            hash,
            type_name,
            size,
            source,
            types,
        }
    }

    /// The blake3 hash of the stored bytes.
    pub fn hash(&self) -> ContentHash {
        self.hash
    }

    /// The stored type name, e.g. `json`.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The size of the stored bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The type registry the promise decodes with.
    pub(crate) fn types(&self) -> &TypeRegistry {
        &self.types
    }

    /// Reads and verifies the stored bytes.
    ///
    /// # Errors
    /// [`Error::HashMismatch`] if the content is corrupt; I/O errors of the backend.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        let mut reader = self.source.open(&self.hash)?;
        let mut bytes = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_error(e))?;
        self.check(ContentHash::of(&bytes))?;
        Ok(bytes)
    }

    /// Opens the content as a stream after verifying it in one pass, positioned at 0.
    pub(crate) fn verified_reader(&self) -> Result<Box<dyn ContentReader>> {
        let mut reader = self.source.open(&self.hash)?;
        let mut hasher = blake3::Hasher::new();
        io::copy(&mut reader, &mut hasher).map_err(|e| self.read_error(e))?;
        self.check(hasher.finalize().into())?;
        reader.rewind().map_err(|e| self.read_error(e))?;
        Ok(reader)
    }

    /// Streams the stored bytes into `out` in one pass, hashing them on the way; returns
    /// how many were copied.
    ///
    /// # Errors
    /// [`Error::HashMismatch`] if they were not the promised content: `out` then holds
    /// unverified bytes, which the caller must discard; [`Error::Stream`] if reading or
    /// writing fails.
    pub(crate) fn copy_verified(&self, out: &mut dyn io::Write) -> Result<u64> {
        let mut reader = self.source.open(&self.hash)?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0; 256 * 1024];
        let mut copied = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e)),
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|source| Error::Stream {
                op: "write the copied content",
                source,
            })?;
            copied += n as u64;
        }
        self.check(hasher.finalize().into())?;
        Ok(copied)
    }

    /// Loads the value into `T` with the stored type's codec.
    ///
    /// # Errors
    /// [`Error::UnknownType`] if the type is not registered; [`Error::Decode`] or
    /// [`Error::WrongRustType`] if `T` does not fit; as [`Promise::bytes`].
    pub fn load<T: DeserializeOwned + Any>(&self) -> Result<T> {
        let info = self.types.get(&self.type_name)?;
        info.decode(&self.bytes()?)
    }

    /// Loads a value of a custom stream type (see [`TypeInfo::custom`](crate::TypeInfo::custom)).
    ///
    /// # Errors
    /// As [`Promise::load`].
    pub fn load_custom<T: Any>(&self) -> Result<T> {
        let info = self.types.get(&self.type_name)?;
        info.decode_custom(&self.bytes()?)
    }

    fn check(&self, actual: ContentHash) -> Result<()> {
        check_hash(self.hash, actual, || self.source.location(&self.hash))
    }

    fn read_error(&self, source: io::Error) -> Error {
        Error::Stream {
            op: "read stored content",
            source,
        }
    }
}

/// Fails with [`Error::HashMismatch`] unless `actual` is `expected`; `location` names where
/// the content was read.
pub(crate) fn check_hash(
    expected: ContentHash,
    actual: ContentHash,
    location: impl FnOnce() -> String,
) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(Error::HashMismatch {
            expected: expected.to_hex(),
            actual: actual.to_hex(),
            location: location(),
        })
    }
}

/// One run's value of a result, with the run's config: the input of reduce tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep<T> {
    /// The loaded value.
    pub value: T,
    /// The unique config of the run that saved it.
    pub config: UniqueConfig,
}

/// Like [`Sweep`], with the value left as a [`Promise`].
#[derive(Debug, Clone)]
pub struct LazySweep {
    /// The value, loaded on demand.
    pub value: Promise,
    /// The unique config of the run that saved it.
    pub config: UniqueConfig,
}

/// The lazy sweeps of one result name across a task's runs, in run creation order.
pub struct LazySweeps {
    inner: Box<dyn Iterator<Item = Result<LazySweep>> + Send>,
}

impl LazySweeps {
    pub(crate) fn new(inner: impl Iterator<Item = Result<LazySweep>> + Send + 'static) -> Self {
        LazySweeps {
            inner: Box::new(inner),
        }
    }
}

impl fmt::Debug for LazySweeps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LazySweeps { .. }")
    }
}

impl Iterator for LazySweeps {
    type Item = Result<LazySweep>;
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

/// The loaded sweeps of one result name across a task's runs, in run creation order.
pub struct Sweeps<T> {
    lazy: LazySweeps,
    _value: std::marker::PhantomData<fn() -> T>,
}

impl<T> Sweeps<T> {
    pub(crate) fn new(lazy: LazySweeps) -> Self {
        Sweeps {
            lazy,
            _value: std::marker::PhantomData,
        }
    }
}

impl<T> fmt::Debug for Sweeps<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sweeps { .. }")
    }
}

impl<T: DeserializeOwned + Any> Iterator for Sweeps<T> {
    type Item = Result<Sweep<T>>;
    fn next(&mut self) -> Option<Self::Item> {
        let lazy = match self.lazy.next()? {
            Ok(lazy) => lazy,
            Err(e) => return Some(Err(e)),
        };
        Some(lazy.value.load().map(|value| Sweep {
            value,
            config: lazy.config,
        }))
    }
}
