//! Content-addressed blob files for values above the inline limit.
//!
//! Layout: `blobs/<first two hex digits>/<64 hex digits>`; temporary files live in `tmp/`
//! named `<session>-<n>.tmp`. Invariants: a file under `blobs/` is only ever created by the
//! durable-write protocol (`durable.rs`) under its content's blake3 hash, so it is complete
//! and never modified; a blob exists durably before any WAL record refers to it; readers
//! verify the hash (see `Promise`).

mod hasher;
mod layout;
pub(crate) mod writer;

pub(crate) use layout::BlobLayout;
pub(crate) use writer::BlobWriter;
