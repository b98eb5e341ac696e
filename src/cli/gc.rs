//! `sweepstore gc STORE [--dry-run | --apply]`: content no result refers to any more (values
//! of overwritten or deleted results, orphan blobs, temp files of crashed sessions). Reports
//! what would be freed unless `--apply` is given. STORE may also be a LocalFileStore
//! directory: then the temp files of interrupted writes (an export killed midway).
//!
//! STORE may also be a MongoDB store (`mongodb://HOST:PORT/DATABASE/COLLECTION`): then GridFS
//! content no run refers to, once unreferenced for `--grace` (default 1 h), and abandoned
//! uploads (`docs/design.md` §15.9); safe beside sweeps writing to it from any machine.
//!
//! Invariant: without `--apply` nothing is changed (the library's dry run).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::render::size;
use sweepstore::LocalFileStore;

use super::mongo_store::{self, is_uri};
use super::store::{is_redb_store, open_exclusive};
use super::{CliError, Out, Status};

/// Free content no result refers to any more (a dry run unless --apply).
///
/// Values of overwritten or deleted results, orphan blob files, temp files of crashed
/// sessions. By default only reports what would be freed; --apply frees it.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// The store directory (or a LocalFileStore directory, or a MongoDB store:
    /// mongodb://HOST:PORT/DATABASE/COLLECTION).
    store: PathBuf,
    /// MongoDB stores only: free content only after it has been unreferenced this long (a
    /// promise to it stays valid that long), e.g. 30s, 10m, 1h, 2d.
    #[arg(long, value_name = "DURATION", value_parser = parse_grace)]
    grace: Option<Duration>,
    /// Only report what would be freed (the default).
    #[arg(long, conflicts_with = "apply")]
    dry_run: bool,
    /// Free it.
    #[arg(long)]
    apply: bool,
    /// Print JSON: {"dry_run", "contents", "bytes", "temp_files", "temp_bytes"}; for a
    /// MongoDB store {"dry_run", "contents", "bytes", "uploads", "upload_chunks",
    /// "waiting", "waiting_bytes", "grace_seconds"}.
    #[arg(long)]
    json: bool,
}

/// The grace period of a MongoDB gc when none is given.
#[cfg(feature = "mongodb")]
const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// Parses `30s`, `10m`, `1h`, `2d` (or plain seconds).
fn parse_grace(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}` is no duration: give a number and s, m, h or d"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is no duration: give a number and s, m, h or d"))
}

pub fn run(args: &GcArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let dry_run = !args.apply;
    if is_uri(&args.store) {
        return mongo(args, out);
    }
    if args.grace.is_some() {
        return Err(
            "--grace applies to MongoDB stores only (a RedbStore frees unreferenced \
                    content at once: nothing else writes to it during a gc)"
                .into(),
        );
    }
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

/// `gc` of a MongoDB store.
#[cfg(feature = "mongodb")]
fn mongo(args: &GcArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let store = mongo_store::open_existing(&args.store.to_string_lossy())?;
    let grace = args.grace.unwrap_or(DEFAULT_GRACE);
    let report = store.gc(!args.apply, grace)?;
    if args.json {
        let value = json!({
            "dry_run": report.dry_run,
            "contents": report.contents,
            "bytes": report.bytes,
            "uploads": report.uploads,
            "upload_chunks": report.upload_chunks,
            "waiting": report.waiting,
            "waiting_bytes": report.waiting_bytes,
            "grace_seconds": grace.as_secs(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(Status::Success);
    }
    let what = format!(
        "{} unreferenced content{} ({}) and {} abandoned upload{} ({} chunks)",
        report.contents,
        plural(report.contents),
        size(report.bytes),
        report.uploads,
        plural(report.uploads),
        report.upload_chunks
    );
    writeln!(
        out,
        "{} {what}",
        if report.dry_run {
            "would free"
        } else {
            "freed"
        }
    )?;
    if report.waiting > 0 {
        writeln!(
            out,
            "{} more unreferenced content{} ({}) within the grace period of {}s: a later gc frees {}",
            report.waiting,
            plural(report.waiting),
            size(report.waiting_bytes),
            grace.as_secs(),
            if report.waiting == 1 { "it" } else { "them" }
        )?;
    }
    if report.dry_run && report.contents + report.uploads > 0 {
        writeln!(
            out,
            "(dry run: nothing was changed; run with --apply to free it)"
        )?;
    }
    Ok(Status::Success)
}

/// `gc` of a MongoDB store in a build without MongoDB support: the error saying so.
#[cfg(not(feature = "mongodb"))]
fn mongo(args: &GcArgs, _out: &mut Out<'_>) -> Result<Status, CliError> {
    Err(mongo_store::unsupported(&args.store.to_string_lossy()).into())
}

#[cfg(feature = "mongodb")]
fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
