//! `sweepstore diff STORE TASK RUN RUN [--all] [--json]`: two runs side by side — their
//! configs and json results flattened to the query core's dotted columns.
//!
//! Invariants: only reads the store; each RUN is a run key prefix or a JSON config (the
//! store's lookup rule); keys are compared the way `--where` compares (`0` equals `0.0`); a
//! key one run lacks shows a blank; a damaged or non-json result is named, not fatal.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};
use sweepstore::{JSON, RunSummary};
use unicode_width::UnicodeWidthStr;

use super::query::filter::equal;
use super::query::flatten::flatten;
use super::query::{format, load};
use super::select::{by_text, known_task};
use super::store::{Reachable, open_existing};
use super::{CliError, Out, Status};

/// Digits of each run key in the header.
const KEY_DIGITS: usize = 12;

/// Compare two runs: config and json results, side by side.
///
/// By default only the keys that differ are listed (with a count of those that agree).
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The store: a directory, or a MongoDB store (mongodb://HOST:PORT/DATABASE/COLLECTION).
    pub(super) store: PathBuf,
    /// The task, e.g. `train`.
    task: String,
    /// The first run: a run key prefix (as `ls` prints it) or a JSON config.
    a: String,
    /// The second run.
    b: String,
    /// List the keys that agree too.
    #[arg(long)]
    all: bool,
    /// Print JSON: {"a", "b" (run keys), "keys": [{"key", "a", "b", "same"}]} (a missing
    /// value is left out).
    #[arg(long)]
    json: bool,
}

pub fn run(args: &DiffArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let opened = open_existing(&args.store)?;
    let store = opened.get();
    let task = known_task(store, &args.task)?;
    let a = by_text(store, &task, &args.a)?;
    let b = by_text(store, &task, &args.b)?;
    let (left, right) = (flat_run(store, &a)?, flat_run(store, &b)?);
    let keys: Vec<&String> = {
        let mut keys: Vec<&String> = left.keys().chain(right.keys()).collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let same = |k: &String| match (left.get(k), right.get(k)) {
        (Some(x), Some(y)) => equal(x, y),
        _ => false,
    };
    if args.json {
        let rows: Vec<Value> = keys
            .iter()
            .map(|&k| {
                let mut row = json!({ "key": k, "same": same(k) });
                if let Some(v) = left.get(k) {
                    row["a"] = v.clone();
                }
                if let Some(v) = right.get(k) {
                    row["b"] = v.clone();
                }
                row
            })
            .collect();
        let value = json!({ "a": a.key.to_hex(), "b": b.key.to_hex(), "keys": rows });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(Status::Success);
    }
    let shown: Vec<&String> = keys
        .iter()
        .copied()
        .filter(|k| args.all || !same(k))
        .collect();
    let text = |v: Option<&Value>| v.map(format::text).unwrap_or_default();
    let header = [
        "",
        &a.key.to_hex()[..KEY_DIGITS],
        &b.key.to_hex()[..KEY_DIGITS],
    ];
    let lines: Vec<[String; 3]> = shown
        .iter()
        .map(|&k| [k.clone(), text(left.get(k)), text(right.get(k))])
        .collect();
    let width = |i: usize| {
        lines
            .iter()
            .map(|l| l[i].width())
            .chain([header[i].width()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.width())));
    writeln!(
        out,
        "{}  {}  {}",
        pad(header[0], w0),
        pad(header[1], w1),
        header[2]
    )?;
    for line in &lines {
        let mark = if same(&line[0]) { " " } else { "*" };
        let row = format!("{}  {}  {}", pad(&line[0], w0), pad(&line[1], w1), line[2]);
        writeln!(out, "{mark}{}", row.trim_end())?;
    }
    let agree = keys.len() - keys.iter().filter(|k| !same(k)).count();
    writeln!(
        out,
        "({} of {} keys differ{})",
        keys.len() - agree,
        keys.len(),
        if args.all {
            ""
        } else {
            "; --all lists the others"
        }
    )?;
    Ok(Status::Success)
}

/// A run flattened: `config.KEY`, `state`, and `RESULT.FIELD` for each json result (a result
/// that cannot be read shows as `RESULT` = its problem).
fn flat_run(store: &dyn Reachable, run: &RunSummary) -> Result<BTreeMap<String, Value>, CliError> {
    let mut pairs = Vec::new();
    flatten("config", &run.config.to_value(), &mut pairs);
    pairs.push((
        "state".to_owned(),
        run.state
            .map_or(Value::Null, |s| json!(super::render::state_name(s))),
    ));
    for result in run.results.iter().filter(|r| r.type_name == JSON) {
        match load::json_result(store, run, &result.name) {
            Some(Ok(value)) => flatten(result.name.as_str(), &value, &mut pairs),
            Some(Err(problem)) => pairs.push((result.name.to_string(), json!(problem))),
            None => {}
        }
    }
    Ok(pairs.into_iter().collect())
}
