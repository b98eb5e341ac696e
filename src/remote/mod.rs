//! Serving a [`RedbStore`](crate::RedbStore) to other processes: [`Server`] (behind
//! `sweepstore serve`) owns the store and listens on a Unix socket; [`RemoteStore`] keeps the
//! whole [`ResultsStore`](crate::ResultsStore) contract through it. The protocol (frames,
//! handshake, requests, chunking, limits) is `docs/design.md` §17.
//!
//! Files: `frame.rs` (length-prefixed postcard frames, limits), `protocol.rs` (the messages),
//! `session.rs` (one server connection), `server.rs` (accept loop, shutdown), `socket.rs`
//! (the 0600 socket file, stale sockets), `pool.rs` (client connections), `client.rs`
//! ([`RemoteStore`]), `inspect.rs` (the browsing requests: `Browse`, stats, verify),
//! `stream.rs` (chunked content reads and write-open streams), `wire.rs` (the protocol's
//! public numbers: version, limits, socket name); with feature `sim`, `fuzz.rs` (the
//! server's fuzz harness, public as `sim::fuzz`) and `duplex.rs` (an in-memory connection).
//!
//! Invariants: the server replies to a write only after the engine acknowledged it, so an
//! acknowledgement means what it means in-process; a client that dies mid-request leaves
//! nothing half-stored (a write-open publishes only on its close request); a peer that breaks
//! the protocol gets one error frame and is disconnected, without affecting other
//! connections; memory per connection is bounded by one frame ([`MAX_FRAME`](wire::MAX_FRAME)) and one
//! listing on both sides.

mod client;
#[cfg(feature = "sim")]
mod duplex;
mod frame;
#[cfg(feature = "sim")]
pub(crate) mod fuzz;
mod inspect;
mod pool;
mod protocol;
mod server;
mod session;
mod socket;
mod stream;
pub mod wire;

pub use client::RemoteStore;
pub use pool::RemoteOptions;
pub use server::{Server, Stopper};
