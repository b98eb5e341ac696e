//! The seal of [`ResultsStore`](crate::ResultsStore): a public trait in a private module, so
//! code outside this crate can name neither it nor implement the store contract.
//!
//! Invariant: this file imports nothing; the backends are sealed in `lib.rs`, beside the list
//! of stores, so neither this file nor `store.rs` depends on any backend.

/// Implemented by every store of this crate, and by nothing outside it.
pub trait Sealed {}
