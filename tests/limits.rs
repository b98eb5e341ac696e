//! Accepted means readable: every unique config and `json` value a store accepts is loadable,
//! listed, swept, verified, exported and imported, on every backend; what goes past the
//! limits (`MAX_DEPTH`, `MAX_CONFIG_LEN`) is refused at the door with a typed error naming the
//! limit, and nothing is stored.
//!
//! - A property test per backend (InMemoryStore, RedbStore, LocalFileStore, RemoteStore
//!   through a `Server` on a thread of this process, and MongoStore under
//!   `SWEEPSTORE_MONGO_URI` with feature `mongodb`) on configs and values generated across the
//!   edges: depth near and past the limit, wide objects, long strings, the integer boundaries
//!   of `i64`, `u64` and doubles, arbitrary Unicode. Each refusal must be past a limit; each
//!   acceptance is checked by a load, `get_results`, `find_run`, a sweep, `verify` and an
//!   export into a RedbStore read back.
//! - Regressions of issue 16: a value nested 65, 128 and a million levels is refused by every
//!   backend (typed, as bytes, through `open`) on a thread with a small stack; a store an
//!   earlier version left holding a config past the limit stays usable (RedbStore,
//!   LocalFileStore); fluidml pickles holding integers in [2^63, 2^64) load; a `sub_dir` that
//!   names a result file says so; a server refuses what a client that skipped its checks
//!   sends.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value, json};
use sweepstore::{
    Browse, ConfigError, Error, InMemoryStore, LocalFileStore, MAX_CONFIG_LEN, MAX_DEPTH,
    RUN_KEY_CONTEXT, RedbOptions, RedbStore, RemoteStore, Result, ResultName, ResultsStore, RunId,
    RunKey, RunState, RunSummary, SaveOptions, Server, StoreExt, SubDir, TaskName, UniqueConfig,
    VerifyReport, copy_store,
};

const TASK: &str = "train";

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|source| Error::Stream {
        op: "create a temporary directory",
        source,
    })
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// The nesting depth of `value`, by the definition of `MAX_DEPTH` (generated values stay
/// a few levels past the limit, so recursing here is safe).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether `value` holds an integer no double holds exactly (canonical JSON may refuse it).
fn has_big_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or(n.as_u64().map(i128::from))
            .is_some_and(|i| i.abs() > 1 << 53),
        Value::Array(items) => items.iter().any(has_big_integer),
        Value::Object(map) => map.values().any(has_big_integer),
        _ => false,
    }
}

/// Scalars across the edges.
fn scalar() -> impl Strategy<Value = Value> {
    let integers = vec![
        0,
        -1,
        1 << 53,
        -(1 << 53),
        (1 << 53) + 1,
        i64::MIN,
        i64::MAX,
        i64::MIN + 1,
    ];
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        2 => prop::sample::select(integers).prop_map(Value::from),
        1 => prop::sample::select(vec![1u64 << 63, u64::MAX, u64::MAX - 1]).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        2 => any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        1 => prop::sample::select(vec![-0.0, 5e-324, f64::MAX, f64::MIN_POSITIVE, 1e21, 0.1])
            .prop_map(Value::from),
        3 => any::<String>().prop_map(Value::from),
        1 => (0usize..40_000, any::<char>())
            .prop_map(|(n, c)| Value::from(c.to_string().repeat(n))),
    ]
}

/// Nesting depths: mostly shallow, often right at the limit or a few levels past it.
fn depths() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 0usize..4, 2 => (MAX_DEPTH - 2)..=(MAX_DEPTH + 2)]
}

/// `leaf` inside `depth` arrays and objects (`kinds` says which, innermost first), the
/// outermost with `wide` scalar members beside it when it is an object.
fn spine(depth: usize, kinds: &[bool], leaf: Value, wide: Map<String, Value>) -> Value {
    let mut value = leaf;
    for (level, &object) in kinds.iter().take(depth).enumerate() {
        value = if object && level + 1 == depth {
            let mut map = wide.clone();
            map.insert("spine".to_owned(), value);
            Value::Object(map)
        } else if object {
            json!({ "k": value })
        } else {
            Value::Array(vec![value, json!(level)])
        };
    }
    value
}

