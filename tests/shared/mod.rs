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

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sweepstore::{Error, Result, UniqueConfig};

/// The interpreter of the tests that run Python (env `SWEEPSTORE_TEST_PYTHON`, which
/// `tests/run.sh` points at its virtualenv), if it can `import module`. Otherwise the test
/// skips (`None`, saying why on stderr) — except under `CI=true`, where that is a failure.
pub fn test_python(module: &str) -> Option<PathBuf> {
    let found = std::env::var_os("SWEEPSTORE_TEST_PYTHON")
        .map(PathBuf::from)
        .filter(|python| {
            Command::new(python)
                .args(["-c", &format!("import {module}")])
                .status()
                .is_ok_and(|s| s.success())
        });
    if found.is_none() {
        let why = format!(
            "SWEEPSTORE_TEST_PYTHON is unset or cannot `import {module}` (tests/run.sh makes \
             a virtualenv that can)"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipped: {why}");
    }
    found
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|source| Error::Stream {
        op: "create a temporary directory",
        source,
    })
}

/// Maps an I/O error of step `op` into the crate's error, for `map_err(io_err(".."))?`.
pub fn io_err(op: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Stream { op, source }
}

/// Maps an I/O error of step `op` on `path` into the crate's error, for
/// `map_err(io("..", path))?`.
pub fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// An error of the test's own plumbing (not of the store).
pub fn plumbing(op: &'static str, message: impl Into<String>) -> Error {
    Error::Stream {
        op,
        source: std::io::Error::other(message.into()),
    }
}

/// Every file below `dir`, recursively (none when `dir` does not exist).
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(dir).map_err(io("list", dir))? {
        let path = entry.map_err(io("list", dir))?.path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// Copies the directory tree `from` to `to` (plain copies: no lock travels with `LOCK`).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(io("create directory", to))?;
    for entry in std::fs::read_dir(from).map_err(io("list", from))? {
        let entry = entry.map_err(io("list", from))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io("copy", &target))?;
        }
    }
    Ok(())
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
