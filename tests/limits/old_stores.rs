//! Stores written before the limits (or by fluidml): a config past the limit leaves the other
//! runs reachable, listed and exportable, and reported with its key; fluidml's pickles load
//! integers across `i64` and `u64`.

use std::path::Path;

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sweepstore::{
    Browse, ConfigError, Error, LocalFileStore, MAX_DEPTH, RUN_KEY_CONTEXT, RedbOptions, RedbStore,
    Result, RunKey, RunState, StoreExt, TaskName, UniqueConfig, copy_store,
};

use crate::{TASK, deep_config_text, fluidml_pickle_run, seed, tempdir};

/// The engine's tables and run record (`src/engine/tables.rs`), to write what an earlier
/// version, without the depth limit, would have written.
const RUNS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("runs");
const RESULTS: TableDefinition<(&[u8; 32], &str), &[u8]> = TableDefinition::new("results");
const TASK_RUNS: TableDefinition<(&str, u64), &[u8; 32]> = TableDefinition::new("task_runs");

#[derive(Serialize, Deserialize)]
struct RunRecord {
    task: String,
    config: String,
    counter: u64,
    state: RunState,
}

/// The run key of `task` and canonical config text `config` (design §2), for a config that
/// `UniqueConfig` no longer accepts.
fn run_key(task: &str, config: &str) -> RunKey {
    let mut material = Vec::new();
    for part in [task, config] {
        material.extend_from_slice(&(part.len() as u64).to_le_bytes());
        material.extend_from_slice(part.as_bytes());
    }
    RunKey::from_bytes(blake3::derive_key(RUN_KEY_CONTEXT, &material))
}

/// Gives run `old` of the closed store at `dir` the config `config` and the key that goes
/// with it, moving its results and index entry along.
fn rekey(dir: &Path, old: RunKey, config: &str) -> Result<RunKey> {
    let db_err = |e: redb::Error| Error::Stream {
        op: "edit the database",
        source: std::io::Error::other(e.to_string()),
    };
    let db = redb::Database::open(dir.join("store.redb")).map_err(|e| db_err(e.into()))?;
    let txn = db.begin_write().map_err(|e| db_err(e.into()))?;
    let new;
    {
        let mut runs = txn.open_table(RUNS).map_err(|e| db_err(e.into()))?;
        let bytes = runs
            .remove(old.as_bytes())
            .map_err(|e| db_err(e.into()))?
            .map(|v| v.value().to_vec())
            .ok_or_else(|| Error::NotFound {
                what: format!("run {old}"),
            })?;
        let mut record: RunRecord = postcard::from_bytes(&bytes).map_err(|e| Error::Stream {
            op: "decode a run record",
            source: std::io::Error::other(e),
        })?;
        record.config = config.to_owned();
        new = run_key(&record.task, config);
        let encoded = postcard::to_stdvec(&record).map_err(|e| Error::Stream {
            op: "encode a run record",
            source: std::io::Error::other(e),
        })?;
        runs.insert(new.as_bytes(), encoded.as_slice())
            .map_err(|e| db_err(e.into()))?;
        let mut index = txn.open_table(TASK_RUNS).map_err(|e| db_err(e.into()))?;
        index
            .insert((record.task.as_str(), record.counter), new.as_bytes())
            .map_err(|e| db_err(e.into()))?;
        let mut results = txn.open_table(RESULTS).map_err(|e| db_err(e.into()))?;
        let mut moved = Vec::new();
        for row in results
            .range((old.as_bytes(), "")..)
            .map_err(|e| db_err(e.into()))?
        {
            let (k, v) = row.map_err(|e| db_err(e.into()))?;
            let (run, name) = k.value();
            if run != old.as_bytes() {
                break;
            }
            moved.push((name.to_owned(), v.value().to_vec()));
        }
        for (name, entry) in moved {
            results
                .remove((old.as_bytes(), name.as_str()))
                .map_err(|e| db_err(e.into()))?;
            results
                .insert((new.as_bytes(), name.as_str()), entry.as_slice())
                .map_err(|e| db_err(e.into()))?;
        }
    }
    txn.commit().map_err(|e| db_err(e.into()))?;
    Ok(new)
}

