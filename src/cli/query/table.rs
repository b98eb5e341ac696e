//! [`Table`]: the runs of one task as rows × named columns (see the module docs of `query`
//! for the column names), with filtering, sorting, limiting and column selection.
//!
//! Invariants: every row has one cell per column (`None` where the run has no value);
//! column names are unique; the run columns (`run`, `state`, `created`, `finished`,
//! `duration`) always exist; sorting is stable and puts blank cells last in either
//! direction.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use serde_json::{Value, json};
use sweepstore::RunSummary;

use super::QueryError;
use super::filter::{Filter, equal, order};
use super::flatten::flatten;
use crate::cli::render::{rfc3339, state_name};

/// A run with (if loaded) its json result.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    /// The run.
    pub run: RunSummary,
    /// The result: `None` if not loaded or the run has none; `Some(Err(reason))` if it is
    /// damaged or not json.
    pub result: Option<Result<Value, String>>,
}

/// The run's own columns, in the order they are listed.
const RUN_COLUMNS: [&str; 5] = ["run", "state", "created", "finished", "duration"];
/// Prefix of a config column whose plain name another column has.
const CONFIG_PREFIX: &str = "config.";

/// Where a column's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The run itself: key, state, times.
    Run,
    /// The run's config.
    Config,
    /// The json result the table was built with.
    Result,
}

/// One column of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name (unique in the table).
    pub name: String,
    /// Where its values come from.
    pub source: Source,
}

/// One run of a [`Table`].
#[derive(Debug, Clone)]
pub struct Row {
    /// The run.
    pub run: RunSummary,
    /// One cell per column of the table, `None` where the run has no value.
    pub cells: Vec<Option<Value>>,
    /// Why the run's result columns are blank although it has the result (damaged, or not
    /// json), if they are.
    pub problem: Option<String>,
}

/// A sort key: a column name, descending if written with a leading `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The column name as given.
    pub name: String,
    /// Largest first.
    pub descending: bool,
}

impl SortKey {
    /// Parses `[-]COLUMN`.
    pub fn parse(text: &str) -> Self {
        match text.strip_prefix('-') {
            Some(name) => SortKey {
                name: name.to_owned(),
                descending: true,
            },
            None => SortKey {
                name: text.to_owned(),
                descending: false,
            },
        }
    }
}

/// The runs of one task as rows of cells under named columns.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Row>,
}

