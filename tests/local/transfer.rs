//! `copy_store`: export (RedbStore → LocalFileStore) and import (the reverse, fluidml's
//! directories included) keep configs, states, types and bytes; copying again copies
//! nothing; a corrupt source value fails with a typed error and stores nothing.

use crate::shared::damage;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::shared::child_test;
use crate::shared::io;
use damage::flip_byte;
use serde_json::json;
use sweepstore::{
    Browse, ContentHash, CopyPlan, Error, LocalFileStore, Progress, RedbOptions, RedbStore, Result,
    ResultName, ResultsStore, RunId, RunState, RunSummary, StoreExt, TaskName, TransferReport,
    copy_planned, copy_store,
};

use crate::shared::{config, tempdir};

/// 300 kB: a blob in a RedbStore, streamed in several buffers.
fn weights() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// A RedbStore with json, text (streamed through `open`), binary and bytes results, runs in
/// each state, a value shared by two runs, and a run without results.
fn fill(store: &RedbStore) -> Result<()> {
    for seed in 0..3u8 {
        let run = store.run("train", &config(json!({"lr": 0.1, "seed": seed}))?)?;
        run.save("metrics", "json", &json!({"loss": f64::from(seed) / 10.0}))?;
        run.save_bytes("weights", "bytes", &weights())?;
        let mut log = run.open("log", "w", Some("text"))?;
        log.write_all(format!("seed {seed}\nepoch 1\n").as_bytes())
            .map_err(|source| Error::Stream {
                op: "write the log",
                source,
            })?;
        log.close()?;
        match seed {
            0 => run.finish()?,
            1 => run.set_state(RunState::Failed)?,
            _ => {}
        }
    }
    let eval = store.run("eval", &config(json!({"split": "test"}))?)?;
    eval.save("scores", "binary", &vec![1u32, 2, 3])?;
    eval.finish()?;
    store
        .run("empty", &config(json!({}))?)?
        .set_state(RunState::Finished)
}

/// Everything a store holds, with each value's bytes (run times left out: a copy's runs are
/// created when they are copied; directory names too: an export names the directories, which
/// an import then records).
type Contents = Vec<(RunSummary, Vec<(String, Vec<u8>)>)>;

fn contents(store: &(impl ResultsStore + Browse)) -> Result<Contents> {
    let mut out = Vec::new();
    for task in store.tasks()? {
        for mut run in store.runs(&task.name)? {
            (run.created, run.finished, run.dir_name) = (None, None, None);
            let id = RunId::new(run.task.clone(), run.config.clone());
            let mut values = Vec::new();
            for result in &run.results {
                let (_, bytes) = store.load_bytes(&id, &result.name)?.ok_or(Error::Closed)?;
                values.push((result.name.to_string(), bytes));
            }
            out.push((run, values));
        }
    }
    Ok(out)
}

/// The parts of listings both backends must agree on (sub-directories and, for fluidml,
/// recorded hashes may differ).
fn comparable(contents: &Contents) -> Vec<String> {
    contents
        .iter()
        .map(|(run, values)| {
            let results: Vec<_> = run
                .results
                .iter()
                .map(|r| format!("{}:{}:{}", r.name, r.type_name, r.size))
                .collect();
            let hashes: Vec<_> = values
                .iter()
                .map(|(name, bytes)| format!("{name}={}", ContentHash::of(bytes)))
                .collect();
            format!(
                "{} {} {} {:?} {results:?} {hashes:?}",
                run.task, run.key, run.config, run.state
            )
        })
        .collect()
}

fn copy(
    from: &(impl ResultsStore + Browse),
    to: &(impl ResultsStore + Browse),
) -> Result<(TransferReport, Vec<Progress>)> {
    let mut seen = Vec::new();
    let report = copy_store(from, to, &mut |p| seen.push(p))?;
    Ok((report, seen))
}

