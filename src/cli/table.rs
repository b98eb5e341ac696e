//! `sweepstore table STORE TASK [--where F]... [--sort [-]COL]... [--columns A,B] [--limit N]
//! [--csv | --json]`: a task's runs as one table — config keys, state, the fields of a json
//! result and the run's times — built by the query core (`query`).
//!
//! Invariants: only reads the store; text output puts varying columns first and summarises
//! the columns that are the same in every shown run on one line above the table (with
//! `--columns`, exactly those columns); columns are aligned by display width (CJK counts
//! two); fractional numbers show 6 significant digits (CSV and JSON every digit); a run whose result cannot be read shows blanks and a warning on stderr, never
//! stopping the table.

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use super::count::at_least_one;
use super::filters::FilterArgs;
use super::query::{SortKey, Source, Table, format, load};
use super::select::known_task;
use super::store::open_existing;
use super::{CliError, Out, Status};

/// Digits of the run key shown in the text table.
const KEY_DIGITS: usize = 12;

/// A task's runs as a table: config, state, result fields and times.
///
/// Nested config keys are dotted (Train.lr); fields of the json result (--result, default
/// metrics) are named RESULT.FIELD (metrics.val_loss) and may be given by their last part
/// (val_loss) where that is unique. Times are RFC 3339 UTC; duration is in seconds.
#[derive(Debug, Args)]
pub struct TableArgs {
    /// The store: a directory, or a MongoDB store (mongodb://HOST:PORT/DATABASE/COLLECTION).
    pub(super) store: PathBuf,
    /// The task, e.g. `train`.
    task: String,
    #[command(flatten)]
    filter: FilterArgs,
    /// Sort by this column, largest first with a leading `-` (-metrics.val_loss); numbers
    /// sort as numbers, blanks last. Repeat to break ties.
    #[arg(long, value_name = "[-]COLUMN", allow_hyphen_values = true)]
    sort: Vec<String>,
    /// Show only these columns, in this order (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMN,...")]
    columns: Vec<String>,
    /// Show at most this many runs (after filtering and sorting).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    limit: Option<NonZeroUsize>,
    /// Print CSV (a header line, then one line per run; every column).
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Print JSON: [{COLUMN: value}], blank cells left out; every column.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &TableArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let filters = args.filter.parse()?;
    let sort: Vec<SortKey> = args.sort.iter().map(|s| SortKey::parse(s)).collect();
    let opened = open_existing(&args.store)?;
    let store = opened.get();
    let task = known_task(store, &args.task)?;
    let mut table = load::table(store, &task, &args.filter.result, true)?;
    let total = table.rows().len();
    table.retain(&filters)?;
    table.sort(&sort)?;
    let selected = if args.columns.is_empty() {
        None
    } else {
        Some(table.select(&args.columns)?)
    };
    if let Some(limit) = args.limit {
        table.truncate(limit.get());
    }
    for row in table.rows() {
        if let Some(problem) = &row.problem {
            tracing::warn!(run = %row.run.key, "{problem}; its result columns are blank");
        }
    }
    let every: Vec<usize> = (0..table.columns().len()).collect();
    if args.json {
        let rows = format::json(&table, selected.as_deref().unwrap_or(&every));
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else if args.csv {
        format::csv(&table, selected.as_deref().unwrap_or(&every), out)?;
    } else {
        print_text(&table, selected, total, out)?;
    }
    Ok(Status::Success)
}

/// The text table: a count line, the constant columns, then the varying ones aligned.
fn print_text(
    table: &Table,
    selected: Option<Vec<usize>>,
    total: usize,
    out: &mut Out<'_>,
) -> Result<(), CliError> {
    let shown = table.rows().len();
    let runs = |n: usize| {
        if n == 1 {
            "1 run".to_owned()
        } else {
            format!("{n} runs")
        }
    };
    if shown == total {
        writeln!(out, "{}", runs(total))?;
    } else {
        writeln!(out, "{} of {}", runs(shown), total)?;
    }
    if shown == 0 {
        return Ok(());
    }
    let columns = match selected {
        Some(columns) => columns,
        None => {
            let (constant, varying): (Vec<usize>, Vec<usize>) =
                (0..table.columns().len()).partition(|&at| table.is_constant(at));
            print_constants(table, &constant, out)?;
            varying
        }
    };
    let header: Vec<String> = columns
        .iter()
        .map(|&at| table.columns()[at].name.clone())
        .collect();
    let body: Vec<Vec<(String, bool)>> = table
        .rows()
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|&at| cell(table, at, row.cells[at].as_ref()))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            body.iter()
                .map(|r| r[i].0.width())
                .chain([header[i].width()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // A column of numbers has its name aligned right too.
    let header: Vec<(String, bool)> = header
        .into_iter()
        .enumerate()
        .map(|(i, h)| (h, body.iter().any(|r| r[i].1)))
        .collect();
    for line in [header].iter().chain(&body) {
        let fields: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|((text, right), &width)| pad(text, width, *right))
            .collect();
        writeln!(out, "{}", fields.join("  ").trim_end())?;
    }
    Ok(())
}

/// One line per source naming the columns that are the same in every run:
/// `config: seed=0  epochs=20`.
fn print_constants(table: &Table, constant: &[usize], out: &mut Out<'_>) -> Result<(), CliError> {
    for (source, label) in [
        (Source::Config, "config"),
        (Source::Result, "result"),
        (Source::Run, "run"),
    ] {
        let parts: Vec<String> = constant
            .iter()
            .filter(|&&at| table.columns()[at].source == source)
            .map(|&at| {
                let value = table.rows()[0].cells[at]
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), format::text);
                format!("{}={value}", table.columns()[at].name)
            })
            .collect();
        if !parts.is_empty() {
            writeln!(out, "same in every run, {label}: {}", parts.join("  "))?;
        }
    }
    Ok(())
}

/// A cell's text and whether it aligns right (numbers); run keys are shortened.
fn cell(table: &Table, at: usize, value: Option<&Value>) -> (String, bool) {
    match value {
        None => (String::new(), false),
        Some(Value::String(key)) if table.columns()[at].name == "run" => {
            (key.chars().take(KEY_DIGITS).collect(), false)
        }
        Some(Value::Number(n)) => (
            n.as_f64()
                .filter(|_| n.is_f64())
                .map_or_else(|| n.to_string(), rounded),
            true,
        ),
        Some(value) => (format::text(value), false),
    }
}

/// Significant digits of a fractional number in the text table (`--csv` and `--json` print
/// every digit).
const DIGITS: i32 = 6;

/// `x` to [`DIGITS`] significant digits, trailing zeros dropped; very large or small
/// magnitudes keep their full JSON text.
fn rounded(x: f64) -> String {
    let magnitude = x.abs();
    if !(1e-4..1e15).contains(&magnitude) {
        return serde_json::Number::from_f64(x).map_or_else(|| x.to_string(), |n| n.to_string());
    }
    let decimals = (DIGITS - 1 - magnitude.log10().floor() as i32).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// `text` padded with spaces to `width` display columns.
fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(text.width()));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_round_to_six_significant_digits() {
        assert_eq!(rounded(0.16604220947141088), "0.166042");
        assert_eq!(rounded(2.9226540656296947), "2.92265");
        assert_eq!(rounded(0.5), "0.5");
        assert_eq!(rounded(-1234.5678), "-1234.57");
        assert_eq!(rounded(1e-7), "1e-7");
    }

    #[test]
    fn padding_counts_display_width() {
        assert_eq!(pad("学习率", 8, false), "学习率  ");
        assert_eq!(pad("1", 3, true), "  1");
    }
}