impl Table {
    /// The table of `runs`, in their order; result columns are named `RESULT.field`, with
    /// `result` the name of the result that was loaded.
    pub fn new(runs: Vec<LoadedRun>, result: &str) -> Self {
        let mut flat_configs = Vec::with_capacity(runs.len());
        let mut flat_results = Vec::with_capacity(runs.len());
        let (mut config_paths, mut result_paths) = (BTreeSet::new(), BTreeSet::new());
        for loaded in &runs {
            let mut config = Vec::new();
            flatten("", &loaded.run.config.to_value(), &mut config);
            config_paths.extend(config.iter().map(|(path, _)| path.clone()));
            let mut fields = Vec::new();
            if let Some(Ok(value)) = &loaded.result {
                flatten(result, value, &mut fields);
            }
            result_paths.extend(fields.iter().map(|(path, _)| path.clone()));
            flat_configs.push(config);
            flat_results.push(fields);
        }
        let config_name = |path: &String| {
            if RUN_COLUMNS.contains(&path.as_str()) || result_paths.contains(path) {
                format!("{CONFIG_PREFIX}{path}")
            } else {
                path.clone()
            }
        };
        let named = |name: &str, source| Column {
            name: name.to_owned(),
            source,
        };
        let mut columns = vec![named("run", Source::Run)];
        columns.extend(
            config_paths
                .iter()
                .map(|p| named(&config_name(p), Source::Config)),
        );
        columns.push(named("state", Source::Run));
        columns.extend(result_paths.iter().map(|p| named(p, Source::Result)));
        columns.extend(RUN_COLUMNS[2..].iter().map(|n| named(n, Source::Run)));
        let index: HashMap<(Source, &str), usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.source, c.name.as_str()), i))
            .collect();
        let config_index: HashMap<&str, usize> = config_paths
            .iter()
            .map(|p| {
                (
                    p.as_str(),
                    index[&(Source::Config, config_name(p).as_str())],
                )
            })
            .collect();
        let run_cell = |name: &str| index[&(Source::Run, name)];
        let rows = runs
            .into_iter()
            .zip(flat_configs.into_iter().zip(flat_results))
            .map(|(loaded, (config, fields))| {
                let mut cells = vec![None; columns.len()];
                for (path, value) in config {
                    cells[config_index[path.as_str()]] = Some(value);
                }
                for (path, value) in fields {
                    cells[index[&(Source::Result, path.as_str())]] = Some(value);
                }
                let run = &loaded.run;
                cells[run_cell("run")] = Some(json!(run.key.to_hex()));
                cells[run_cell("state")] = run.state.map(|s| json!(state_name(s)));
                cells[run_cell("created")] = run.created.map(|t| json!(rfc3339(t)));
                cells[run_cell("finished")] = run.finished.map(|t| json!(rfc3339(t)));
                cells[run_cell("duration")] = duration(run.created, run.finished);
                Row {
                    problem: loaded.result.and_then(Result::err),
                    run: loaded.run,
                    cells,
                }
            })
            .collect();
        Table { columns, rows }
    }

    /// Its columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Its rows.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The index of the column `name` names: the column of exactly that name, else the one
    /// whose name ends in `.NAME`.
    ///
    /// # Errors
    /// [`QueryError::UnknownColumn`] or [`QueryError::AmbiguousColumn`], naming the columns.
    pub fn resolve(&self, name: &str) -> Result<usize, QueryError> {
        if let Some(at) = self.columns.iter().position(|c| c.name == name) {
            return Ok(at);
        }
        let suffix = format!(".{name}");
        let found: Vec<usize> = (0..self.columns.len())
            .filter(|&i| self.columns[i].name.ends_with(&suffix))
            .collect();
        match found[..] {
            [one] => Ok(one),
            [] => Err(QueryError::UnknownColumn {
                name: name.to_owned(),
                known: self.columns.iter().map(|c| c.name.clone()).collect(),
            }),
            _ => Err(QueryError::AmbiguousColumn {
                name: name.to_owned(),
                candidates: found
                    .iter()
                    .map(|&i| self.columns[i].name.clone())
                    .collect(),
            }),
        }
    }

    /// The indices of the columns `names` name, in that order.
    ///
    /// # Errors
    /// As [`Table::resolve`].
    pub fn select(&self, names: &[String]) -> Result<Vec<usize>, QueryError> {
        names.iter().map(|name| self.resolve(name)).collect()
    }

    /// Keeps the rows that pass every filter.
    ///
    /// # Errors
    /// As [`Table::resolve`], for a filter's key (then no row is removed).
    pub fn retain(&mut self, filters: &[Filter]) -> Result<(), QueryError> {
        let resolved: Vec<(usize, &Filter)> = filters
            .iter()
            .map(|f| Ok((self.resolve(f.key())?, f)))
            .collect::<Result<_, QueryError>>()?;
        self.rows.retain(|row| {
            resolved
                .iter()
                .all(|&(at, f)| f.matches(row.cells[at].as_ref()))
        });
        Ok(())
    }

    /// Sorts the rows by `keys`, the first deciding first; stable, blank cells last.
    ///
    /// # Errors
    /// As [`Table::resolve`], for a key's name (then the order is unchanged).
    pub fn sort(&mut self, keys: &[SortKey]) -> Result<(), QueryError> {
        let resolved: Vec<(usize, bool)> = keys
            .iter()
            .map(|k| Ok((self.resolve(&k.name)?, k.descending)))
            .collect::<Result<_, QueryError>>()?;
        self.rows.sort_by(|a, b| {
            resolved
                .iter()
                .map(|&(at, descending)| match (&a.cells[at], &b.cells[at]) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(x), Some(y)) if descending => sort_order(y, x),
                    (Some(x), Some(y)) => sort_order(x, y),
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        Ok(())
    }

    /// Keeps the first `limit` rows.
    pub fn truncate(&mut self, limit: usize) {
        self.rows.truncate(limit);
    }

    /// Whether column `at` has the same cell (or none) in every row; never with fewer than
    /// two rows (nothing to compare), and never for `run`.
    pub fn is_constant(&self, at: usize) -> bool {
        if self.rows.len() < 2 || self.columns[at].name == "run" {
            return false;
        }
        let first = &self.rows[0].cells[at];
        self.rows[1..]
            .iter()
            .all(|row| match (first, &row.cells[at]) {
                (None, None) => true,
                (Some(a), Some(b)) => equal(a, b),
                _ => false,
            })
    }
}

/// Seconds from `created` to `finished`, to the millisecond, when both are known.
fn duration(created: Option<SystemTime>, finished: Option<SystemTime>) -> Option<Value> {
    let took = finished?.duration_since(created?).ok()?;
    Some(json!((took.as_millis() as f64) / 1000.0))
}

/// A total order over cells: numbers (by value), then strings, booleans, nulls, arrays and
/// objects (by their JSON text).
fn sort_order(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Null => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    };
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(_) | Value::Object(_), _) => a.to_string().cmp(&b.to_string()),
        _ => order(a, b).unwrap_or(Ordering::Equal),
    })
}
