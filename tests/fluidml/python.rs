//! Trees checked with the real fluidml 0.3.4 (Python, from env `SWEEPSTORE_TEST_PYTHON`,
//! which `tests/run.sh` sets to its virtualenv; the scripts are the `.py` files beside this
//! one). Without the variable these tests skip with a message, except under `CI=true`,
//! where they fail.
//!
//! - fluidml writes a tree (json, text, a plain-data pickle, a custom `csv` type, a sub_dir,
//!   a `Flow` grid with its run name, states and result lists) → import into a RedbStore →
//!   export → fluidml loads every value equal to what it saved and sees the same run
//!   directory names, states (absent stays absent) and sub_dirs; a file no load information
//!   describes is named, not copied; a LocalFileStore-to-LocalFileStore copy keeps all this
//!   too;
//! - fluidml writes a sweep whose diverged run's metrics hold `NaN` (not JSON) → a strict
//!   copy plan is the error, a lenient one names that run and copies every other;
//! - sweepstore's LocalFileStore writes → fluidml loads every value and sees the states;
//! - fluidml overwrites a value in a directory sweepstore wrote → sweepstore loads the new
//!   one; a hand edit is accepted the same way, while a flipped byte that leaves the file's
//!   modification time alone is corruption.

use std::path::Path;
use std::process::Command;

use crate::shared::test_python;
use serde_json::{Value, json};
use sweepstore::{
    Browse, CopyPlan, Error, LocalFileStore, RedbOptions, RedbStore, ResultName, StoreExt,
    TaskName, copy_planned, copy_store,
};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Runs `script` (in `tests/fluidml/`) with `args`; its stdout, or an error with its output.
fn script(python: &Path, script: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Result<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fluidml");
    let mut command = Command::new(python);
    command.arg(dir.join(script)).current_dir(&dir);
    for arg in args {
        command.arg(arg);
    }
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{script} failed ({}):\n{stdout}\n{stderr}", output.status).into());
    }
    Ok(stdout)
}

use crate::shared::config;

#[test]
fn a_tree_fluidml_wrote_survives_import_and_export_and_fluidml_loads_every_value() -> Result {
    let Some(python) = test_python("fluidml") else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let (tree, manifest) = (dir.path().join("fluidml"), dir.path().join("manifest.json"));
    script(&python, "write_tree.py", &[&tree, &manifest])?;
    let source = LocalFileStore::new(&tree)?;

    // Read directly: the custom type is kept as opaque bytes (those of fluidml's file), and
    // says what it is when asked to decode; bookkeeping is not listed; absent state stays so.
    let grid = config(json!({"train": {"lr": 0.1, "seed": 1}}))?;
    let run = source.run("train", &grid)?;
    let on_disk = std::fs::read(tree.join("train/brave-owl-000/curve.csv"))?;
    let curve = run.load_lazy("curve")?.ok_or("no curve")?;
    assert_eq!(curve.type_name(), "csv");
    assert_eq!(curve.bytes()?, on_disk);
    let refused = curve
        .load::<Value>()
        .err()
        .ok_or("an opaque value decoded")?;
    assert!(refused.to_string().contains("opaque"), "{refused}");
    let names: Vec<String> = run
        .get_results()?
        .ok_or("no run")?
        .keys()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["curve", "histo", "log", "metrics", "state"]);
    let evaluate = source.runs(&TaskName::new("evaluate")?)?;
    assert_eq!(evaluate.len(), 1);
    assert_eq!(evaluate[0].state, None, "fluidml never gave it a state");

    // Import into a RedbStore (reopened, so what it kept came back from its WAL or tables)
    // and export again: fluidml loads every value and sees the same run directories, states
    // and sub_dirs (load_tree.py checks the manifest's `runs` and `sub_dir`s).
    let store_dir = dir.path().join("store");
    let store = RedbStore::open(&store_dir, RedbOptions::default())?;
    let plan = CopyPlan::new(&source, true)?;
    let unlisted: Vec<_> = plan.unlisted_files().map(Path::to_path_buf).collect();
    assert_eq!(
        unlisted,
        [tree.join("train/brave-owl-000/notes/readme.txt")]
    );
    let imported = copy_planned(&source, &store, &plan, &mut |_| {})?;
    assert_eq!((imported.runs, imported.results_copied), (3, 11));
    assert_eq!(imported.files_not_copied, 1);
    drop(store);
    let store = RedbStore::open(&store_dir, RedbOptions::default())?;
    let kept = store
        .find_exact_run(&TaskName::new("train")?, &grid)?
        .ok_or("no run")?;
    assert_eq!(
        kept.dir_name.as_ref().map(|n| n.as_str()),
        Some("brave-owl-000")
    );
    let histo = kept.result("histo").ok_or("no histo")?;
    assert_eq!(
        histo.sub_dir.as_ref().map(|d| d.as_str()),
        Some("plots/raw")
    );
    let evaluate = store.runs(&TaskName::new("evaluate")?)?;
    assert_eq!(
        evaluate[0].state, None,
        "absent stays absent in a RedbStore"
    );
    let exported = dir.path().join("exported");
    copy_store(&store, &LocalFileStore::new(&exported)?, &mut |_| {})?;
    let loaded = script(&python, "load_tree.py", &[&exported, &manifest])?;
    assert_eq!(loaded.trim(), "ok 11");
    let again = LocalFileStore::new(&exported)?.runs(&TaskName::new("evaluate")?)?;
    assert_eq!(again[0].state, None, "and in the exported tree");
    assert!(
        !exported
            .join("evaluate/brave-owl-000/fluidml_info.json")
            .exists()
    );
    // Control: the check sees a wrong directory name or state.
    let mut wrong: Value = serde_json::from_slice(&std::fs::read(&manifest)?)?;
    wrong["runs"][0]["dir"] = json!("000");
    wrong["runs"][2]["state"] = json!("running");
    let wrong_manifest = dir.path().join("wrong.json");
    std::fs::write(&wrong_manifest, serde_json::to_vec(&wrong)?)?;
    let refused = script(&python, "load_tree.py", &[&exported, &wrong_manifest])
        .err()
        .ok_or("a wrong manifest passed")?
        .to_string();
    assert!(
        refused.contains("directory brave-owl-000, expected 000"),
        "{refused}"
    );
    assert!(
        refused.contains("state None, expected 'running'"),
        "{refused}"
    );

    // A direct copy between directories keeps sub_dirs, names and absent states too.
    let copied = dir.path().join("copied");
    copy_store(&source, &LocalFileStore::new(&copied)?, &mut |_| {})?;
    assert!(
        copied
            .join("train/brave-owl-001/plots/raw/histo.json")
            .is_file()
    );
    let loaded = script(&python, "load_tree.py", &[&copied, &manifest])?;
    assert_eq!(loaded.trim(), "ok 11");
    Ok(())
}

