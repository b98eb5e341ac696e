//! RedbStore-specific behaviour: opening, reopening, locking, bad store directories, dedup,
//! gc, streaming, promises across reopen, many threads, and WAL recovery after a crash.
//! (The shared contract is in the conformance suite.)

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::shared::child_test;
use serde_json::json;
use sweepstore::{Error, RedbOptions, RedbStore, Result, ResultsStore, StoreExt, UniqueConfig};

use crate::shared::{files_under, io};

use crate::shared::tempdir;

fn config(seed: u64) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "lr": 0.01, "seed": seed }))?)
}

fn open(dir: &Path) -> Result<RedbStore> {
    RedbStore::open(dir, RedbOptions::default())
}

#[test]
fn reopen_after_close_keeps_everything() -> Result<()> {
    let dir = tempdir()?;
    let store = open(dir.path())?;
    for seed in 0..20 {
        let run = store.run("train", &config(seed)?)?;
        run.save("metrics", "json", &json!({ "acc": seed }))?;
        run.finish()?;
    }
    store.close()?;
    let store = open(dir.path())?;
    for seed in 0..20 {
        let run = store.run("train", &config(seed)?)?;
        assert_eq!(
            run.load::<serde_json::Value>("metrics")?,
            Some(json!({ "acc": seed }))
        );
        assert!(run.is_finished()?);
    }
    Ok(())
}

#[test]
fn reopen_after_dropping_the_handle_without_close_keeps_everything() -> Result<()> {
    let dir = tempdir()?;
    {
        let store = open(dir.path())?;
        let clone = store.clone();
        clone
            .run("train", &config(1)?)?
            .save("m", "text", &"kept".to_owned())?;
    }
    let store = open(dir.path())?;
    assert_eq!(
        store.run("train", &config(1)?)?.load::<String>("m")?,
        Some("kept".to_owned())
    );
    Ok(())
}

#[test]
fn a_second_open_of_the_same_store_is_refused_clearly() -> Result<()> {
    let dir = tempdir()?;
    let _store = open(dir.path())?;
    let second = open(dir.path());
    assert!(
        matches!(second, Err(Error::AlreadyOpen { .. })),
        "{second:?}"
    );
    let message = second.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("already open"), "{message}");
    Ok(())
}

#[test]
fn a_file_or_a_foreign_directory_is_not_a_store() -> Result<()> {
    let dir = tempdir()?;
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").map_err(io("write", &file))?;
    // Every door says the same, before looking inside (`open` once said "failed to inspect
    // …/serve.sock: Not a directory").
    let doors = [
        ("RedbStore::open", open(&file).map(drop)),
        (
            "sweepstore::open",
            sweepstore::open(&file, sweepstore::OpenOptions::default()).map(drop),
        ),
        (
            "LocalFileStore::new",
            sweepstore::LocalFileStore::new(&file).map(drop),
        ),
    ];
    for (door, outcome) in doors {
        match outcome {
            Err(e @ Error::NotAStore { .. }) => {
                assert!(
                    e.to_string().ends_with("is a file, not a store directory"),
                    "{door}: {e}"
                );
            }
            other => panic!("{door}: {other:?}"),
        }
    }
    assert_eq!(std::fs::read(&file).map_err(io("read", &file))?, b"x");
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).map_err(io("mkdir", &foreign))?;
    std::fs::write(foreign.join("notes.txt"), b"x").map_err(io("write", &foreign))?;
    assert!(matches!(open(&foreign), Err(Error::NotAStore { .. })));
    assert!(
        foreign.join("notes.txt").exists(),
        "the foreign directory was changed"
    );
    Ok(())
}

