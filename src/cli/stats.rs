//! `sweepstore stats STORE [--json]`: what a store holds and the space it takes — tasks,
//! runs, results, distinct contents, logical versus stored bytes (the dedup ratio), the
//! write-ahead log and the last checkpoint.
//!
//! Invariant: reads one snapshot through [`sweepstore::RedbStore::stats`] (the server's, if
//! the store is served); never writes.

use std::io::Write;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use clap::Args;
use serde_json::json;
use sweepstore::StoreStats;

use super::render::{size, utc};
use super::store::open_existing;
use super::{CliError, Out, Status};

/// Count what a store holds and the space it takes.
///
/// Tasks, runs, results, distinct contents, logical bytes (every result counted) versus
/// stored bytes (each distinct content once) and their ratio, the write-ahead log's size and
/// the last checkpoint.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The store: a directory, or a MongoDB store (mongodb://HOST:PORT/DATABASE/COLLECTION).
    pub(super) store: PathBuf,
    /// Print JSON: {"tasks", "runs", "results", "distinct_contents", "logical_bytes",
    /// "stored_bytes", "dedup_ratio", "wal_bytes", "wal_segments", "last_checkpoint_lsn",
    /// "last_checkpoint_at" (Unix seconds or null)}.
    #[arg(long)]
    json: bool,
}

/// Logical over stored bytes (1 for an empty store).
fn dedup_ratio(stats: &StoreStats) -> f64 {
    if stats.stored_bytes == 0 {
        1.0
    } else {
        stats.logical_bytes as f64 / stats.stored_bytes as f64
    }
}

pub fn run(args: &StatsArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let stats = open_existing(&args.store)?.stats()?;
    let ratio = dedup_ratio(&stats);
    if args.json {
        let at = stats
            .last_checkpoint_at
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let value = json!({
            "tasks": stats.tasks,
            "runs": stats.runs,
            "results": stats.results,
            "distinct_contents": stats.distinct_contents,
            "logical_bytes": stats.logical_bytes,
            "stored_bytes": stats.stored_bytes,
            "dedup_ratio": ratio,
            "wal_bytes": stats.wal_bytes,
            "wal_segments": stats.wal_segments,
            "last_checkpoint_lsn": stats.last_checkpoint_lsn,
            "last_checkpoint_at": at,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(Status::Success);
    }
    let checkpoint = match (stats.last_checkpoint_lsn, stats.last_checkpoint_at) {
        (0, None) => "none yet".to_owned(),
        (lsn, Some(at)) => format!("WAL record {lsn}, at {}", utc(at)),
        (lsn, None) => format!("WAL record {lsn}"),
    };
    writeln!(out, "tasks:              {}", stats.tasks)?;
    writeln!(out, "runs:               {}", stats.runs)?;
    writeln!(out, "results:            {}", stats.results)?;
    writeln!(out, "distinct contents:  {}", stats.distinct_contents)?;
    writeln!(out, "logical bytes:      {}", size(stats.logical_bytes))?;
    writeln!(
        out,
        "stored bytes:       {} (dedup ratio {ratio:.2})",
        size(stats.stored_bytes)
    )?;
    writeln!(
        out,
        "write-ahead log:    {} in {} segment{}",
        size(stats.wal_bytes),
        stats.wal_segments,
        if stats.wal_segments == 1 { "" } else { "s" }
    )?;
    writeln!(out, "last checkpoint:    {checkpoint}")?;
    Ok(Status::Success)
}
