//! Browsing a RedbStore changes nothing (issue 17 §4): a copy of a store taken while its
//! writer had saves in the WAL that no checkpoint had applied (what a killed writer leaves)
//! is browsed with every read command; the saves are visible, and no file's bytes or mtime
//! changed and no file appeared. Control: `-v` shows the WAL was replayed on the open.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::{Value, json};
use sweepstore::{RedbOptions, RedbStore, StoreExt, UniqueConfig};

use super::super::cli_support::{TestResult, arg, run};
use super::{args, fill_sweep, snapshot};

use crate::shared::copy_tree;

#[test]
fn browsing_replays_the_wal_in_memory_and_changes_no_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let live = dir.path().join("live");
    let copy = dir.path().join("copy");
    let writer = RedbStore::open(&live, RedbOptions::default())?;
    // The open checkpointed an empty store; every save after it is only in the WAL (and in
    // redb's unsynced commits, which a crash discards) until the next checkpoint.
    fill_sweep(&writer)?;
    copy_tree(&live, &copy)?;
    drop(writer);
    let before = snapshot(&copy)?;

    let listed = run(["-v".as_ref(), "ls".as_ref(), arg(&copy), "--json".as_ref()])?.ok()?;
    // Control: the copy needed its WAL replayed, and the open said it wrote nothing.
    assert!(
        listed.stderr.contains("recovered from the write-ahead log"),
        "{}",
        listed.stderr
    );
    assert!(
        listed.stderr.contains("opened the store read-only"),
        "{}",
        listed.stderr
    );
    assert_eq!(
        serde_json::from_str::<Value>(&listed.stdout)?,
        json!([{"name": "eval", "runs": 1}, {"name": "train", "runs": 4}])
    );
    let table = run(args(
        &copy,
        &["table", "train", "--sort", "metrics.loss", "--json"],
    ))?
    .ok()?;
    let rows: Vec<Value> = serde_json::from_str(&table.stdout)?;
    let losses: Vec<&Value> = rows.iter().map(|r| &r["metrics.loss"]).collect();
    assert_eq!(
        losses[..3],
        [&json!(0.2), &json!(0.3), &json!(0.4)],
        "{rows:?}"
    );
    let a = r#"{"Train": {"opt": "adam", "lr": 0.1}, "seed": 0}"#;
    let b = r#"{"Train": {"opt": "adam", "lr": 0.01}, "seed": 0}"#;
    run(args(&copy, &["diff", "train", a, b]))?.ok()?;
    run(args(&copy, &["show", "train", "--config", a]))?.ok()?;
    let got = run(args(&copy, &["get", "train", "metrics", "--config", a]))?.ok()?;
    assert_eq!(
        serde_json::from_str::<Value>(&got.stdout)?["loss"],
        json!(0.4)
    );
    let stats = run(args(&copy, &["stats", "--json"]))?.ok()?;
    assert_eq!(
        serde_json::from_str::<Value>(&stats.stdout)?["runs"],
        json!(5)
    );
    run(args(&copy, &["verify"]))?.ok()?;
    run(args(
        &copy,
        &["export", dir.path().join("out").to_str().ok_or("path")?],
    ))?
    .ok()?;

    assert_eq!(
        snapshot(&copy)?,
        before,
        "browsing changed or created a file"
    );
    Ok(())
}

#[test]
fn a_store_without_a_lock_file_is_browsed_and_a_writer_is_still_detected() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("s");
    super::make_sweep(&path)?;
    std::fs::remove_file(path.join("LOCK"))?;
    let before = snapshot(&path)?;
    let listed = run(["-v".as_ref(), "ls".as_ref(), arg(&path)])?.ok()?;
    assert!(
        listed.stderr.contains("cannot open the store's LOCK"),
        "{}",
        listed.stderr
    );
    assert_eq!(snapshot(&path)?, before, "ls created the LOCK file");

    let writer = RedbStore::open(&path, RedbOptions::default())?;
    let refused = run(["ls".as_ref(), arg(&path)])?.expect_code(1)?;
    assert!(
        refused
            .stderr
            .contains("is already open in another process"),
        "{}",
        refused.stderr
    );
    drop(writer);
    Ok(())
}

