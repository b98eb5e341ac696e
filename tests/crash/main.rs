//! Crash safety, one binary: simulated power loss at every sync point (`sim.rs`), injected
//! I/O faults (`crash/fault_injection.rs`), the property-based crash model (`model.rs`), damaged
//! WAL tails (`crash/wal_damage.rs`), real processes killed with SIGKILL (`kill9.rs`) and
//! LocalFileStore on the simulated disk (`local.rs`); the
//! deterministic workload and recovery check of the simulated-disk suites is `workload.rs`.
//!
//! Tests that run this binary again as a child process name their child test with
//! [`shared::child_test`], so the filter carries the module path of this layout.

mod fault_injection;
mod kill9;
mod local;
mod model;
#[path = "../shared/mod.rs"]
mod shared;
mod sim;
mod wal_damage;
mod workload;
