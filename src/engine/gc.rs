//! Garbage collection: content that no result refers to.
//!
//! Invariants: content referred to by any result, or pinned by a save in flight, is never
//! removed; database rows are removed in a transaction made durable by a checkpoint *before*
//! any blob file is deleted, so a crash in between leaves only orphan files (which the next
//! gc removes), never a row pointing at a missing file. Temp files of the current session
//! belong to live writers and are kept.

use std::collections::HashSet;
use std::path::PathBuf;

use redb::ReadableTable;

use crate::blob::BlobLayout;
use crate::engine::ops::{ContentRow, get_content};
use crate::engine::shared::Shared;
use crate::engine::tables::{ResultEntry, WriteTables};
use crate::error::{Error, Result};
use crate::key::{ContentHash, RunKey};

/// What a gc freed (or, for a dry run, would free).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Whether this was a dry run (nothing was changed).
    pub dry_run: bool,
    /// Distinct contents no result refers to (database rows and orphan blob files).
    pub contents: u64,
    /// Bytes those contents occupy.
    pub bytes: u64,
    /// Temp files left behind by a crashed session.
    pub temp_files: u64,
    /// Bytes those temp files occupy.
    pub temp_bytes: u64,
}

/// What to collect.
pub(crate) struct Plan {
    rows: Vec<(ContentHash, u64, bool)>,
    orphan_blobs: Vec<(ContentHash, u64)>,
    temp_files: Vec<(PathBuf, u64)>,
}

fn storage(op: &'static str) -> impl FnOnce(redb::StorageError) -> Error {
    move |e| Error::storage(op, e)
}

/// Finds unreferenced, unpinned content in the tables and on disk.
pub(crate) fn plan(shared: &Shared, tables: &WriteTables<'_>) -> Result<Plan> {
    let mut referenced = HashSet::new();
    for row in tables.results.iter().map_err(storage("scan results"))? {
        let (k, v) = row.map_err(storage("scan results"))?;
        let (run, name) = k.value();
        let entry = ResultEntry::decode(&RunKey::from_bytes(*run), name, v.value())?;
        referenced.insert(entry.hash);
    }
    let pins = shared.pins();
    let mut rows = Vec::new();
    let mut known = HashSet::new();
    for row in tables.content.iter().map_err(storage("scan content"))? {
        let (k, _) = row.map_err(storage("scan content"))?;
        let hash = ContentHash::from_bytes(*k.value());
        known.insert(hash);
        if referenced.contains(&hash) || pins.contains_key(&hash) {
            continue;
        }
        match get_content(&tables.content, &hash)? {
            Some(ContentRow::Inline(bytes)) => rows.push((hash, bytes.len() as u64, false)),
            Some(ContentRow::Blob(size)) => rows.push((hash, size, true)),
            None => {}
        }
    }
    let fs = &shared.fs;
    let layout = &shared.layout;
    let mut orphan_blobs = Vec::new();
    let fans = fs.read_dir(layout.blobs_dir()).unwrap_or_default();
    for fan in fans {
        for path in fs.read_dir(&fan).unwrap_or_default() {
            if let Some(hash) = BlobLayout::hash_of(&path)
                && !known.contains(&hash)
                && !pins.contains_key(&hash)
            {
                orphan_blobs.push((hash, fs.file_len(&path).unwrap_or(0)));
            }
        }
    }
    let temp_files = fs
        .read_dir(layout.tmp_dir())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !layout.is_own_tmp(p))
        .map(|p| {
            let len = fs.file_len(&p).unwrap_or(0);
            (p, len)
        })
        .collect();
    Ok(Plan {
        rows,
        orphan_blobs,
        temp_files,
    })
}

/// Removes the planned rows.
pub(crate) fn remove_rows(tables: &mut WriteTables<'_>, plan: &Plan) -> Result<()> {
    for (hash, _, _) in &plan.rows {
        tables
            .content
            .remove(hash.as_bytes())
            .map_err(storage("remove content"))?;
    }
    Ok(())
}

/// Deletes the planned files (after the row removal is durable). Failures are logged: a
/// leftover file is an orphan the next gc finds again.
pub(crate) fn remove_files(shared: &Shared, plan: &Plan) {
    let pins = shared.pins();
    let blobs = plan
        .rows
        .iter()
        .filter(|(_, _, is_blob)| *is_blob)
        .map(|(hash, _, _)| hash)
        .chain(plan.orphan_blobs.iter().map(|(hash, _)| hash));
    for hash in blobs {
        // IMPORTANT: re-checked under the pin lock: a save may have pinned this content
        // since the plan was made, and is about to refer to the file.
        if pins.contains_key(hash) {
            continue;
        }
        remove(shared, shared.layout.path(hash));
    }
    drop(pins);
    for (path, _) in &plan.temp_files {
        remove(shared, path.clone());
    }
}

fn remove(shared: &Shared, path: PathBuf) {
    if let Err(e) = shared.fs.remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "gc could not remove a file");
    }
}

impl Plan {
    pub(crate) fn report(&self, dry_run: bool) -> GcReport {
        GcReport {
            dry_run,
            contents: (self.rows.len() + self.orphan_blobs.len()) as u64,
            bytes: self.rows.iter().map(|r| r.1).sum::<u64>()
                + self.orphan_blobs.iter().map(|b| b.1).sum::<u64>(),
            temp_files: self.temp_files.len() as u64,
            temp_bytes: self.temp_files.iter().map(|t| t.1).sum(),
        }
    }
}
