//! `sweepstore ls`, `show` and `get` as real processes against a store written here through
//! the library: listings and their `--json` shapes parsed back, run selection by config and by
//! key prefix, result printing, and the error paths (no store, store in use, bad filters and
//! selections, missing results, a closed pipe).

use crate::shared::cli as cli_support;
// `table`, `diff`, `rm`, filters and the first-time-user fixes.
mod cli_query;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use cli_support::{TestResult, arg, run, sweepstore};
use serde_json::{Value, json};
use sweepstore::{ContentHash, RedbOptions, RedbStore, RunKey, StoreExt, TaskName, UniqueConfig};

use crate::shared::config;

fn key(task: &str, config: &UniqueConfig) -> TestResult<String> {
    Ok(RunKey::new(&TaskName::new(task)?, config).to_hex())
}

/// Two tasks: `train` with three runs (one unfinished), `eval` with one.
fn make_store(path: &Path) -> TestResult {
    let store = RedbStore::open(path, RedbOptions::default())?;
    let runs = [
        (0.1, 0.0, 0.5, true),
        (0.1, 0.01, 0.25, true),
        (0.3, 0.0, 0.75, false),
    ];
    for (lr, l2, loss, finished) in runs {
        let run = store.run("train", &config(json!({"lr": lr, "l2": l2, "opt": "sgd"}))?)?;
        run.save("metrics", "json", &json!({ "loss": loss }))?;
        run.save("weights", "binary", &vec![lr, l2])?;
        run.save_bytes("log", "text", format!("lr {lr}\nl2 {l2}\n").as_bytes())?;
        if finished {
            run.finish()?;
        }
    }
    let eval = store.run("eval", &config(json!({"split": "test"}))?)?;
    eval.save_bytes("raw", "bytes", &[0, 159, 146, 150, 255])?;
    eval.finish()?;
    Ok(())
}

use cli_support::json_of;

#[test]
fn ls_lists_tasks_and_runs_as_text_and_json() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;

    let text = run(["ls".as_ref(), arg(&store)])?.ok()?;
    assert_eq!(text.stdout, "TASK   RUNS\neval      1\ntrain     3\n");

    let tasks = json_of(
        &run(["ls".as_ref(), arg(&store), "--json".as_ref()])?
            .ok()?
            .stdout,
    )?;
    assert_eq!(
        tasks,
        json!([{"name": "eval", "runs": 1}, {"name": "train", "runs": 3}])
    );

    let runs = run([
        "ls".as_ref(),
        arg(&store),
        "--task".as_ref(),
        "train".as_ref(),
        "--json".as_ref(),
    ])?
    .ok()?;
    let runs = json_of(&runs.stdout)?;
    let runs = runs.as_array().ok_or("not an array")?;
    assert_eq!(runs.len(), 3);
    let keys: Vec<&str> = runs.iter().filter_map(|r| r["run_key"].as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "runs are sorted by run key");
    let unfinished = config(json!({"lr": 0.3, "l2": 0.0, "opt": "sgd"}))?;
    let entry = runs
        .iter()
        .find(|r| r["run_key"] == json!(key("train", &unfinished).ok()))
        .ok_or("run missing")?;
    assert_eq!(entry["task"], "train");
    assert_eq!(entry["state"], "running");
    // The config as stored: its canonical form (a 0.0 reads back as 0).
    assert_eq!(config(entry["config"].clone())?, unfinished);
    assert_eq!(entry["config"], json!({"l2": 0, "lr": 0.3, "opt": "sgd"}));
    let names: Vec<&str> = entry["results"]
        .as_array()
        .ok_or("no results")?
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["log", "metrics", "weights"]);
    let log = &entry["results"][0];
    let log_bytes = b"lr 0.3\nl2 0\n";
    assert_eq!(log["type"], "text");
    assert_eq!(log["size"], json!(log_bytes.len()));
    assert_eq!(log["hash"], json!(ContentHash::of(log_bytes).to_hex()));
    assert_eq!(log["sub_dir"], Value::Null);

    let table = run([
        "ls".as_ref(),
        arg(&store),
        "--task".as_ref(),
        "train".as_ref(),
    ])?
    .ok()?;
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("RUN "), "{}", table.stdout);
    assert_eq!(lines.len(), 5, "{}", table.stdout);
    assert_eq!(lines[4], "(3 runs)");
    assert!(table.stdout.contains("running "), "{}", table.stdout);
    assert!(
        table.stdout.contains("log (text, 12 B)"),
        "{}",
        table.stdout
    );

    let unknown = run([
        "ls".as_ref(),
        arg(&store),
        "--task".as_ref(),
        "nope".as_ref(),
        "--json".as_ref(),
    ])?
    .expect_code(1)?;
    assert!(unknown.stdout.is_empty());
    assert!(
        unknown
            .stderr
            .contains("no task `nope`; its tasks are: eval, train"),
        "{}",
        unknown.stderr
    );
    Ok(())
}

