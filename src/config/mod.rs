//! Unique configs: what they are, their canonical form, how JSON text becomes one, and why a
//! value is not one.
//!
//! - `unique.rs`: [`UniqueConfig`], the JSON object that identifies one run of a task.
//! - `canonical.rs`: RFC 8785 canonical JSON, the form equality, hashing and run keys use.
//! - `text.rs`: strict JSON text parsing (duplicate keys, inexact integers, depth limit).
//! - `error.rs`: [`ConfigError`], which the three above share.
//!
//! Invariant: imports point one way (`unique.rs` uses `text.rs` and `canonical.rs`, `text.rs`
//! uses `canonical.rs`, all three use `error.rs`, which uses nothing of the crate); nothing
//! outside this folder reaches `text.rs`, and of `canonical.rs` only the writer
//! (`canonical::write_value`) is used elsewhere (MongoStore's config documents).

pub(crate) mod canonical;
mod error;
mod text;
mod unique;

pub use error::ConfigError;
pub use unique::UniqueConfig;
