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
use sweepstore::{ResultsStore, StoreExt, UniqueConfig};

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
pub fn summarize(
    store: &(impl ResultsStore + ?Sized),
    top: usize,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
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

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use sweepstore::{RedbOptions, RedbStore};

    use super::*;

    fn metrics(val_loss: f64, val_accuracy: f64) -> Metrics {
        Metrics {
            train_loss: 0.0,
            val_loss,
            val_accuracy,
            best_epoch: 1,
            weight_norm: 1.0,
            epochs: 1,
        }
    }

    fn summarize_into_text(store: &RedbStore) -> Result<String, CliError> {
        let mut text = Vec::new();
        let mut out = Out {
            writer: &mut text,
            is_terminal: false,
        };
        summarize(store, 5, &mut out)?;
        Ok(String::from_utf8(text)?)
    }

    #[test]
    fn seeds_are_averaged_and_pairs_ranked_by_mean_validation_loss() -> Result<(), CliError> {
        let dir = tempfile::tempdir()?;
        let store = RedbStore::open(dir.path().join("s"), RedbOptions::default())?;
        let runs = [
            (0.1, 0.0, 0, 0.5, 0.7),
            (0.1, 0.0, 1, 0.7, 0.5),
            (0.3, 0.01, 0, 0.4, 0.9),
            (0.3, 0.01, 1, 0.4, 0.8),
        ];
        for (lr, l2, seed, loss, acc) in runs {
            let config = UniqueConfig::new(json!({"lr": lr, "l2": l2, "seed": seed}))?;
            store
                .run(TASK, &config)?
                .save("metrics", "json", &metrics(loss, acc))?;
        }
        let text = summarize_into_text(&store)?;
        let rows: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert_eq!(
            rows[0],
            "     1     0.3    0.01     2  0.4000 (± 0.0000)  0.8500"
        );
        assert_eq!(
            rows[1],
            "     2     0.1       0     2  0.6000 (± 0.1000)  0.6000"
        );

        let saved = store.run(REDUCE_TASK, &UniqueConfig::new(json!({"of": TASK}))?)?;
        let table: Value = saved.load("table")?.ok_or("no table")?;
        assert_eq!(table[0]["lr"], json!(0.3));
        assert_eq!(table[1]["runs"], json!(2));
        assert!(saved.is_finished()?);
        Ok(())
    }

    #[test]
    fn a_run_outside_the_grid_is_an_error_naming_it() -> Result<(), CliError> {
        let dir = tempfile::tempdir()?;
        let store = RedbStore::open(dir.path().join("s"), RedbOptions::default())?;
        let config = UniqueConfig::new(json!({"lr": 0.1, "seed": 0}))?;
        store
            .run(TASK, &config)?
            .save("metrics", "json", &metrics(0.5, 0.5))?;
        let err = summarize_into_text(&store)
            .err()
            .ok_or("a foreign run was accepted")?;
        assert!(matches!(
            err.downcast_ref::<CommandError>(),
            Some(CommandError::NotADemoRun { .. })
        ));
        assert!(err.to_string().contains(r#"{"lr":0.1,"seed":0}"#), "{err}");
        Ok(())
    }
}
