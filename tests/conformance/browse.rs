//! [`Browse`] on every browsable backend: the same fill, the same expected listings.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;
use sweepstore::{
    Browse, ContentHash, Error, InMemoryStore, LocalFileStore, RedbOptions, RedbStore, Result,
    ResultName, ResultsStore, RunId, RunState, SaveOptions, StoreExt, SubDir, TaskName,
};

use crate::shared::{config, tempdir};

/// Two tasks: `train` with three runs (one finished, one failed), `eval` with one.
fn fill(store: &dyn ResultsStore) -> Result<()> {
    let run = store.run("train", &config(json!({"lr": 0.1, "seed": 0}))?)?;
    run.save("metrics", "json", &json!({"loss": 0.5}))?;
    run.save_bytes("weights", "bytes", &[7u8; 100_000])?;
    run.finish()?;
    let run = store.run("train", &config(json!({"lr": 0.01, "seed": 0}))?)?;
    run.save("metrics", "json", &json!({"loss": 0.25}))?;
    run.set_state(RunState::Failed)?;
    let run = store.run("train", &config(json!({"lr": 0.01}))?)?;
    run.save("note", "text", &"subset run".to_owned())?;
    let run = store.run("eval", &config(json!({"split": "test"}))?)?;
    run.save("score", "json", &json!(0.9))?;
    Ok(())
}

fn check(store: &(impl ResultsStore + Browse)) -> Result<()> {
    let tasks = store.tasks()?;
    let names: Vec<_> = tasks.iter().map(|t| (t.name.as_str(), t.runs)).collect();
    assert_eq!(names, [("eval", 1), ("train", 3)]);

    let train = TaskName::new("train")?;
    let runs = store.runs(&train)?;
    assert_eq!(runs.len(), 3);
    assert!(
        runs.windows(2).all(|w| w[0].key < w[1].key),
        "sorted by key"
    );
    for run in &runs {
        assert_eq!(run.task, train);
        assert_eq!(run.key, sweepstore::RunKey::new(&train, &run.config));
        let names: Vec<_> = run.results.iter().map(|r| r.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "results sorted by name");
    }
    let finished_config = config(json!({"lr": 0.1, "seed": 0}))?;
    let finished = runs
        .iter()
        .find(|r| r.config == finished_config)
        .ok_or(Error::Closed)?;
    assert_eq!(finished.state, Some(RunState::Finished));
    let weights = finished.result("weights").ok_or(Error::Closed)?;
    assert_eq!(weights.type_name, "bytes");
    let metrics = finished.result("metrics").ok_or(Error::Closed)?;
    assert_eq!(metrics.type_name, "json");
    let id = RunId::new(train.clone(), finished.config.clone());
    let stored = store
        .load_bytes(&id, &ResultName::new("metrics")?)?
        .ok_or(Error::Closed)?
        .1;
    assert_eq!(metrics.size, stored.len() as u64);
    if let Some(hash) = metrics.hash {
        assert_eq!(hash, sweepstore::ContentHash::of(&stored));
    }

    // Times: every run has its creation time; only the finished run a finished time, not
    // before its creation.
    for run in &runs {
        let created = run.created.ok_or(Error::Closed)?;
        match run.finished {
            Some(done) => {
                assert_eq!(run.state, Some(RunState::Finished));
                assert!(created <= done, "created after finished");
            }
            None => assert_ne!(run.state, Some(RunState::Finished)),
        }
    }
    assert!(finished.finished.is_some());

    // The lookup rule: exact, then the most specific subset run.
    let exact = store
        .find_run(&train, &config(json!({"lr": 0.01, "seed": 0}))?)?
        .ok_or(Error::Closed)?;
    assert_eq!(exact.state, Some(RunState::Failed));
    let subset = store
        .find_run(&train, &config(json!({"lr": 0.01, "seed": 9}))?)?
        .ok_or(Error::Closed)?;
    assert_eq!(subset.config, config(json!({"lr": 0.01}))?);
    assert!(
        store
            .find_run(&train, &config(json!({"lr": 5}))?)?
            .is_none()
    );
    let nothing = TaskName::new("nothing")?;
    assert!(store.find_run(&nothing, &config(json!({}))?)?.is_none());
    assert!(store.runs(&nothing)?.is_empty());

    // Key prefixes: a full key finds one run, upper case too; the empty prefix finds all.
    let hex = exact.key.to_hex();
    let found = store.runs_by_key_prefix(&train, &hex[..8].to_ascii_uppercase())?;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].key, exact.key);
    assert_eq!(store.runs_by_key_prefix(&train, "")?.len(), 3);
    assert!(store.runs_by_key_prefix(&train, "not hex")?.is_empty());
    Ok(())
}

