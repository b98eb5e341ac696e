//! [`MongoStore`] (feature `mongodb`): the results-store contract on a shared MongoDB, so
//! sweeps on many machines use one store. Document shapes, the subset query and the
//! content protocol: `docs/design.md` §15.
//!
//! `client.rs` connects (one client per store) and maps driver errors; `documents.rs` owns
//! the run document's shape; `lookup.rs` the server-side subset lookup; `runs.rs` run
//! creation; `counters.rs` sweep counters reserved in blocks; `claims.rs` run claims;
//! `content.rs` inline values and GridFS; `store.rs` the handle (its streaming writes use
//! the shared staged-file backend of `file/staged.rs`).

mod claims;
mod client;
mod content;
mod counters;
mod documents;
mod lookup;
mod options;
mod runs;
mod store;

pub use options::MongoOptions;
pub use store::MongoStore;
