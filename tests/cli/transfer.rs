//! `sweepstore export` and `import` as real processes: a round trip RedbStore → directory →
//! RedbStore that keeps every run, state, type and content hash; both directions idempotent;
//! fluidml's own directories imported without being changed; a corrupt value stops the copy;
//! a damaged run (a broken config, a `json` result holding Python's `NaN`) is named and
//! skipped, or with `--strict` stops the import before a store is created;
//! swapped arguments refused.

use crate::shared::cli as cli_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cli_support::{TestResult, arg, run};
use serde_json::{Value, json};
use sweepstore::{ContentHash, LocalFileStore, RedbOptions, RedbStore, StoreExt, UniqueConfig};

const BLOB_LEN: usize = 80 * 1024;

fn make_store(path: &Path) -> TestResult {
    let store = RedbStore::open(path, RedbOptions::default())?;
    for seed in 0..3u8 {
        let run = store.run(
            "train",
            &UniqueConfig::new(json!({"lr": 0.1, "seed": seed}))?,
        )?;
        run.save("metrics", "json", &json!({"loss": f64::from(seed) / 4.0}))?;
        run.save("weights", "binary", &vec![f64::from(seed); 4])?;
        let big: Vec<u8> = (0..BLOB_LEN).map(|i| (i % 7) as u8 + seed).collect();
        run.save_bytes("checkpoint", "bytes", &big)?;
        run.save_bytes("log", "text", format!("seed {seed}\n").as_bytes())?;
        if seed != 1 {
            run.finish()?;
        }
    }
    store
        .run("eval", &UniqueConfig::new(json!({}))?)?
        .save("score", "json", &0.75)?;
    Ok(())
}

use cli_support::json_of;

/// Every run of every task of the RedbStore at `store`, as `ls --task T --json` prints them.
fn listing(store: &Path) -> TestResult<BTreeMap<String, Value>> {
    let tasks = json_of(
        &run(["ls".as_ref(), arg(store), "--json".as_ref()])?
            .ok()?
            .stdout,
    )?;
    let mut all = BTreeMap::new();
    for task in tasks.as_array().ok_or("tasks")? {
        let name = task["name"].as_str().ok_or("name")?.to_owned();
        let runs = run([
            "ls".as_ref(),
            arg(store),
            "--task".as_ref(),
            name.as_ref(),
            "--json".as_ref(),
        ])?
        .ok()?;
        all.insert(name, json_of(&runs.stdout)?);
    }
    Ok(all)
}

fn copy(command: &str, from: &Path, to: &Path) -> TestResult<Value> {
    let ran = run([command.as_ref(), arg(from), arg(to), "--json".as_ref()])?.ok()?;
    json_of(&ran.stdout)
}

/// Every file below `dir` with its bytes.
fn snapshot(dir: &Path) -> TestResult<BTreeMap<PathBuf, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.strip_prefix(dir)?.to_owned(), std::fs::read(&path)?);
            }
        }
    }
    Ok(files)
}

#[test]
fn a_round_trip_through_a_directory_keeps_everything_and_repeats_are_no_ops() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (store, exported, imported) = (
        dir.path().join("store"),
        dir.path().join("exported"),
        dir.path().join("imported"),
    );
    make_store(&store)?;

    let first = copy("export", &store, &exported)?;
    assert_eq!(
        first,
        json!({"runs": 4, "runs_damaged": 0, "results_copied": 13, "results_skipped": 0,
               "bytes_copied": first["bytes_copied"], "files_not_copied": 0})
    );
    assert!(first["bytes_copied"].as_u64().ok_or("bytes")? > 3 * BLOB_LEN as u64);
    // The directory is a LocalFileStore in fluidml's layout, readable by the library.
    assert!(
        exported
            .join("train")
            .join("000")
            .join("config.json")
            .is_file()
    );
    let local = LocalFileStore::new(&exported)?;
    let run1 = local.run("train", &UniqueConfig::new(json!({"lr": 0.1, "seed": 1}))?)?;
    assert_eq!(run1.load::<String>("log")?.as_deref(), Some("seed 1\n"));
    assert!(!run1.is_finished()?);
    drop(local);
    let files = snapshot(&exported)?;

    let again = copy("export", &store, &exported)?;
    assert_eq!(
        again,
        json!({"runs": 4, "runs_damaged": 0, "results_copied": 0, "results_skipped": 13,
               "bytes_copied": 0, "files_not_copied": 0})
    );
    assert_eq!(
        snapshot(&exported)?,
        files,
        "a repeated export changed the directory"
    );

    let text = run(["import".as_ref(), arg(&exported), arg(&imported)])?.ok()?;
    assert_eq!(
        text.stdout,
        format!(
            "imported {} into {}: 4 runs, 13 results copied ({}), 0 already there (skipped)\n",
            exported.display(),
            imported.display(),
            text.stdout
                .split_once("copied (")
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(size, _)| size)
                .ok_or("size")?
        )
    );
    assert_eq!(snapshot(&exported)?, files, "import changed its source");
    // Same runs, configs, states, result names, types, sizes and content hashes.
    assert_eq!(listing(&imported)?, listing(&store)?);

    let repeat = copy("import", &exported, &imported)?;
    assert_eq!(repeat["results_copied"], 0);
    assert_eq!(repeat["results_skipped"], 13);
    run(["verify".as_ref(), arg(&imported)])?.ok()?;

    // A file in a run directory that is no result: named on stderr and counted, not copied.
    let notes = exported.join("train/000/notes.txt");
    std::fs::write(&notes, "not a result\n")?;
    let named = run(["import".as_ref(), arg(&exported), arg(&imported)])?.ok()?;
    assert!(
        named
            .stdout
            .ends_with(", 1 files that are no result not copied\n"),
        "{}",
        named.stdout
    );
    let line = format!(
        "not copied (no load information describes it, so it is no result): {}",
        notes.display()
    );
    assert!(named.stderr.contains(&line), "{}", named.stderr);
    Ok(())
}