#[test]
fn an_unknown_format_version_is_refused_and_nothing_is_lost() -> Result<()> {
    let dir = tempdir()?;
    let store = open(dir.path())?;
    store.run("t", &config(0)?)?.save("m", "json", &1)?;
    store.close()?;
    let db_path = dir.path().join("store.redb");
    let set_format = |version: u64| -> std::result::Result<(), redb::Error> {
        let db = redb::Database::create(&db_path)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(redb::TableDefinition::<&str, u64>::new("meta"))?;
            meta.insert("format", version)?;
        }
        txn.commit()?;
        Ok(())
    };
    set_format(99).map_err(|e| Error::Stream {
        op: "edit the format",
        source: std::io::Error::other(e),
    })?;
    let refused = open(dir.path());
    assert!(
        matches!(refused, Err(Error::UnsupportedFormat { found: 99, .. })),
        "{refused:?}"
    );
    set_format(1).map_err(|e| Error::Stream {
        op: "edit the format",
        source: std::io::Error::other(e),
    })?;
    let store = open(dir.path())?;
    assert_eq!(store.run("t", &config(0)?)?.load::<i32>("m")?, Some(1));
    Ok(())
}

#[test]
fn identical_values_are_stored_once() -> Result<()> {
    let dir = tempdir()?;
    let store = open(dir.path())?;
    let big = vec![7u8; 200 * 1024];
    let small = b"small value".to_vec();
    for seed in 0..3 {
        let run = store.run("t", &config(seed)?)?;
        run.save("weights", "bytes", &big)?;
        run.save("w2", "bytes", &big)?;
        run.save("note", "bytes", &small)?;
        run.save("note2", "bytes", &small)?;
    }
    let blob_files = files_under(&dir.path().join("blobs"))?;
    assert_eq!(blob_files.len(), 1, "{blob_files:?}");
    // Overwrite every name: exactly the two distinct contents become garbage.
    for seed in 0..3 {
        let run = store.run("t", &config(seed)?)?;
        for name in ["weights", "w2", "note", "note2"] {
            run.save(name, "bytes", &vec![seed as u8])?;
        }
    }
    let report = store.gc(true)?;
    assert_eq!(report.contents, 2, "{report:?}");
    assert_eq!(report.bytes, (big.len() + small.len()) as u64);
    Ok(())
}

#[test]
fn gc_frees_only_unreferenced_content_and_dry_run_changes_nothing() -> Result<()> {
    let dir = tempdir()?;
    let store = open(dir.path())?;
    let run = store.run("t", &config(0)?)?;
    let old = vec![1u8; 100 * 1024];
    let kept = vec![2u8; 100 * 1024];
    run.save("a", "bytes", &old)?;
    run.save("b", "bytes", &kept)?;
    run.save("c", "json", &json!({"small": true}))?;
    let old_promise = run.load_lazy("a")?.ok_or(Error::Closed)?;
    run.save("a", "bytes", &vec![3u8; 10])?;

    let dry = store.gc(true)?;
    assert!(dry.dry_run);
    assert_eq!((dry.contents, dry.bytes), (1, old.len() as u64));
    assert_eq!(
        old_promise.load::<Vec<u8>>()?,
        old,
        "a dry run freed content"
    );

    let real = store.gc(false)?;
    assert_eq!((real.contents, real.bytes), (1, old.len() as u64));
    assert!(matches!(
        old_promise.load::<Vec<u8>>(),
        Err(Error::ContentCollected { .. })
    ));
    assert_eq!(run.load::<Vec<u8>>("b")?, Some(kept));
    assert_eq!(
        run.load::<serde_json::Value>("c")?,
        Some(json!({"small": true}))
    );
    assert_eq!(run.load::<Vec<u8>>("a")?, Some(vec![3u8; 10]));
    assert_eq!(store.gc(true)?.contents, 0);
    Ok(())
}

#[test]
fn gc_removes_orphan_temp_files_of_a_crashed_session() -> Result<()> {
    let dir = tempdir()?;
    let store = open(dir.path())?;
    let orphan = dir.path().join("tmp").join("deadbeef-0.tmp");
    std::fs::write(&orphan, [0u8; 100]).map_err(io("write", &orphan))?;
    let report = store.gc(false)?;
    assert_eq!((report.temp_files, report.temp_bytes), (1, 100));
    assert!(!orphan.exists());
    Ok(())
}

