//! Garbage collection of a MongoStore's GridFS content (`docs/design.md` §15.9): a dry run
//! changes nothing, `apply` frees unreferenced content (the control that gc really deletes),
//! the grace period keeps promises to overwritten content valid, abandoned uploads are
//! freed, and two gcs racing a saver, each in its own process with its own client (as on
//! three machines), never leave a run referring to deleted content. Needs the server of
//! `tests/run.sh`.
//!
//! The race's children are this test binary re-executed with `--exact child_gc_race` and
//! environment variables naming the database and the role; without them the child test
//! does nothing.

use crate::shared::mongo as mongo_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mongodb::bson::oid::ObjectId;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, DateTime, Document, doc};
use serde_json::json;
use sweepstore::{ContentHash, Error, MongoOptions, MongoStore, Result, StoreExt, UniqueConfig};

use crate::shared::child_test;
use mongo_support::{raw_db, raw_err, store_in, unique_db, uri};

const DB_ENV: &str = "SWEEPSTORE_TEST_MONGO_GC_DB";
const ROLE_ENV: &str = "SWEEPSTORE_TEST_MONGO_GC_ROLE";
const DONE_ENV: &str = "SWEEPSTORE_TEST_MONGO_GC_DONE";
const FILES: &str = "runs.content.files";
const CHUNKS: &str = "runs.content.chunks";
/// Saves of the racing saver.
const SAVES: usize = 60;
/// Distinct contents the saver cycles through, over fewer runs: one is always unreferenced.
const CONTENTS: usize = 4;
const RUNS: usize = 3;

/// Every value above 16 bytes goes to GridFS, so small values exercise it.
fn options() -> MongoOptions {
    MongoOptions::default().with_inline_limit(16)
}

fn value(k: usize) -> Vec<u8> {
    (0..300).map(|i| (i * 7 + k * 31) as u8).collect()
}

fn config(r: usize) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "run": r }))?)
}

fn count(db: &mongodb::sync::Database, coll: &str, filter: Document) -> Result<u64> {
    db.collection::<Document>(coll)
        .count_documents(filter)
        .run()
        .map_err(raw_err("count"))
}

/// Every GridFS files document, as stored.
fn all_files(db: &mongodb::sync::Database) -> Result<Vec<Document>> {
    db.collection::<Document>(FILES)
        .find(doc! {})
        .run()
        .map_err(raw_err("find"))?
        .collect::<std::result::Result<_, _>>()
        .map_err(raw_err("find"))
}

/// A store with run 0 holding `value(0)` then overwritten by `value(1)`: `value(0)` is
/// unreferenced; returns a promise to it taken before the overwrite.
fn overwritten(db: &str) -> Result<(MongoStore, sweepstore::Promise)> {
    let store = store_in(db, options())?;
    let run = store.run("train", &config(0)?)?;
    run.save("x", "bytes", &value(0))?;
    let promise = run.load_lazy("x")?.ok_or(Error::NotFound {
        what: "x".to_owned(),
    })?;
    run.save("x", "bytes", &value(1))?;
    Ok((store, promise))
}

#[test]
fn a_dry_run_changes_nothing_and_apply_frees_only_unreferenced_content() -> Result<()> {
    let db_name = unique_db("gc_apply");
    let (store, promise) = overwritten(&db_name)?;
    let db = raw_db(&uri(), &db_name)?;
    let files_before = all_files(&db)?;
    assert_eq!(files_before.len(), 2);

    let dry = store.gc(true, Duration::ZERO)?;
    assert_eq!((dry.dry_run, dry.contents, dry.bytes), (true, 1, 300));
    assert_eq!(all_files(&db)?, files_before, "a dry run changes nothing");
    assert_eq!(promise.bytes()?, value(0));

    let applied = store.gc(false, Duration::ZERO)?;
    assert_eq!((applied.contents, applied.bytes), (1, 300));
    let gone = ContentHash::of(&value(0)).to_hex();
    assert_eq!(count(&db, FILES, doc! { "_id": &gone })?, 0);
    assert_eq!(count(&db, CHUNKS, doc! { "files_id": &gone })?, 0);
    assert!(
        matches!(promise.bytes(), Err(Error::ContentCollected { .. })),
        "a promise to collected content says so"
    );
    let run = store.run("train", &config(0)?)?;
    assert_eq!(run.load::<Vec<u8>>("x")?, Some(value(1)));
    assert!(store.verify(&mut |_| {})?.problems.is_empty());
    assert_eq!(store.gc(false, Duration::ZERO)?.contents, 0);
    Ok(())
}

