//! LocalFileStore (fluidml's directory layout) beyond the conformance suite, one binary:
//! `store.rs` (layout, path types, promises, the index, bad input), `fluidml.rs` (a base
//! directory written by fluidml 0.3.4 itself, and trees checked with the real fluidml),
//! `processes.rs` (real processes killed mid-write and saving at once), `transfer.rs`
//! (`copy_store` between RedbStore and LocalFileStore) and `local/python_values.rs` (values
//! crossing between Rust and the Python package).
//!
//! Tests that run this binary again as a child process name their child test with
//! [`shared::child_test`], so the filter carries the module path of this layout.

mod fluidml;
mod processes;
mod python_values;
#[path = "../shared/mod.rs"]
mod shared;
mod store;
mod transfer;