#[test]
fn export_and_import_round_trip_and_copying_again_copies_nothing() -> Result<()> {
    let dir = tempdir()?;
    let source = RedbStore::open(dir.path().join("a"), RedbOptions::default())?;
    fill(&source)?;
    let original = contents(&source)?;
    let results: u64 = original.iter().map(|(r, _)| r.results.len() as u64).sum();
    assert_eq!(results, 10);

    let local = LocalFileStore::new(dir.path().join("exported"))?;
    let (report, progress) = copy(&source, &local)?;
    assert_eq!(
        (report.runs, report.results_copied, report.results_skipped),
        (5, 10, 0)
    );
    let logical: u64 = original
        .iter()
        .flat_map(|(r, _)| r.results.iter().map(|x| x.size))
        .sum();
    assert_eq!(report.bytes_copied, logical);
    assert_eq!(progress.len(), 10);
    assert_eq!(
        progress.last().map(|p| (p.done, p.total, p.bytes)),
        Some((10, 10, logical))
    );
    assert_eq!(comparable(&contents(&local)?), comparable(&original));
    // The local copy recorded each value's hash, so listings agree on them too.
    let local_runs = contents(&local)?;
    for ((a, _), (b, _)) in original.iter().zip(&local_runs) {
        assert_eq!(a.results, b.results);
    }

    // A second export, through a fresh handle, copies nothing.
    let local = LocalFileStore::new(dir.path().join("exported"))?;
    let (again, _) = copy(&source, &local)?;
    assert_eq!(
        (
            again.runs,
            again.results_copied,
            again.results_skipped,
            again.bytes_copied
        ),
        (5, 0, 10, 0)
    );

    let target = RedbStore::open(dir.path().join("b"), RedbOptions::default())?;
    let (report, _) = copy(&local, &target)?;
    assert_eq!((report.results_copied, report.results_skipped), (10, 0));
    assert_eq!(
        contents(&target)?,
        original,
        "redb → local → redb is lossless"
    );
    let (again, _) = copy(&local, &target)?;
    assert_eq!((again.results_copied, again.results_skipped), (0, 10));
    // Values load through their types after the round trip.
    let run = target.run("eval", &config(json!({"split": "test"}))?)?;
    assert_eq!(run.load::<Vec<u32>>("scores")?, Some(vec![1, 2, 3]));
    Ok(())
}

#[test]
fn copies_on_several_threads_are_the_same_copies_and_count_every_result() -> Result<()> {
    let dir = tempdir()?;
    let source = RedbStore::open(dir.path().join("a"), RedbOptions::default())?;
    fill(&source)?;
    let original = contents(&source)?;
    let local = LocalFileStore::new(dir.path().join("exported"))?;
    let mut plan = CopyPlan::new(&source, true)?;
    plan.threads(4);
    let mut ticks = Vec::new();
    let report = copy_planned(&source, &local, &plan, &mut |p| ticks.push(p.done))?;
    assert_eq!((report.runs, report.results_copied), (5, 10));
    assert_eq!(
        ticks,
        (1..=10).collect::<Vec<_>>(),
        "progress from the calling thread"
    );
    assert_eq!(comparable(&contents(&local)?), comparable(&original));
    let target = RedbStore::open(dir.path().join("b"), RedbOptions::default())?;
    let mut plan = CopyPlan::new(&local, true)?;
    plan.threads(8);
    let report = copy_planned(&local, &target, &plan, &mut |_| {})?;
    assert_eq!((report.runs, report.results_copied), (5, 10));
    assert_eq!(contents(&target)?, original);
    let again = copy_planned(&local, &target, &plan, &mut |_| {})?;
    assert_eq!((again.results_copied, again.results_skipped), (0, 10));
    Ok(())
}

#[test]
fn a_result_that_differs_in_the_destination_is_copied_over() -> Result<()> {
    let dir = tempdir()?;
    let source = RedbStore::open(dir.path().join("a"), RedbOptions::default())?;
    fill(&source)?;
    let local = LocalFileStore::new(dir.path().join("exported"))?;
    copy(&source, &local)?;
    let run = source.run("train", &config(json!({"lr": 0.1, "seed": 2}))?)?;
    run.save("metrics", "json", &json!({"loss": 0.0}))?;
    run.finish()?;
    let (report, _) = copy(&source, &local)?;
    assert_eq!((report.results_copied, report.results_skipped), (1, 9));
    let there = local.run("train", &config(json!({"lr": 0.1, "seed": 2}))?)?;
    assert_eq!(
        there.load::<serde_json::Value>("metrics")?,
        Some(json!({"loss": 0.0}))
    );
    assert_eq!(there.state()?, Some(RunState::Finished));
    Ok(())
}

