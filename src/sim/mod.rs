//! A simulated disk for crash and fault tests (feature `sim`; not for production use).
//!
//! [`SimDisk`] keeps, for every file, its current content and its *durable* content (what a
//! `sync_data` last made stable), and for the namespace, the current and durable directory
//! entries (what a directory sync last made stable). [`SimDisk::crash_at_sync`] makes the
//! Nth sync point (every file or directory sync, of the WAL, blobs or the redb file) "crash":
//! the sync does not happen (or, torn, happens for part of the file) and every later
//! operation fails. [`SimDisk::after_crash`] then builds the disk a restarted process would
//! find: after a process crash everything the OS accepted survives; after power loss only
//! synced bytes and synced directory entries survive, and every unsynced write is kept or
//! dropped — or, where it reached past the synced length, replaced by garbage (overwrites of
//! synced bytes come back old or new: sectors are written atomically). [`SimDisk::fail_io`] injects one or persistent I/O errors
//! at the Nth operation.
//!
//! The model is that of SQLite's crash VFS (`src/test6.c`) and redb's crash-consistency tests,
//! reduced to what the engine uses: whole-file `fdatasync`, rename, directory sync.
//!
//! [`RedbStore::open_simulated`](crate::RedbStore::open_simulated) opens the engine on a
//! [`SimDisk`] (`open.rs`): the hook is reached from here, the engine imports nothing of
//! `sim`.
//!
//! Test support built on it: [`model`] (a reference model of the store with acknowledged and
//! durable views, and an executor of operation sequences with crashes) and [`fuzz`] (the
//! fuzz harnesses as functions of a byte slice, shared by `fuzz/`, the corpus replay test
//! and the property test).

mod backend;
mod disk;
mod fs;
pub mod fuzz;
pub mod model;
mod open;

pub use disk::{CrashMode, IoFault, SimDisk};
