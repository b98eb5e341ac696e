//! The numbers of the served-store protocol (`docs/design.md` §17): its version, the frame and
//! chunk limits, the server's connection cap and reply timeout, and the socket's file name.
//!
//! These are what a client written in another language, or a test that speaks raw frames,
//! needs to agree on with [`Server`](crate::Server); ordinary users of
//! [`RemoteStore`](crate::RemoteStore) need none of them. Each is defined next to the code
//! that enforces it and only re-exported here.

pub use super::frame::{MAX_CHUNK, MAX_FRAME};
pub use super::protocol::PROTOCOL_VERSION;
pub use super::server::{MAX_CONNECTIONS, WRITE_TIMEOUT};
pub use super::socket::DEFAULT_SOCKET_NAME;
