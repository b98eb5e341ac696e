//! The demo's reduce step: the `metrics` of every run of task `train`, read as a lazy sweep,
//! averaged over seeds per (learning rate, L2 penalty), ranked by mean validation loss,
//! printed as a table and saved as the result `table` of task `reduce`.
//!
//! Invariants: every stored run of the task counts (a run that is not a demo grid point is an
//! error naming its config, never silently dropped); ties in the ranking are broken by the
//! configuration itself, so the table is the same on every invocation over the same store.

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sweepstore::{RedbStore, StoreExt, UniqueConfig};

use super::TASK;
use super::learn::Metrics;
use crate::cli::error::CommandError;
use crate::cli::{CliError, Out};

/// The task the summary is saved under.
const REDUCE_TASK: &str = "reduce";

/// The hyper-parameters of a demo run, as its config holds them.
#[derive(Debug, Deserialize)]
struct Point {
    lr: f64,
    l2: f64,
}

/// One (learning rate, L2 penalty) pair, over its seeds.
#[derive(Debug, Serialize)]
struct Row {
    lr: f64,
    l2: f64,
    runs: usize,
    val_loss_mean: f64,
    val_loss_sd: f64,
    val_accuracy_mean: f64,
}

/// Reads every run's metrics lazily, prints the best `top` configurations to `out` and
/// saves the whole ranking.
pub fn summarize(store: &RedbStore, top: usize, out: &mut Out<'_>) -> Result<(), CliError> {
    // Keyed by the bits of (lr, l2): exact grid values, a total order for the tie-break.
    let mut groups: BTreeMap<(u64, u64), (Point, Vec<Metrics>)> = BTreeMap::new();
    for sweep in store.task(TASK)?.lazy_sweep("metrics")? {
        let sweep = sweep?;
        let point: Point = serde_json::from_value(sweep.config.to_value()).map_err(|e| {
            CommandError::NotADemoRun {
                config: sweep.config.to_string(),
                reason: e.to_string(),
            }
        })?;
        let metrics: Metrics = sweep.value.load()?;
        groups
            .entry((point.lr.to_bits(), point.l2.to_bits()))
            .or_insert_with(|| (point, Vec::new()))
            .1
            .push(metrics);
    }
    let mut rows: Vec<Row> = groups.into_values().map(|(p, m)| row(&p, &m)).collect();
    rows.sort_by(|a, b| a.val_loss_mean.total_cmp(&b.val_loss_mean));
    let config = UniqueConfig::new(json!({ "of": TASK }))?;
    let reduce = store.run(REDUCE_TASK, &config)?;
    reduce.save("table", "json", &rows)?;
    reduce.finish()?;

    writeln!(
        out,
        "\nbest of {} configurations (mean over seeds, by validation loss; saved as task `{REDUCE_TASK}`, result `table`):",
        rows.len()
    )?;
    writeln!(
        out,
        "  rank      lr      l2  runs  val_loss (± sd)    val_acc"
    )?;
    for (rank, r) in rows.iter().take(top).enumerate() {
        writeln!(
            out,
            "  {:>4}  {:>6}  {:>6}  {:>4}  {:.4} (± {:.4})  {:.4}",
            rank + 1,
            r.lr,
            r.l2,
            r.runs,
            r.val_loss_mean,
            r.val_loss_sd,
            r.val_accuracy_mean
        )?;
    }
    Ok(())
}

/// Mean and standard deviation over the seeds of one pair.
fn row(point: &Point, metrics: &[Metrics]) -> Row {
    let n = metrics.len().max(1) as f64;
    let mean = metrics.iter().map(|m| m.val_loss).sum::<f64>() / n;
    let var = metrics
        .iter()
        .map(|m| (m.val_loss - mean).powi(2))
        .sum::<f64>()
        / n;
    Row {
        lr: point.lr,
        l2: point.l2,
        runs: metrics.len(),
        val_loss_mean: mean,
        val_loss_sd: var.sqrt(),
        val_accuracy_mean: metrics.iter().map(|m| m.val_accuracy).sum::<f64>() / n,
    }
}
