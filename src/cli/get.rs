//! `sweepstore get STORE TASK NAME (--config JSON | --run PREFIX) [-o FILE]`: one result of
//! one run — JSON and plain-data pickles pretty-printed, text as stored; any other type
//! (binary, bytes, custom) only into a file or a pipe, never onto a terminal.
//!
//! Invariants: the bytes are read through a promise, so they are verified against their
//! content hash before anything is printed or written; `-o` writes the stored bytes exactly
//! (for every type), so `b3sum FILE` equals the hash `show` prints.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;
use sweepstore::{Error, JSON, PICKLE, PYTHON_PICKLE, StoreExt, TEXT, TaskName, TypeRegistry};

use super::error::CommandError;
use super::render::size;
use super::select::{RunSelector, no_result};
use super::store::open_existing;
use super::{CliError, Out, Status};

/// Print one result of a run, or write it to a file.
///
/// JSON and plain-data pickles are pretty-printed, text printed as it is. Other types (binary, bytes) go to a file
/// with -o, or to stdout only when it is not a terminal.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The store: a directory, or a MongoDB store (mongodb://HOST:PORT/DATABASE/COLLECTION).
    pub(super) store: PathBuf,
    /// The task, e.g. `train`.
    task: String,
    /// The result name, e.g. `metrics`.
    name: String,
    #[command(flatten)]
    select: RunSelector,
    /// Write the stored bytes to this file (created or overwritten) instead of printing;
    /// `-` is stdout (the stored bytes, whatever the type, even on a terminal).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: &GetArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let task = TaskName::new(&args.task)?;
    let opened = open_existing(&args.store)?;
    let store = opened.get();
    let found = args.select.find(store, &task)?;
    let Some(summary) = found.result(&args.name) else {
        return Err(no_result(&found, &args.name).into());
    };
    // The run was found already: load from its exact config, so the lookup picks it again.
    let promise = store
        .run(task.as_str(), &found.config)?
        .load_lazy(&args.name)?
        .ok_or_else(|| Error::NotFound {
            what: format!("result `{}` of run {}", args.name, found.key),
        })?;
    let bytes = promise.bytes()?;
    if args.output.as_deref() == Some(Path::new("-")) {
        out.write_all(&bytes)?;
        return Ok(Status::Success);
    }
    if let Some(path) = &args.output {
        fs::write(path, &bytes).map_err(|source| Error::Io {
            op: "write",
            path: path.clone(),
            source,
        })?;
        writeln!(
            out,
            "wrote {} ({}, {}) to {}",
            args.name,
            summary.type_name,
            size(bytes.len() as u64),
            path.display()
        )?;
        return Ok(Status::Success);
    }
    match summary.type_name.as_str() {
        JSON => {
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
                type_name: JSON.to_owned(),
                reason: e.to_string(),
            })?;
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        }
        TEXT => out.write_all(&bytes)?,
        // Plain-data Python pickles print as JSON; objects of Python classes are not unpickled.
        PICKLE | PYTHON_PICKLE => {
            let value: Value = TypeRegistry::new().get(PICKLE)?.decode(&bytes)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        }
        _ if out.is_terminal => {
            return Err(CommandError::BinaryToTerminal {
                name: args.name.clone(),
                type_name: summary.type_name.clone(),
            }
            .into());
        }
        _ => out.write_all(&bytes)?,
    }
    Ok(Status::Success)
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;
    use sweepstore::{RedbOptions, RedbStore, UniqueConfig};

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn binary_is_refused_on_a_terminal_and_text_is_not() -> Result<(), CliError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s");
        let store = RedbStore::open(&path, RedbOptions::default())?;
        let run = store.run("t", &UniqueConfig::new(json!({"a": 1}))?)?;
        run.save_bytes("raw", "bytes", &[0, 255, 1])?;
        run.save_bytes("note", "text", b"hello\n")?;
        drop(store);
        let get = |name: &str, terminal: bool| -> Result<Vec<u8>, CliError> {
            let path = path.to_str().ok_or("path")?;
            let config = r#"{"a": 1}"#;
            let cli =
                Cli::try_parse_from(["sweepstore", "get", path, "t", name, "--config", config])?;
            let mut written = Vec::new();
            let mut out = Out {
                writer: &mut written,
                is_terminal: terminal,
            };
            cli.run(&mut out)?;
            Ok(written)
        };
        let refused = get("raw", true).err().ok_or("binary was printed")?;
        assert!(matches!(
            refused.downcast_ref::<CommandError>(),
            Some(CommandError::BinaryToTerminal { .. })
        ));
        assert_eq!(get("raw", false)?, [0, 255, 1]);
        assert_eq!(get("note", true)?, b"hello\n");
        Ok(())
    }
}
