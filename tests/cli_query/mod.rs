//! `table`, `diff`, `rm`, the filter language in `ls`/`table`/`export`, and what a
//! first-time user trips over (unknown task, subset `--config`, display width, "(1 run)"),
//! each through the real binary.

use std::ffi::OsString;
use std::path::Path;

use serde_json::{Value, json};
use sweepstore::{RedbOptions, RedbStore, StoreExt, UniqueConfig};

use super::cli_support::{TestResult, arg, run};

/// Task `train` of a fluidml-style sweep (configs nested under the task name): 2 optimizers ×
/// 2 learning rates, seed 0 everywhere; `metrics` {loss, acc}; the sgd/0.1 run unfinished
/// and without metrics. Task `eval`: one run.
fn make_sweep(path: &Path) -> TestResult {
    let store = RedbStore::open(path, RedbOptions::default())?;
    for (opt, lr, loss) in [
        ("adam", 0.1, 0.4),
        ("adam", 0.01, 0.2),
        ("sgd", 0.1, f64::NAN),
        ("sgd", 0.01, 0.3),
    ] {
        let config = json!({"Train": {"opt": opt, "lr": lr}, "seed": 0});
        let run = store.run("train", &UniqueConfig::new(config)?)?;
        if loss.is_nan() {
            run.save_bytes("log", "text", b"started\n")?;
            continue;
        }
        run.save("metrics", "json", &json!({"loss": loss, "acc": 1.0 - loss}))?;
        run.finish()?;
    }
    let eval = store.run("eval", &UniqueConfig::new(json!({"split": "test"}))?)?;
    eval.save("metrics", "json", &json!({"f1": 0.5}))?;
    Ok(())
}

/// `SUBCOMMAND STORE REST...` from `[SUBCOMMAND, REST...]`.
fn args(store: &Path, rest: &[&str]) -> Vec<OsString> {
    let mut all = vec![OsString::from(rest[0]), arg(store).to_owned()];
    all.extend(rest[1..].iter().map(OsString::from));
    all
}

fn json_rows(store: &Path, rest: &[&str]) -> TestResult<Vec<Value>> {
    let ran = run(args(store, rest))?.ok()?;
    let value: Value = serde_json::from_str(&ran.stdout)?;
    Ok(value.as_array().ok_or("an array")?.clone())
}

/// The values of `column` in `rows`, in order.
fn column(rows: &[Value], column: &str) -> Vec<Value> {
    rows.iter()
        .map(|r| r.get(column).cloned().unwrap_or(Value::Null))
        .collect()
}

#[test]
fn table_shows_varying_columns_and_summarises_constant_ones() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    let text = run(args(&store, &["table", "train", "--sort", "-loss"]))?.ok()?;
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines[0], "4 runs");
    assert_eq!(lines[1], "same in every run, config: seed=0");
    assert!(
        lines[2].starts_with("same in every run, run: created="),
        "{}",
        text.stdout
    );
    let header: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "run",
            "Train.lr",
            "Train.opt",
            "state",
            "metrics.acc",
            "metrics.loss"
        ],
        "{}",
        text.stdout
    );
    // Largest loss first; the run without metrics (and never finished) last, with blanks.
    let cells = |line: &str| {
        line.split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cells(lines[4]),
        ["0.1", "adam", "finished", "0.6", "0.4"],
        "{}",
        text.stdout
    );
    assert_eq!(
        cells(lines[7]),
        ["0.1", "sgd", "running"],
        "{}",
        text.stdout
    );

    let rows = json_rows(&store, &["table", "train", "--sort", "loss", "--json"])?;
    assert_eq!(
        column(&rows, "metrics.loss"),
        [json!(0.2), json!(0.3), json!(0.4), Value::Null]
    );
    assert_eq!(column(&rows, "seed"), vec![json!(0); 4]);
    assert!(
        rows[3].get("metrics.loss").is_none(),
        "a blank cell is left out: {}",
        rows[3]
    );

    let csv = run(args(
        &store,
        &[
            "table",
            "train",
            "--sort",
            "Train.opt",
            "--sort",
            "-Train.lr",
            "--columns",
            "Train.opt,lr,acc",
            "--csv",
            "--limit",
            "3",
        ],
    ))?
    .ok()?;
    assert_eq!(
        csv.stdout,
        "Train.opt,Train.lr,metrics.acc\nadam,0.1,0.6\nadam,0.01,0.8\nsgd,0.1,\n"
    );
    Ok(())
}

