//! The lookup rule (`src/store.rs`, DESIGN.md §2): the exact config first, else the stored
//! subset config with the most top-level keys, then the earliest created; the run is picked
//! first, then the name inside it.

use serde_json::{Value, json};
use sweepstore::{ResultsStore, RunState, StoreExt, UniqueConfig};

use crate::support::{config, missing};

type Result<T = ()> = sweepstore::Result<T>;

/// Saves text `value` as result `name` of the run of `task` with config `at`.
fn put<S: ResultsStore>(store: &S, task: &str, at: Value, name: &str, value: &str) -> Result {
    store
        .run(task, &config(at)?)?
        .save(name, "text", &value.to_owned())
}

/// Loads text result `name` of `task` for the queried config.
fn get<S: ResultsStore>(store: &S, task: &str, query: Value, name: &str) -> Result<Option<String>> {
    store.run(task, &config(query)?)?.load::<String>(name)
}

fn some(value: &str) -> Option<String> {
    Some(value.to_owned())
}

pub fn exact_config_wins_over_a_subset<S: ResultsStore>(store: &S) -> Result {
    put(store, "t", json!({"a": 1}), "m", "subset")?;
    put(store, "t", json!({"a": 1, "b": 2}), "m", "exact")?;
    assert_eq!(
        get(store, "t", json!({"a": 1, "b": 2}), "m")?,
        some("exact")
    );
    assert_eq!(get(store, "t", json!({"a": 1}), "m")?, some("subset"));
    // The same with the exact run created first.
    put(store, "u", json!({"a": 1, "b": 2}), "m", "exact")?;
    put(store, "u", json!({"a": 1}), "m", "subset")?;
    assert_eq!(
        get(store, "u", json!({"a": 1, "b": 2}), "m")?,
        some("exact")
    );
    assert_eq!(get(store, "u", json!({"a": 1}), "m")?, some("subset"));
    Ok(())
}

pub fn the_most_specific_subset_wins<S: ResultsStore>(store: &S) -> Result {
    // Created least specific first and most specific last, so "earliest" cannot explain it.
    put(store, "t", json!({}), "m", "empty")?;
    put(store, "t", json!({"a": 1}), "m", "a")?;
    put(store, "t", json!({"a": 1, "b": 2}), "m", "ab")?;
    let q = |v| get(store, "t", v, "m");
    assert_eq!(q(json!({"a": 1, "b": 2, "c": 3}))?, some("ab"));
    assert_eq!(q(json!({"a": 1, "c": 3}))?, some("a"));
    assert_eq!(q(json!({"a": 1, "b": 3}))?, some("a"));
    assert_eq!(q(json!({"z": 0}))?, some("empty"));
    assert_eq!(q(json!({"a": 2, "b": 2}))?, some("empty"));
    Ok(())
}

pub fn among_equally_specific_subsets_the_earliest_created_wins<S: ResultsStore>(
    store: &S,
) -> Result {
    put(store, "t", json!({"a": 1}), "m", "a first")?;
    put(store, "t", json!({"b": 2}), "m", "b second")?;
    assert_eq!(
        get(store, "t", json!({"a": 1, "b": 2}), "m")?,
        some("a first")
    );
    put(store, "u", json!({"b": 2}), "m", "b first")?;
    put(store, "u", json!({"a": 1}), "m", "a second")?;
    assert_eq!(
        get(store, "u", json!({"a": 1, "b": 2}), "m")?,
        some("b first")
    );
    // Overwriting does not make a run younger.
    put(store, "u", json!({"a": 1}), "m", "a second, overwritten")?;
    put(store, "u", json!({"b": 2}), "m", "b first, overwritten")?;
    let q = json!({"a": 1, "b": 2});
    assert_eq!(
        get(store, "u", q.clone(), "m")?,
        some("b first, overwritten")
    );
    // Once the earliest is gone, the next one wins.
    assert!(store.run("u", &config(json!({"b": 2}))?)?.delete_run()?);
    assert_eq!(get(store, "u", q, "m")?, some("a second, overwritten"));
    Ok(())
}

