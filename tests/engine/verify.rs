//! `RedbStore::verify` and `RedbStore::stats` on stores damaged on disk: each kind of damage
//! is reported (with a clean store as the control reporting none), and the figures of
//! `stats` match what was saved.

use crate::shared::damage;

use std::path::{Path, PathBuf};

use crate::shared::io;
use damage::flip_byte;
use redb::TableDefinition;
use serde_json::json;
use sweepstore::{
    ContentHash, Error, Progress, RedbOptions, RedbStore, Result, StoreExt, UniqueConfig,
    VerifyReport,
};

/// The engine's content table (see `src/engine/tables.rs`): hash → tag ‖ bytes or size.
const CONTENT: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("content");

use crate::shared::tempdir;

const INLINE: &[u8] = b"an inline value of the first run";

fn big() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

/// A closed store with two runs: an inline value, a blob, and a value shared by both runs.
fn make_store(dir: &Path) -> Result<()> {
    let store = RedbStore::open(dir, RedbOptions::default())?;
    let a = store.run("train", &UniqueConfig::new(json!({"seed": 1}))?)?;
    a.save_bytes("note", "bytes", INLINE)?;
    a.save_bytes("weights", "bytes", &big())?;
    a.save("metrics", "json", &json!({"loss": 1.0}))?;
    a.finish()?;
    let b = store.run("train", &UniqueConfig::new(json!({"seed": 2}))?)?;
    b.save("metrics", "json", &json!({"loss": 1.0}))?;
    store.close()
}

/// The stored bytes of the metrics both runs save.
fn metrics_json() -> Result<Vec<u8>> {
    sweepstore::TypeRegistry::new()
        .get("json")?
        .encode(&json!({"loss": 1.0}))
}

fn blob_path(dir: &Path, hash: &ContentHash) -> PathBuf {
    let hex = hash.to_hex();
    dir.join("blobs").join(&hex[..2]).join(hex)
}

fn verify(dir: &Path) -> Result<(VerifyReport, Vec<Progress>)> {
    let store = RedbStore::open(dir, RedbOptions::default().check_integrity_on_open(true))?;
    let mut seen = Vec::new();
    let report = store.verify(&mut |p| seen.push(p))?;
    store.close()?;
    Ok((report, seen))
}

/// Rewrites the content table of a closed store's database with `change`.
fn edit_content(dir: &Path, change: impl FnOnce(&mut redb::Table<&[u8; 32], &[u8]>)) -> Result<()> {
    let storage = |e: redb::Error| Error::Stream {
        op: "edit the database",
        source: std::io::Error::other(e.to_string()),
    };
    let db = redb::Database::open(dir.join("store.redb")).map_err(|e| storage(e.into()))?;
    let txn = db.begin_write().map_err(|e| storage(e.into()))?;
    {
        let mut table = txn.open_table(CONTENT).map_err(|e| storage(e.into()))?;
        change(&mut table);
    }
    txn.commit().map_err(|e| storage(e.into()))
}

#[test]
fn a_clean_store_has_no_problems_and_every_value_is_checked() -> Result<()> {
    let dir = tempdir()?;
    make_store(dir.path())?;
    let (report, progress) = verify(dir.path())?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // Three distinct contents: the note, the weights, the shared metrics.
    assert_eq!(report.values_checked, 3);
    let expected = (INLINE.len() + big().len() + metrics_json()?.len()) as u64;
    assert_eq!(report.bytes_checked, expected);
    assert_eq!(progress.len(), 3);
    assert_eq!(progress.last().map(|p| (p.done, p.total)), Some((3, 3)));
    assert_eq!(progress.last().map(|p| p.bytes), Some(report.bytes_checked));
    Ok(())
}

#[test]
fn a_flipped_byte_in_a_blob_is_a_hash_mismatch() -> Result<()> {
    let dir = tempdir()?;
    make_store(dir.path())?;
    let path = blob_path(dir.path(), &ContentHash::of(&big()));
    flip_byte(&path, 1234, 0x40)?;
    let (report, _) = verify(dir.path())?;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = report.problems[0].to_string();
    assert!(problem.contains("hash mismatch"), "{problem}");
    assert!(problem.contains(&path.display().to_string()), "{problem}");
    assert!(
        problem.contains("it is the value of result `weights` of run "),
        "{problem}"
    );
    Ok(())
}

#[test]
fn a_deleted_blob_is_a_missing_blob() -> Result<()> {
    let dir = tempdir()?;
    make_store(dir.path())?;
    let path = blob_path(dir.path(), &ContentHash::of(&big()));
    std::fs::remove_file(&path).map_err(io("remove", &path))?;
    let (report, _) = verify(dir.path())?;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].description.contains("missing blob"));
    Ok(())
}

#[test]
fn a_corrupted_inline_value_is_a_hash_mismatch() -> Result<()> {
    let dir = tempdir()?;
    make_store(dir.path())?;
    let hash = ContentHash::of(INLINE);
    edit_content(dir.path(), |table| {
        let mut row = vec![0u8]; // the inline tag
        row.extend_from_slice(b"an inline value of the first RUN");
        let _ = table.insert(hash.as_bytes(), row.as_slice());
    })?;
    let (report, _) = verify(dir.path())?;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!(problem.location, format!("content {hash}"));
    assert!(problem.description.contains("hash mismatch"), "{problem}");
    // The damaged value is named by the result and run that hold it.
    let run = sweepstore::RunKey::new(
        &sweepstore::TaskName::new("train")?,
        &UniqueConfig::new(json!({"seed": 1}))?,
    );
    assert!(
        problem
            .description
            .ends_with(&format!("; it is the value of result `note` of run {run}")),
        "{problem}"
    );
    Ok(())
}

