//! LocalFileStore beyond the conformance suite: its directory layout, path types, file
//! promises with load options, the index, run names, and bad input that must not escape the
//! base directory or affect anything else.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sweepstore::{
    Error, InMemoryStore, LocalFileStore, NameKind, ResultName, ResultsStore, RunId, SaveOptions,
    StoreExt, SubDir, TaskName, TypeInfo, UniqueConfig,
};

type Result<T = ()> = sweepstore::Result<T>;

use crate::shared::io_err;

fn store() -> Result<(tempfile::TempDir, LocalFileStore)> {
    let dir = tempfile::tempdir().map_err(io_err("create a temporary directory"))?;
    let store = LocalFileStore::new(dir.path())?;
    Ok((dir, store))
}

use crate::shared::config;

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(io_err("read"))
}

#[test]
fn results_are_browsable_files_in_fluidmls_layout() -> Result {
    let (dir, store) = store()?;
    let run = store.run("train", &config(json!({"seed": 3, "lr": 0.01}))?)?;
    run.save("metrics", "json", &json!({"acc": 0.9}))?;
    let options = SaveOptions::in_sub_dir(SubDir::new("logs/epoch1")?);
    run.save_with("log", "text", &"done".to_owned(), &options)?;
    let run_dir = dir.path().join("train/000");
    assert_eq!(
        read(&run_dir.join("config.json"))?,
        "{\n    \"lr\": 0.01,\n    \"seed\": 3\n}"
    );
    assert_eq!(read(&run_dir.join("metrics.json"))?, r#"{"acc":0.9}"#);
    assert_eq!(read(&run_dir.join("logs/epoch1/log.txt"))?, "done");
    let info: Value = serde_json::from_str(&read(&run_dir.join(".fluidml/.log_load_info.json"))?)
        .map_err(|e| Error::Stream {
        op: "parse load info",
        source: e.into(),
    })?;
    assert_eq!(info["type"], "text");
    assert_eq!(info["obj_dir"], "logs/epoch1");
    assert_eq!(info["file"], "log.txt");
    assert_eq!(info["size"], 4);
    let context = run.get_context()?;
    assert_eq!(context.run_dir, Some(run_dir));
    assert_eq!(context.sweep_counter.as_deref(), Some("000"));
    Ok(())
}

#[test]
fn run_names_prefix_new_run_directories() -> Result {
    let (dir, store) = store()?;
    store
        .run("train", &config(json!({"a": 0}))?)?
        .get_context()?;
    store.set_run_name("train", Some("bert"))?;
    let context = store
        .run("train", &config(json!({"a": 1}))?)?
        .get_context()?;
    assert_eq!(context.sweep_counter.as_deref(), Some("001"));
    assert!(dir.path().join("train/bert-001/config.json").is_file());
    assert!(matches!(
        store.set_run_name("train", Some("a/b")),
        Err(Error::InvalidName {
            kind: NameKind::Run,
            ..
        })
    ));
    Ok(())
}

/// A path type: a list of lines kept as one file per line in a directory.
fn lines_type() -> TypeInfo {
    TypeInfo::custom_path::<Vec<String>>(
        "lines",
        "",
        false,
        |lines, path| {
            std::fs::create_dir(path)?;
            for (i, line) in lines.iter().enumerate() {
                std::fs::write(path.join(format!("{i:03}.txt")), line)?;
            }
            Ok(())
        },
        |path| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
                .map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<_>>()?;
            files.sort();
            files.iter().map(std::fs::read_to_string).collect()
        },
    )
}

#[test]
fn a_path_type_saves_a_directory_and_an_overwrite_replaces_it_whole() -> Result {
    let (dir, store) = store()?;
    store.types().register(lines_type())?;
    let run = store.run("train", &UniqueConfig::empty())?;
    let first = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
    run.save_custom("shards", "lines", &first)?;
    assert_eq!(run.load_custom::<Vec<String>>("shards")?, Some(first));
    assert!(dir.path().join("train/000/shards/002.txt").is_file());
    let second = vec!["z".to_owned()];
    run.save("shards", "lines", &second)?;
    assert_eq!(run.load::<Vec<String>>("shards")?, Some(second));
    assert!(
        !dir.path().join("train/000/shards/002.txt").exists(),
        "whole"
    );
    assert!(matches!(
        run.load_lazy("shards"),
        Err(Error::NeedsPath { .. })
    ));
    assert_eq!(run.get_results()?.map(|r| r.len()), Some(0));
    assert!(run.delete("shards")?);
    assert!(!dir.path().join("train/000/shards").exists());
    Ok(())
}