/// Up to `most` scalar members under arbitrary keys.
fn wide(most: usize) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(any::<String>(), scalar(), 0..most).prop_map(Map::from_iter)
}

fn kinds() -> impl Strategy<Value = Vec<bool>> {
    prop::collection::vec(any::<bool>(), MAX_DEPTH + 2)
}

/// A `json` value: a scalar, or a spine of any depth around one, or a wide array.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (depths(), kinds(), scalar(), wide(48)).prop_map(|(d, k, leaf, w)| spine(d, &k, leaf, w)),
        prop::collection::vec(scalar(), 0..200).prop_map(Value::Array),
    ]
}

/// A config: wide scalar members and one member holding a spine, so the config (itself
/// level 1) is one level deeper than the spine. Few members: most integers past 2^53 make
/// a config inexact, and a case refused for that checks nothing else.
fn config_value() -> impl Strategy<Value = Value> {
    (depths(), kinds(), scalar(), wide(4), wide(4)).prop_map(|(d, k, leaf, w, mut top)| {
        let spine = spine(d.saturating_sub(1), &k, leaf, w);
        top.insert("nested".to_owned(), spine);
        Value::Object(top)
    })
}

type FindRun<'a> = Box<dyn Fn(&UniqueConfig) -> Result<Option<RunSummary>> + 'a>;
type Verify<'a> = Box<dyn Fn() -> Result<VerifyReport> + 'a>;
type Export<'a> = Box<dyn Fn(&RedbStore) -> Result<()> + 'a>;

/// What a backend offers beside `ResultsStore`, as closures over the store under test.
struct Extras<'a> {
    /// `Browse::find_run`, for backends that browse.
    find_run: Option<FindRun<'a>>,
    /// `verify`, for backends that have it.
    verify: Option<Verify<'a>>,
    /// Exports the whole store into the given one (`copy_store`, or by hand).
    export: Export<'a>,
}

/// Runs the property on `store`: every config and value it accepts reads back everywhere,
/// and every one it refuses is past a limit.
fn accepted_means_readable<S: ResultsStore + ?Sized>(store: &S, extras: &Extras<'_>) -> Result<()> {
    let exported = tempdir()?;
    let dest = RedbStore::open(exported.path(), RedbOptions::default())?;
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let checked = std::cell::Cell::new(0);
    let outcome = runner.run(&(config_value(), value()), |(config, value)| {
        let accepted = check_case(store, extras, &dest, config, &value)?;
        checked.set(checked.get() + usize::from(accepted));
        Ok(())
    });
    dest.close()?;
    outcome.map_err(|e| Error::Stream {
        op: "check the property",
        source: std::io::Error::other(e.to_string()),
    })?;
    // About half the cases are accepted; none would mean the property checked nothing.
    assert!(checked.get() > 0, "no generated case was accepted");
    Ok(())
}

