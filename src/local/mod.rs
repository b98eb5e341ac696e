//! [`LocalFileStore`]: results as plain files in fluidml's browsable directory layout, written
//! crash-safely, indexed for fast lookups, shared safely between processes, and able to read
//! directories written by fluidml itself.
//!
//! - `layout.rs`: paths, run-directory names and claims, locks, safe directory creation;
//! - `index.rs`: which directory holds a run (key files, scans, adoption of fluidml runs);
//! - `info.rs`: load information and run records (ours in JSON, fluidml's pickles and
//!   bookkeeping, read and written) and the shared-directory rule;
//! - `object.rs`: one result's commit protocol, reads and deletes;
//! - `file.rs`: the write-open backend and the open files behind promises;
//! - `promise.rs`: [`FilePromise`];
//! - `store.rs`: the [`ResultsStore`](crate::ResultsStore) implementation;
//! - `browse.rs`: the [`Browse`](crate::Browse) implementation (read-only listings);
//! - `gc.rs`: finding and removing the leftovers of interrupted writes;
//! - `poison.rs`: the store's file system: a failed sync poisons the handle, and concurrent
//!   directory syncs are grouped (`group.rs`).
//! - `unlisted.rs`: files of a run directory that are no result (named by copies).
//!
//! Every file operation goes through the store's `Fs` (`vfs.rs`, held by the `Layout`): the
//! real file system, or the simulated disk of the crash tests
//! (`LocalFileStore::open_simulated`, feature `sim`).
//!
//! Invariants (numbered in `docs/design.md` §12): a crash leaves every result at its old or
//! its new version, never torn or mismatched with its load information; one run directory
//! per config, across processes; nothing is ever written outside the base directory.

mod browse;
mod file;
mod gc;
mod group;
mod index;
mod info;
mod layout;
mod object;
mod poison;
mod promise;
mod store;
mod unlisted;

pub use promise::FilePromise;
pub use store::{BulkWrite, LocalFileStore};
