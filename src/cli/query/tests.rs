//! Tests of [`Table`](super::Table) built from runs loaded out of a real store (`load.rs`
//! feeding `table.rs`), kept apart so neither file imports the other's tests.

use sweepstore::{RedbOptions, RedbStore, StoreExt, TaskName, UniqueConfig};

use serde_json::{Value, json};

use super::table::*;
use super::{Filter, QueryError};
use crate::cli::CliError;
use crate::cli::query::load;

/// A table of task `t` built from `(config, metrics)` pairs saved in a fresh store.
fn table_of(runs: &[(Value, Option<Value>)]) -> Result<Table, CliError> {
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(dir.path().join("s"), RedbOptions::default())?;
    for (config, metrics) in runs {
        let run = store.run("t", &UniqueConfig::new(config.clone())?)?;
        match metrics {
            Some(m) => run.save("metrics", "json", m)?,
            None => run.save_bytes("log", "text", b"no metrics")?,
        }
    }
    load::table(&store, &TaskName::new("t")?, "metrics", true)
}

fn names(table: &Table) -> Vec<&str> {
    table.columns().iter().map(|c| c.name.as_str()).collect()
}

fn column(table: &Table, name: &str) -> Result<Vec<Option<Value>>, CliError> {
    let at = table.resolve(name)?;
    Ok(table.rows().iter().map(|r| r.cells[at].clone()).collect())
}

#[test]
fn configs_and_results_flatten_into_named_columns() -> Result<(), CliError> {
    let table = table_of(&[
        (
            json!({"Train": {"lr": 0.1}, "state": 1}),
            Some(json!({"loss": 2, "acc": {"val": 0.5}})),
        ),
        (json!({"Train": {"lr": 0.2}}), None),
    ])?;
    assert_eq!(
        names(&table),
        [
            "run",
            "Train.lr",
            "config.state",
            "state",
            "metrics.acc.val",
            "metrics.loss",
            "created",
            "finished",
            "duration"
        ]
    );
    assert_eq!(table.columns()[2].source, Source::Config);
    let loss = column(&table, "loss")?;
    assert_eq!(loss.iter().filter(|c| c.is_some()).count(), 1, "{loss:?}");
    assert_eq!(column(&table, "acc.val")?.iter().flatten().count(), 1);
    Ok(())
}

#[test]
fn names_resolve_exactly_or_by_a_unique_suffix() -> Result<(), CliError> {
    let table = table_of(&[(
        json!({"a": {"x": 1}, "b": {"x": 2}, "lr": 1}),
        Some(json!({"lr": 3})),
    )])?;
    assert_eq!(table.columns()[table.resolve("lr")?].name, "lr");
    assert_eq!(
        table.columns()[table.resolve("metrics.lr")?].name,
        "metrics.lr"
    );
    assert!(matches!(
        table.resolve("x"),
        Err(QueryError::AmbiguousColumn { candidates, .. }) if candidates == ["a.x", "b.x"]
    ));
    assert!(matches!(
        table.resolve("nope"),
        Err(QueryError::UnknownColumn { .. })
    ));
    Ok(())
}

#[test]
fn sorting_is_numeric_with_blanks_last_both_ways() -> Result<(), CliError> {
    let mut table = table_of(&[
        (json!({"i": 1}), Some(json!({"loss": 10}))),
        (json!({"i": 2}), Some(json!({"loss": 9.5}))),
        (json!({"i": 3}), None),
        (json!({"i": 4}), Some(json!({"loss": 100}))),
    ])?;
    let order = |table: &Table| column(table, "i");
    table.sort(&[SortKey::parse("loss")])?;
    assert_eq!(order(&table)?, [2, 1, 4, 3].map(|i| Some(json!(i))));
    table.sort(&[SortKey::parse("-loss")])?;
    assert_eq!(order(&table)?, [4, 1, 2, 3].map(|i| Some(json!(i))));
    table.truncate(2);
    assert_eq!(order(&table)?, [4, 1].map(|i| Some(json!(i))));
    Ok(())
}

#[test]
fn filters_apply_to_config_and_result_columns() -> Result<(), CliError> {
    let mut table = table_of(&[
        (
            json!({"T": {"opt": "adam"}, "i": 1}),
            Some(json!({"loss": 1})),
        ),
        (
            json!({"T": {"opt": "sgd"}, "i": 2}),
            Some(json!({"loss": 2})),
        ),
        (
            json!({"T": {"opt": "rms"}, "i": 3}),
            Some(json!({"loss": 3})),
        ),
    ])?;
    let unchanged = table.clone();
    assert!(table.retain(&[Filter::parse("nope=1")?]).is_err());
    assert_eq!(table.rows().len(), unchanged.rows().len());
    table.retain(&[Filter::parse("T.opt=adam,sgd")?, Filter::parse("loss>1")?])?;
    assert_eq!(column(&table, "i")?, [Some(json!(2))]);
    Ok(())
}

#[test]
fn constant_columns_are_those_equal_in_every_row() -> Result<(), CliError> {
    let table = table_of(&[
        (json!({"seed": 0, "lr": 0.1}), Some(json!({"epochs": 2}))),
        (json!({"seed": 0.0, "lr": 0.2}), Some(json!({"epochs": 2}))),
    ])?;
    let constant = |name| -> Result<bool, CliError> { Ok(table.is_constant(table.resolve(name)?)) };
    assert!(constant("seed")?);
    assert!(constant("epochs")?);
    assert!(constant("created")?, "unknown everywhere is constant");
    assert!(!constant("lr")?);
    assert!(!constant("run")?);
    let single = table_of(&[(json!({"seed": 0}), None)])?;
    assert!(!single.is_constant(single.resolve("seed")?));
    Ok(())
}
