//! The RedbStore engine beyond the conformance suite, one binary: `redb.rs` (opening,
//! locking, dedup, gc, streaming, many threads, WAL recovery), `verify.rs` (`verify` and
//! `stats` on damaged stores), `engine/open_processes.rs` (`sweepstore::open` across real
//! processes) and `engine/fuzz_corpus.rs` (the fuzz corpus replayed through the fuzz harnesses).
//!
//! Tests that run this binary again as a child process name their child test with
//! [`shared::child_test`], so the filter carries the module path of this layout.

mod fuzz_corpus;
mod open_processes;
mod redb;
#[path = "../shared/mod.rs"]
mod shared;
mod verify;