#[test]
fn a_run_whose_metrics_python_wrote_with_nan_is_named_and_skipped_or_stops_a_strict_copy() -> Result
{
    let Some(python) = test_python("fluidml") else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let tree = dir.path().join("fluidml");
    let diverged = script(&python, "nan_tree.py", &[&tree])?;
    let diverged = diverged.trim();
    let run_dir = diverged.rsplit('/').next().ok_or("no run directory")?;
    let source = LocalFileStore::new(&tree)?;
    let names_it = |e: &Error| {
        let text = e.to_string();
        matches!(e, Error::ResultRefused { .. })
            && text.contains("result `metrics` of task `train`")
            && text.contains(r#"{"train":{"lr":0.4}}"#)
            && text.contains(&format!("run directory `{run_dir}`"))
            && text.contains("not JSON")
    };

    // Strict: planning (before any store is opened) is the error, naming the run.
    let refused = CopyPlan::new(&source, true)
        .err()
        .ok_or("a strict plan accepted a NaN")?;
    assert!(names_it(&refused), "{refused}");

    // Lenient: the run is set aside as damaged; every other run is copied whole.
    let plan = CopyPlan::new(&source, false)?;
    assert_eq!(plan.runs(), 2);
    assert!(
        matches!(plan.damaged(), [e] if names_it(e)),
        "{:?}",
        plan.damaged()
    );
    let store = RedbStore::open(dir.path().join("store"), RedbOptions::default())?;
    let imported = copy_planned(&source, &store, &plan, &mut |_| {})?;
    assert_eq!(
        (
            imported.runs,
            imported.runs_damaged,
            imported.results_copied
        ),
        (2, 1, 4)
    );
    let train = TaskName::new("train")?;
    for lr in [0.1, 0.2] {
        let kept = store
            .find_exact_run(&train, &config(json!({"train": {"lr": lr}}))?)?
            .ok_or("a healthy run was not copied")?;
        assert_eq!(kept.results.len(), 2);
        assert!(kept.state.is_some(), "its state was not copied");
    }
    let skipped = store.find_exact_run(&train, &config(json!({"train": {"lr": 0.4}}))?)?;
    assert!(
        skipped.is_none(),
        "the damaged run was written: {skipped:?}"
    );
    Ok(())
}

#[test]
fn a_tree_sweepstore_writes_loads_in_fluidml_with_its_states() -> Result {
    let Some(python) = test_python("fluidml") else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let tree = dir.path().join("tree");
    let store = LocalFileStore::new(&tree)?;
    store.set_run_name("train", Some("calm-fox"))?;
    let mut values = Vec::new();
    let mut finished = Vec::new();
    for lr in [0.1, 0.2, 0.3] {
        let cfg = json!({"lr": lr});
        let run = store.run("train", &config(cfg.clone())?)?;
        let metrics = json!({"acc": lr * 2.0});
        run.save("metrics", "json", &metrics)?;
        run.save("log", "text", &format!("lr {lr}\n"))?;
        run.save_with(
            "histo",
            "json",
            &json!([lr]),
            &sweepstore::SaveOptions::in_sub_dir(sweepstore::SubDir::new("plots/raw")?),
        )?;
        values.push(json!({"task": "train", "config": cfg, "name": "metrics", "value": metrics}));
        values.push(
            json!({"task": "train", "config": cfg, "name": "log", "value": format!("lr {lr}\n")}),
        );
        values.push(json!({"task": "train", "config": cfg, "name": "histo", "value": [lr]}));
        if lr < 0.3 {
            run.finish()?;
            finished.push(json!({"task": "train", "config": cfg}));
        }
    }
    assert!(
        tree.join("train/calm-fox-000/plots/raw/histo.json")
            .is_file()
    );
    let manifest = dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        serde_json::to_vec(&json!({"values": values, "finished": finished}))?,
    )?;
    let loaded = script(&python, "load_tree.py", &[&tree, &manifest])?;
    assert_eq!(loaded.trim(), "ok 9");
    // Control: the unfinished run is not finished for fluidml either.
    let unfinished = json!({"values": [], "finished": [{"task": "train", "config": {"lr": 0.3}}]});
    std::fs::write(&manifest, serde_json::to_vec(&unfinished)?)?;
    let refused = script(&python, "load_tree.py", &[&tree, &manifest]);
    assert!(refused.is_err_and(|e| e.to_string().contains("not finished for fluidml")));
    Ok(())
}

