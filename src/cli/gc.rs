//! `sweepstore gc STORE [--dry-run | --apply]`: content no result refers to any more (values
//! of overwritten or deleted results, orphan blobs, temp files of crashed sessions). Reports
//! what would be freed unless `--apply` is given. STORE may also be a LocalFileStore
//! directory: then the temp files of interrupted writes (an export killed midway).
//!
//! Invariant: without `--apply` nothing is changed (the library's dry run).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::render::size;
use sweepstore::LocalFileStore;

use super::store::{is_redb_store, open_exclusive};
use super::{CliError, Out, Status};

/// Free content no result refers to any more (a dry run unless --apply).
///
/// Values of overwritten or deleted results, orphan blob files, temp files of crashed
/// sessions. By default only reports what would be freed; --apply frees it.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// The store directory (or a LocalFileStore directory).
    store: PathBuf,
    /// Only report what would be freed (the default).
    #[arg(long, conflicts_with = "apply")]
    dry_run: bool,
    /// Free it.
    #[arg(long)]
    apply: bool,
    /// Print JSON: {"dry_run", "contents", "bytes", "temp_files", "temp_bytes"}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &GcArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let dry_run = !args.apply;
    let report = if args.store.is_dir() && !is_redb_store(&args.store) {
        // A LocalFileStore directory: its leftovers (it has no unreferenced content).
        LocalFileStore::new(&args.store)?.gc(dry_run)?
    } else {
        open_exclusive(&args.store, "gc")?.gc(dry_run)?
    };
    if args.json {
        let value = json!({
            "dry_run": report.dry_run,
            "contents": report.contents,
            "bytes": report.bytes,
            "temp_files": report.temp_files,
            "temp_bytes": report.temp_bytes,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(Status::Success);
    }
    let what = format!(
        "{} unreferenced content{} ({}) and {} temp file{} ({})",
        report.contents,
        if report.contents == 1 { "" } else { "s" },
        size(report.bytes),
        report.temp_files,
        if report.temp_files == 1 { "" } else { "s" },
        size(report.temp_bytes)
    );
    if dry_run {
        writeln!(out, "would free {what}")?;
        if report.contents + report.temp_files > 0 {
            writeln!(
                out,
                "(dry run: nothing was changed; run with --apply to free it)"
            )?;
        }
    } else {
        writeln!(out, "freed {what}")?;
    }
    Ok(Status::Success)
}
