//! [`RedbStore`]: the crash-safe engine — one storage actor owning a redb database, a
//! write-ahead log with group commit, content-addressed values (inline or blob files) and
//! lazy promises. Formats, protocols and invariants: `docs/design.md` §7–§10.
//!
//! # Layout, in the order a save flows
//!
//! | file | job |
//! |---|---|
//! | `handle.rs` | [`RedbStore`]: stages values, sends writes to the actor, reads directly |
//! | `options.rs` | [`RedbOptions`], [`Durability`]: every knob and its default |
//! | `command.rs` | the commands a handle sends, one variant per write, each with its reply |
//! | `reply.rs` | the one-shot reply a caller blocks on |
//! | `actor.rs` | the storage actor: the group-commit loop, checkpoints, gc runs |
//! | `resolve.rs` | the command resolvers: a command and the batch so far → the op to log |
//! | `record.rs` | the ops the WAL carries (`crate::wal` knows only bytes) |
//! | `ops.rs` | pure functions over the tables: lookups, and applying a logged op |
//! | `tables.rs` | the redb tables, their value layouts, and the one place they are opened for writing |
//! | `meta.rs` | the `meta` rows: format check at open, applied LSN and WAL head |
//! | `open.rs` | opening: directories, lock, database creation, WAL recovery |
//! | `shared.rs` | what handles, the actor and promises share (database, lock, poison, pins) |
//! | `snapshot.rs`, `reader.rs` | the shared read snapshot and its lazily opened tables |
//! | `content.rs` | reading stored content; the source promises resolve through |
//! | `gc.rs` | garbage collection of unreferenced content ([`GcReport`]) |
//! | `browse.rs`, `inspect.rs`, `verify.rs` | listings, [`StoreStats`], [`VerifyReport`] |
//!
//! Invariants of the layout: only `actor.rs`, `open.rs` (recovery, before the actor
//! starts) and `meta.rs` (the format check, also before) begin write transactions; tables
//! change only through `ops::apply`, `gc::remove_rows` and `meta.rs`; write tables are
//! opened only by `tables.rs`; the engine does not import the test hooks of `crate::sim`
//! (the simulated-disk constructor lives there and reaches the engine through a
//! crate-private constructor taking the `Fs`); the imports between these files form no
//! circle.

mod actor;
mod browse;
mod command;
mod content;
mod gc;
mod handle;
mod inspect;
mod meta;
mod open;
mod ops;
mod options;
mod reader;
mod record;
mod reply;
mod resolve;
mod shared;
mod snapshot;
mod tables;
mod verify;

pub use gc::GcReport;
pub use handle::RedbStore;
pub use inspect::StoreStats;
pub use options::{Durability, RedbOptions};
pub use verify::{Problem, VerifyReport};