pub fn a_config_that_is_not_a_subset_never_matches<S: ResultsStore>(store: &S) -> Result {
    for stored in [
        json!({"a": 2}),
        json!({"c": 1}),
        json!({"a": 1, "b": 3}),
        json!({"a": 1, "b": 2, "c": 3}),
        json!({"a": "1"}),
        json!({"a": true}),
        json!({"a": null}),
        json!({"a": [1]}),
        json!({"b": {"x": 1}}),
    ] {
        put(store, "t", stored, "m", "no match")?;
    }
    let query = json!({"a": 1, "b": {"x": 1, "y": 2}});
    assert_eq!(get(store, "t", query.clone(), "m")?, None);
    let run = store.run("t", &config(query)?)?;
    assert!(run.get_results()?.is_none());
    assert_eq!(run.state()?, None);
    assert!(!run.delete("m")?);
    assert!(!run.delete_run()?);
    assert!(matches!(
        run.open("m", "r", None),
        Err(sweepstore::Error::NotFound { .. })
    ));
    Ok(())
}

pub fn lookup_picks_the_run_before_the_name<S: ResultsStore>(store: &S) -> Result {
    put(store, "t", json!({"a": 1}), "m", "a.m")?;
    put(store, "t", json!({"a": 1}), "n", "a.n")?;
    put(store, "t", json!({"a": 1, "b": 2}), "m", "ab.m")?;
    let query = json!({"a": 1, "b": 2, "c": 3});
    assert_eq!(get(store, "t", query.clone(), "m")?, some("ab.m"));
    assert_eq!(
        get(store, "t", query.clone(), "n")?,
        None,
        "the chosen run lacks `n`; a less specific run's `n` is not used"
    );
    let run = store.run("t", &config(query)?)?;
    assert!(!run.delete("n")?);
    assert_eq!(get(store, "t", json!({"a": 1}), "n")?, some("a.n"));
    Ok(())
}

pub fn an_empty_exact_run_hides_its_subsets<S: ResultsStore>(store: &S) -> Result {
    put(store, "t", json!({}), "m", "empty config")?;
    store
        .run("t", &config(json!({"a": 1}))?)?
        .set_state(RunState::Running)?;
    assert_eq!(get(store, "t", json!({"a": 1}), "m")?, None);
    assert_eq!(
        get(store, "t", json!({"a": 1, "b": 2}), "m")?,
        None,
        "the run without results is the most specific subset"
    );
    assert_eq!(get(store, "t", json!({"b": 2}), "m")?, some("empty config"));
    store.run("t", &config(json!({"c": 1}))?)?.get_context()?;
    assert_eq!(get(store, "t", json!({"c": 1}), "m")?, None);
    Ok(())
}