#[test]
fn streaming_a_large_value_keeps_it_whole_and_an_unclosed_file_stores_nothing() -> Result<()> {
    let dir = tempdir()?;
    let store = open(dir.path())?;
    let run = store.run("t", &config(0)?)?;
    let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let mut file = run.open("weights", "wb", None)?;
    for _ in 0..8 {
        file.write_all(&chunk).map_err(|source| Error::Stream {
            op: "write",
            source,
        })?;
    }
    file.close()?;
    let mut reader = run.open("weights", "rb", None)?;
    let mut back = Vec::new();
    reader
        .read_to_end(&mut back)
        .map_err(|source| Error::Stream { op: "read", source })?;
    assert_eq!(back.len(), 8 << 20);
    assert!(back.chunks(1 << 20).all(|c| c == chunk.as_slice()));

    let mut aborted = run.open("other", "wb", None)?;
    aborted.write_all(&chunk).map_err(|source| Error::Stream {
        op: "write",
        source,
    })?;
    drop(aborted);
    assert!(run.load_lazy("other")?.is_none());
    assert!(
        files_under(&dir.path().join("tmp"))?.is_empty(),
        "temp file left behind"
    );
    Ok(())
}

#[test]
fn a_promise_resolves_after_the_store_is_closed_and_reopened() -> Result<()> {
    let dir = tempdir()?;
    let store = open(dir.path())?;
    let run = store.run("t", &config(0)?)?;
    run.save("m", "json", &json!([1, 2, 3]))?;
    let promise = run.load_lazy("m")?.ok_or(Error::Closed)?;
    drop(run);
    store.close()?;
    assert!(matches!(
        promise.load::<serde_json::Value>(),
        Err(Error::Closed)
    ));
    let _reopened = open(dir.path())?;
    assert_eq!(promise.load::<serde_json::Value>()?, json!([1, 2, 3]));
    Ok(())
}

#[test]
fn a_corrupted_blob_is_reported_not_returned() -> Result<()> {
    let dir = tempdir()?;
    let store = open(dir.path())?;
    let run = store.run("t", &config(0)?)?;
    run.save("w", "bytes", &vec![9u8; 100 * 1024])?;
    let blob = files_under(&dir.path().join("blobs"))?
        .pop()
        .ok_or(Error::Closed)?;
    let mut bytes = std::fs::read(&blob).map_err(io("read", &blob))?;
    bytes[500] ^= 1;
    std::fs::write(&blob, &bytes).map_err(io("write", &blob))?;
    let loaded = run.load::<Vec<u8>>("w");
    assert!(
        matches!(&loaded, Err(Error::HashMismatch { location, .. }) if location.contains("blob")),
        "{loaded:?}"
    );
    Ok(())
}

#[test]
fn sixty_four_threads_saving_a_thousand_values_each_lose_nothing() -> Result<()> {
    let dir = tempdir()?;
    let store = open(dir.path())?;
    let threads = 64;
    let per_thread = 1000;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let store = store.clone();
                scope.spawn(move || -> Result<()> {
                    let run = store.run("sweep", &config(t)?)?;
                    for i in 0..per_thread {
                        run.save(&format!("v{i}"), "bytes", &format!("{t}:{i}").into_bytes())?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| Error::Closed)?)
    })?;
    store.close()?;
    let store = open(dir.path())?;
    for t in 0..threads {
        let results = store
            .run("sweep", &config(t)?)?
            .get_results()?
            .ok_or(Error::Closed)?;
        assert_eq!(results.len(), per_thread as usize);
        for (name, promise) in results {
            let i = &name.as_str()[1..];
            assert_eq!(promise.load::<Vec<u8>>()?, format!("{t}:{i}").into_bytes());
        }
    }
    Ok(())
}