/// A store of `runs` runs of task `train`, each with a json `metrics`.
fn many_runs(path: &Path, runs: u32) -> TestResult {
    let store = RedbStore::open(path, RedbOptions::default())?;
    for i in 0..runs {
        let run = store.run("train", &UniqueConfig::new(json!({"i": i}))?)?;
        run.save("metrics", "json", &json!({"loss": f64::from(i) / 7.0}))?;
        run.finish()?;
    }
    Ok(())
}

#[test]
fn a_damaged_page_gives_a_message_naming_the_store_never_a_panic() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("s");
    many_runs(&path, 400)?;
    // Control: the store reads and verifies before the damage.
    run(args(&path, &["table", "train"]))?.ok()?;
    run(args(&path, &["verify"]))?.ok()?;
    let db = path.join("store.redb");
    let len = std::fs::metadata(&db)?.len();
    let mut file = std::fs::OpenOptions::new().write(true).open(&db)?;
    // 64 bytes of 0xff at the start of a few pages past redb's header (what a bad sector or
    // a stray write leaves): redb reads a page type byte that is neither leaf nor branch.
    for at in (65_536..len).step_by(65_536) {
        file.seek(SeekFrom::Start(at))?;
        file.write_all(&[0xff; 64])?;
    }
    drop(file);

    let no_panic =
        |stderr: &str| !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE");
    for command in [
        &["ls"][..],
        &["table", "train"],
        &["stats"],
        &["get", "train", "metrics", "--config", r#"{"i": 3}"#],
    ] {
        let failed = run(args(&path, command))?.expect_code(1)?;
        assert!(no_panic(&failed.stderr), "{command:?}: {}", failed.stderr);
        assert_eq!(
            failed.stderr.lines().count(),
            1,
            "{command:?}: {}",
            failed.stderr
        );
        assert!(
            failed.stderr.starts_with("sweepstore: "),
            "{}",
            failed.stderr
        );
        assert!(
            failed.stderr.contains("damaged") || failed.stderr.contains("corrupted"),
            "{command:?}: {}",
            failed.stderr
        );
    }
    let verified = run(args(&path, &["verify"]))?.expect_code(3)?;
    assert!(no_panic(&verified.stderr), "{}", verified.stderr);
    assert!(
        verified.stdout.contains("redb's page check failed"),
        "{}",
        verified.stdout
    );
    Ok(())
}

#[test]
fn verify_goes_on_after_the_page_check_fails_and_names_the_damaged_run() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("s");
    let marker = b"a value to find in the database file";
    {
        let store = RedbStore::open(&path, RedbOptions::default())?;
        let run = store.run("train", &UniqueConfig::new(json!({"seed": 7}))?)?;
        run.save_bytes("note", "bytes", marker)?;
        run.finish()?;
    }
    run(args(&path, &["verify"]))?.ok()?;
    let db = path.join("store.redb");
    let mut bytes = std::fs::read(&db)?;
    let mut flipped = 0;
    for at in 0..bytes.len() - marker.len() {
        if &bytes[at..at + marker.len()] == marker {
            bytes[at + 3] ^= 0x20;
            flipped += 1;
        }
    }
    // Control: the value is stored inline, so the damage hit it.
    assert!(flipped > 0, "the value is not in store.redb");
    std::fs::write(&db, &bytes)?;

    let verified = run(args(&path, &["verify"]))?.expect_code(3)?;
    assert!(
        verified.stdout.contains("redb's page check failed"),
        "{}",
        verified.stdout
    );
    assert!(
        verified
            .stdout
            .contains("hash mismatch: the inline value hashes to"),
        "{}",
        verified.stdout
    );
    assert!(
        verified
            .stdout
            .contains("it is the value of result `note` of run "),
        "{}",
        verified.stdout
    );
    assert!(
        verified.stdout.ends_with("2 problems found\n"),
        "{}",
        verified.stdout
    );
    Ok(())
}