/// A run's times follow its state: created when first saved, finished when finished, no
/// finished time once set back to running (the creation time kept), a new one when finished
/// again.
fn check_times(store: &(impl ResultsStore + Browse)) -> Result<()> {
    // Recorded in whole milliseconds, truncated: allow for that.
    let before = SystemTime::now() - Duration::from_millis(1);
    let task = TaskName::new("timed")?;
    let config = config(json!({"n": 1}))?;
    let run = store.run("timed", &config)?;
    run.save("metrics", "json", &json!({"loss": 1}))?;
    let summary = |store: &dyn Browse| -> Result<sweepstore::RunSummary> {
        store.find_exact_run(&task, &config)?.ok_or(Error::Closed)
    };
    let created = summary(store)?.created.ok_or(Error::Closed)?;
    assert!(
        created >= before,
        "created {created:?} before the run was made"
    );
    assert_eq!(summary(store)?.finished, None);
    run.finish()?;
    let finished = summary(store)?.finished.ok_or(Error::Closed)?;
    assert!(created <= finished);
    run.set_state(RunState::Running)?;
    let back = summary(store)?;
    assert_eq!((back.created, back.finished), (Some(created), None));
    run.finish()?;
    let again = summary(store)?.finished.ok_or(Error::Closed)?;
    assert!(again >= finished);
    assert!(again <= SystemTime::now());
    Ok(())
}

#[test]
fn in_memory_store_lists_tasks_runs_and_results() -> Result<()> {
    let store = InMemoryStore::new();
    fill(&store)?;
    check(&store)?;
    check_times(&store)
}

#[test]
fn every_browsable_backend_records_run_times() -> Result<()> {
    check_times(&InMemoryStore::new())?;
    let dir = tempdir()?;
    check_times(&RedbStore::open(dir.path(), RedbOptions::default())?)?;
    let dir = tempdir()?;
    check_times(&LocalFileStore::new(dir.path())?)?;
    // A fresh handle reads the same times from the directory.
    let store = LocalFileStore::new(dir.path())?;
    let run = store.runs(&TaskName::new("timed")?)?;
    assert!(run[0].created.is_some() && run[0].finished.is_some());
    Ok(())
}

/// A LocalFileStore run made before times were recorded (no times file) reads with both
/// times unknown, and finishing it then records a finished time but no invented creation.
#[test]
fn a_local_run_without_a_times_file_has_unknown_times() -> Result<()> {
    let dir = tempdir()?;
    let store = LocalFileStore::new(dir.path())?;
    let config = config(json!({"old": true}))?;
    let run = store.run("old", &config)?;
    run.save("metrics", "json", &json!(1))?;
    let task = TaskName::new("old")?;
    let times_files: Vec<PathBuf> = files_under(dir.path())?
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| path.ends_with(".fluidml/sweepstore_times.json"))
        .collect();
    // Control: this build wrote exactly one, and the run reads as created.
    assert_eq!(times_files.len(), 1, "{times_files:?}");
    assert!(store.runs(&task)?[0].created.is_some());
    std::fs::remove_file(&times_files[0]).map_err(|source| Error::Stream {
        op: "remove the times file",
        source,
    })?;
    let fresh = LocalFileStore::new(dir.path())?;
    let old = &fresh.runs(&task)?[0];
    assert_eq!((old.created, old.finished), (None, None));
    assert_eq!(old.state, Some(RunState::Running));
    fresh.run("old", &config)?.finish()?;
    let finished = &fresh.runs(&task)?[0];
    assert_eq!(finished.created, None);
    assert!(finished.finished.is_some());
    Ok(())
}