pub fn integer_and_float_spellings_and_key_order_are_one_config<S: ResultsStore>(
    store: &S,
) -> Result {
    let a = UniqueConfig::parse(r#"{"b": 1, "a": 2.0, "lr": 1e-3}"#)?;
    let b = config(json!({"a": 2, "lr": 0.001, "b": 1.0}))?;
    let c = UniqueConfig::parse(r#"{"lr":0.0010,"a":20e-1,"b":1}"#)?;
    store.run("t", &a)?.save("m", "text", &"first".to_owned())?;
    assert_eq!(store.run("t", &b)?.load::<String>("m")?, some("first"));
    store
        .run("t", &c)?
        .save("m", "text", &"second".to_owned())?;
    assert_eq!(store.run("t", &a)?.load::<String>("m")?, some("second"));
    let counters: Vec<_> = [&a, &b, &c]
        .into_iter()
        .map(|cfg| Ok(store.run("t", cfg)?.get_context()?.sweep_counter))
        .collect::<Result<_>>()?;
    assert_eq!(counters, vec![some("000"); 3], "one run, not three");
    let sweeps: Vec<_> = store
        .task("t")?
        .sweep::<String>("m")?
        .collect::<Result<_>>()?;
    assert_eq!(sweeps.len(), 1);
    Ok(())
}

pub fn nested_values_are_compared_canonically<S: ResultsStore>(store: &S) -> Result {
    put(
        store,
        "t",
        json!({"opt": {"name": "adam", "betas": [0.9, 1]}}),
        "m",
        "nested",
    )?;
    let query = json!({"lr": 1, "opt": {"betas": [0.9, 1.0], "name": "adam"}});
    assert_eq!(get(store, "t", query, "m")?, some("nested"));
    let other = json!({"lr": 1, "opt": {"betas": [1.0, 0.9], "name": "adam"}});
    assert_eq!(get(store, "t", other, "m")?, None, "array order matters");
    Ok(())
}

pub fn saving_with_a_superset_config_creates_a_new_run<S: ResultsStore>(store: &S) -> Result {
    put(store, "t", json!({"a": 1}), "m", "subset")?;
    put(store, "t", json!({"a": 1, "b": 2}), "m", "superset")?;
    assert_eq!(get(store, "t", json!({"a": 1}), "m")?, some("subset"));
    assert_eq!(
        get(store, "t", json!({"a": 1, "b": 2}), "m")?,
        some("superset")
    );
    let configs: Vec<UniqueConfig> = store
        .task("t")?
        .lazy_sweep("m")?
        .map(|s| Ok(s?.config))
        .collect::<Result<_>>()?;
    assert_eq!(
        configs,
        [config(json!({"a": 1}))?, config(json!({"a": 1, "b": 2}))?]
    );
    // set_state and get_context address the exact run too.
    let superset = store.run("t", &config(json!({"a": 1, "c": 3}))?)?;
    superset.finish()?;
    assert!(!store.run("t", &config(json!({"a": 1}))?)?.is_finished()?);
    assert_eq!(superset.get_context()?.sweep_counter, some("002"));
    Ok(())
}

pub fn delete_uses_the_lookup_rule<S: ResultsStore>(store: &S) -> Result {
    put(store, "t", json!({"a": 1}), "m", "subset")?;
    put(store, "t", json!({"a": 1}), "n", "subset n")?;
    let superset = store.run("t", &config(json!({"a": 1, "b": 2}))?)?;
    assert!(superset.delete("m")?, "deletes from the subset run");
    assert_eq!(get(store, "t", json!({"a": 1}), "m")?, None);
    superset.set_state(RunState::Running)?;
    assert!(
        !superset.delete("n")?,
        "now the exact (empty) run is found, and it lacks `n`"
    );
    assert_eq!(get(store, "t", json!({"a": 1}), "n")?, some("subset n"));
    Ok(())
}

pub fn delete_run_uses_the_lookup_rule<S: ResultsStore>(store: &S) -> Result {
    put(store, "t", json!({}), "m", "empty")?;
    put(store, "t", json!({"a": 1}), "m", "subset")?;
    let superset = store.run("t", &config(json!({"a": 1, "b": 2}))?)?;
    assert!(
        superset.delete_run()?,
        "deletes the most specific subset run"
    );
    assert_eq!(
        get(store, "t", json!({"a": 1}), "m")?,
        some("empty"),
        "the `a` run is gone; only the empty config is left to match"
    );
    assert!(superset.delete_run()?, "then the next one");
    assert!(!superset.delete_run()?);
    Ok(())
}

pub fn get_results_and_state_use_the_lookup_rule<S: ResultsStore>(store: &S) -> Result {
    put(store, "t", json!({"a": 1}), "m", "subset")?;
    store.run("t", &config(json!({"a": 1}))?)?.finish()?;
    let superset = store.run("t", &config(json!({"a": 1, "b": 2}))?)?;
    assert_eq!(superset.state()?, Some(RunState::Finished));
    assert!(superset.is_finished()?);
    let results = superset
        .get_results()?
        .ok_or_else(|| missing("subset run"))?;
    let m = results.values().next().ok_or_else(|| missing("m"))?;
    assert_eq!(m.load::<String>()?, "subset");
    let mut file = superset.open("m", "r", None)?;
    assert_eq!(crate::support::read_all(&mut file)?, b"subset");
    Ok(())
}

pub fn lookup_never_crosses_tasks<S: ResultsStore>(store: &S) -> Result {
    put(store, "a", json!({}), "m", "task a")?;
    assert_eq!(get(store, "b", json!({"x": 1}), "m")?, None);
    assert_eq!(get(store, "b", json!({}), "m")?, None);
    assert_eq!(store.task("b")?.lazy_sweep("m")?.count(), 0);
    assert!(store.run("b", &UniqueConfig::empty())?.state()?.is_none());
    Ok(())
}