/// The run directory names, states and sub_dirs of `store`'s runs, by task and config.
fn tree_details(store: &impl Browse) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for task in store.tasks()? {
        for run in store.runs(&task.name)? {
            let sub_dirs: Vec<_> = run
                .results
                .iter()
                .map(|r| format!("{}:{:?}", r.name, r.sub_dir.as_ref().map(|d| d.as_str())))
                .collect();
            let name = run.dir_name.as_ref().map(|n| n.as_str().to_owned());
            out.push(format!(
                "{} {} {name:?} {:?} {sub_dirs:?}",
                run.task, run.config, run.state
            ));
        }
    }
    out.sort();
    Ok(out)
}

#[test]
fn a_redb_store_keeps_sub_dirs_directory_names_and_absent_states_through_a_crash_and_copies()
-> Result<()> {
    use sweepstore::sim::{CrashMode, SimDisk};
    use sweepstore::{RunName, SaveOptions, SubDir};
    let disk = SimDisk::new();
    let store = RedbStore::open_simulated("/store", RedbOptions::default(), &disk)?;
    let task = TaskName::new("train")?;
    let id =
        |lr: f64| -> Result<RunId> { Ok(RunId::new(task.clone(), config(json!({"lr": lr}))?)) };
    let raw = SaveOptions::in_sub_dir(SubDir::new("plots/raw")?);
    // A state-less run named as in a fluidml tree, with a result in a sub_dir.
    store.set_tree_details(&id(0.1)?, Some(&RunName::new("brave-owl-000")?), true)?;
    store.save_bytes(&id(0.1)?, &ResultName::new("histo")?, "json", b"[1]", &raw)?;
    store.save_bytes(
        &id(0.1)?,
        &ResultName::new("m")?,
        "json",
        b"1",
        &SaveOptions::default(),
    )?;
    // A named run that then finishes: the state ends "state-less".
    store.set_tree_details(&id(0.2)?, Some(&RunName::new("brave-owl-001")?), true)?;
    store.set_run_state(&id(0.2)?, RunState::Finished)?;
    // A result saved in a sub_dir and then without one: the sub_dir goes.
    store.save_bytes(&id(0.2)?, &ResultName::new("n")?, "json", b"2", &raw)?;
    store.save_bytes(
        &id(0.2)?,
        &ResultName::new("n")?,
        "json",
        b"3",
        &SaveOptions::default(),
    )?;
    let expected = [
        r#"train {"lr":0.1} Some("brave-owl-000") None ["histo:Some(\"plots/raw\")", "m:None"]"#,
        r#"train {"lr":0.2} Some("brave-owl-001") Some(Finished) ["n:None"]"#,
    ];
    assert_eq!(tree_details(&store)?, expected);
    assert_eq!(
        store.run_state(&id(0.1)?)?,
        Some(RunState::Running),
        "the trait has no absent"
    );

    // Process crash now: the reopened store has only its WAL to go by.
    let image = disk.after_crash(CrashMode::Process, 0);
    let wal = image.list_files("/store/wal");
    let logged: usize = wal
        .iter()
        .filter_map(|f| image.read_file(f))
        .map(|b| b.len())
        .sum();
    assert!(
        logged > 32 * wal.len(),
        "control: the records are in the WAL, to be replayed"
    );
    drop(store);
    let store = RedbStore::open_simulated("/store", RedbOptions::default(), &image)?;
    assert_eq!(tree_details(&store)?, expected, "after replaying the WAL");

    // Exported: the directories are named as recorded, the state-less run has no state;
    // imported again into a real store: the same; exporting again copies nothing.
    let dir = tempdir()?;
    let local = LocalFileStore::new(dir.path().join("tree"))?;
    copy(&store, &local)?;
    assert!(
        dir.path()
            .join("tree/train/brave-owl-000/plots/raw/histo.json")
            .is_file()
    );
    assert!(
        !dir.path()
            .join("tree/train/brave-owl-000/fluidml_info.json")
            .exists()
    );
    assert_eq!(tree_details(&local)?, expected);
    let back = RedbStore::open(dir.path().join("back"), RedbOptions::default())?;
    copy(&local, &back)?;
    assert_eq!(tree_details(&back)?, expected);
    let (again, _) = copy(&store, &local)?;
    assert_eq!((again.results_copied, again.results_skipped), (0, 3));
    Ok(())
}

