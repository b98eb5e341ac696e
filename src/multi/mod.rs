//! Many processes, one store: [`open`] opens a store or joins the process that serves it,
//! and its [`Store`] handle survives that process exiting or dying (a client takes over).
//! Protocol, retry rule and invariants: `docs/design.md` §18.
//!
//! Files, in the order a call flows: `options.rs` ([`OpenOptions`], [`StoreAddress`]),
//! `store.rs` ([`Store`], [`open`]: every call goes to the current backend, and joins again
//! when its server went away), `retry.rs` (which failed calls may be repeated), `join.rs`
//! (become owner or client), `backend.rs` (the owned store with its server thread, or a
//! client).

mod backend;
mod join;
mod options;
mod retry;
mod store;

pub use options::{OpenOptions, StoreAddress};
pub use store::{Store, open, open_address};
