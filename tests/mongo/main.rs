//! MongoStore against a real server, one binary (it needs the `mongodb` feature and the
//! server `tests/run.sh` starts, or one named by `SWEEPSTORE_MONGO_URI`): `content.rs`
//! (inline values, GridFS, damage), `faults.rs` (an unreachable or killed server),
//! `gc.rs` (GridFS garbage collection, racing savers in other processes), `lookup.rs` (the
//! subset lookup on the server), `machines.rs` (several client processes
//! with run claims on a server killed mid-sweep), `processes.rs` (processes saving into
//! the same runs) and `times.rs` (run times).
//!
//! Tests that run this binary again as a child process name their child test with
//! [`shared::child_test`], so the filter carries the module path of this layout.

mod content;
mod faults;
mod gc;
mod lookup;
mod machines;
mod processes;
#[path = "../shared/mod.rs"]
mod shared;
mod times;