/// One case of the property; `true` if the config and value were accepted (and checked).
fn check_case<S: ResultsStore + ?Sized>(
    store: &S,
    extras: &Extras<'_>,
    dest: &RedbStore,
    config: Value,
    value: &Value,
) -> Result<bool, TestCaseError> {
    let config_depth = depth(&config);
    let big = has_big_integer(&config);
    let config = match UniqueConfig::new(config) {
        Ok(config) => {
            prop_assert!(
                config_depth <= MAX_DEPTH,
                "accepted at depth {config_depth}"
            );
            config
        }
        Err(ConfigError::TooDeep { limit, .. }) => {
            prop_assert_eq!(limit, MAX_DEPTH);
            prop_assert!(config_depth > MAX_DEPTH, "refused at depth {config_depth}");
            return Ok(false);
        }
        Err(ConfigError::InexactInteger { .. }) if big => return Ok(false),
        Err(e) => return Err(fail(format!("refused: {e}"))),
    };
    // What an importer reads back is the canonical text.
    prop_assert_eq!(
        &UniqueConfig::parse(config.canonical()).map_err(fail)?,
        &config
    );

    let run = store.run(TASK, &config).map_err(fail)?;
    let before = run.load::<Value>("v").map_err(fail)?;
    match run.save("v", "json", value) {
        Ok(()) => prop_assert!(
            depth(value) <= MAX_DEPTH,
            "accepted at depth {}",
            depth(value)
        ),
        Err(Error::NestedTooDeep { limit, .. }) => {
            prop_assert_eq!(limit, MAX_DEPTH);
            prop_assert!(
                depth(value) > MAX_DEPTH,
                "refused at depth {}",
                depth(value)
            );
            prop_assert_eq!(
                run.load::<Value>("v").map_err(fail)?,
                before,
                "nothing stored"
            );
            return Ok(false);
        }
        Err(e) => return Err(fail(format!("save refused: {e}"))),
    }
    let same = |loaded: Option<Value>| loaded.as_ref() == Some(value);

    prop_assert!(same(run.load::<Value>("v").map_err(fail)?), "loadable");
    let results = run.get_results().map_err(fail)?.unwrap_or_default();
    let listed = results.iter().find(|(name, _)| name.as_str() == "v");
    prop_assert!(listed.is_some(), "listed by get_results");
    if let Some(find_run) = &extras.find_run {
        let found = find_run(&config).map_err(fail)?;
        prop_assert!(
            found.is_some_and(
                |r| r.config == config && r.results.iter().any(|x| x.name.as_str() == "v")
            ),
            "listed by find_run"
        );
    }
    let mut swept = 0;
    for item in store
        .task(TASK)
        .map_err(fail)?
        .lazy_sweep("v")
        .map_err(fail)?
    {
        let item = item.map_err(fail)?;
        if item.config == config {
            swept += 1;
            prop_assert!(
                same(Some(item.value.load::<Value>().map_err(fail)?)),
                "swept"
            );
        }
    }
    prop_assert_eq!(swept, 1, "one sweep item for the run");
    if let Some(verify) = &extras.verify {
        let report = verify().map_err(fail)?;
        prop_assert!(
            report.problems.is_empty(),
            "verified: {:?}",
            report.problems
        );
    }
    (extras.export)(dest).map_err(fail)?;
    let imported = dest.run(TASK, &config).map_err(fail)?.load::<Value>("v");
    prop_assert!(same(imported.map_err(fail)?), "exported and imported");
    Ok(true)
}

/// Copies every run of `from` into `to` through `copy_store`.
fn export_with_copy_store<S: ResultsStore + Browse>(from: &S) -> impl Fn(&RedbStore) -> Result<()> {
    move |to| copy_store(from, to, &mut |_| {}).map(drop)
}

/// Copies result `v` of every run of `from` into `to` by hand, as a reader of its sweeps
/// would, for backends without `Browse` (so without `copy_store`).
fn export_by_hand<S: ResultsStore + ?Sized>(from: &S) -> impl Fn(&RedbStore) -> Result<()> {
    move |to| {
        let (task, name) = (TaskName::new(TASK)?, ResultName::new("v")?);
        for item in from.lazy_sweep(&task, &name)? {
            let item = item?;
            let config = UniqueConfig::parse(item.config.canonical())?;
            let id = RunId::new(task.clone(), config);
            let (type_name, bytes) = (item.value.type_name(), item.value.bytes()?);
            to.save_bytes(&id, &name, type_name, &bytes, &SaveOptions::default())?;
        }
        Ok(())
    }
}

#[test]
fn in_memory_store_accepts_only_what_it_reads_back() -> Result<()> {
    let store = InMemoryStore::new();
    let extras = Extras {
        find_run: None,
        verify: None,
        export: Box::new(export_by_hand(&store)),
    };
    accepted_means_readable(&store, &extras)
}

#[test]
fn redb_store_accepts_only_what_it_reads_back() -> Result<()> {
    let dir = tempdir()?;
    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    let task = TaskName::new(TASK)?;
    let extras = Extras {
        find_run: Some(Box::new(|config| store.find_run(&task, config))),
        verify: Some(Box::new(|| store.verify(&mut |_| {}))),
        export: Box::new(export_with_copy_store(&store)),
    };
    accepted_means_readable(&store, &extras)?;
    drop(extras);
    store.close()
}

#[test]
fn local_file_store_accepts_only_what_it_reads_back() -> Result<()> {
    let dir = tempdir()?;
    let store = LocalFileStore::new(dir.path())?;
    let task = TaskName::new(TASK)?;
    let extras = Extras {
        find_run: Some(Box::new(|config| store.find_run(&task, config))),
        verify: None,
        export: Box::new(export_with_copy_store(&store)),
    };
    accepted_means_readable(&store, &extras)
}