#[test]
fn filters_take_dotted_keys_operators_alternatives_and_result_fields() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    let lrs = |filters: &[&str]| -> TestResult<Vec<Value>> {
        let mut rest = vec!["table", "train", "--sort", "loss", "--json"];
        rest.extend(filters);
        Ok(column(&json_rows(&store, &rest)?, "metrics.loss"))
    };
    assert_eq!(
        lrs(&["--where", "Train.lr=0.1"])?,
        [json!(0.4), Value::Null]
    );
    assert_eq!(lrs(&["--where", "Train.lr<0.1"])?, [json!(0.2), json!(0.3)]);
    assert_eq!(
        lrs(&[
            "--where",
            "lr>=0.01",
            "--where",
            "opt=adam,sgd",
            "--where",
            "loss<=0.3"
        ])?,
        [json!(0.2), json!(0.3)]
    );
    assert_eq!(lrs(&["--where", "opt!=adam"])?, [json!(0.3), Value::Null]);
    assert_eq!(
        lrs(&["--state", "finished", "--where", "acc>0.65"])?,
        [json!(0.2), json!(0.3)]
    );

    // The same language in ls (a result field loads the result) and export.
    let listed = json_rows(
        &store,
        &["ls", "--task", "train", "--where", "loss>0.25", "--json"],
    )?;
    assert_eq!(listed.len(), 2);
    let tasks = json_rows(&store, &["ls", "--where", "f1=0.5", "--json"])?;
    assert_eq!(tasks, [json!({"name": "eval", "runs": 1})]);
    let out = dir.path().join("exported");
    run(args(
        &store,
        &[
            "export",
            out.to_str().ok_or("path")?,
            "--where",
            "Train.opt=sgd",
        ],
    ))?
    .ok()?;
    // Exported: only the two sgd runs of train (each a directory with a config.json).
    let mut runs = 0;
    for entry in std::fs::read_dir(out.join("train"))? {
        runs += usize::from(entry?.path().join("config.json").is_file());
    }
    assert_eq!(runs, 2);
    assert!(!out.join("eval").exists());
    Ok(())
}

#[test]
fn bad_usage_exits_2_and_names_the_problem() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    for (rest, says) in [
        (
            &["table", "train", "--where", "lr"][..],
            "filter `lr` is not valid: it has no operator",
        ),
        (
            &["table", "train", "--where", "lr!0.1"],
            "`!` must be followed by `=`",
        ),
        (
            &["table", "train", "--where", "nope=1"],
            "no column `nope`; the columns are: run, Train.lr",
        ),
        (&["table", "train", "--sort", "x"], "no column `x`"),
        (
            &["table", "train", "--columns", "opt,zzz"],
            "no column `zzz`",
        ),
        (&["table", "train", "--limit", "0"], "0 is not in 1.."),
        (
            &["table", "train", "--state", "done"],
            "invalid value 'done'",
        ),
        (
            &["show", "train", "--config", "{\"a\":"],
            "--config `{\"a\":` is not a valid config",
        ),
        (
            &["export", "x", "--where", "=1"],
            "the key before the operator is empty",
        ),
    ] {
        let failed = run(args(&store, rest))?.expect_code(2)?;
        assert!(failed.stderr.contains(says), "{rest:?}: {}", failed.stderr);
        assert!(failed.stdout.is_empty(), "{rest:?}");
    }
    Ok(())
}

#[test]
fn an_unknown_task_is_named_with_the_tasks_there_are() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    for command in ["ls", "table"] {
        let rest: &[&str] = if command == "ls" {
            &["ls", "--task", "trian"]
        } else {
            &["table", "trian"]
        };
        let failed = run(args(&store, rest))?.expect_code(1)?;
        assert!(
            failed
                .stderr
                .contains("the store has no task `trian`; its tasks are: eval, train"),
            "{}",
            failed.stderr
        );
    }
    let one = run(args(&store, &["ls", "--task", "eval"]))?.ok()?;
    assert!(one.stdout.ends_with("(1 run)\n"), "{}", one.stdout);
    Ok(())
}