#[test]
fn a_redb_store_holding_a_config_past_the_limit_keeps_its_other_runs_reachable() -> Result<()> {
    let dir = tempdir()?;
    let deepest = UniqueConfig::parse(&deep_config_text(MAX_DEPTH))?;
    {
        let store = RedbStore::open(dir.path(), RedbOptions::default())?;
        for s in 0..3 {
            store
                .run(TASK, &seed(s)?)?
                .save("metrics", "json", &json!({ "seed": s }))?;
        }
        store
            .run(TASK, &deepest)?
            .save("metrics", "json", &json!("deep"))?;
        store.close()?;
    }
    let too_deep = deep_config_text(MAX_DEPTH + 1);
    assert!(matches!(
        UniqueConfig::parse(&too_deep),
        Err(ConfigError::TooDeep { .. })
    ));
    let task = TaskName::new(TASK)?;
    let key = rekey(dir.path(), RunKey::new(&task, &deepest), &too_deep)?;

    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    // The control: the run is there, reported with its key by the sweep and by verify.
    let sweep: Vec<_> = store.task(TASK)?.lazy_sweep("metrics")?.collect();
    assert_eq!(sweep.len(), 4);
    let failed: Vec<_> = sweep
        .iter()
        .filter_map(|item| item.as_ref().err())
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].to_string().contains(&key.to_hex()),
        "{}",
        failed[0]
    );
    assert!(
        failed[0].to_string().contains("deeper than 64 levels"),
        "{}",
        failed[0]
    );
    let report = store.verify(&mut |_| {})?;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].location.contains(&key.to_hex()));
    // The other runs: exact and subset lookups, the listing.
    for s in 0..3 {
        let exact = store.run(TASK, &seed(s)?)?.load::<Value>("metrics")?;
        assert_eq!(exact, Some(json!({ "seed": s })));
        let wider = UniqueConfig::new(json!({ "seed": s, "extra": 1 }))?;
        let subset = store.run(TASK, &wider)?.load::<Value>("metrics")?;
        assert_eq!(subset, Some(json!({ "seed": s })));
    }
    assert_eq!(store.runs(&task)?.len(), 3);
    let exported = tempdir()?;
    let dest = RedbStore::open(exported.path(), RedbOptions::default())?;
    assert_eq!(copy_store(&store, &dest, &mut |_| {})?.runs, 3);
    dest.close()?;
    store.close()
}

#[test]
fn a_local_store_holding_a_config_past_the_limit_keeps_its_other_runs_reachable() -> Result<()> {
    let dir = tempdir()?;
    let store = LocalFileStore::new(dir.path())?;
    for s in 0..3 {
        store
            .run(TASK, &seed(s)?)?
            .save("metrics", "json", &json!({ "seed": s }))?;
    }
    // An earlier version (or fluidml) wrote a run directory with a config past the limit.
    let run_dir = dir.path().join(TASK).join("003");
    std::fs::create_dir_all(&run_dir).map_err(|source| Error::Stream {
        op: "create a run directory",
        source,
    })?;
    let config_file = run_dir.join("config.json");
    std::fs::write(&config_file, deep_config_text(MAX_DEPTH + 1)).map_err(|source| {
        Error::Stream {
            op: "write config.json",
            source,
        }
    })?;
    std::fs::write(run_dir.join("metrics.json"), b"\"deep\"").map_err(|source| Error::Stream {
        op: "write a result",
        source,
    })?;
    let store = LocalFileStore::new(dir.path())?;
    let failed: Vec<Error> = store
        .task(TASK)?
        .lazy_sweep("metrics")?
        .filter_map(|item| item.err())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        matches!(&failed[0], Error::CorruptFile { path, reason } if *path == config_file && reason.contains("deeper than 64 levels")),
        "{:?}",
        failed[0]
    );
    for s in 0..3 {
        let wider = UniqueConfig::new(json!({ "seed": s, "extra": 1 }))?;
        let subset = store.run(TASK, &wider)?.load::<Value>("metrics")?;
        assert_eq!(subset, Some(json!({ "seed": s })));
    }
    // Listings (and so `ls` and export) leave it out and go on.
    let task = TaskName::new(TASK)?;
    assert_eq!(store.runs(&task)?.len(), 3);
    assert_eq!(store.tasks()?.first().map(|t| t.runs), Some(3));
    let exported = tempdir()?;
    let dest = RedbStore::open(exported.path(), RedbOptions::default())?;
    assert_eq!(copy_store(&store, &dest, &mut |_| {})?.runs, 3);
    dest.close()
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

#[test]
fn fluidml_pickles_load_integers_across_i64_and_u64_and_name_bigger_ones() -> Result<()> {
    let dir = tempdir()?;
    // `pickle.dumps([2**63, 2**64-1, -2**63, 2**63-1], protocol=4)` and `[2**64]`.
    let edges = "8004952f000000000000005d94288a090000000000000080008a09ffffffffffffffff008a0800000000000000808a08ffffffffffffff7f652e";
    let beyond = "8004950f000000000000005d948a09000000000000000001612e";
    fluidml_pickle_run(
        dir.path(),
        &[("edges", unhex(edges)), ("beyond", unhex(beyond))],
    )?;
    let store = LocalFileStore::new(dir.path())?;
    let run = store.run(TASK, &seed(1)?)?;
    assert_eq!(
        run.load::<Value>("edges")?,
        Some(json!([1u64 << 63, u64::MAX, i64::MIN, i64::MAX]))
    );
    match run.load::<Value>("beyond") {
        Err(Error::Decode { reason, .. }) => {
            assert!(reason.contains("18446744073709551616"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}