/// A server on a thread of this process serving a RedbStore in `dir`; stopped on drop.
struct Served {
    stopper: sweepstore::Stopper,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Served {
    fn start(dir: &Path) -> Result<(Self, std::path::PathBuf)> {
        let store = RedbStore::open(dir.join("store"), RedbOptions::default())?;
        let server = Server::bind(store, dir.join("serve.sock"))?;
        let socket = server.socket().to_owned();
        let stopper = server.stopper();
        let thread = Some(std::thread::spawn(move || server.run()));
        Ok((Served { stopper, thread }, socket))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            // The server's own result is not this test's concern once it is stopped.
            let _ = thread.join();
        }
    }
}

#[test]
fn remote_store_accepts_only_what_it_reads_back() -> Result<()> {
    let dir = tempdir()?;
    let (_served, socket) = Served::start(dir.path())?;
    let store = RemoteStore::connect(&socket)?;
    let task = TaskName::new(TASK)?;
    let extras = Extras {
        find_run: Some(Box::new(|config| store.find_run(&task, config))),
        verify: Some(Box::new(|| store.verify(&mut |_| {}))),
        export: Box::new(export_with_copy_store(&store)),
    };
    accepted_means_readable(&store, &extras)
}

/// `levels` arrays one inside the other around `1`, built without recursion.
fn nested_arrays(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| Value::Array(vec![inner]))
}