/// Loads share one read snapshot until the next commit (`engine::snapshot`). While three
/// threads keep loading through that snapshot, every acknowledged save is visible to the
/// writer's very next `load` and `load_lazy`.
#[test]
fn a_save_is_visible_to_the_next_load_while_other_threads_share_the_read_snapshot() -> Result<()> {
    const SAVES: u64 = 300;
    let dir = tempdir()?;
    let store = open(dir.path())?;
    let hot = store.run("sweep", &config(0)?)?;
    hot.save("metrics", "json", &0u64)?;
    let done = AtomicBool::new(false);
    let mut loads_by_others = 0;
    std::thread::scope(|scope| -> Result<()> {
        let loaders: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| -> Result<u64> {
                    let mut loads = 0;
                    while !done.load(Ordering::Relaxed) {
                        assert_eq!(hot.load::<u64>("metrics")?, Some(0));
                        loads += 1;
                    }
                    Ok(loads)
                })
            })
            .collect();
        // Stops the loaders however the writer ends (a failed assertion included).
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let written = (|| -> Result<()> {
            let _stop = StopOnDrop(&done);
            let run = store.run("sweep", &config(1)?)?;
            for k in 0..SAVES {
                run.save("step", "json", &k)?;
                assert_eq!(run.load::<u64>("step")?, Some(k), "load after save {k}");
                let promise = run.load_lazy("step")?.ok_or(Error::Closed)?;
                assert_eq!(promise.load::<u64>()?, k, "promise after save {k}");
            }
            Ok(())
        })();
        for loader in loaders {
            loads_by_others += loader.join().map_err(|_| Error::Closed)??;
        }
        written
    })?;
    // Control: the snapshot really was shared with loads running alongside the writer.
    assert!(
        loads_by_others >= SAVES,
        "only {loads_by_others} concurrent loads"
    );
    Ok(())
}

const CHILD_ENV: &str = "SWEEPSTORE_TEST_CHILD_STORE";

/// Runs in a child process: saves 50 values acknowledged by the store, then aborts without
/// closing, so nothing is checkpointed and recovery must replay the WAL.
#[test]
fn child_saves_then_aborts() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let store = RedbStore::open(
        PathBuf::from(dir),
        RedbOptions::default().checkpoint_wal_bytes(u64::MAX),
    )?;
    for seed in 0..50 {
        store
            .run("train", &config(seed)?)?
            .save("metrics", "json", &json!({ "seed": seed }))?;
    }
    std::process::abort();
}