#[test]
fn a_failing_path_save_changes_nothing() -> Result {
    let (dir, store) = store()?;
    let failing = TypeInfo::custom_path::<u8>(
        "failing",
        "",
        true,
        |_, _| Err(std::io::Error::other("disk full")),
        |_| Ok(0),
    );
    store.types().register(failing)?;
    let run = store.run("train", &UniqueConfig::empty())?;
    assert!(matches!(
        run.save_custom("x", "failing", &1u8),
        Err(Error::Encode { .. })
    ));
    assert_eq!(run.state()?, None, "no run was created");
    assert!(!dir.path().join("train/000").exists());
    Ok(())
}

#[test]
fn stores_without_paths_still_refuse_path_types() -> Result {
    let store = InMemoryStore::new();
    store.types().register(lines_type())?;
    let run = store.run("train", &UniqueConfig::empty())?;
    let saved = run.save_custom("shards", "lines", &vec!["a".to_owned()]);
    assert!(matches!(saved, Err(Error::NeedsPath { .. })));
    Ok(())
}

#[test]
fn load_options_saved_with_a_result_reach_its_file_promise() -> Result {
    let (_dir, store) = store()?;
    let mut load = Map::new();
    load.insert("encoding".to_owned(), json!("latin1"));
    let mut open = Map::new();
    open.insert("newline".to_owned(), json!(""));
    let options = SaveOptions::default()
        .with_load_options(load.clone())
        .with_open_options(open.clone());
    let run = store.run("train", &UniqueConfig::empty())?;
    run.save_with("metrics", "json", &json!({"acc": 1}), &options)?;
    let id = RunId::new(TaskName::new("train")?, UniqueConfig::empty());
    let promise = store
        .file_promise(&id, &ResultName::new("metrics")?)?
        .ok_or(Error::Closed)?;
    assert_eq!(promise.load_options(), &load);
    assert_eq!(promise.open_options(), &open);
    assert_eq!(promise.load::<Value>()?, json!({"acc": 1}));
    assert_eq!(promise.load_with::<Value>(&Map::new())?, json!({"acc": 1}));
    Ok(())
}

#[test]
fn exact_lookups_never_read_other_runs_configs() -> Result {
    let (dir, store) = store()?;
    for i in 0..30 {
        store
            .run("train", &config(json!({"i": i}))?)?
            .save("m", "json", &i)?;
    }
    // Every other run's config.json becomes garbage; a fresh handle has no cache either.
    for i in 0..30 {
        if i != 17 {
            let path = dir.path().join(format!("train/{i:03}/config.json"));
            std::fs::write(&path, "[not an object").map_err(io_err("damage config"))?;
        }
    }
    let fresh = LocalFileStore::new(dir.path())?;
    let run = fresh.run("train", &config(json!({"i": 17}))?)?;
    assert_eq!(run.load::<i32>("m")?, Some(17));
    run.save("m", "json", &170)?;
    assert_eq!(run.load::<i32>("m")?, Some(170));
    // Scans (subset lookups, sweeps) report the damage per run, and nothing else changes.
    let sweep: Vec<_> = fresh.task("train")?.sweep::<i32>("m")?.collect();
    assert_eq!(sweep.len(), 30);
    let damaged = sweep
        .iter()
        .filter(|s| matches!(s, Err(Error::CorruptFile { .. })))
        .count();
    assert_eq!(damaged, 29);
    Ok(())
}

#[test]
fn another_handles_changes_are_seen_by_lookups() -> Result {
    let (dir, a) = store()?;
    let b = LocalFileStore::new(dir.path())?;
    let query = config(json!({"lr": 1, "seed": 2}))?;
    assert_eq!(a.run("train", &query)?.load::<i32>("m")?, None);
    b.run("train", &config(json!({"lr": 1}))?)?
        .save("m", "json", &1)?;
    assert_eq!(a.run("train", &query)?.load::<i32>("m")?, Some(1), "subset");
    assert!(b.run("train", &config(json!({"lr": 1}))?)?.delete_run()?);
    assert_eq!(a.run("train", &query)?.load::<i32>("m")?, None);
    Ok(())
}

#[test]
fn names_and_sub_dirs_that_try_to_escape_are_rejected() -> Result {
    let (_dir, store) = store()?;
    for task in ["..", "../x", "/etc", "a\0b"] {
        assert!(
            matches!(
                store.run(task, &UniqueConfig::empty()),
                Err(Error::InvalidName { .. })
            ),
            "{task:?}"
        );
    }
    for sub_dir in ["../x", "/abs", "a/../../b", "a\0"] {
        assert!(SubDir::new(sub_dir).is_err(), "{sub_dir:?}");
    }
    Ok(())
}