#[test]
fn a_grace_period_keeps_a_promise_to_overwritten_content_valid() -> Result<()> {
    let db_name = unique_db("gc_grace");
    let (store, promise) = overwritten(&db_name)?;
    let grace = Duration::from_secs(3600);
    for _ in 0..2 {
        let report = store.gc(false, grace)?;
        assert_eq!((report.contents, report.waiting), (0, 1));
        assert_eq!(promise.bytes()?, value(0));
    }
    // Saved again, the content is referenced again: its mark goes, nothing waits.
    store
        .run("train", &config(5)?)?
        .save("x", "bytes", &value(0))?;
    let db = raw_db(&uri(), &db_name)?;
    let hash = ContentHash::of(&value(0)).to_hex();
    assert_eq!(
        count(
            &db,
            FILES,
            doc! { "_id": &hash, "unreferenced": { "$exists": true } }
        )?,
        0
    );
    assert_eq!(store.gc(false, grace)?.waiting, 0);
    Ok(())
}

#[test]
fn chunks_of_an_abandoned_upload_are_freed_after_the_grace_period() -> Result<()> {
    let db_name = unique_db("gc_orphans");
    let store = store_in(&db_name, options())?;
    store
        .run("train", &config(0)?)?
        .save("x", "bytes", &value(0))?;
    let db = raw_db(&uri(), &db_name)?;
    let orphan = ContentHash::of(b"never finished").to_hex();
    // Written a minute ago (an ObjectId starts with its creation time in seconds).
    let minute_ago =
        u32::try_from(DateTime::now().timestamp_millis() / 1000 - 60).map_err(|_| {
            Error::NotFound {
                what: "a time".to_owned(),
            }
        })?;
    let chunks: Vec<Document> = (0u8..3)
        .map(|n| {
            let mut id = [n; 12];
            id[..4].copy_from_slice(&minute_ago.to_be_bytes());
            let data = Binary {
                subtype: BinarySubtype::Generic,
                bytes: vec![1; 10],
            };
            doc! { "_id": ObjectId::from_bytes(id), "files_id": &orphan, "n": i32::from(n), "data": data }
        })
        .collect();
    db.collection::<Document>(CHUNKS)
        .insert_many(chunks)
        .run()
        .map_err(raw_err("insert chunks"))?;
    let young = store.gc(false, Duration::from_secs(3600))?;
    assert_eq!(young.uploads, 0, "an upload within the grace period stays");
    assert_eq!(count(&db, CHUNKS, doc! { "files_id": &orphan })?, 3);
    let old = store.gc(false, Duration::ZERO)?;
    assert_eq!((old.uploads, old.upload_chunks, old.contents), (1, 3, 0));
    assert_eq!(count(&db, CHUNKS, doc! { "files_id": &orphan })?, 0);
    assert_eq!(
        count(&db, FILES, doc! { "_id": &orphan })?,
        0,
        "no tombstone left"
    );
    let run = store.run("train", &config(0)?)?;
    assert_eq!(run.load::<Vec<u8>>("x")?, Some(value(0)));
    Ok(())
}

#[test]
fn a_deletion_a_dead_gc_left_blocks_saves_with_a_typed_error_until_a_gc_finishes_it() -> Result<()>
{
    let db_name = unique_db("gc_stuck");
    let store = store_in(&db_name, options().with_timeout(Duration::from_secs(1)))?;
    let (run_a, run_b) = (
        store.run("train", &config(0)?)?,
        store.run("train", &config(1)?)?,
    );
    run_a.save("x", "bytes", &value(0))?;
    run_a.save("x", "bytes", &value(1))?;
    // A gc that died after marking value(0) deleting and removing one of its chunks.
    let db = raw_db(&uri(), &db_name)?;
    let hash = ContentHash::of(&value(0)).to_hex();
    let long_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000);
    db.collection::<Document>(FILES)
        .update_one(
            doc! { "_id": &hash },
            doc! { "$set": { "deleting": long_ago } },
        )
        .run()
        .map_err(raw_err("mark"))?;
    db.collection::<Document>(CHUNKS)
        .delete_many(doc! { "files_id": &hash })
        .run()
        .map_err(raw_err("delete chunks"))?;
    let started = Instant::now();
    let err = run_b.save("x", "bytes", &value(0)).err();
    assert!(
        matches!(err, Some(Error::MongoGcStuck { .. })),
        "a save waiting for a stuck deletion fails typed: {err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let report = store.gc(false, Duration::from_secs(3600))?;
    assert_eq!(report.contents, 1, "the abandoned deletion is finished");
    run_b.save("x", "bytes", &value(0))?;
    assert_eq!(run_b.load::<Vec<u8>>("x")?, Some(value(0)));
    assert!(store.verify(&mut |_| {})?.problems.is_empty());
    Ok(())
}

