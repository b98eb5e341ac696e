//! What every test binary shares, written once (each `tests/<theme>/main.rs` includes it as
//! `#[path = "../shared/mod.rs"] mod shared;`): temporary directories, configs from JSON,
//! the one PRNG ([`rng`]), the name under which a test re-executes its own binary as a child
//! process ([`child_test`]), and the helpers of each backend and of the command line.
//!
//! Invariant: a helper that more than one test file needs lives here, once; no test file
//! keeps a copy of its own (`duplicates --change --base main` lists any that come back).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod damage;
#[cfg(feature = "mongodb")]
pub mod mongo;
pub mod remote;
pub mod rng;

use serde_json::Value;
use sweepstore::{Error, Result, UniqueConfig};

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|source| Error::Stream {
        op: "create a temporary directory",
        source,
    })
}

/// A config from a JSON value (`config(json!({"lr": 0.1}))?`).
pub fn config(value: Value) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(value)?)
}

/// The full name of test `test` in the module whose `module_path!()` is `module`, as the
/// test harness knows it (`kill9::child_runs_the_workload`): what a test passes after
/// `--exact` to run just that test when it re-executes its own binary as a child process.
/// The crate name (the binary) is not part of the name.
pub fn child_test(module: &str, test: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    }
}