/// Drops a value without recursing (`serde_json`'s drop recurses once per level).
fn drop_flat(value: Value) {
    let mut rest = vec![value];
    while let Some(value) = rest.pop() {
        match value {
            Value::Array(items) => rest.extend(items),
            Value::Object(map) => rest.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Saves values nested 65, 128 and a million levels, as a typed value, as bytes and through
/// a file opened for writing, on a thread with a small stack: each is refused, naming the
/// limit, and nothing is stored.
fn deep_values_are_refused<S: ResultsStore + ?Sized + Sync>(store: &S) -> Result<()> {
    let run = store.run(TASK, &UniqueConfig::new(json!({"deep": true}))?)?;
    run.save("v", "json", &json!({"kept": 1}))?;
    for levels in [MAX_DEPTH + 1, 128, 1_000_000] {
        let value = nested_arrays(levels);
        let text = "[".repeat(levels) + &"]".repeat(levels);
        let (typed, raw, streamed) = std::thread::scope(|scope| {
            let check = std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(scope, || {
                    let typed = run.save("v", "json", &value);
                    let raw = run.save_bytes("v", "json", text.as_bytes());
                    let streamed = run.open("v", "w", Some("json")).and_then(|mut file| {
                        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(
                            |source| Error::Stream {
                                op: "write a deep value",
                                source,
                            },
                        )?;
                        file.close()
                    });
                    (typed, raw, streamed)
                })
                .map_err(|source| Error::Stream {
                    op: "spawn a thread with a small stack",
                    source,
                })?;
            check.join().map_err(|_| Error::Stream {
                op: "save a deep value on a small stack",
                source: std::io::Error::other("the thread panicked or overflowed"),
            })
        })?;
        drop_flat(value);
        for (how, outcome) in [("typed", typed), ("bytes", raw), ("stream", streamed)] {
            match outcome {
                Err(
                    e @ Error::NestedTooDeep {
                        limit: MAX_DEPTH, ..
                    },
                ) => {
                    assert!(e.to_string().contains("deeper than 64 levels"), "{e}");
                }
                other => panic!("{levels} levels ({how}): {other:?}"),
            }
        }
        assert_eq!(
            run.load::<Value>("v")?,
            Some(json!({"kept": 1})),
            "{levels} levels"
        );
    }
    // The control: the same value at the limit is stored and read back.
    let at_limit = nested_arrays(MAX_DEPTH);
    run.save("v", "json", &at_limit)?;
    assert_eq!(run.load::<Value>("v")?, Some(at_limit));
    Ok(())
}

#[cfg(feature = "mongodb")]
#[path = "mongo_support/mod.rs"]
mod mongo_support;

/// Needs the server `tests/run.sh` starts (`SWEEPSTORE_MONGO_URI`), as every Mongo suite.
#[cfg(feature = "mongodb")]
#[test]
fn mongo_store_accepts_only_what_it_reads_back() -> Result<()> {
    let store = mongo_support::store("limits")?;
    let extras = Extras {
        find_run: None,
        verify: None,
        export: Box::new(export_by_hand(&store)),
    };
    accepted_means_readable(&store, &extras)?;
    deep_values_are_refused(&mongo_support::store("limits_deep")?)?;
    the_largest_config_travels(&mongo_support::store("limits_large")?)
}

/// Runs `check` on a fresh store of each backend but MongoStore (which has its own test).
fn on_every_backend(check: impl Fn(&dyn ResultsStore) -> Result<()>) -> Result<()> {
    check(&InMemoryStore::new())?;
    let dir = tempdir()?;
    let redb = RedbStore::open(dir.path().join("redb"), RedbOptions::default())?;
    check(&redb)?;
    redb.close()?;
    check(&LocalFileStore::new(dir.path().join("local"))?)?;
    let (_served, socket) = Served::start(dir.path())?;
    check(&RemoteStore::connect(&socket)?)
}

#[test]
fn values_nested_past_the_limit_are_refused_by_every_backend_on_a_small_stack() -> Result<()> {
    on_every_backend(|store| deep_values_are_refused(store))
}

/// A config of exactly `MAX_CONFIG_LEN` bytes is saved, loaded and swept (through a server
/// it travels in one frame beside its value); one byte more is refused.
fn the_largest_config_travels<S: ResultsStore + ?Sized>(store: &S) -> Result<()> {
    // `{"s":"…"}` is 8 bytes around the string.
    let largest = UniqueConfig::new(json!({ "s": "x".repeat(MAX_CONFIG_LEN - 8) }))?;
    assert_eq!(largest.canonical().len(), MAX_CONFIG_LEN);
    let run = store.run(TASK, &largest)?;
    run.save("v", "json", &json!(1))?;
    assert_eq!(run.load::<Value>("v")?, Some(json!(1)));
    let swept: Vec<_> = store.task(TASK)?.lazy_sweep("v")?.collect::<Result<_>>()?;
    assert!(swept.iter().any(|item| item.config == largest));
    let over = UniqueConfig::new(json!({ "s": "x".repeat(MAX_CONFIG_LEN - 7) }));
    assert!(matches!(
        over,
        Err(ConfigError::TooLarge {
            limit: MAX_CONFIG_LEN,
            ..
        })
    ));
    Ok(())
}

#[test]
fn a_config_of_the_largest_size_travels_through_every_backend() -> Result<()> {
    on_every_backend(|store| the_largest_config_travels(store))
}

#[test]
fn configs_as_deep_as_the_ones_of_issue_16_are_refused_naming_the_limit() {
    for levels in [MAX_DEPTH + 1, 127, 128, 5_200] {
        let inner = nested_arrays(levels - 1);
        let refused = UniqueConfig::from_map(Map::from_iter([("x".to_owned(), inner)]));
        assert!(
            matches!(
                &refused,
                Err(ConfigError::TooDeep {
                    limit: MAX_DEPTH,
                    ..
                })
            ),
            "{levels} levels: {refused:?}"
        );
    }
}

// --- A store an earlier version left holding a config past the limit ---------------------

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

fn seed(seed: u64) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "seed": seed }))?)
}

