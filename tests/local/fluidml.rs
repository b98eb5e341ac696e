//! A base directory written by fluidml 0.3.4 itself (`tests/fixtures/fluidml-0.3.4/`, made by
//! `tests/fluidml/make_fixture.sh` with the real Python package) loads in a LocalFileStore:
//! configs, pickled load information, json/text/plain-data pickle results, sub_dirs, run
//! state, the subset rule, sweeps; and a store can keep writing into it.

#[path = "../fluidml/python.rs"]
mod python;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sweepstore::{
    Error, FilePromise, LocalFileStore, PICKLE, ResultName, RunId, RunState, StoreExt, TaskName,
    UniqueConfig,
};

type Result<T = ()> = sweepstore::Result<T>;

use crate::shared::io_err;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fluidml-0.3.4")
}

/// A private copy of the fixture (tests that write must not change the committed tree).
fn copy_of_fixture() -> Result<(tempfile::TempDir, LocalFileStore)> {
    let dir = crate::shared::tempdir()?;
    copy_tree(&fixture(), dir.path())?;
    let store = LocalFileStore::new(dir.path())?;
    Ok((dir, store))
}

use crate::shared::copy_tree;

fn finished() -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({"lr": 0.01, "seed": 1}))?)
}

use crate::shared::config;

#[test]
fn json_and_text_results_written_by_fluidml_load() -> Result {
    let store = LocalFileStore::new(fixture())?;
    let run = store.run("train", &finished()?)?;
    assert_eq!(
        run.load::<Value>("metrics")?,
        Some(json!({"acc": 0.91, "loss": [0.5, 0.25]}))
    );
    assert_eq!(
        run.load::<String>("log")?.as_deref(),
        Some("epoch 1\nepoch 2\n")
    );
    assert_eq!(run.load::<Value>("summary")?, Some(json!({"best": 2})));
    let evaluate = store.run("evaluate", &config(json!({"split": "test"}))?)?;
    assert_eq!(evaluate.load::<String>("score")?.as_deref(), Some("0.93"));
    assert_eq!(run.load::<Value>("never saved")?, None);
    Ok(())
}

#[test]
fn plain_data_pickles_load_as_json_values() -> Result {
    let store = LocalFileStore::new(fixture())?;
    let run = store.run("train", &finished()?)?;
    let expected = json!({
        "weights": [1.5, -2.0], "name": "bert", "epochs": 3, "ok": true, "missing": null,
        "pair": [1, "two"], "7": "int key"
    });
    assert_eq!(run.load::<Value>("state")?, Some(expected));
    let promise = run.load_lazy("state")?.ok_or(Error::Closed)?;
    assert_eq!(promise.type_name(), PICKLE);
    Ok(())
}

#[derive(Debug, Deserialize, PartialEq)]
struct State {
    weights: Vec<f64>,
    name: String,
    epochs: u32,
}

#[test]
fn a_file_promise_loads_a_pickle_into_a_rust_type() -> Result {
    let store = LocalFileStore::new(fixture())?;
    let id = RunId::new(TaskName::new("train")?, finished()?);
    let promise: FilePromise = store
        .file_promise(&id, &ResultName::new("state")?)?
        .ok_or(Error::Closed)?;
    assert!(promise.path().ends_with("train/000/state.p"));
    assert_eq!(
        promise.load::<State>()?,
        State {
            weights: vec![1.5, -2.0],
            name: "bert".to_owned(),
            epochs: 3
        }
    );
    Ok(())
}