#[test]
fn a_value_fluidml_overwrites_in_a_sweepstore_directory_is_the_one_sweepstore_loads() -> Result {
    let Some(python) = test_python("fluidml") else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let tree = dir.path().join("tree");
    let store = LocalFileStore::new(&tree)?;
    let cfg = json!({"lr": 0.1});
    let run = store.run("train", &config(cfg.clone())?)?;
    run.save("metrics", "json", &json!({"acc": 1}))?;
    run.save("other", "json", &json!({"kept": true}))?;
    std::thread::sleep(std::time::Duration::from_millis(20));
    script(
        &python,
        "overwrite.py",
        &[
            &tree,
            &"train",
            &cfg.to_string(),
            &"metrics",
            &r#"{"acc": 2}"#,
        ],
    )?;
    assert_eq!(run.load::<Value>("metrics")?, Some(json!({"acc": 2})));
    assert_eq!(run.load::<Value>("other")?, Some(json!({"kept": true})));

    // sweepstore saves again: its write is now the newest.
    run.save("metrics", "json", &json!({"acc": 3}))?;
    assert_eq!(run.load::<Value>("metrics")?, Some(json!({"acc": 3})));

    // A hand edit of the file alone is accepted as well (newest write wins).
    let file = tree.join("train/000/metrics.json");
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, br#"{"acc": 4}"#)?;
    assert_eq!(run.load::<Value>("metrics")?, Some(json!({"acc": 4})));

    // Corruption: a flipped byte that leaves the modification time as it was.
    let other = tree.join("train/000/other.json");
    let mtime = std::fs::metadata(&other)?.modified()?;
    let mut bytes = std::fs::read(&other)?;
    bytes[3] ^= 0x20;
    std::fs::write(&other, &bytes)?;
    std::fs::File::options()
        .write(true)
        .open(&other)?
        .set_modified(mtime)?;
    assert!(matches!(
        run.load::<Value>("other"),
        Err(Error::HashMismatch { .. })
    ));
    Ok(())
}

#[test]
fn a_run_fluidml_adds_after_indexing_is_reused_by_a_save() -> Result {
    let Some(python) = test_python("fluidml") else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let tree = dir.path().join("tree");
    let store = LocalFileStore::new(&tree)?;
    store
        .run("train", &config(json!({"lr": 0.1}))?)?
        .save("m", "json", &1)?;
    let cfg = json!({"lr": 0.5});
    script(
        &python,
        "overwrite.py",
        &[&tree, &"train", &cfg.to_string(), &"metrics", &"{}"],
    )?;
    let run = store.run("train", &config(cfg)?)?;
    run.save("extra", "json", &2)?;
    let dirs: Vec<_> = std::fs::read_dir(tree.join("train"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert_eq!(dirs.len(), 2, "one directory per config: {dirs:?}");
    assert_eq!(run.load::<Value>("metrics")?, Some(json!({})));
    let name = ResultName::new("extra")?;
    assert!(run.get_results()?.ok_or("no run")?.contains_key(&name));
    Ok(())
}