#[test]
fn a_removed_content_row_is_a_dangling_reference_of_each_result_using_it() -> Result<()> {
    let dir = tempdir()?;
    make_store(dir.path())?;
    let hash = ContentHash::of(&metrics_json()?);
    let mut removed = false;
    edit_content(dir.path(), |table| {
        removed = table.remove(hash.as_bytes()).is_ok_and(|old| old.is_some());
    })?;
    assert!(
        removed,
        "the shared metrics content was stored under its hash"
    );
    let (report, _) = verify(dir.path())?;
    // Both runs refer to it.
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    for problem in &report.problems {
        assert!(problem.location.starts_with("result `metrics` of run"));
        assert!(problem.description.contains("dangling content reference"));
    }
    Ok(())
}

#[test]
fn damage_in_the_middle_of_the_wal_of_an_open_store_is_reported() -> Result<()> {
    let dir = tempdir()?;
    make_store(dir.path())?;
    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    let run = store.run("eval", &UniqueConfig::new(json!({"split": 1}))?)?;
    for i in 0..4 {
        run.save("score", "json", &json!(i))?;
    }
    let clean = store.verify(&mut |_| {})?;
    assert!(clean.problems.is_empty(), "control: {:?}", clean.problems);
    let wal = dir.path().join("wal");
    let segment = std::fs::read_dir(&wal)
        .map_err(io("list", &wal))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .max()
        .ok_or(Error::Closed)?;
    let len = std::fs::metadata(&segment)
        .map_err(io("inspect", &segment))?
        .len();
    // Past the 32-byte header, well before the last of the four records.
    let at = 32 + (len - 32) / 4;
    flip_byte(&segment, at, 0x01)?;
    let report = store.verify(&mut |_| {})?;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].location.contains("WAL segment"));
    assert!(
        report.problems[0]
            .description
            .contains("valid records follow it")
    );
    // Verification changed nothing: the segment still has its length.
    assert_eq!(
        std::fs::metadata(&segment)
            .map_err(io("inspect", &segment))?
            .len(),
        len
    );
    drop(store);
    Ok(())
}

#[test]
fn stats_count_runs_results_and_deduplicated_bytes() -> Result<()> {
    let dir = tempdir()?;
    make_store(dir.path())?;
    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    let stats = store.stats()?;
    let metrics = metrics_json()?.len() as u64;
    let (inline, blob) = (INLINE.len() as u64, big().len() as u64);
    assert_eq!((stats.tasks, stats.runs, stats.results), (1, 2, 4));
    assert_eq!(stats.distinct_contents, 3);
    assert_eq!(stats.logical_bytes, inline + blob + 2 * metrics);
    assert_eq!(stats.stored_bytes, inline + blob + metrics);
    // Closing checkpointed; the open started one fresh segment.
    assert!(stats.last_checkpoint_lsn > 0);
    assert!(stats.last_checkpoint_at.is_some());
    assert_eq!(stats.wal_segments, 1);
    let before = stats.wal_bytes;
    store
        .run("eval", &UniqueConfig::new(json!({}))?)?
        .save("x", "json", &1)?;
    assert!(store.stats()?.wal_bytes > before);
    Ok(())
}

#[test]
fn a_flipped_byte_of_an_inline_value_in_the_database_file_is_a_hash_mismatch_and_fails_a_checked_open()
-> Result<()> {
    let dir = tempdir()?;
    make_store(dir.path())?;
    // Find the inline value's bytes in the database file and damage every copy.
    let path = dir.path().join("store.redb");
    let mut bytes = std::fs::read(&path).map_err(io("read", &path))?;
    let mut damaged = 0;
    for at in 0..bytes.len().saturating_sub(INLINE.len()) {
        if &bytes[at..at + INLINE.len()] == INLINE {
            bytes[at] ^= 0x20;
            damaged += 1;
        }
    }
    assert!(damaged > 0, "the inline value is in the database file");
    std::fs::write(&path, &bytes).map_err(io("write", &path))?;
    // A plain open trusts the file; re-hashing finds the damaged value.
    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    let report = store.verify(&mut |_| {})?;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!(
        problem.location,
        format!("content {}", ContentHash::of(INLINE))
    );
    assert!(problem.description.contains("hash mismatch"), "{problem}");
    store.close()?;
    // The same damaged file again (the close above checkpointed into it).
    std::fs::write(&path, &bytes).map_err(io("write", &path))?;
    match RedbStore::open(
        dir.path(),
        RedbOptions::default().check_integrity_on_open(true),
    ) {
        Err(Error::Storage { .. }) => Ok(()),
        Err(other) => panic!("expected a storage error, got {other}"),
        Ok(store) => {
            let report = store.verify(&mut |_| {})?;
            panic!(
                "the damaged file opened; verify found {:?}",
                report.problems
            )
        }
    }
}