#[test]
fn files_that_are_no_result_are_named_by_the_plan_and_nothing_else_is() -> Result<()> {
    let dir = tempdir()?;
    let local = LocalFileStore::new(dir.path().join("tree"))?;
    let run = local.run("train", &config(json!({"lr": 0.1}))?)?;
    let plots = sweepstore::SaveOptions::in_sub_dir(sweepstore::SubDir::new("plots")?);
    run.save_with("histo", "json", &json!([1]), &plots)?;
    run.save("m", "json", &1)?;
    run.finish()?;
    let run_dir = dir.path().join("tree/train/000");
    let write = |path: &Path| std::fs::write(path, b"x").map_err(io("write", path));
    write(&run_dir.join("notes.txt"))?;
    write(&run_dir.join("plots/raw.csv"))?;
    // A temporary an interrupted write left: gc's business, not the user's.
    write(&run_dir.join(".sweepstore-1-0-0.tmp"))?;
    let plan = CopyPlan::new(&local, true)?;
    let named: Vec<_> = plan.unlisted_files().map(Path::to_path_buf).collect();
    assert_eq!(
        named,
        [run_dir.join("notes.txt"), run_dir.join("plots/raw.csv")]
    );
    let target = RedbStore::open(dir.path().join("store"), RedbOptions::default())?;
    let report = copy_planned(&local, &target, &plan, &mut |_| {})?;
    assert_eq!((report.results_copied, report.files_not_copied), (2, 2));
    Ok(())
}

#[test]
fn an_import_through_sweepstore_open_keeps_directory_names_and_absent_states() -> Result<()> {
    let dir = tempdir()?;
    let source = LocalFileStore::new(fixture())?;
    let store = sweepstore::open(dir.path().join("store"), sweepstore::OpenOptions::default())?;
    copy(&source, &store)?;
    assert_eq!(tree_details(&store)?, tree_details(&source)?);
    Ok(())
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fluidml-0.3.4")
}

#[test]
fn a_directory_written_by_fluidml_imports_into_a_redb_store() -> Result<()> {
    let dir = tempdir()?;
    let fluidml = LocalFileStore::new(fixture())?;
    let target = RedbStore::open(dir.path(), RedbOptions::default())?;
    let (report, _) = copy(&fluidml, &target)?;
    assert_eq!(report.runs, 4);
    assert_eq!(report.results_skipped, 0);
    let source = contents(&fluidml)?;
    let results: u64 = source.iter().map(|(r, _)| r.results.len() as u64).sum();
    assert_eq!(report.results_copied, results);
    let imported = contents(&target)?;
    assert_eq!(imported.len(), source.len());
    // Directory names, states and sub_dirs recorded as they are in the tree.
    assert_eq!(tree_details(&target)?, tree_details(&fluidml)?);
    for ((a, a_values), (b, b_values)) in source.iter().zip(&imported) {
        assert_eq!((&a.task, &a.config), (&b.task, &b.config));
        // fluidml's finished run stays finished; runs fluidml never gave a state have none.
        assert_eq!(b.state, a.state);
        assert_eq!(a_values, b_values, "bytes of run {}", a.config);
        let types = |r: &RunSummary| -> Vec<(String, String, u64)> {
            r.results
                .iter()
                .map(|x| (x.name.to_string(), x.type_name.clone(), x.size))
                .collect()
        };
        assert_eq!(types(a), types(b));
    }
    let run = target.run("train", &config(json!({"lr": 0.01, "seed": 1}))?)?;
    assert!(run.is_finished()?);
    assert_eq!(
        run.load::<serde_json::Value>("metrics")?,
        Some(json!({"acc": 0.91, "loss": [0.5, 0.25]}))
    );
    // The pickle type came along with the values, so they load in this process.
    let state = target
        .load_lazy(run.id(), &ResultName::new("state")?)?
        .ok_or(Error::Closed)?;
    assert_eq!(state.type_name(), sweepstore::PICKLE);
    assert!(state.load::<serde_json::Value>().is_ok());

    let (again, _) = copy(&fluidml, &target)?;
    assert_eq!((again.results_copied, again.results_skipped), (0, results));
    Ok(())
}