#[test]
fn redb_store_lists_tasks_runs_and_results() -> Result<()> {
    let dir = tempdir()?;
    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    fill(&store)?;
    check(&store)?;
    let weights = store
        .runs(&TaskName::new("train")?)?
        .into_iter()
        .find_map(|r| r.result("weights").cloned())
        .ok_or(Error::Closed)?;
    assert_eq!(weights.size, 100_000);
    assert_eq!(
        weights.hash,
        Some(sweepstore::ContentHash::of(&[7u8; 100_000]))
    );
    // Browsing changed nothing: still four runs after reopening.
    store.close()?;
    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    check(&store)
}

#[test]
fn local_file_store_lists_tasks_runs_results_and_sub_dirs() -> Result<()> {
    let dir = tempdir()?;
    let store = LocalFileStore::new(dir.path())?;
    fill(&store)?;
    let id = RunId::new(TaskName::new("eval")?, config(json!({"split": "test"}))?);
    let options = SaveOptions::in_sub_dir(SubDir::new("plots/roc")?);
    store.save_bytes(&id, &ResultName::new("curve")?, "bytes", b"12", &options)?;
    check(&store)?;
    let eval = store.runs(&TaskName::new("eval")?)?;
    let curve = eval[0].result("curve").ok_or(Error::Closed)?;
    assert_eq!(
        curve.sub_dir.as_ref().map(SubDir::as_str),
        Some("plots/roc")
    );
    assert_eq!((curve.size, curve.hash), (2, Some(ContentHash::of(b"12"))));
    // A fresh handle (no cached scans) sees the same.
    check(&LocalFileStore::new(dir.path())?)
}

fn files_under(dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    let listing = std::fs::read_dir(dir).map_err(|source| Error::Stream {
        op: "list a directory",
        source,
    })?;
    for entry in listing {
        let path = entry
            .map_err(|source| Error::Stream {
                op: "list a directory",
                source,
            })?
            .path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            let len = std::fs::metadata(&path).map_or(0, |m| m.len());
            out.push((path, len));
        }
    }
    out.sort();
    Ok(out)
}

#[test]
fn a_directory_written_by_fluidml_lists_without_being_changed() -> Result<()> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fluidml-0.3.4");
    let before = files_under(&fixture)?;
    let store = LocalFileStore::new(&fixture)?;
    let tasks: Vec<_> = store
        .tasks()?
        .into_iter()
        .map(|t| (t.name.to_string(), t.runs))
        .collect();
    assert_eq!(tasks, [("evaluate".to_owned(), 1), ("train".to_owned(), 3)]);
    let train = TaskName::new("train")?;
    let runs = store.runs(&train)?;
    assert_eq!(runs.len(), 3);
    let first = store
        .find_run(&train, &config(json!({"lr": 0.01, "seed": 1}))?)?
        .ok_or(Error::Closed)?;
    assert_eq!(first.state, Some(RunState::Finished));
    let names: Vec<_> = first.results.iter().map(|r| r.name.as_str()).collect();
    for name in ["checkpoint", "log", "metrics", "state", "summary"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let summary = first.result("summary").ok_or(Error::Closed)?;
    assert_eq!(
        summary.sub_dir.as_ref().map(SubDir::as_str),
        Some("models/best")
    );
    assert_eq!(summary.type_name, "json");
    // fluidml records no hash; the size is the object file's.
    assert_eq!(summary.hash, None);
    let file = fixture.join("train/000/models/best/summary.json");
    let len = std::fs::metadata(&file).map_or(0, |m| m.len());
    assert_eq!(summary.size, len);
    assert!(len > 0);
    let checkpoint = first.result("checkpoint").ok_or(Error::Closed)?;
    assert_eq!(checkpoint.type_name, sweepstore::PICKLE);
    // A run directory without fluidml's info never had its state set.
    let subset = store
        .find_run(&train, &config(json!({"lr": 0.001, "seed": 5}))?)?
        .ok_or(Error::Closed)?;
    assert_eq!(subset.config, config(json!({"lr": 0.001}))?);
    assert_eq!(subset.state, None);
    assert_eq!(files_under(&fixture)?, before, "browsing wrote nothing");
    Ok(())
}