#[test]
fn fluidml_directories_import_unchanged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fluidml-0.3.4");
    let before = snapshot(&fixture)?;
    let store = dir.path().join("store");
    let report = copy("import", &fixture, &store)?;
    assert_eq!(report["runs"], 4);
    assert_eq!(
        snapshot(&fixture)?,
        before,
        "import changed fluidml's directory"
    );
    let copied = report["results_copied"].as_u64().ok_or("copied")?;
    assert!(copied > 0);

    let tasks = json_of(
        &run(["ls".as_ref(), arg(&store), "--json".as_ref()])?
            .ok()?
            .stdout,
    )?;
    assert_eq!(
        tasks,
        json!([{"name": "evaluate", "runs": 1}, {"name": "train", "runs": 3}])
    );
    let metrics = run([
        "get",
        store.to_str().ok_or("path")?,
        "train",
        "metrics",
        "--config",
        r#"{"lr": 0.01, "seed": 1}"#,
    ])?
    .ok()?;
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(fixture.join("train/000/metrics.json"))?)?;
    assert_eq!(json_of(&metrics.stdout)?, on_disk);
    let again = copy("import", &fixture, &store)?;
    assert_eq!(again["results_copied"], 0);
    assert_eq!(again["results_skipped"], json!(copied));
    Ok(())
}

