//! [`OpenOptions`] (how [`open`](crate::open) reaches a store) and [`StoreAddress`] (a
//! handle turned into bytes another process can open again).
//!
//! Invariant: an address holds the store's absolute path and the options it was opened
//! with, nothing of the process that made it (no socket, no pid), so it stays valid after
//! the owner changes.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::engine::RedbOptions;
use crate::error::{Error, Result};
use crate::remote::RemoteOptions;

/// How [`open`](crate::open) reaches a store. Build with `OpenOptions::default()` and the
/// setters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenOptions {
    pub(crate) serve: bool,
    pub(crate) wait: Duration,
    pub(crate) redb: RedbOptions,
    pub(crate) remote: RemoteOptions,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            serve: true,
            wait: Duration::from_secs(30),
            redb: RedbOptions::default(),
            remote: RemoteOptions::default(),
        }
    }
}

impl OpenOptions {
    /// Whether the process that opens the store serves it to other processes on its default
    /// socket (`serve.sock` in the store directory). Default: `true`. With `false`, a store
    /// that another process serves is still joined as a client, but one that is locked and
    /// not served fails at once with [`Error::AlreadyOpen`], and nobody can join a store this
    /// process opened.
    pub fn serve(mut self, serve: bool) -> Self {
        self.serve = serve;
        self
    }

    /// Longest wait for a store that is locked by another process whose server does not
    /// answer yet (it is still opening or recovering the store), and for a take-over after
    /// the serving process went away. Past it: [`Error::NotServed`]. Default: 30 s.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Options of the [`RedbStore`](crate::RedbStore) this process opens when it owns the
    /// store (they do not change a store another process already serves). Default:
    /// `RedbOptions::default()`.
    pub fn redb(mut self, redb: RedbOptions) -> Self {
        self.redb = redb;
        self
    }

    /// Options of the connections to another process's server. Default:
    /// `RemoteOptions::default()`.
    pub fn remote(mut self, remote: RemoteOptions) -> Self {
        self.remote = remote;
        self
    }
}

/// Where a [`Store`](crate::Store) is, as plain data: its absolute path and its
/// [`OpenOptions`]. [`open_address`](crate::open_address) opens it again, in this process or
/// another (this is how a store is pickled into spawned workers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreAddress {
    #[serde(serialize_with = "path_out", deserialize_with = "path_in")]
    pub(crate) path: PathBuf,
    pub(crate) options: OpenOptions,
}

impl StoreAddress {
    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options it is opened with.
    pub fn options(&self) -> &OpenOptions {
        &self.options
    }

    /// The address as bytes (postcard), for pickling.
    ///
    /// # Errors
    /// [`Error::BadAddress`] if it cannot be encoded.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        postcard::to_stdvec(self).map_err(|e| Error::BadAddress {
            reason: e.to_string(),
        })
    }

    /// Reads an address written by [`StoreAddress::to_bytes`].
    ///
    /// # Errors
    /// [`Error::BadAddress`] if `bytes` are not an address.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let address: StoreAddress = postcard::from_bytes(bytes).map_err(|e| Error::BadAddress {
            reason: e.to_string(),
        })?;
        if !address.path.is_absolute() {
            return Err(Error::BadAddress {
                reason: format!("the store path {} is not absolute", address.path.display()),
            });
        }
        Ok(address)
    }
}

/// Paths travel as their bytes: a Unix path need not be UTF-8.
fn path_out<S: Serializer>(path: &Path, out: S) -> std::result::Result<S::Ok, S::Error> {
    out.serialize_bytes(path.as_os_str().as_bytes())
}

fn path_in<'de, D: Deserializer<'de>>(input: D) -> std::result::Result<PathBuf, D::Error> {
    let bytes = <Vec<u8>>::deserialize(input)?;
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}
