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
//! - `unlisted.rs`: files of a run directory that are no result (named by copies).
//!
//! Invariants (numbered in `docs/design.md` §12): a crash leaves every result at its old or
//! its new version, never torn or mismatched with its load information; one run directory
//! per config, across processes; nothing is ever written outside the base directory.

mod browse;
mod file;
mod gc;
mod index;
mod info;
mod layout;
mod object;
mod promise;
mod store;
mod unlisted;

pub use promise::FilePromise;
pub use store::{BulkWrite, LocalFileStore};
