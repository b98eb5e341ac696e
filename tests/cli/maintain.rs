//! `sweepstore stats`, `gc` and `verify` as real processes: figures checked against what was
//! stored, a dry run that changes nothing, and damage that verify must report (with a control
//! run on the same store before the damage).

use crate::shared::cli as cli_support;

use std::path::Path;

use cli_support::{TestResult, arg, run};
use serde_json::{Value, json};
use sweepstore::{ContentHash, RedbOptions, RedbStore, StoreExt, UniqueConfig};

/// Larger than the inline limit, so it is kept as a blob file.
const BLOB_LEN: usize = 100 * 1024;

fn blob() -> Vec<u8> {
    (0..BLOB_LEN).map(|i| (i % 251) as u8).collect()
}

/// Task `t`, two runs: the same blob saved under two names (deduplicated), a small json, and
/// one result overwritten (its old content becomes garbage).
fn make_store(path: &Path) -> TestResult {
    let store = RedbStore::open(path, RedbOptions::default())?;
    let a = store.run("t", &UniqueConfig::new(json!({"run": 1}))?)?;
    a.save_bytes("weights", "bytes", &blob())?;
    a.save_bytes("copy", "bytes", &blob())?;
    a.save("metrics", "json", &json!({"loss": 0.5}))?;
    let b = store.run("t", &UniqueConfig::new(json!({"run": 2}))?)?;
    b.save_bytes("note", "text", b"first")?;
    b.save_bytes("note", "text", b"second!")?;
    Ok(())
}

use cli_support::json_of;

fn gc_json(store: &Path, apply: bool) -> TestResult<Value> {
    let mut args = vec![
        "gc",
        store.to_str().ok_or("path")?,
        "--json",
        if apply { "--apply" } else { "--dry-run" },
    ];
    args.dedup();
    json_of(&run(args)?.ok()?.stdout)
}

#[test]
fn stats_counts_results_contents_and_dedup() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;
    let stats = json_of(
        &run(["stats".as_ref(), arg(&store), "--json".as_ref()])?
            .ok()?
            .stdout,
    )?;
    let metrics_len = br#"{"loss":0.5}"#.len();
    let logical = 2 * BLOB_LEN + metrics_len + "second!".len();
    // Stored: the blob once, the metrics, both notes (the overwritten one until gc).
    let stored = BLOB_LEN + metrics_len + "first".len() + "second!".len();
    assert_eq!(stats["tasks"], 1);
    assert_eq!(stats["runs"], 2);
    assert_eq!(stats["results"], 4);
    assert_eq!(stats["distinct_contents"], 4);
    assert_eq!(stats["logical_bytes"], json!(logical));
    assert_eq!(stats["stored_bytes"], json!(stored));
    let ratio = stats["dedup_ratio"].as_f64().ok_or("ratio")?;
    assert!(
        (ratio - logical as f64 / stored as f64).abs() < 1e-12,
        "{ratio}"
    );
    assert!(stats["wal_segments"].as_u64().ok_or("segments")? >= 1);
    assert!(stats["last_checkpoint_at"].is_u64(), "{stats}");

    let text = run(["stats".as_ref(), arg(&store)])?.ok()?.stdout;
    assert!(text.contains("results:            4\n"), "{text}");
    assert!(text.contains("logical bytes:      200.0 KiB\n"), "{text}");
    assert!(
        text.contains(&format!("(dedup ratio {:.2})", ratio)),
        "{text}"
    );
    assert!(text.contains("last checkpoint:    WAL record "), "{text}");
    Ok(())
}

#[test]
fn gc_reports_by_default_and_frees_only_with_apply() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;
    let garbage = json!({
        "dry_run": true, "contents": 1, "bytes": "first".len(), "temp_files": 0, "temp_bytes": 0
    });
    assert_eq!(gc_json(&store, false)?, garbage);
    // A dry run changed nothing: the same garbage is still there.
    assert_eq!(gc_json(&store, false)?, garbage);
    let text = run(["gc".as_ref(), arg(&store)])?.ok()?.stdout;
    assert_eq!(
        text,
        "would free 1 unreferenced content (5 B) and 0 temp files (0 B)\n\
         (dry run: nothing was changed; run with --apply to free it)\n"
    );

    let freed = gc_json(&store, true)?;
    assert_eq!(freed["dry_run"], false);
    assert_eq!(freed["contents"], 1);
    assert_eq!(gc_json(&store, false)?["contents"], 0);
    let stats = json_of(
        &run(["stats".as_ref(), arg(&store), "--json".as_ref()])?
            .ok()?
            .stdout,
    )?;
    assert_eq!(stats["distinct_contents"], 3);

    // What results refer to is intact.
    let opened = RedbStore::open(&store, RedbOptions::default())?;
    let b = opened.run("t", &UniqueConfig::new(json!({"run": 2}))?)?;
    assert_eq!(b.load::<String>("note")?.as_deref(), Some("second!"));
    drop(opened);
    run(["gc", "x", "--apply", "--dry-run"])?.expect_code(2)?;
    Ok(())
}