#[test]
fn symlinks_below_the_base_dir_are_never_followed() -> Result {
    let (dir, store) = store()?;
    let outside = tempfile::tempdir().map_err(io_err("create a temporary directory"))?;
    std::os::unix::fs::symlink(outside.path(), dir.path().join("evil"))
        .map_err(io_err("make a symlink"))?;
    let run = store.run("evil", &UniqueConfig::empty())?;
    assert!(matches!(
        run.save("m", "json", &1),
        Err(Error::SymlinkInStore { .. })
    ));
    let good = store.run("train", &UniqueConfig::empty())?;
    good.save("m", "json", &1)?;
    std::os::unix::fs::symlink(outside.path(), dir.path().join("train/000/models"))
        .map_err(io_err("make a symlink"))?;
    let options = SaveOptions::in_sub_dir(SubDir::new("models/best")?);
    assert!(matches!(
        good.save_with("w", "json", &1, &options),
        Err(Error::SymlinkInStore { .. })
    ));
    let escaped = std::fs::read_dir(outside.path())
        .map_err(io_err("list"))?
        .count();
    assert_eq!(escaped, 0, "nothing was written outside the base directory");
    assert_eq!(good.load::<i32>("m")?, Some(1), "the rest is unaffected");
    Ok(())
}

#[test]
fn results_may_not_overwrite_the_stores_own_files() -> Result {
    let (dir, store) = store()?;
    let run = store.run("train", &UniqueConfig::empty())?;
    assert!(matches!(
        run.save("config", "json", &1),
        Err(Error::ReservedPath { .. })
    ));
    let options = SaveOptions::in_sub_dir(SubDir::new(".fluidml")?);
    assert!(matches!(
        run.save_with("x", "json", &1, &options),
        Err(Error::ReservedPath { .. })
    ));
    assert!(!dir.path().join("train/000").exists(), "no run was created");
    Ok(())
}

#[test]
fn damaged_load_information_is_a_typed_error_for_that_result_only() -> Result {
    let (dir, store) = store()?;
    let run = store.run("train", &UniqueConfig::empty())?;
    run.save("a", "json", &1)?;
    run.save("b", "json", &2)?;
    let info = dir.path().join("train/000/.fluidml/.a_load_info.json");
    let bytes = std::fs::read(&info).map_err(io_err("read"))?;
    for damage in [&bytes[..bytes.len() / 2], b"\xff\x00garbage"] {
        std::fs::write(&info, damage).map_err(io_err("damage"))?;
        assert!(matches!(
            run.load::<i32>("a"),
            Err(Error::CorruptFile { .. })
        ));
        assert_eq!(run.load::<i32>("b")?, Some(2));
    }
    run.save("a", "json", &3)?;
    assert_eq!(run.load::<i32>("a")?, Some(3), "a save repairs it");
    Ok(())
}

#[test]
fn a_missing_object_file_is_a_typed_error() -> Result {
    let (dir, store) = store()?;
    let run = store.run("train", &UniqueConfig::empty())?;
    run.save("a", "json", &1)?;
    run.save("b", "json", &2)?;
    std::fs::remove_file(dir.path().join("train/000/a.json")).map_err(io_err("remove"))?;
    match run.load::<i32>("a") {
        Err(Error::CorruptFile { path, .. }) => assert!(path.ends_with("a.json")),
        other => panic!("expected CorruptFile, got {other:?}"),
    }
    assert_eq!(run.load::<i32>("b")?, Some(2));
    Ok(())
}

#[test]
fn a_config_json_that_is_not_an_object_is_skipped_by_lookups() -> Result {
    let (dir, store) = store()?;
    store
        .run("train", &config(json!({"a": 1}))?)?
        .save("m", "json", &1)?;
    std::fs::create_dir(dir.path().join("train/005")).map_err(io_err("mkdir"))?;
    std::fs::write(dir.path().join("train/005/config.json"), "[1, 2]").map_err(io_err("write"))?;
    let query = store.run("train", &config(json!({"a": 1, "b": 2}))?)?;
    assert_eq!(query.load::<i32>("m")?, Some(1));
    let new = store.run("train", &config(json!({"a": 9}))?)?;
    assert_eq!(
        new.get_context()?.sweep_counter.as_deref(),
        Some("001"),
        "the counter comes from the index, not the foreign directory"
    );
    Ok(())
}

#[test]
fn a_run_with_a_damaged_config_json_is_still_deleted_by_its_exact_config() -> Result {
    let (dir, store) = store()?;
    let run = store.run("train", &config(json!({"a": 1}))?)?;
    run.save("m", "json", &1)?;
    std::fs::write(dir.path().join("train/000/config.json"), "{").map_err(io_err("damage"))?;
    assert_eq!(
        run.load::<i32>("m")?,
        Some(1),
        "exact lookups read no config.json"
    );
    assert!(run.delete_run()?);
    assert_eq!(run.state()?, None);
    assert!(!dir.path().join("train/000").exists());
    Ok(())
}
