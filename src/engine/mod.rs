//! [`RedbStore`]: the crash-safe engine — one storage actor owning a redb database, a
//! write-ahead log with group commit, content-addressed values (inline or blob files) and
//! lazy promises. Formats, protocols and invariants: `docs/design.md` §7–§10.

mod actor;
mod browse;
mod command;
mod content;
mod gc;
mod handle;
mod inspect;
mod open;
mod ops;
mod options;
mod reader;
mod record;
mod reply;
mod shared;
mod snapshot;
mod tables;
mod verify;

pub use gc::GcReport;
pub use handle::RedbStore;
pub use inspect::StoreStats;
pub use options::{Durability, RedbOptions};
pub use verify::{Problem, VerifyReport};
