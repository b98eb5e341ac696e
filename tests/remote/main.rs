//! A store served over a Unix socket, one binary: `browse.rs` (browsing through
//! `RemoteStore`), `faults.rs` (faults at the server's socket), `frames.rs` (the server's
//! input handling under arbitrary bytes) and `serve.rs` (`sweepstore serve` as a real
//! process, killed and restarted).
//!
//! Tests that run this binary again as a child process name their child test with
//! [`shared::child_test`], so the filter carries the module path of this layout.

mod browse;
mod faults;
mod frames;
mod serve;
#[path = "../shared/mod.rs"]
mod shared;