#[test]
fn ls_where_filters_by_canonical_config_values() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;
    let count = |filters: &[&str]| -> TestResult<usize> {
        let mut args = vec![
            "ls",
            store.to_str().ok_or("path")?,
            "--task",
            "train",
            "--json",
        ];
        for f in filters {
            args.extend(["--where", f]);
        }
        let ran = run(args)?.ok()?;
        Ok(json_of(&ran.stdout)?.as_array().ok_or("array")?.len())
    };
    assert_eq!(count(&["lr=0.1"])?, 2);
    // A stored 0.0 and a given 0 are the same value, as they are for run keys.
    assert_eq!(count(&["l2=0"])?, 2);
    assert_eq!(count(&["l2=0.0", "lr=0.3"])?, 1);
    assert_eq!(count(&["opt=sgd"])?, 3);
    assert_eq!(count(&["opt=\"sgd\""])?, 3);
    assert_eq!(count(&["opt=adam"])?, 0);

    // Without --task, the run counts are of the matching runs; tasks with none are left out.
    let tasks = run([
        "ls".as_ref(),
        arg(&store),
        "--where".as_ref(),
        "lr=0.1".as_ref(),
        "--json".as_ref(),
    ])?
    .ok()?;
    assert_eq!(
        json_of(&tasks.stdout)?,
        json!([{"name": "train", "runs": 2}])
    );

    // Bad usage (exit 2) that names the problem: no operator, no key, a key that is no column.
    for (bad, says) in [
        ("lr", "it has no operator"),
        ("=3", "the key before the operator is empty"),
        (
            "missing=1",
            "no column `missing`; the columns are: run, l2, lr, opt, state",
        ),
    ] {
        let failed = run([
            "ls".as_ref(),
            arg(&store),
            "--task".as_ref(),
            "train".as_ref(),
            "--where".as_ref(),
            bad.as_ref(),
        ])?
        .expect_code(2)?;
        assert!(failed.stderr.contains(says), "{}", failed.stderr);
        assert!(failed.stdout.is_empty());
    }
    Ok(())
}