#[test]
fn a_corrupt_blob_fails_the_export_with_a_hash_mismatch_and_stores_nothing_of_it() -> Result<()> {
    let dir = tempdir()?;
    let source = RedbStore::open(dir.path().join("a"), RedbOptions::default())?;
    let run = source.run("train", &config(json!({"seed": 1}))?)?;
    run.save_bytes("weights", "bytes", &weights())?;
    run.finish()?;
    source.close()?;
    let hex = ContentHash::of(&weights()).to_hex();
    flip_byte(
        &dir.path().join("a/blobs").join(&hex[..2]).join(&hex),
        250_000,
        1,
    )?;
    let source = RedbStore::open(dir.path().join("a"), RedbOptions::default())?;
    let local = LocalFileStore::new(dir.path().join("exported"))?;
    match copy(&source, &local) {
        Err(Error::HashMismatch { expected, .. }) => assert_eq!(expected, hex),
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    let run = local.run("train", &config(json!({"seed": 1}))?)?;
    assert!(run.load_lazy("weights")?.is_none(), "no garbage stored");
    assert!(!run.is_finished()?, "the run is not marked finished");
    Ok(())
}

#[test]
fn a_corrupt_local_file_fails_the_import_with_a_hash_mismatch_and_stores_nothing_of_it()
-> Result<()> {
    let dir = tempdir()?;
    let local = LocalFileStore::new(dir.path().join("local"))?;
    let id = RunId::new(TaskName::new("train")?, config(json!({"seed": 1}))?);
    let name = ResultName::new("metrics")?;
    let options = sweepstore::SaveOptions::default();
    local.save_bytes(&id, &name, "json", br#"{"loss": 0.5}"#, &options)?;
    local.set_run_state(&id, RunState::Finished)?;
    let path = local
        .get_context(&id)?
        .run_dir
        .ok_or(Error::Closed)?
        .join("metrics.json");
    flip_byte(&path, 3, 1)?;
    let target = RedbStore::open(dir.path().join("redb"), RedbOptions::default())?;
    assert!(matches!(
        copy(&local, &target),
        Err(Error::HashMismatch { .. })
    ));
    assert!(target.load_lazy(&id, &name)?.is_none(), "no garbage stored");
    // A `json` result is read (its hash verified) while planning, so the copy stopped
    // before anything was written: the run was not even created. (The export test above
    // covers a corrupt value found while it is copied.)
    assert_eq!(target.run_state(&id)?, None);
    assert!(target.find_exact_run(id.task(), id.config())?.is_none());
    Ok(())
}

const CHILD_ENV: &str = "SWEEPSTORE_TEST_COPY_CHILD";
/// How many threads the child copies on (default 1).
const THREADS_ENV: &str = "SWEEPSTORE_TEST_COPY_THREADS";
/// Results the child copies before it aborts: two whole runs and part of a third.
const ABORT_AFTER: u64 = 8;

/// A LocalFileStore of six finished runs with three results each.
fn fill_six_runs(store: &LocalFileStore) -> Result<()> {
    for seed in 0..6u32 {
        let run = store.run("train", &config(json!({"seed": seed}))?)?;
        run.save("metrics", "json", &json!({"seed": seed}))?;
        run.save_bytes("weights", "bytes", &weights()[..100_000 + seed as usize])?;
        run.save("log", "text", &format!("run {seed}\n"))?;
        run.finish()?;
    }
    Ok(())
}

/// Runs in a child process: imports `<dir>/source` into `<dir>/target` and aborts (no
/// unwinding, no close) right after the `ABORT_AFTER`th result.
#[test]
fn child_imports_then_aborts() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return Ok(());
    };
    let source = LocalFileStore::new(dir.join("source"))?;
    let target = RedbStore::open(dir.join("target"), RedbOptions::default())?;
    let mut plan = CopyPlan::new(&source, true)?;
    let threads = std::env::var(THREADS_ENV).ok().and_then(|t| t.parse().ok());
    plan.threads(threads.unwrap_or(1));
    copy_planned(&source, &target, &plan, &mut |p| {
        if p.done == ABORT_AFTER {
            std::process::abort();
        }
    })?;
    Ok(())
}

#[test]
fn an_import_killed_midway_leaves_no_finished_run_incomplete_and_a_rerun_completes_it() -> Result<()>
{
    import_killed_midway(1)
}

#[test]
fn an_import_on_four_threads_killed_midway_leaves_no_finished_run_incomplete() -> Result<()> {
    import_killed_midway(4)
}

