//! [`MongoStore`] (feature `mongodb`): the results-store contract on a shared MongoDB, so
//! sweeps on many machines use one store. Document shapes, the subset query and the
//! content protocol: `docs/design.md` §15.
//!
//! `client.rs` connects (one client per store) and maps driver errors; `documents.rs` owns
//! the run document's shape; `lookup.rs` the server-side subset lookup; `runs.rs` run
//! creation; `counters.rs` sweep counters reserved in blocks (held by `cache.rs`, with the
//! runs this handle has seen); `claims.rs` run claims;
//! `content.rs` inline values and GridFS; `content_state.rs` and `gc.rs` the two halves of
//! garbage collection; `browse.rs` and `inspect.rs` listing, checking and counting (for the CLI);
//! `store.rs` the handle (its streaming writes use the shared staged-file backend of
//! `file/staged.rs`).

mod browse;
mod cache;
mod claims;
mod client;
mod content;
mod content_state;
mod counters;
mod documents;
mod gc;
mod inspect;
mod lookup;
mod options;
mod runs;
mod store;

pub use gc::MongoGcReport;
pub use options::MongoOptions;
pub use store::MongoStore;
