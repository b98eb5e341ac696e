//! `table`, `diff`, `rm`, the filter language in `ls`/`table`/`export`, and what a
//! first-time user trips over (unknown task, subset `--config`, display width, "(1 run)"),
//! each through the real binary.

use std::ffi::OsString;
use std::path::Path;

use serde_json::{Value, json};
use sweepstore::{RedbOptions, RedbStore, StoreExt, UniqueConfig};

use super::cli_support::{TestResult, arg, run};

// Browsing a RedbStore read-only (issue 17 §4) and a damaged one (§5).
mod readonly;

/// Task `train` of a fluidml-style sweep (configs nested under the task name): 2 optimizers ×
/// 2 learning rates, seed 0 everywhere; `metrics` {loss, acc}; the sgd/0.1 run unfinished
/// and without metrics. Task `eval`: one run.
fn make_sweep(path: &Path) -> TestResult {
    fill_sweep(&RedbStore::open(path, RedbOptions::default())?)
}

/// Saves [`make_sweep`]'s runs into `store`.
fn fill_sweep(store: &RedbStore) -> TestResult {
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
    // The times (to the second) may or may not differ between runs: leave them out here.
    let is_time = |c: &&str| ["created", "finished", "duration"].contains(c);
    let header_at = lines
        .iter()
        .position(|l| l.starts_with("run "))
        .ok_or("a header")?;
    let header: Vec<&str> = lines[header_at]
        .split_whitespace()
        .filter(|c| !is_time(c))
        .collect();
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
    let lines = &lines[header_at - 3..];
    // Largest loss first; the run without metrics (and never finished) last, with blanks
    // (the five cells after the run key: the times follow).
    let cells = |line: &str| {
        line.split_whitespace()
            .skip(1)
            .take(5)
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
fn a_result_that_is_not_json_blanks_its_run_with_a_warning_not_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    let ran = run(args(
        &store,
        &["table", "train", "--result", "log", "--json"],
    ))?
    .ok()?;
    assert_eq!(
        serde_json::from_str::<Value>(&ran.stdout)?
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    assert!(
        ran.stderr
            .contains("result `log` is of type `text`, not json; its result columns are blank"),
        "{}",
        ran.stderr
    );
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
        (&["table", "train", "--limit", "0"], "it must be at least 1"),
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

#[test]
fn output_dash_is_stdout_and_zero_counts_are_refused_in_plain_words() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    let got = super::cli_support::sweepstore()
        .current_dir(dir.path())
        .args(args(
            &store,
            &[
                "get",
                "eval",
                "metrics",
                "--config",
                r#"{"split":"test"}"#,
                "-o",
                "-",
            ],
        ))
        .output()?;
    assert!(got.status.success(), "{got:?}");
    assert_eq!(
        serde_json::from_slice::<Value>(&got.stdout)?,
        json!({"f1": 0.5})
    );
    assert!(!dir.path().join("-").exists(), "no file named `-`");

    for rest in [
        &["demo", "--workers", "0"][..],
        &["demo", "--top", "0"],
        &["demo", "--processes", "0"],
    ] {
        let mut all: Vec<OsString> = rest.iter().map(OsString::from).collect();
        all.push(dir.path().join("demo").into());
        let refused = run(all)?.expect_code(2)?;
        assert!(
            refused
                .stderr
                .contains(&format!("invalid value '0' for '{}", rest[1])),
            "{}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("it must be at least 1"),
            "{}",
            refused.stderr
        );
    }
    assert!(
        !dir.path().join("demo").exists(),
        "a refused demo created nothing"
    );
    Ok(())
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() -> TestResult {
    for (shell, marker) in [
        ("bash", "_sweepstore()"),
        ("zsh", "#compdef sweepstore"),
        ("fish", "complete -c sweepstore"),
    ] {
        let script = run(["completions", shell])?.ok()?;
        assert!(
            script.stdout.contains(marker),
            "{shell}: {}",
            &script.stdout[..200.min(script.stdout.len())]
        );
        assert!(
            script.stdout.contains("table") && script.stdout.contains("where"),
            "{shell}"
        );
    }
    run(["completions", "powershell"])?.expect_code(2)?;
    Ok(())
}

#[test]
fn runs_record_when_they_were_created_and_finished() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    let before = std::time::SystemTime::now();
    make_sweep(&store)?;
    let rows = json_rows(&store, &["table", "train", "--sort", "loss", "--json"])?;
    let year = |v: &Value| v.as_str().map(|t| t[..4].to_owned());
    let this_year = humantime_year(before);
    for row in &rows {
        assert_eq!(year(&row["created"]), Some(this_year.clone()), "{row}");
    }
    // Finished runs have a finish time and a duration; the unfinished one neither.
    for row in &rows[..3] {
        assert!(
            row["finished"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{row}"
        );
        assert!(
            row["duration"]
                .as_f64()
                .is_some_and(|d| (0.0..60.0).contains(&d)),
            "{row}"
        );
    }
    assert!(
        rows[3].get("finished").is_none() && rows[3].get("duration").is_none(),
        "{}",
        rows[3]
    );
    // Filters and sorting work on times as on any column.
    let recent = json_rows(
        &store,
        &[
            "table",
            "train",
            "--where",
            &format!("created>={this_year}-01-01"),
            "--sort",
            "-created",
            "--json",
        ],
    )?;
    assert_eq!(recent.len(), 4);
    Ok(())
}

#[test]
fn a_local_file_store_directory_shows_run_times_and_unknown_for_runs_without() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    let local = dir.path().join("local");
    run(args(&store, &["export", local.to_str().ok_or("path")?]))?.ok()?;
    let rows = json_rows(&local, &["table", "train", "--sort", "loss", "--json"])?;
    for row in &rows {
        assert!(row["created"].as_str().is_some(), "{row}");
    }
    for row in &rows[..3] {
        assert!(row["duration"].as_f64().is_some(), "{row}");
    }
    assert!(rows[3].get("finished").is_none(), "{}", rows[3]);

    // A directory written before times were recorded has no times files: unknown.
    let mut removed = 0;
    for (path, _, _) in snapshot(&local)? {
        if path.ends_with(".fluidml/sweepstore_times.json") {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    assert_eq!(removed, 5, "one times file per run");
    let rows = json_rows(&local, &["table", "train", "--json"])?;
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let times = ["created", "finished", "duration"].map(|c| row.get(c));
        assert_eq!(times, [None, None, None], "{row}");
    }
    let a = r#"{"Train": {"opt": "adam", "lr": 0.1}, "seed": 0}"#;
    let shown = run(args(&local, &["show", "train", "--config", a]))?.ok()?;
    assert!(
        shown
            .stdout
            .contains("created:  unknown\nfinished: unknown"),
        "{}",
        shown.stdout
    );
    Ok(())
}

/// The UTC year of `time`, as text.
fn humantime_year(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days to years is close enough away from New Year's Eve; the check is only "this year".
    (1970 + secs / 31_556_952).to_string()
}

/// Every file and directory under `root` with its bytes (files) and modification time.
fn snapshot(root: &Path) -> TestResult<Vec<(std::path::PathBuf, Vec<u8>, std::time::SystemTime)>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            let bytes = if meta.is_dir() {
                pending.push(path.clone());
                Vec::new()
            } else {
                std::fs::read(&path)?
            };
            found.push((path, bytes, meta.modified()?));
        }
    }
    found.sort();
    Ok(found)
}