/// The child copies on `threads` threads and aborts after its `ABORT_AFTER`th result; with
/// one thread exactly that many results are there, with several at least that many (the
/// other threads go on until the abort) and not all.
fn import_killed_midway(threads: usize) -> Result<()> {
    let dir = tempdir()?;
    let source = LocalFileStore::new(dir.path().join("source"))?;
    fill_six_runs(&source)?;
    let exe = std::env::current_exe().map_err(io("find the test binary", dir.path()))?;
    let status = std::process::Command::new(exe)
        .args([
            "--exact",
            &child_test(module_path!(), "child_imports_then_aborts"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .env(THREADS_ENV, threads.to_string())
        .output()
        .map_err(io("run the child", dir.path()))?
        .status;
    assert!(!status.success(), "the child was meant to abort");

    let target = RedbStore::open(dir.path().join("target"), RedbOptions::default())?;
    let expected = contents(&source)?;
    let mut present = 0;
    for (run, values) in &expected {
        let id = RunId::new(run.task.clone(), run.config.clone());
        let mut here = 0;
        for (name, bytes) in values {
            if let Some((_, stored)) = target.load_bytes(&id, &ResultName::new(name)?)? {
                assert_eq!(&stored, bytes, "a copied value is whole");
                here += 1;
            }
        }
        if target.is_finished(&id)? {
            assert_eq!(
                here,
                values.len(),
                "run {} finished but incomplete",
                run.config
            );
        }
        present += here;
    }
    // Control: the abort really came midway, with a run begun but not finished.
    let finished = expected
        .iter()
        .filter(|(run, _)| {
            let id = RunId::new(run.task.clone(), run.config.clone());
            target.is_finished(&id).unwrap_or(false)
        })
        .count();
    if threads == 1 {
        assert_eq!(present, ABORT_AFTER as usize);
        assert_eq!(finished, 2);
    } else {
        assert!(
            (ABORT_AFTER as usize..18).contains(&present),
            "{present} copied"
        );
        assert!(finished < 6);
    }

    let (report, _) = copy(&source, &target)?;
    let present = present as u64;
    assert_eq!(
        (report.results_copied, report.results_skipped),
        (18 - present, present)
    );
    assert_eq!(comparable(&contents(&target)?), comparable(&expected));
    Ok(())
}

#[test]
fn an_interrupted_bulk_export_is_detected_and_the_next_one_repairs_what_it_left() -> Result<()> {
    let dir = tempdir()?;
    let store = RedbStore::open(dir.path().join("redb"), RedbOptions::default())?;
    fill(&store)?;
    let target = dir.path().join("exported");
    let local = LocalFileStore::new(&target)?;
    {
        let bulk = local.begin_bulk()?;
        assert!(!bulk.interrupted_before());
        copy(&store, &local)?;
        // Dropped unfinished: as if the process died before the final sync.
    }
    // What a power loss could leave of an unsynced write: a file shorter than its record
    // says, with the modification time of the write.
    let run_dir = local
        .get_context(&RunId::new(
            TaskName::new("train")?,
            config(json!({"lr": 0.1, "seed": 1}))?,
        ))?
        .run_dir
        .ok_or(Error::Closed)?;
    let torn = run_dir.join("weights.bytes");
    let modified = std::fs::metadata(&torn)
        .and_then(|m| m.modified())
        .map_err(io("inspect", &torn))?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&torn)
        .map_err(io("open", &torn))?;
    file.set_len(1000)
        .and_then(|()| file.set_modified(modified))
        .map_err(io("tear", &torn))?;
    drop(file);

    let bulk = local.begin_bulk()?;
    assert!(
        bulk.interrupted_before(),
        "the marker of the interrupted export is there"
    );
    let mut plan = sweepstore::CopyPlan::new(&store, true)?;
    // Control: trusting the recorded hashes would skip the torn value.
    let trusting = copy_store(&store, &local, &mut |_| {})?;
    assert_eq!(trusting.results_copied, 0);
    plan.verify_destination(true);
    let report = sweepstore::copy_planned(&store, &local, &plan, &mut |_| {})?;
    assert_eq!(
        report.results_copied, 1,
        "exactly the torn value is copied again"
    );
    bulk.finish()?;
    assert!(!target.join(".sweepstore-bulk").exists());
    let id = RunId::new(
        TaskName::new("train")?,
        config(json!({"lr": 0.1, "seed": 1}))?,
    );
    let weights_name = ResultName::new("weights")?;
    let promise = local.load_lazy(&id, &weights_name)?.ok_or(Error::Closed)?;
    assert_eq!(promise.bytes()?, weights());
    Ok(())
}
