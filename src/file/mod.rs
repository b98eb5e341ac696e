//! Results opened as streams (fluidml's `File`), and the staged-file protocol that backs them
//! in stores without files of their own.
//!
//! - `stream.rs`: [`File`], its [`OpenMode`] and [`Existence`], the backend trait a store's
//!   stream implements (`FileBackend`) and `open_file`, the one open every store goes through.
//! - `staged.rs`: the backend of stores that stage a write in a local temp file and publish it
//!   as one save on close (`RedbStore`, `MongoStore`): `PublishStaged`, `open_staged`.
//!
//! Invariant: imports point one way: `staged.rs` uses `stream.rs` and the store contract
//! (`store.rs`); `stream.rs` knows runs (`run.rs`) and promises but not the store contract,
//! so `store.rs` can name [`File`] without a circle. The blob layer (`src/blob/`) knows
//! neither.

pub(crate) mod staged;
mod stream;

pub use stream::{Existence, File, OpenMode};
pub(crate) use stream::{FileBackend, OpenRequest, open_file};