#[test]
fn a_pickle_of_a_custom_python_class_is_a_clear_decode_error() -> Result {
    let store = LocalFileStore::new(fixture())?;
    let run = store.run("train", &finished()?)?;
    match run.load::<Value>("checkpoint") {
        Err(error @ Error::Decode { .. }) => {
            let message = error.to_string();
            assert!(message.contains("cannot decode"), "{message}");
            assert!(message.contains("Python class"), "{message}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    // The rest of the run is unaffected.
    assert!(run.load::<Value>("metrics")?.is_some());
    Ok(())
}

#[test]
fn a_load_option_overrides_the_saved_ones_for_a_custom_class_pickle() -> Result {
    let store = LocalFileStore::new(fixture())?;
    let id = RunId::new(TaskName::new("train")?, finished()?);
    let promise = store
        .file_promise(&id, &ResultName::new("checkpoint")?)?
        .ok_or(Error::Closed)?;
    assert!(promise.load::<Value>().is_err());
    let mut lenient = Map::new();
    lenient.insert("replace_unresolved_globals".to_owned(), json!(true));
    // The class reference reads as null; whatever fluidml pickled next is plain data.
    assert!(promise.load_with::<Value>(&lenient).is_ok());
    Ok(())
}

#[test]
fn is_finished_reads_fluidmls_run_state() -> Result {
    let store = LocalFileStore::new(fixture())?;
    assert!(store.run("train", &finished()?)?.is_finished()?);
    let running = store.run("train", &config(json!({"lr": 0.1, "seed": 2}))?)?;
    assert!(!running.is_finished()?);
    assert_eq!(running.state()?, Some(RunState::Running));
    let no_info = store.run("train", &config(json!({"lr": 0.001}))?)?;
    assert_eq!(no_info.state()?, Some(RunState::Running));
    Ok(())
}

#[test]
fn the_subset_rule_and_sweeps_see_fluidmls_runs() -> Result {
    let store = LocalFileStore::new(fixture())?;
    let superset = store.run("train", &config(json!({"lr": 0.001, "seed": 9}))?)?;
    assert_eq!(
        superset.load::<Value>("metrics")?,
        Some(json!({"acc": 0.7}))
    );
    let sweep: Vec<_> = store
        .task("train")?
        .sweep::<Value>("metrics")?
        .collect::<Result<_>>()?;
    let accs: Vec<_> = sweep.iter().map(|s| s.value["acc"].clone()).collect();
    assert_eq!(
        accs,
        [json!(0.91), json!(0.5), json!(0.7)],
        "in counter order"
    );
    assert_eq!(sweep[1].config, config(json!({"lr": 0.1, "seed": 2}))?);
    Ok(())
}

#[test]
fn get_results_lists_every_result_fluidml_saved_but_not_its_bookkeeping() -> Result {
    let store = LocalFileStore::new(fixture())?;
    let results = store
        .run("train", &finished()?)?
        .get_results()?
        .ok_or(Error::Closed)?;
    let names: Vec<&str> = results.keys().map(ResultName::as_str).collect();
    assert_eq!(
        names,
        ["checkpoint", "log", "metrics", "state", "summary"],
        "fluidml_info (the state) and .saved_results (the list) are bookkeeping"
    );
    let run = store.run("train", &finished()?)?;
    assert_eq!(
        run.load::<Value>(".saved_results")?,
        Some(json!(["metrics", "log", "state"])),
        "still loadable by name, as fluidml loads them"
    );
    Ok(())
}

#[test]
fn saving_into_a_fluidml_run_reuses_its_directory() -> Result {
    let (dir, store) = copy_of_fixture()?;
    let run = store.run("train", &finished()?)?;
    assert_eq!(run.get_context()?.sweep_counter.as_deref(), Some("000"));
    run.save("extra", "json", &json!({"new": true}))?;
    assert!(dir.path().join("train/000/extra.json").is_file());
    run.save("metrics", "json", &json!({"acc": 1.0}))?;
    assert_eq!(run.load::<Value>("metrics")?, Some(json!({"acc": 1.0})));
    let pickle = std::fs::read(dir.path().join("train/000/.fluidml/.metrics_load_info.p"))
        .map_err(io_err("read pickle"))?;
    assert!(
        pickle.windows(10).any(|w| w == b"sweepstore"),
        "our marked pickle replaced fluidml's"
    );
    assert!(run.is_finished()?, "fluidml's state still counts");
    let new = store.run("train", &config(json!({"lr": 5}))?)?;
    assert_eq!(new.get_context()?.sweep_counter.as_deref(), Some("003"));
    let log = run.load::<String>("log")?;
    assert_eq!(log.as_deref(), Some("epoch 1\nepoch 2\n"));
    Ok(())
}

#[test]
fn damaged_fluidml_load_information_is_a_typed_error_for_that_result_only() -> Result {
    let (dir, store) = copy_of_fixture()?;
    let info = dir.path().join("train/000/.fluidml/.metrics_load_info.p");
    let bytes = std::fs::read(&info).map_err(io_err("read"))?;
    std::fs::write(&info, &bytes[..bytes.len() / 2]).map_err(io_err("truncate"))?;
    let run = store.run("train", &finished()?)?;
    assert!(matches!(
        run.load::<Value>("metrics"),
        Err(Error::CorruptFile { .. })
    ));
    std::fs::write(&info, b"garbage, not a pickle").map_err(io_err("overwrite"))?;
    assert!(matches!(
        run.load::<Value>("metrics"),
        Err(Error::CorruptFile { .. })
    ));
    assert_eq!(
        run.load::<String>("log")?.as_deref(),
        Some("epoch 1\nepoch 2\n")
    );
    Ok(())
}

#[test]
fn torn_copies_for_fluidml_never_break_what_sweepstore_recorded() -> Result {
    let dir = crate::shared::tempdir()?;
    let store = LocalFileStore::new(dir.path())?;
    let run = store.run("train", &finished()?)?;
    run.save("metrics", "json", &json!({"acc": 1}))?;
    run.finish()?;
    // What power loss may leave of the unsynced files written for fluidml: empty files,
    // newer than our records.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run_dir = dir.path().join("train/000");
    for torn in [".fluidml/.metrics_load_info.p", "fluidml_info.json"] {
        std::fs::write(run_dir.join(torn), b"").map_err(io_err("tear"))?;
    }
    assert_eq!(run.load::<Value>("metrics")?, Some(json!({"acc": 1})));
    assert!(run.is_finished()?);
    // Control: an intact fluidml_info.json that is newer does win (fluidml's later write).
    std::fs::write(run_dir.join("fluidml_info.json"), br#"{"state": "failed"}"#)
        .map_err(io_err("write"))?;
    assert!(!run.is_finished()?);
    Ok(())
}