#[test]
fn a_subset_config_is_named_and_a_partial_one_points_at_where() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    let superset = r#"{"split": "test", "extra": 1}"#;
    let found = run(args(
        &store,
        &["get", "eval", "metrics", "--config", superset],
    ))?
    .ok()?;
    assert_eq!(
        serde_json::from_str::<Value>(&found.stdout)?,
        json!({"f1": 0.5})
    );
    assert!(
        found
            .stderr
            .contains("no run has exactly config {\"extra\":1,\"split\":\"test\"}; using run")
            && found
                .stderr
                .contains("whose config {\"split\":\"test\"} is the most specific subset"),
        "{}",
        found.stderr
    );
    let exact = run(args(
        &store,
        &["get", "eval", "metrics", "--config", r#"{"split":"test"}"#],
    ))?
    .ok()?;
    assert!(exact.stderr.is_empty(), "{}", exact.stderr);
    let partial = run(args(
        &store,
        &["show", "train", "--config", r#"{"seed": 0}"#],
    ))?
    .expect_code(1)?;
    assert!(
        partial.stderr.contains("with `--where KEY=VALUE`"),
        "{}",
        partial.stderr
    );
    Ok(())
}

#[test]
fn wide_characters_keep_columns_aligned() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store_dir = dir.path().join("s");
    let store = RedbStore::open(&store_dir, RedbOptions::default())?;
    for (name, value) in [("学习率", 1), ("x", 22)] {
        store
            .run("t", &UniqueConfig::new(json!({"名前": name, "n": value}))?)?
            .save("metrics", "json", &json!({"m": value}))?;
    }
    drop(store);
    let text = run(args(&store_dir, &["table", "t", "--columns", "名前,n"]))?.ok()?;
    let lines: Vec<&str> = text.stdout.lines().skip(1).collect();
    // The `n` column ends at the same display column on every line (CJK counts two).
    let widths: Vec<usize> = lines.iter().map(|l| unicode_columns(l)).collect();
    assert_eq!(lines.len(), 3, "{}", text.stdout);
    assert!(
        widths.iter().all(|&w| w == widths[0]),
        "{widths:?}\n{}",
        text.stdout
    );
    Ok(())
}

/// Display columns of `line`, counting CJK ideographs as two.
fn unicode_columns(line: &str) -> usize {
    line.chars()
        .map(|c| {
            if ('\u{3040}'..='\u{9fff}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn diff_lists_what_differs_and_rm_removes_only_when_confirmed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    let a = r#"{"Train": {"opt": "adam", "lr": 0.1}, "seed": 0}"#;
    let b = r#"{"Train": {"opt": "adam", "lr": 0.01}, "seed": 0}"#;
    let diff = run(args(&store, &["diff", "train", a, b]))?.ok()?;
    let lines: Vec<&str> = diff.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", diff.stdout);
    assert!(
        lines[1].starts_with("*config.Train.lr")
            && lines[1].contains("0.1")
            && lines[1].ends_with("0.01"),
        "{}",
        diff.stdout
    );
    assert!(lines[2].starts_with("*metrics.acc"));
    assert!(lines[3].starts_with("*metrics.loss"));
    assert_eq!(lines[4], "(3 of 6 keys differ; --all lists the others)");
    let all = serde_json::from_str::<Value>(
        &run(args(&store, &["diff", "train", a, b, "--json"]))?
            .ok()?
            .stdout,
    )?;
    let same: Vec<&Value> = all["keys"]
        .as_array()
        .ok_or("keys")?
        .iter()
        .filter(|k| k["same"] == json!(true))
        .collect();
    assert_eq!(same.len(), 3);

    // rm without a terminal and without --yes changes nothing.
    let refused = run(args(&store, &["rm", "train", "--config", a]))?.expect_code(1)?;
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);
    assert_eq!(json_rows(&store, &["table", "train", "--json"])?.len(), 4);
    let one = run(args(
        &store,
        &["rm", "train", "--config", a, "metrics", "--yes"],
    ))?
    .ok()?;
    assert!(
        one.stdout.starts_with("removed result `metrics` (json"),
        "{}",
        one.stdout
    );
    let rows = json_rows(
        &store,
        &[
            "table", "train", "--json", "--where", "lr=0.1", "--where", "opt=adam",
        ],
    )?;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].get("metrics.loss").is_none());
    let whole = run(args(&store, &["rm", "train", "--config", a, "--yes"]))?.ok()?;
    assert!(whole.stdout.starts_with("removed run "), "{}", whole.stdout);
    assert!(
        whole.stdout.contains("`sweepstore gc` frees"),
        "{}",
        whole.stdout
    );
    assert_eq!(json_rows(&store, &["table", "train", "--json"])?.len(), 3);
    Ok(())
}