#[test]
fn a_local_file_store_directory_is_browsed_in_place_without_changing_a_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_sweep(&store)?;
    let local = dir.path().join("local");
    run(args(&store, &["export", local.to_str().ok_or("path")?]))?.ok()?;
    let before = snapshot(&local)?;
    // Control: the snapshot sees the runs' files.
    assert!(
        before.iter().any(|(p, _, _)| p.ends_with("config.json")),
        "{before:?}"
    );

    let listed = run(["-v".as_ref(), "ls".as_ref(), arg(&local), "--json".as_ref()])?.ok()?;
    assert!(
        listed.stderr.contains("a LocalFileStore directory"),
        "{}",
        listed.stderr
    );
    assert_eq!(
        serde_json::from_str::<Value>(&listed.stdout)?,
        json!([{"name": "eval", "runs": 1}, {"name": "train", "runs": 4}])
    );
    let rows = json_rows(
        &local,
        &[
            "table", "train", "--where", "opt=adam", "--sort", "loss", "--json",
        ],
    )?;
    assert_eq!(column(&rows, "metrics.loss"), [json!(0.2), json!(0.4)]);
    let a = r#"{"Train": {"opt": "adam", "lr": 0.1}, "seed": 0}"#;
    let b = r#"{"Train": {"opt": "adam", "lr": 0.01}, "seed": 0}"#;
    run(args(&local, &["diff", "train", a, b]))?.ok()?;
    run(args(&local, &["show", "train", "--config", a]))?.ok()?;
    run(args(&local, &["get", "train", "metrics", "--config", a]))?.ok()?;
    let stats = run(args(&local, &["stats"]))?.expect_code(1)?;
    assert!(
        stats.stderr.contains("it is a LocalFileStore directory"),
        "{}",
        stats.stderr
    );

    assert_eq!(
        snapshot(&local)?,
        before,
        "browsing changed or created a file"
    );
    Ok(())
}
