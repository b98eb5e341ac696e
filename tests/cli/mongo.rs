//! The command line on MongoDB stores (`docs/design.md` §14, "MongoDB stores"): a sweep
//! exported from a LocalFileStore directory to `mongodb://HOST:PORT/DB/COLLECTION` and back
//! keeps every value, type and state, a rerun copies nothing, an interrupted copy is
//! completed; the read commands, `stats`, `verify` (with a damaged chunk as the control) and
//! `gc` work on it; a misspelt address is an error that creates nothing. Needs the server
//! of `tests/run.sh`.

use crate::shared::cli as cli_support;
use crate::shared::mongo as mongo_support;

use std::path::Path;

use mongodb::bson::{Binary, Document, doc, spec::BinarySubtype};
use serde_json::{Value, json};
use sweepstore::{
    Browse, ContentHash, LocalFileStore, MongoOptions, ResultsStore, RunState, StoreExt, TaskName,
    UniqueConfig,
};

use cli_support::{TestResult, arg, run};
use mongo_support::{COLLECTION, raw_db, raw_err, store_in, unique_db, uri};

/// The address of collection `runs` of database `db` on the test server, as the CLI takes it.
fn address(db: &str) -> String {
    let uri = uri();
    let (base, query) = uri.split_once('?').unwrap_or((&uri, ""));
    let base = base.trim_end_matches('/');
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{base}/{db}/{COLLECTION}{query}")
}

/// A large value (in GridFS) and a small one (inline).
fn large() -> Vec<u8> {
    (0..100_000).map(|i| (i % 251) as u8).collect()
}

/// A LocalFileStore directory with three runs: finished, failed, and one without state.
fn sweep(dir: &Path) -> TestResult {
    let store = LocalFileStore::new(dir)?;
    for (i, state) in [Some(RunState::Finished), Some(RunState::Failed), None]
        .into_iter()
        .enumerate()
    {
        let run = store.run("train", &UniqueConfig::new(json!({ "lr": i, "seed": 1 }))?)?;
        run.save("metrics", "json", &json!({ "loss": i as f64 / 10.0 }))?;
        run.save("weights", "bytes", &large())?;
        if let Some(state) = state {
            store.set_run_state(run.id(), state)?;
        }
    }
    Ok(())
}

fn json_of(text: &str) -> TestResult<Value> {
    Ok(serde_json::from_str(text)?)
}

/// `sweepstore export LOCAL MONGO --json`, which must succeed; its report.
fn export_json(local: &Path, mongo: &str) -> TestResult<Value> {
    let ran = run([
        arg(Path::new("export")),
        arg(local),
        arg(Path::new(mongo)),
        arg(Path::new("--json")),
    ])?;
    json_of(&ran.ok()?.stdout)
}

#[test]
fn export_moves_a_sweep_to_a_mongodb_store_and_back_keeping_everything() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (local, back) = (tmp.path().join("local"), tmp.path().join("back"));
    sweep(&local)?;
    let db = unique_db("cli_export");
    let mongo = address(&db);

    let first = export_json(&local, &mongo)?;
    assert_eq!(
        (first["runs"].as_u64(), first["results_copied"].as_u64()),
        (Some(3), Some(6))
    );
    let again = export_json(&local, &mongo)?;
    assert_eq!(
        (
            again["results_copied"].as_u64(),
            again["results_skipped"].as_u64()
        ),
        (Some(0), Some(6)),
        "a rerun copies nothing"
    );
    // An interrupted copy (a value missing on the server) is completed by a rerun.
    let store = store_in(&db, MongoOptions::default())?;
    let lr0 = UniqueConfig::new(json!({ "lr": 0, "seed": 1 }))?;
    assert!(store.run("train", &lr0)?.delete("weights")?);
    let resumed = export_json(&local, &mongo)?;
    assert_eq!(resumed["results_copied"].as_u64(), Some(1));

    run(["export", &mongo, back.to_str().ok_or("path")?])?.ok()?;
    let (from, to) = (LocalFileStore::new(&local)?, LocalFileStore::new(&back)?);
    let task = TaskName::new("train")?;
    let (runs_from, runs_to) = (from.runs(&task)?, to.runs(&task)?);
    assert_eq!(runs_to.len(), 3);
    for (a, b) in runs_from.iter().zip(&runs_to) {
        assert_eq!((&a.config, a.state), (&b.config, b.state));
        for result in &a.results {
            let copied = b.result(result.name.as_str()).ok_or("result missing")?;
            assert_eq!(
                (&copied.type_name, copied.size),
                (&result.type_name, result.size)
            );
        }
        let run_b = to.run("train", &b.config)?;
        assert_eq!(run_b.load::<Vec<u8>>("weights")?, Some(large()));
    }
    Ok(())
}

