//! The property: every config and `json` value a backend accepts reads back everywhere,
//! and every one it refuses is past a limit.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Number, Value, json};
use sweepstore::{
    Browse, ConfigError, Error, InMemoryStore, LocalFileStore, MAX_DEPTH, RedbOptions, RedbStore,
    RemoteStore, Result, ResultName, ResultsStore, RunId, RunSummary, SaveOptions, StoreExt,
    TaskName, UniqueConfig, VerifyReport, copy_store,
};

use crate::{Served, TASK, tempdir};

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

impl<'a> Extras<'a> {
    /// For a backend without `Browse`: exported by hand, nothing to list or verify.
    fn by_hand<S: ResultsStore + ?Sized>(store: &'a S) -> Self {
        Extras {
            find_run: None,
            verify: None,
            export: Box::new(export_by_hand(store)),
        }
    }

    /// For a backend with `Browse`: listed by `find_run`, exported with `copy_store`.
    fn browsing<S: ResultsStore + Browse>(store: &'a S) -> Self {
        Extras {
            find_run: Some(Box::new(|config| {
                store.find_run(&TaskName::new(TASK)?, config)
            })),
            verify: None,
            export: Box::new(export_with_copy_store(store)),
        }
    }
}

#[test]
fn in_memory_store_accepts_only_what_it_reads_back() -> Result<()> {
    let store = InMemoryStore::new();
    accepted_means_readable(&store, &Extras::by_hand(&store))
}

#[test]
fn redb_store_accepts_only_what_it_reads_back() -> Result<()> {
    let dir = tempdir()?;
    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    let extras = Extras {
        verify: Some(Box::new(|| store.verify(&mut |_| {}))),
        ..Extras::browsing(&store)
    };
    accepted_means_readable(&store, &extras)?;
    drop(extras);
    store.close()
}

#[test]
fn local_file_store_accepts_only_what_it_reads_back() -> Result<()> {
    let dir = tempdir()?;
    let store = LocalFileStore::new(dir.path())?;
    accepted_means_readable(&store, &Extras::browsing(&store))
}

#[test]
fn remote_store_accepts_only_what_it_reads_back() -> Result<()> {
    let dir = tempdir()?;
    let (_served, socket) = Served::start(dir.path())?;
    let store = RemoteStore::connect(&socket)?;
    let extras = Extras {
        verify: Some(Box::new(|| store.verify(&mut |_| {}))),
        ..Extras::browsing(&store)
    };
    accepted_means_readable(&store, &extras)
}

/// Needs the server `tests/run.sh` starts (`SWEEPSTORE_MONGO_URI`), as every Mongo suite.
#[cfg(feature = "mongodb")]
#[test]
fn mongo_store_accepts_only_what_it_reads_back() -> Result<()> {
    let store = crate::mongo_support::store("limits")?;
    accepted_means_readable(&store, &Extras::by_hand(&store))?;
    crate::refusals::deep_values_are_refused(&crate::mongo_support::store("limits_deep")?)?;
    crate::refusals::the_largest_config_travels(&crate::mongo_support::store("limits_large")?)
}