#[test]
fn a_corrupt_value_stops_the_export_and_is_not_written() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    make_store(&store)?;
    // Control: the same store exports fine before the damage.
    copy("export", &store, &dir.path().join("control"))?;

    let big: Vec<u8> = (0..BLOB_LEN).map(|i| (i % 7) as u8 + 2).collect();
    let hash = ContentHash::of(&big).to_hex();
    let blob = store.join("blobs").join(&hash[..2]).join(&hash);
    let mut bytes = std::fs::read(&blob)?;
    bytes[100] ^= 1;
    std::fs::write(&blob, &bytes)?;

    let target = dir.path().join("damaged");
    let failed = run(["export".as_ref(), arg(&store), arg(&target)])?.expect_code(1)?;
    assert!(
        failed.stderr.contains("stored content is corrupt"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains(&hash), "{}", failed.stderr);
    let written = snapshot(&target)?;
    assert!(
        !written.values().any(|b| b.len() == BLOB_LEN),
        "the corrupt value was written: {:?}",
        written.keys().collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn swapped_or_missing_arguments_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    make_store(&store)?;
    let other = dir.path().join("other");
    let swapped = run(["import".as_ref(), arg(&store), arg(&other)])?.expect_code(1)?;
    assert!(
        swapped.stderr.contains("are the arguments swapped?"),
        "{}",
        swapped.stderr
    );
    assert!(!other.exists());
    let swapped = run(["export".as_ref(), arg(&other), arg(&store)])?.expect_code(1)?;
    assert!(
        swapped.stderr.contains("are the arguments swapped?"),
        "{}",
        swapped.stderr
    );

    let missing = run([
        "import".as_ref(),
        arg(&dir.path().join("nope")),
        arg(&other),
    ])?
    .expect_code(1)?;
    assert!(
        missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
    assert!(!other.exists());
    let missing = run([
        "export".as_ref(),
        arg(&dir.path().join("nope")),
        arg(&other),
    ])?
    .expect_code(1)?;
    assert!(
        missing.stderr.contains("it does not exist"),
        "{}",
        missing.stderr
    );
    assert!(!other.exists());
    Ok(())
}

/// Copies the fluidml fixture to `to`.
fn copy_fixture(to: &Path) -> TestResult {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fluidml-0.3.4");
    for (file, bytes) in snapshot(&fixture)? {
        let target = to.join(file);
        std::fs::create_dir_all(target.parent().ok_or("parent")?)?;
        std::fs::write(target, bytes)?;
    }
    Ok(())
}

/// Imports `tree` (the fixture with one run damaged) twice: with `--strict`, which must fail
/// naming it (`names_it` on stderr) and create no store; without, which must name it as
/// skipped and copy the three other runs. The second store's path.
fn import_skipping_one_damaged_run(
    dir: &Path,
    tree: &Path,
    names_it: impl Fn(&str) -> bool,
) -> TestResult<PathBuf> {
    let strict = dir.join("strict");
    let refused = run([
        "import".as_ref(),
        arg(tree),
        arg(&strict),
        "--strict".as_ref(),
    ])?
    .expect_code(1)?;
    assert!(names_it(&refused.stderr), "{}", refused.stderr);
    assert!(!strict.exists(), "--strict created the store");

    let store = dir.join("store");
    let ran = run(["import".as_ref(), arg(tree), arg(&store), "--json".as_ref()])?.ok()?;
    assert!(
        ran.stderr.contains("skipping a damaged run") && names_it(&ran.stderr),
        "{}",
        ran.stderr
    );
    let report = json_of(&ran.stdout)?;
    assert_eq!(
        (report["runs"].clone(), report["runs_damaged"].clone()),
        (json!(3), json!(1))
    );
    Ok(store)
}

#[test]
fn a_damaged_run_is_named_and_skipped_or_with_strict_stops_the_import_creating_nothing()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let tree = dir.path().join("tree");
    copy_fixture(&tree)?;
    let broken = tree.join("train/002/config.json");
    std::fs::write(&broken, b"{\"lr\": ")?;
    let broken = broken.display().to_string();
    import_skipping_one_damaged_run(dir.path(), &tree, |stderr| stderr.contains(&broken))?;
    Ok(())
}

#[test]
fn a_run_whose_json_result_holds_pythons_nan_is_damaged_named_and_skipped_or_stops_strict()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let tree = dir.path().join("tree");
    copy_fixture(&tree)?;
    // What Python's `json.dump` (fluidml's `json` type) writes for a diverged run's loss.
    std::fs::write(tree.join("train/001/metrics.json"), b"{\"loss\": NaN}")?;
    let store = import_skipping_one_damaged_run(dir.path(), &tree, |stderr| {
        stderr.contains("result `metrics` of task `train`")
            && stderr.contains("\"seed\":2")
            && stderr.contains("run directory `001`")
            && stderr.contains("not JSON")
    })?;
    // Nothing of the skipped run was written (it was found before its first write); the
    // others are all there.
    let runs = listing(&store)?;
    let train = runs["train"].as_array().ok_or("train runs")?;
    let seeds: Vec<&Value> = train.iter().map(|r| &r["config"]["seed"]).collect();
    assert_eq!(train.len(), 2, "{seeds:?}");
    assert!(!seeds.contains(&&json!(2)), "{seeds:?}");
    assert_eq!(runs["evaluate"].as_array().ok_or("evaluate runs")?.len(), 1);
    Ok(())
}

#[test]
fn a_directory_without_runs_is_an_import_error_that_creates_no_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tree = dir.path().join("photos");
    std::fs::create_dir_all(tree.join("holiday"))?;
    std::fs::write(tree.join("holiday/beach.jpg"), b"jpeg")?;
    let store = dir.path().join("store");
    let refused = run(["import".as_ref(), arg(&tree), arg(&store)])?.expect_code(1)?;
    assert!(
        refused.stderr.contains("holds no runs"),
        "{}",
        refused.stderr
    );
    assert!(!store.exists(), "a store was created");
    // Control: the fixture, which has runs, imports.
    let fluidml = dir.path().join("fluidml");
    copy_fixture(&fluidml)?;
    copy("import", &fluidml, &store)?;
    Ok(())
}

#[test]
fn export_refuses_a_non_empty_directory_without_runs_and_leaves_it_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    make_store(&store)?;
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("notes"))?;
    std::fs::write(home.join("notes/todo.txt"), b"buy milk")?;
    let before = snapshot(&home)?;
    let refused = run(["export".as_ref(), arg(&store), arg(&home)])?.expect_code(1)?;
    assert!(
        refused.stderr.contains("is not empty and holds no runs"),
        "{}",
        refused.stderr
    );
    assert_eq!(snapshot(&home)?, before);
    // Controls: an empty directory and an existing export are accepted.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    copy("export", &store, &empty)?;
    let again = copy("export", &store, &empty)?;
    assert_eq!(again["results_copied"], 0);
    Ok(())
}