#[test]
fn verify_reports_a_damaged_blob_and_exits_3() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;
    // Control: the same store before the damage is sound.
    let sound = run(["verify".as_ref(), arg(&store)])?.ok()?;
    assert!(
        sound.stdout.ends_with("no problems found\n"),
        "{}",
        sound.stdout
    );
    let report = json_of(
        &run(["verify".as_ref(), arg(&store), "--json".as_ref()])?
            .ok()?
            .stdout,
    )?;
    assert_eq!(report["values_checked"], 4);
    assert_eq!(report["problems"], json!([]));

    let hash = ContentHash::of(&blob()).to_hex();
    let file = store.join("blobs").join(&hash[..2]).join(&hash);
    let mut bytes = std::fs::read(&file)?;
    bytes[BLOB_LEN / 2] ^= 0x40;
    std::fs::write(&file, &bytes)?;

    let damaged = run(["verify".as_ref(), arg(&store)])?.expect_code(3)?;
    let problems: Vec<&str> = damaged
        .stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(problems.len(), 1, "{}", damaged.stdout);
    assert!(problems[0].contains(&hash[..16]), "{}", problems[0]);
    assert!(
        damaged.stdout.ends_with("1 problem found\n"),
        "{}",
        damaged.stdout
    );
    let report = json_of(
        &run(["verify".as_ref(), arg(&store), "--json".as_ref()])?
            .expect_code(3)?
            .stdout,
    )?;
    let listed = report["problems"].as_array().ok_or("problems")?;
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["location"].is_string() && listed[0]["description"].is_string());
    Ok(())
}

#[test]
fn verify_reports_a_database_that_fails_its_page_check() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;
    run(["verify".as_ref(), arg(&store)])?.ok()?;
    let db = store.join("store.redb");
    let mut bytes = std::fs::read(&db)?;
    // Everything after redb's header (its first page) is overwritten.
    for b in &mut bytes[4096..] {
        *b = 0xff;
    }
    std::fs::write(&db, &bytes)?;
    let damaged = run(["verify".as_ref(), arg(&store)])?.expect_code(3)?;
    assert!(
        damaged.stdout.contains("redb's page check failed: "),
        "{damaged:?}"
    );
    Ok(())
}

#[test]
fn maintenance_commands_refuse_a_path_without_a_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    let absent = dir.path().join("absent");
    for command in ["stats", "gc", "verify"] {
        let failed = run([command.as_ref(), arg(&absent)])?.expect_code(1)?;
        assert!(
            failed.stderr.contains("it does not exist"),
            "{command}: {}",
            failed.stderr
        );
        assert!(!absent.exists());
    }
    Ok(())
}

/// A pid no process has (above Linux's limit), as in the name of a temporary file left by a
/// process that is gone.
const DEAD: &str = ".sweepstore-7ffffffe-0-1.tmp";

#[test]
fn gc_of_a_local_file_store_removes_leftovers_of_dead_writers_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let base = dir.path().join("local");
    let store = sweepstore::LocalFileStore::new(&base)?;
    let stored = store.run("t", &UniqueConfig::new(json!({"a": 1}))?)?;
    stored.save("m", "json", &json!({"loss": 0.5}))?;
    let run_dir = stored.get_context()?.run_dir.ok_or("run dir")?;
    drop(store);
    // Leftovers of a killed writer: a staged value, a half-written record, a claimed
    // temporary in the run directory; and a live writer's temporary (this test process's).
    let leftovers = [
        base.join("t/.sweepstore/tmp").join(DEAD),
        run_dir
            .join(".fluidml")
            .join(DEAD.replace("-1.tmp", "-2.tmp")),
        run_dir.join(DEAD.replace("-1.tmp", "-3.tmp")),
    ];
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for path in &leftovers {
        std::fs::write(path, b"partial")?;
        // Untouched for an hour: opening a store removes such leftovers only after ten
        // minutes (a writer on another machine sharing the directory looks dead here).
        std::fs::File::options()
            .write(true)
            .open(path)?
            .set_modified(long_ago)?;
    }
    let live = run_dir.join(format!(".sweepstore-{:x}-9-9.tmp", std::process::id()));
    std::fs::write(&live, b"in flight")?;

    let dry = run(["gc".as_ref(), arg(&base), "--json".as_ref()])?.ok()?;
    let report: Value = serde_json::from_str(&dry.stdout)?;
    // Opening the store (the CLI does) already removed the one in `.sweepstore/tmp`.
    assert!(
        !leftovers[0].exists(),
        "opening removes .sweepstore/tmp leftovers"
    );
    assert_eq!(report["temp_files"], 2, "{report}");
    assert!(
        leftovers[1..].iter().all(|p| p.exists()),
        "a dry run removes nothing"
    );
    run(["gc".as_ref(), arg(&base), "--apply".as_ref()])?.ok()?;
    assert!(leftovers.iter().all(|p| !p.exists()));
    assert!(live.exists(), "a live process's temporary is kept");
    let store = sweepstore::LocalFileStore::new(&base)?;
    let stored = store.run("t", &UniqueConfig::new(json!({"a": 1}))?)?;
    assert_eq!(stored.load::<Value>("m")?, Some(json!({"loss": 0.5})));
    Ok(())
}