#[test]
fn show_selects_a_run_by_config_subset_or_key_prefix() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;
    let wanted = config(json!({"lr": 0.1, "l2": 0.01, "opt": "sgd"}))?;
    let wanted_key = key("train", &wanted)?;
    let show = |select: &[&str]| -> TestResult<cli_support::Ran> {
        let mut args = vec!["show", store.to_str().ok_or("path")?, "train"];
        args.extend(select);
        run(args)
    };

    let text = show(&["--config", r#"{"opt": "sgd", "l2": 1e-2, "lr": 0.1}"#])?.ok()?;
    assert!(
        text.stdout.contains(&format!("run key:  {wanted_key}")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains(r#"config:   {"l2":0.01,"lr":0.1,"opt":"sgd"}"#)
    );
    assert!(text.stdout.contains("state:    finished"));
    assert!(text.stdout.contains("created:  20"), "{}", text.stdout);
    assert!(
        text.stdout.contains(" UTC\nfinished: 20"),
        "{}",
        text.stdout
    );
    let metrics_hash = ContentHash::of(br#"{"loss":0.25}"#).to_hex();
    assert!(
        text.stdout.contains(&format!("blake3 {metrics_hash}")),
        "{}",
        text.stdout
    );

    // The lookup rule: a config with an extra key finds the stored run that is a subset of it.
    let subset = show(&[
        "--config",
        r#"{"lr": 0.1, "l2": 0.01, "opt": "sgd", "gpu": 1}"#,
        "--json",
    ])?
    .ok()?;
    let by_config = json_of(&subset.stdout)?;
    assert_eq!(by_config["run_key"], json!(wanted_key));

    // The same object as `ls --json` prints for that run.
    let listed = run([
        "ls".as_ref(),
        arg(&store),
        "--task".as_ref(),
        "train".as_ref(),
        "--json".as_ref(),
    ])?
    .ok()?;
    let listed = json_of(&listed.stdout)?;
    let same = listed
        .as_array()
        .ok_or("array")?
        .iter()
        .find(|r| r["run_key"] == json!(wanted_key))
        .ok_or("missing")?;
    assert_eq!(&by_config, same);

    let by_prefix = show(&["--run", &wanted_key[..10].to_uppercase(), "--json"])?.ok()?;
    assert_eq!(json_of(&by_prefix.stdout)?, by_config);

    let none = show(&["--config", r#"{"lr": 0.5}"#])?.expect_code(1)?;
    assert!(
        none.stderr
            .contains("no run of task `train` has config {\"lr\":0.5}"),
        "{}",
        none.stderr
    );
    let bad = show(&["--run", "xyz"])?.expect_code(2)?;
    assert!(bad.stderr.contains("`xyz` is not valid"), "{}", bad.stderr);
    let bad_config = show(&["--config", "{nope"])?.expect_code(2)?;
    assert!(
        bad_config.stderr.contains("not valid JSON"),
        "{}",
        bad_config.stderr
    );
    // Both selections, or neither, is a usage error (clap's exit code 2).
    show(&["--run", "ab", "--config", "{}"])?.expect_code(2)?;
    show(&[])?.expect_code(2)?;
    Ok(())
}

#[test]
fn an_ambiguous_prefix_lists_the_candidates() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("s");
    // Enough runs that some two share a first hex digit.
    let store = RedbStore::open(&path, RedbOptions::default())?;
    let mut keys = Vec::new();
    for i in 0..20 {
        let c = config(json!({ "i": i }))?;
        store.run("t", &c)?.finish()?;
        keys.push(key("t", &c)?);
    }
    drop(store);
    keys.sort();
    let shared = keys
        .windows(2)
        .find(|w| w[0][..1] == w[1][..1])
        .ok_or("no two keys share a first digit")?;
    let prefix = &shared[0][..1];
    let failed =
        run(["show", path.to_str().ok_or("path")?, "t", "--run", prefix])?.expect_code(1)?;
    assert!(
        failed
            .stderr
            .contains(&format!("run key prefix `{prefix}` matches")),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains(&shared[0][..12]),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("give more digits"));
    Ok(())
}

#[test]
fn get_prints_json_and_text_and_copies_binary_exactly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;
    let select = r#"{"lr": 0.1, "l2": 0.01, "opt": "sgd"}"#;
    let get = |name: &str, extra: &[&str]| -> TestResult<cli_support::Ran> {
        let mut args = vec![
            "get",
            store.to_str().ok_or("path")?,
            "train",
            name,
            "--config",
            select,
        ];
        args.extend(extra);
        run(args)
    };

    let metrics = get("metrics", &[])?.ok()?;
    assert_eq!(json_of(&metrics.stdout)?, json!({"loss": 0.25}));
    assert!(
        metrics.stdout.contains("\n  \"loss\""),
        "pretty-printed: {}",
        metrics.stdout
    );
    assert_eq!(get("log", &[])?.ok()?.stdout, "lr 0.1\nl2 0.01\n");

    // Binary into a pipe: the stored bytes (postcard of [0.1, 0.01]).
    let reopened = RedbStore::open(&store, RedbOptions::default())?;
    let run_handle = reopened.run("train", &config(serde_json::from_str(select)?)?)?;
    let stored = run_handle.load_lazy("weights")?.ok_or("no weights")?;
    let expected = stored.bytes()?;
    drop(reopened);
    let piped = sweepstore()
        .args([
            "get",
            store.to_str().ok_or("path")?,
            "train",
            "weights",
            "--run",
        ])
        .arg(&key("train", &config(serde_json::from_str(select)?)?)?[..16])
        .output()?;
    assert!(piped.status.success(), "{piped:?}");
    assert_eq!(piped.stdout, expected);

    let file = dir.path().join("weights.bin");
    let wrote = get("weights", &["-o", file.to_str().ok_or("path")?])?.ok()?;
    assert!(
        wrote.stdout.starts_with("wrote weights (binary, "),
        "{}",
        wrote.stdout
    );
    assert_eq!(std::fs::read(&file)?, expected);
    assert_eq!(ContentHash::of(&std::fs::read(&file)?), stored.hash());

    let missing = get("nope", &[])?.expect_code(1)?;
    assert!(
        missing
            .stderr
            .contains("has no result `nope`; it has: log, metrics, weights"),
        "{}",
        missing.stderr
    );
    Ok(())
}

#[test]
fn browsing_refuses_paths_without_a_store_and_creates_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let absent = dir.path().join("absent");
    let failed = run(["ls".as_ref(), arg(&absent)])?.expect_code(1)?;
    assert!(
        failed
            .stderr
            .contains("is not a sweepstore store: it does not exist"),
        "{}",
        failed.stderr
    );
    assert!(!absent.exists());

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    let failed = run([
        "show".as_ref(),
        arg(&empty),
        "t".as_ref(),
        "--run".as_ref(),
        "ab".as_ref(),
    ])?
    .expect_code(1)?;
    assert!(
        failed.stderr.contains("it holds no store.redb"),
        "{}",
        failed.stderr
    );
    assert_eq!(std::fs::read_dir(&empty)?.count(), 0);

    let file = dir.path().join("file");
    std::fs::write(&file, b"x")?;
    let failed = run(["ls".as_ref(), arg(&file)])?.expect_code(1)?;
    assert!(
        failed
            .stderr
            .contains("it is a file, not a store directory"),
        "{}",
        failed.stderr
    );
    assert_eq!(std::fs::read(&file)?, b"x");
    Ok(())
}

#[test]
fn a_store_open_in_another_process_gets_one_line_naming_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("s");
    make_store(&path)?;
    let held = RedbStore::open(&path, RedbOptions::default())?;
    let failed = run(["ls".as_ref(), arg(&path)])?.expect_code(1)?;
    let message = failed.stderr.trim_end();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.starts_with("sweepstore: the store at "),
        "{message}"
    );
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
    assert!(
        message.contains("is already open in another process"),
        "{message}"
    );
    drop(held);
    run(["ls".as_ref(), arg(&path)])?.ok()?;
    Ok(())
}

#[test]
fn a_closed_pipe_ends_the_command_quietly_with_success() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("s");
    let store = RedbStore::open(&path, RedbOptions::default())?;
    let big = "a line of a long training log\n".repeat(40_000);
    store
        .run("t", &config(json!({}))?)?
        .save_bytes("log", "text", big.as_bytes())?;
    drop(store);
    let mut child = sweepstore()
        .args([
            "get",
            path.to_str().ok_or("path")?,
            "t",
            "log",
            "--config",
            "{}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .ok_or("stdout")?
        .read_exact(&mut first)?;
    // The read end is closed now (dropped); the child's next write fails with EPIPE.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .ok_or("stderr")?
        .read_to_string(&mut stderr)?;
    let status = child.wait()?;
    assert_eq!(&first, b"a line of a long");
    assert!(status.success(), "{status:?} {stderr}");
    assert_eq!(stderr, "");
    Ok(())
}

#[test]
fn logging_goes_to_stderr_with_v_or_rust_log_and_rust_log_wins() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("s");
    make_store(&path)?;
    let stderr_of = |verbose: bool, rust_log: Option<&str>| -> TestResult<String> {
        let mut command = sweepstore();
        command.arg("ls").arg(&path);
        if verbose {
            command.arg("-v");
        }
        if let Some(spec) = rust_log {
            command.env("RUST_LOG", spec);
        }
        let output = command.output()?;
        assert!(output.status.success(), "{output:?}");
        assert!(String::from_utf8(output.stdout)?.starts_with("TASK"));
        Ok(String::from_utf8(output.stderr)?)
    };
    assert_eq!(stderr_of(false, None)?, "");
    assert!(stderr_of(true, None)?.contains("opened the store"));
    assert!(stderr_of(false, Some("sweepstore=info"))?.contains("opened the store"));
    assert_eq!(stderr_of(true, Some("error"))?, "");
    Ok(())
}

#[test]
fn help_names_every_subcommand_in_one_line_each() -> TestResult {
    let help = run(["--help"])?.ok()?.stdout;
    for command in [
        "demo", "ls", "show", "get", "verify", "gc", "stats", "export", "import", "key",
    ] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{command} ")))
            .ok_or_else(|| format!("{command} missing from:\n{help}"))?;
        assert!(line.len() < 100, "a long summary: {line}");
    }
    run(["frobnicate"])?.expect_code(2)?;
    Ok(())
}