/// `{"deep": [[…[1]…]]}` nested `levels` deep, as canonical text.
fn deep_config_text(levels: usize) -> String {
    format!(
        "{{\"deep\":{}1{}}}",
        "[".repeat(levels - 1),
        "]".repeat(levels - 1)
    )
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

#[test]
fn a_sub_dir_naming_a_result_file_says_a_file_is_in_the_way() -> Result<()> {
    let dir = tempdir()?;
    let store = LocalFileStore::new(dir.path())?;
    let run = store.run(TASK, &seed(0)?)?;
    run.save("metrics", "json", &json!({"loss": 1}))?;
    let options = SaveOptions::in_sub_dir(SubDir::new("metrics.json")?);
    let refused = run.save_with("weights", "json", &json!([1, 2]), &options);
    match refused {
        Err(Error::FileInTheWay { path }) => assert!(path.ends_with("metrics.json")),
        other => panic!("{other:?}"),
    }
    assert_eq!(run.load::<Value>("metrics")?, Some(json!({"loss": 1})));
    assert_eq!(run.load::<Value>("weights")?, None);
    Ok(())
}

/// A `Save` request frame (design §17.2) of result `v` of task `train`, as a client that
/// skipped its own checks would send it.
fn raw_save(config: &str, type_name: &str, bytes: &[u8]) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        let mut n = bytes.len();
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend_from_slice(bytes);
    }
    let mut payload = vec![0]; // Request::Save
    for part in [
        TASK.as_bytes(),
        config.as_bytes(),
        b"v",
        type_name.as_bytes(),
        bytes,
    ] {
        field(&mut payload, part);
    }
    payload.push(0); // no sub_dir
    field(&mut payload, b"{}");
    field(&mut payload, b"{}");
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend(payload);
    frame
}

/// Reads one response frame's payload.
fn read_frame(stream: &mut std::os::unix::net::UnixStream) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |source| Error::Stream {
        op: "read a response frame",
        source,
    };
    let mut len = [0; 4];
    stream.read_exact(&mut len).map_err(io)?;
    let mut payload = vec![0; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut payload).map_err(io)?;
    Ok(payload)
}

#[test]
fn a_server_refuses_past_the_limits_what_a_client_that_skipped_its_checks_sends() -> Result<()> {
    use std::io::Write;
    let dir = tempdir()?;
    let (_served, socket) = Served::start(dir.path())?;
    let io = |source| Error::Stream {
        op: "talk to the server",
        source,
    };
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).map_err(io)?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .map_err(io)?;
    stream
        .write_all(b"\x09\x00\x00\x00SWPSTORE\x02")
        .map_err(io)?;
    assert_eq!(
        read_frame(&mut stream)?.first(),
        Some(&1),
        "Response::Welcome"
    );
    let deep_value = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    let refused = [
        (deep_config_text(MAX_DEPTH + 1), "1".to_owned()),
        ("{}".to_owned(), deep_value),
    ];
    for (config, value) in refused {
        stream
            .write_all(&raw_save(&config, "json", value.as_bytes()))
            .map_err(io)?;
        let response = read_frame(&mut stream)?;
        assert_eq!(response.first(), Some(&0), "Response::Error");
        let needle = b"deeper than 64 levels";
        assert!(response.windows(needle.len()).any(|w| w == needle));
    }
    // The control: the same frame within the limits is stored.
    stream
        .write_all(&raw_save(r#"{"ok":1}"#, "json", b"[[1]]"))
        .map_err(io)?;
    assert_eq!(read_frame(&mut stream)?, [2], "Response::Done");
    let store = RemoteStore::connect(&socket)?;
    let tasks = store.tasks()?;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].runs, 1, "the refused saves created no run");
    let run = store.run(TASK, &UniqueConfig::new(json!({"ok": 1}))?)?;
    assert_eq!(run.load::<Value>("v")?, Some(json!([[1]])));
    Ok(())
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
    let run = dir.path().join(TASK).join("000");
    let io = |source| Error::Stream {
        op: "write a fluidml run directory",
        source,
    };
    std::fs::create_dir_all(run.join(".fluidml")).map_err(io)?;
    std::fs::write(run.join("config.json"), br#"{"seed": 1}"#).map_err(io)?;
    // fluidml 0.3.4's load information of a `pickle` result (from the committed fixture).
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fluidml-0.3.4/train/000/.fluidml/.checkpoint_load_info.p");
    let info = std::fs::read(fixture).map_err(io)?;
    // `pickle.dumps([2**63, 2**64-1, -2**63, 2**63-1], protocol=4)` and `[2**64]`.
    let edges = "8004952f000000000000005d94288a090000000000000080008a09ffffffffffffffff008a0800000000000000808a08ffffffffffffff7f652e";
    let beyond = "8004950f000000000000005d948a09000000000000000001612e";
    for (name, hex) in [("edges", edges), ("beyond", beyond)] {
        std::fs::write(run.join(format!(".fluidml/.{name}_load_info.p")), &info).map_err(io)?;
        std::fs::write(run.join(format!("{name}.p")), unhex(hex)).map_err(io)?;
    }
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