/// A child of [`gcs_racing_a_saver_in_other_processes_never_break_a_save`]: the saver
/// cycles `CONTENTS` contents through `RUNS` runs and loads each value back at once; the
/// collector runs `gc --apply` with no grace until the done file appears. Each prints one
/// line of counts.
#[test]
fn child_gc_race() -> Result<()> {
    let (Ok(db_name), Ok(role)) = (std::env::var(DB_ENV), std::env::var(ROLE_ENV)) else {
        return Ok(());
    };
    let store = store_in(&db_name, options())?;
    let db = raw_db(&uri(), &db_name)?;
    if role == "collector" {
        let done = std::env::var(DONE_ENV).unwrap_or_default();
        let (mut rounds, mut freed) = (0, 0);
        let started = Instant::now();
        while !Path::new(&done).exists() && started.elapsed() < Duration::from_secs(120) {
            freed += store.gc(false, Duration::ZERO)?.contents;
            rounds += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        println!("collector rounds={rounds} freed={freed}");
        return Ok(());
    }
    let mut resaved_absent = 0;
    for i in 0..SAVES {
        let (r, k) = (i % RUNS, i % CONTENTS);
        let hash = ContentHash::of(&value(k)).to_hex();
        let live = doc! { "_id": &hash, "deleting": { "$exists": false } };
        if count(&db, FILES, live)? == 0 {
            resaved_absent += 1;
        }
        let run = store.run("train", &config(r)?)?;
        run.save("x", "bytes", &value(k))?;
        let loaded = run.load::<Vec<u8>>("x")?;
        assert!(loaded == Some(value(k)), "save {i}: run {r} lost value {k}");
    }
    println!("saver resaved_absent={resaved_absent}");
    Ok(())
}

#[test]
fn gcs_racing_a_saver_in_other_processes_never_break_a_save() -> Result<()> {
    let db_name = unique_db("gc_race");
    let dir = tempfile::tempdir().map_err(|source| Error::Stream {
        op: "make a temp dir",
        source,
    })?;
    let done = dir.path().join("done");
    // The store exists (indexes made) before either child connects.
    store_in(&db_name, options())?;
    let exe = std::env::current_exe().map_err(|source| Error::Stream {
        op: "find the test binary",
        source,
    })?;
    let spawn = |role: &str| {
        Command::new(&exe)
            .args([
                "--exact",
                &child_test(module_path!(), "child_gc_race"),
                "--test-threads=1",
                "--nocapture",
            ])
            .env(DB_ENV, &db_name)
            .env(ROLE_ENV, role)
            .env(DONE_ENV, &done)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Stream {
                op: "start a child process",
                source,
            })
    };
    // Two collectors, so gcs race each other too (one deletes any content at a time).
    let collectors = [spawn("collector")?, spawn("collector")?];
    let saver = spawn("saver")?;
    let wait = |child: std::process::Child, what: &str| -> Result<String> {
        let out = child.wait_with_output().map_err(|source| Error::Stream {
            op: "wait for a child process",
            source,
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{what} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(stdout)
    };
    let saver_out = wait(saver, "the saver");
    std::fs::write(&done, b"").map_err(|source| Error::Stream {
        op: "write the done file",
        source,
    })?;
    let mut collector_out = String::new();
    for collector in collectors {
        collector_out += &wait(collector, "a collector")?;
    }
    let saver_out = saver_out?;
    let number = |text: &str, key: &str| -> u64 {
        text.split_whitespace()
            .find_map(|word| word.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    // Controls: the gc really deleted content during the race, and the saver really saved
    // content that was gone (or going) at that moment.
    let freed: u64 = collector_out
        .lines()
        .map(|line| number(line, "freed="))
        .sum();
    let resaved = number(&saver_out, "resaved_absent=");
    assert!(freed > 0, "the collectors freed nothing: {collector_out}");
    assert!(
        resaved > 0,
        "the saver never re-saved collected content: {saver_out}"
    );

    let store = store_in(&db_name, options())?;
    let report = store.verify(&mut |_| {})?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    for r in 0..RUNS {
        let last = (0..SAVES).rev().find(|i| i % RUNS == r).unwrap_or(r);
        let run = store.run("train", &config(r)?)?;
        assert_eq!(run.load::<Vec<u8>>("x")?, Some(value(last % CONTENTS)));
    }
    Ok(())
}