fn crash_child(dir: &Path) -> Result<()> {
    let exe = std::env::current_exe().map_err(io("find test binary", dir))?;
    let status = Command::new(exe)
        .args([
            "--exact",
            &child_test(module_path!(), "child_saves_then_aborts"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .output()
        .map_err(io("run child", dir))?
        .status;
    assert!(!status.success(), "the child was meant to abort");
    Ok(())
}

fn wal_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for path in files_under(&dir.join("wal"))? {
        total += std::fs::metadata(&path).map_err(io("stat", &path))?.len();
    }
    Ok(total)
}

#[test]
fn acknowledged_saves_survive_an_abort_through_wal_replay() -> Result<()> {
    let dir = tempdir()?;
    crash_child(dir.path())?;
    // Control: the crash really left unapplied work in the WAL (more than a bare header).
    assert!(wal_bytes(dir.path())? > 32 * 50, "the WAL holds no records");
    let store = open(dir.path())?;
    for seed in 0..50 {
        assert_eq!(
            store
                .run("train", &config(seed)?)?
                .load::<serde_json::Value>("metrics")?,
            Some(json!({ "seed": seed }))
        );
    }
    Ok(())
}

#[test]
fn a_damaged_wal_record_followed_by_valid_ones_is_refused_and_nothing_is_changed() -> Result<()> {
    let dir = tempdir()?;
    crash_child(dir.path())?;
    let segment = files_under(&dir.path().join("wal"))?
        .pop()
        .ok_or(Error::Closed)?;
    let original = std::fs::read(&segment).map_err(io("read", &segment))?;
    let mut damaged = original.clone();
    damaged[original.len() / 2] ^= 0x40;
    std::fs::write(&segment, &damaged).map_err(io("write", &segment))?;
    let refused = open(dir.path());
    assert!(
        matches!(refused, Err(Error::WalCorrupt { .. })),
        "{refused:?}"
    );
    assert_eq!(
        std::fs::read(&segment).map_err(io("read", &segment))?,
        damaged,
        "recovery changed the damaged log"
    );
    std::fs::write(&segment, &original).map_err(io("write", &segment))?;
    let store = open(dir.path())?;
    assert_eq!(store.lazy_sweep_count("train")?, 50);
    Ok(())
}

trait SweepCount {
    fn lazy_sweep_count(&self, task: &str) -> Result<usize>;
}

impl<S: ResultsStore> SweepCount for S {
    fn lazy_sweep_count(&self, task: &str) -> Result<usize> {
        Ok(self.task(task)?.lazy_sweep("metrics")?.count())
    }
}

#[test]
fn a_missing_wal_segment_is_refused() -> Result<()> {
    let dir = tempdir()?;
    crash_child(dir.path())?;
    let segments = files_under(&dir.path().join("wal"))?;
    // Control: the crash left exactly the segment that holds the unapplied saves.
    assert_eq!(segments.len(), 1, "{segments:?}");
    for segment in &segments {
        std::fs::remove_file(segment).map_err(io("remove", segment))?;
    }
    let refused = open(dir.path());
    assert!(
        matches!(&refused, Err(Error::WalCorrupt { reason, .. }) if reason.contains("missing")),
        "{refused:?}"
    );
    Ok(())
}

#[test]
fn relaxed_durability_acknowledges_saves_that_survive_a_clean_close() -> Result<()> {
    let dir = tempdir()?;
    let options = RedbOptions::default().durability(sweepstore::Durability::Relaxed {
        sync_interval: std::time::Duration::from_millis(20),
    });
    let store = RedbStore::open(dir.path(), options.clone())?;
    for seed in 0..100 {
        store
            .run("t", &config(seed)?)?
            .save("metrics", "json", &seed)?;
    }
    // Past the sync interval the actor syncs on its own; reads see every save at once.
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(store.lazy_sweep_count("t")?, 100);
    store.close()?;
    let store = RedbStore::open(dir.path(), options)?;
    for seed in 0..100 {
        assert_eq!(
            store.run("t", &config(seed)?)?.load::<u64>("metrics")?,
            Some(seed)
        );
    }
    Ok(())
}

#[test]
fn checkpoints_by_wal_size_trim_the_log_and_lose_nothing() -> Result<()> {
    let dir = tempdir()?;
    let options = RedbOptions::default().checkpoint_wal_bytes(64 * 1024);
    let store = RedbStore::open(dir.path(), options)?;
    for seed in 0..300 {
        store
            .run("t", &config(seed)?)?
            .save("metrics", "bytes", &vec![seed as u8; 1024])?;
    }
    // 300 KiB of records went through a 64 KiB log: checkpoints must have trimmed it.
    let wal = wal_bytes(dir.path())?;
    assert!(
        wal < 2 * 64 * 1024 + 4096,
        "the WAL was not trimmed: {wal} bytes"
    );
    drop(store);
    let store = open(dir.path())?;
    for seed in 0..300 {
        assert_eq!(
            store.run("t", &config(seed)?)?.load::<Vec<u8>>("metrics")?,
            Some(vec![seed as u8; 1024])
        );
    }
    Ok(())
}

const OPEN_CHILD_ENV: &str = "SWEEPSTORE_TEST_OPEN_STORE";

/// Runs in a child process: tries to open the store and reports through its exit code
/// (3: already open, 0: opened, 4: another error).
#[test]
fn child_tries_to_open() {
    let Some(dir) = std::env::var_os(OPEN_CHILD_ENV) else {
        return;
    };
    let code = match RedbStore::open(PathBuf::from(dir), RedbOptions::default()) {
        Err(Error::AlreadyOpen { .. }) => 3,
        Ok(_) => 0,
        Err(_) => 4,
    };
    std::process::exit(code);
}

#[test]
fn a_second_process_gets_already_open_and_can_open_after_close() -> Result<()> {
    let dir = tempdir()?;
    let try_open = || -> Result<Option<i32>> {
        let exe = std::env::current_exe().map_err(io("find test binary", dir.path()))?;
        let output = Command::new(exe)
            .args([
                "--exact",
                &child_test(module_path!(), "child_tries_to_open"),
                "--test-threads=1",
            ])
            .env(OPEN_CHILD_ENV, dir.path())
            .output()
            .map_err(io("run child", dir.path()))?;
        Ok(output.status.code())
    };
    let store = open(dir.path())?;
    store.run("t", &config(0)?)?.save("m", "json", &0)?;
    assert_eq!(try_open()?, Some(3), "the second process was not refused");
    store.close()?;
    // Control: the same child opens the store once the first process has let go.
    assert_eq!(try_open()?, Some(0));
    Ok(())
}