#[test]
fn the_read_commands_stats_verify_and_gc_work_on_a_mongodb_store() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let local = tmp.path().join("local");
    sweep(&local)?;
    let db = unique_db("cli_read");
    let mongo = address(&db);
    run(["export".as_ref(), arg(&local), mongo.as_ref()])?.ok()?;

    let ls = run(["ls", &mongo, "--json"])?.ok()?;
    assert_eq!(
        json_of(&ls.stdout)?,
        json!([{ "name": "train", "runs": 3 }])
    );
    let runs = json_of(
        &run(["ls", &mongo, "--task", "train", "--json"])?
            .ok()?
            .stdout,
    )?;
    let hash = ContentHash::of(&large()).to_hex();
    assert!(runs.to_string().contains(&hash), "{runs}");
    let table = run(["table", &mongo, "train", "--csv"])?.ok()?;
    assert_eq!(table.stdout.lines().count(), 4, "{}", table.stdout);
    let got = run([
        "get",
        &mongo,
        "train",
        "--config",
        r#"{"lr":1,"seed":1}"#,
        "metrics",
    ])?
    .ok()?;
    assert_eq!(json_of(&got.stdout)?, json!({ "loss": 0.1 }));
    let stats = json_of(&run(["stats", &mongo, "--json"])?.ok()?.stdout)?;
    assert_eq!(
        (stats["runs"].as_u64(), stats["results"].as_u64()),
        (Some(3), Some(6))
    );
    assert_eq!(
        stats["distinct_contents"].as_u64(),
        Some(4),
        "3 metrics, 1 weights"
    );
    let verified = json_of(&run(["verify", &mongo, "--json"])?.ok()?.stdout)?;
    assert_eq!(verified["values_checked"].as_u64(), Some(4));

    // gc: an overwritten large value is freed with --apply only.
    let store = store_in(&db, MongoOptions::default())?;
    let lr0 = UniqueConfig::new(json!({ "lr": 0, "seed": 1 }))?;
    let other: Vec<u8> = large().into_iter().rev().collect();
    for i in 0..3 {
        let config = UniqueConfig::new(json!({ "lr": i, "seed": 1 }))?;
        store
            .run("train", &config)?
            .save("weights", "bytes", &other)?;
    }
    let dry = json_of(&run(["gc", &mongo, "--grace", "0s", "--json"])?.ok()?.stdout)?;
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["contents"].as_u64()),
        (Some(true), Some(1))
    );
    let waiting = run(["gc", &mongo, "--apply"])?.ok()?;
    assert!(
        waiting.stdout.contains("freed 0") && waiting.stdout.contains("grace period"),
        "{}",
        waiting.stdout
    );
    let applied = run(["gc", &mongo, "--apply", "--grace", "0s"])?.ok()?;
    assert!(
        applied.stdout.starts_with("freed 1 unreferenced content"),
        "{}",
        applied.stdout
    );
    assert_eq!(
        store.run("train", &lr0)?.load::<Vec<u8>>("weights")?,
        Some(other.clone())
    );
    run(["verify", &mongo])?.ok()?;

    // The control: a damaged chunk is a problem (exit 3) naming the content.
    let raw = raw_db(&uri(), &db)?;
    let other_hash = ContentHash::of(&other).to_hex();
    raw.collection::<Document>("runs.content.chunks")
        .update_one(
            doc! { "files_id": &other_hash, "n": 0 },
            doc! { "$set": { "data": Binary { subtype: BinarySubtype::Generic, bytes: vec![0; 261_120] } } },
        )
        .run()
        .map_err(raw_err("damage a chunk"))?;
    let damaged = run(["verify", &mongo])?.expect_code(3)?;
    assert!(damaged.stdout.contains(&other_hash), "{}", damaged.stdout);
    Ok(())
}

#[test]
fn a_misspelt_mongodb_store_is_an_error_that_creates_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let local = tmp.path().join("local");
    sweep(&local)?;
    let db = unique_db("cli_typo");
    run(["export".as_ref(), arg(&local), address(&db).as_ref()])?.ok()?;
    let typo = address(&db).replace("/runs", "/runz");
    let failed = run(["ls", &typo])?.expect_code(1)?;
    assert!(
        failed.stderr.contains("no collection `runz`") && failed.stderr.contains("runs"),
        "{}",
        failed.stderr
    );
    let names = raw_db(&uri(), &db)?
        .list_collection_names()
        .run()
        .map_err(raw_err("list"))?;
    assert!(!names.iter().any(|n| n.starts_with("runz")), "{names:?}");
    let bad = run(["ls", "mongodb://127.0.0.1:1/a/b/c"])?.expect_code(1)?;
    assert!(bad.stderr.contains("more than two parts"), "{}", bad.stderr);
    Ok(())
}
