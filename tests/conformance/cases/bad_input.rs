//! Bad input: each is a typed error (never a panic), and none changes what was stored
//! before (`src/store.rs`: "bad input never loses earlier data").

use std::io::{Read, Write};

use serde_json::{Value, json};
use sweepstore::{
    ConfigError, Error, MAX_NAME_LEN, MAX_SUB_DIR_LEN, NameKind, NameProblem, ResultsStore,
    RunState, SaveOptions, StoreExt, SubDir, TypeInfo, UniqueConfig,
};

use crate::support::{Metrics, config, missing};

type Result<T = ()> = sweepstore::Result<T>;

/// Stores the data every case checks is still intact after its bad inputs.
fn seed<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &config(json!({"lr": 0.1}))?)?;
    run.save("metrics", "json", &Metrics::sample(1))?;
    run.save("log", "text", &"kept".to_owned())?;
    run.finish()?;
    Ok(())
}

/// Checks that what [`seed`] stored is unchanged and nothing else appeared in `train`.
fn assert_intact<S: ResultsStore>(store: &S, after: &str) -> Result {
    let run = store.run("train", &config(json!({"lr": 0.1}))?)?;
    let results = run.get_results()?.ok_or_else(|| missing(after))?;
    assert_eq!(results.len(), 2, "after {after}");
    assert_eq!(
        run.load::<Metrics>("metrics")?,
        Some(Metrics::sample(1)),
        "after {after}"
    );
    assert_eq!(
        run.load::<String>("log")?.as_deref(),
        Some("kept"),
        "after {after}"
    );
    assert_eq!(run.state()?, Some(RunState::Finished), "after {after}");
    let sweeps = store.task("train")?.lazy_sweep("metrics")?.count();
    assert_eq!(sweeps, 1, "after {after}");
    Ok(())
}

/// The problem of an `InvalidName` of `kind`, or a failed assertion.
fn name_problem<T: std::fmt::Debug>(result: Result<T>, kind: NameKind, input: &str) -> NameProblem {
    match result {
        Err(Error::InvalidName {
            kind: k,
            problem,
            name,
        }) => {
            assert_eq!(k, kind, "{input:?}");
            if !input.contains('\0') {
                assert_eq!(name, input, "the error names the input");
            }
            problem
        }
        other => panic!("{input:?}: expected InvalidName, got {other:?}"),
    }
}

/// Bad names and the problem each must be reported with.
fn bad_names() -> Vec<(String, NameProblem)> {
    let too_long = |len: usize| NameProblem::TooLong {
        len,
        max: MAX_NAME_LEN,
    };
    vec![
        (String::new(), NameProblem::Empty),
        ("x".repeat(MAX_NAME_LEN + 1), too_long(MAX_NAME_LEN + 1)),
        ("é".repeat(128), too_long(256)),
        ("a\0b".to_owned(), NameProblem::ContainsNul),
        ("\0".to_owned(), NameProblem::ContainsNul),
        ("a/b".to_owned(), NameProblem::ContainsSeparator('/')),
        ("/".to_owned(), NameProblem::ContainsSeparator('/')),
        ("a\\b".to_owned(), NameProblem::ContainsSeparator('\\')),
        ("..".to_owned(), NameProblem::DotName),
        (".".to_owned(), NameProblem::DotName),
    ]
}

pub fn invalid_task_names_are_rejected_with_their_problem<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    let cfg = UniqueConfig::empty();
    for (name, problem) in bad_names() {
        assert_eq!(
            name_problem(store.task(&name).map(drop), NameKind::Task, &name),
            problem
        );
        assert_eq!(
            name_problem(store.run(&name, &cfg).map(drop), NameKind::Task, &name),
            problem
        );
        assert_intact(store, &format!("task name {name:?}"))?;
    }
    // The limits themselves are fine.
    let longest = "t".repeat(MAX_NAME_LEN);
    store
        .run(&longest, &cfg)?
        .save("m", "text", &"ok".to_owned())?;
    assert_eq!(
        store.run(&longest, &cfg)?.load::<String>("m")?.as_deref(),
        Some("ok")
    );
    for fine in ["...", ".hidden", "a b", "ünï", "train-1.v2"] {
        store.run(fine, &cfg)?.save("m", "text", &fine.to_owned())?;
        assert_eq!(
            store.run(fine, &cfg)?.load::<String>("m")?.as_deref(),
            Some(fine)
        );
    }
    assert_intact(store, "good task names")
}

pub fn invalid_result_names_are_rejected_with_their_problem<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    let run = store.run("train", &config(json!({"lr": 0.1}))?)?;
    for (name, problem) in bad_names() {
        let saved = run.save(&name, "text", &"bad".to_owned());
        assert_eq!(name_problem(saved, NameKind::Result, &name), problem);
        assert_intact(store, &format!("result name {name:?}"))?;
    }
    let longest = "r".repeat(MAX_NAME_LEN);
    run.save(&longest, "text", &"ok".to_owned())?;
    assert_eq!(run.load::<String>(&longest)?.as_deref(), Some("ok"));
    assert!(run.delete(&longest)?);
    assert_intact(store, "good result names")
}

pub fn invalid_result_names_are_rejected_by_every_operation<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    let run = store.run("train", &config(json!({"lr": 0.1}))?)?;
    let task = store.task("train")?;
    let options = SaveOptions::in_sub_dir(SubDir::new("d")?);
    for (name, problem) in bad_names() {
        let n = name.as_str();
        let results: Vec<(&str, Result<()>)> = vec![
            ("save_with", run.save_with(n, "json", &1, &options)),
            ("save_custom", run.save_custom(n, "json", &1)),
            ("save_bytes", run.save_bytes(n, "bytes", b"x")),
            ("load", run.load::<String>(n).map(drop)),
            ("load_custom", run.load_custom::<String>(n).map(drop)),
            ("load_lazy", run.load_lazy(n).map(drop)),
            ("delete", run.delete(n).map(drop)),
            ("open r", run.open(n, "r", None).map(drop)),
            ("open w", run.open(n, "w", None).map(drop)),
            ("open bad mode", run.open(n, "zz", None).map(drop)),
            (
                "open_with a",
                run.open_with(n, "a", None, &options).map(drop),
            ),
            ("sweep", task.sweep::<String>(n).map(drop)),
            ("lazy_sweep", task.lazy_sweep(n).map(drop)),
        ];
        for (op, result) in results {
            let label = format!("{op} {n:?}");
            assert_eq!(
                name_problem(result, NameKind::Result, n),
                problem,
                "{label}"
            );
            assert_intact(store, &label)?;
        }
    }
    Ok(())
}

pub fn invalid_sub_dirs_are_rejected<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    let component = "c".repeat(MAX_NAME_LEN + 1);
    let whole = "d/".repeat(MAX_SUB_DIR_LEN / 2 + 1);
    let cases = [
        ("..", NameProblem::ParentDir),
        ("a/../b", NameProblem::ParentDir),
        ("a/..", NameProblem::ParentDir),
        ("/x", NameProblem::Absolute),
        ("/", NameProblem::Absolute),
        ("\\x", NameProblem::Absolute),
        ("C:x", NameProblem::Absolute),
        ("a\0b", NameProblem::ContainsNul),
        ("a\\b", NameProblem::ContainsSeparator('\\')),
        ("", NameProblem::Empty),
        ("././/", NameProblem::Empty),
        (
            component.as_str(),
            NameProblem::TooLong {
                len: MAX_NAME_LEN + 1,
                max: MAX_NAME_LEN,
            },
        ),
        (
            whole.as_str(),
            NameProblem::TooLong {
                len: whole.len(),
                max: MAX_SUB_DIR_LEN,
            },
        ),
    ];
    for (input, problem) in cases {
        let rejected = SubDir::new(input).map(SaveOptions::in_sub_dir);
        assert_eq!(name_problem(rejected, NameKind::SubDir, input), problem);
        assert_intact(store, &format!("sub_dir {input:?}"))?;
    }
    let normalized = SubDir::new("./a//b/")?;
    assert_eq!(normalized.as_str(), "a/b");
    let run = store.run("train", &config(json!({"lr": 0.1}))?)?;
    run.save_with(
        "nested",
        "text",
        &"n".to_owned(),
        &SaveOptions::in_sub_dir(normalized),
    )?;
    assert_eq!(run.load::<String>("nested")?.as_deref(), Some("n"));
    assert!(run.delete("nested")?);
    assert_intact(store, "a good sub_dir")
}

pub fn invalid_configs_are_config_errors<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    for (value, found) in [
        (json!([1]), "an array"),
        (json!(1), "a number"),
        (json!("lr"), "a string"),
        (json!(null), "null"),
        (json!(true), "a boolean"),
    ] {
        let text = value.to_string();
        assert_eq!(
            UniqueConfig::new(value),
            Err(ConfigError::NotObject { found })
        );
        assert_eq!(
            UniqueConfig::parse(&text),
            Err(ConfigError::NotObject { found })
        );
    }
    for text in [
        r#"{"lr": NaN}"#,
        r#"{"lr": Infinity}"#,
        r#"{"lr": -Infinity}"#,
        r#"{"lr": 1e400}"#,
        "{lr: 1}",
        "",
        r#"{"lr": 1} trailing"#,
    ] {
        let parsed = UniqueConfig::parse(text);
        assert!(
            matches!(parsed, Err(ConfigError::Json { .. })),
            "{text:?}: {parsed:?}"
        );
    }
    let inexact: [(Value, &str); 4] = [
        (json!({"seed": 9_007_199_254_740_993_u64}), "seed"),
        (json!({"seed": -9_007_199_254_740_993_i64}), "seed"),
        (json!({"a": {"b": u64::MAX}}), "a.b"),
        (json!({"a": [1, 9_007_199_254_740_995_u64]}), "a[1]"),
    ];
    for (value, at) in inexact {
        let result = UniqueConfig::new(value);
        assert!(
            matches!(&result, Err(ConfigError::InexactInteger { path, .. }) if path == at),
            "{at}: {result:?}"
        );
    }
    let text = r#"{"seed": 9007199254740993}"#;
    assert_eq!(
        UniqueConfig::parse(text),
        Err(ConfigError::InexactInteger {
            path: "seed".to_owned(),
            value: "9007199254740993".to_owned(),
            canonical: "9007199254740992".to_owned(),
        })
    );
    // Through `?`, a config error is an `Error::InvalidConfig`.
    let converted = config(json!([1]));
    assert!(matches!(
        converted,
        Err(Error::InvalidConfig(ConfigError::NotObject { .. }))
    ));
    assert_intact(store, "bad configs")
}

pub fn unknown_types_are_rejected_without_creating_the_run<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    let existing = store.run("train", &config(json!({"lr": 0.1}))?)?;
    let fresh = store.run("train", &config(json!({"lr": 0.2}))?)?;
    for run in [&existing, &fresh] {
        let results = [
            ("save", run.save("metrics", "npy", &1u32)),
            ("save_custom", run.save_custom("metrics", "npy", &1u32)),
            ("save_bytes", run.save_bytes("metrics", "npy", b"x")),
            ("open w", run.open("metrics", "w", Some("npy")).map(drop)),
            ("open ab", run.open("metrics", "ab", Some("npy")).map(drop)),
            ("open x+", run.open("fresh", "x+", Some("npy")).map(drop)),
        ];
        for (op, result) in results {
            assert!(
                matches!(&result, Err(Error::UnknownType { type_name }) if type_name == "npy"),
                "{op}: {result:?}"
            );
            assert_intact(store, op)?;
        }
    }
    assert_eq!(fresh.state()?, None, "a rejected save creates no run");
    Ok(())
}

pub fn saving_a_value_of_the_wrong_rust_type_is_rejected<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    store.types().register(counter_type())?;
    let existing = store.run("train", &config(json!({"lr": 0.1}))?)?;
    let fresh = store.run("train", &config(json!({"lr": 0.2}))?)?;
    for run in [&existing, &fresh] {
        let results = [
            ("str as bytes", run.save("log", "bytes", &"not bytes")),
            ("u32 as text", run.save("log", "text", &5u32)),
            ("custom on json", run.save_custom("log", "json", &5u32)),
            (
                "String as counter",
                run.save_custom("log", "counter", &"5".to_owned()),
            ),
        ];
        for (op, result) in results {
            assert!(
                matches!(result, Err(Error::WrongRustType { .. })),
                "{op}: {result:?}"
            );
            assert_intact(store, op)?;
        }
    }
    assert_eq!(fresh.state()?, None, "a rejected save creates no run");
    Ok(())
}

/// Loads that fail: values of the wrong Rust type, and bytes handed over as a type that the
/// type's codec cannot read. (`json` bytes that are not JSON were once among these; they are
/// refused at save since "accepted means readable", design §1.1: see
/// [`json_bytes_that_are_not_json_are_refused_and_change_nothing`].)
pub fn loading_into_the_wrong_rust_type_is_an_error<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    store.types().register(counter_type())?;
    let run = store.run("train", &config(json!({"lr": 0.3}))?)?;
    run.save("json", "json", &Metrics::sample(2))?;
    run.save("binary", "binary", &"hello".to_owned())?;
    run.save("text", "text", &"text".to_owned())?;
    run.save("bytes", "bytes", &vec![1u8, 2])?;
    run.save_custom("counter", "counter", &Counter(7))?;
    run.save_bytes("bad-binary", "binary", b"")?;
    run.save_bytes("bad-text", "text", &[0xff, 0xfe])?;
    run.save_bytes("bad-counter", "counter", b"seven")?;
    use Expected::{Decode, WrongType};
    let checks = [
        ("json as u32", run.load::<u32>("json").map(drop), Decode),
        ("binary as u8", run.load::<u8>("binary").map(drop), Decode),
        (
            "text as Vec<u8>",
            run.load::<Vec<u8>>("text").map(drop),
            Decode,
        ),
        (
            "bytes as String",
            run.load::<String>("bytes").map(drop),
            WrongType,
        ),
        (
            "counter as String",
            run.load::<String>("counter").map(drop),
            WrongType,
        ),
        (
            "counter as u64",
            run.load_custom::<u64>("counter").map(drop),
            WrongType,
        ),
        (
            "json as custom",
            run.load_custom::<Counter>("json").map(drop),
            WrongType,
        ),
        (
            "empty binary",
            run.load::<u32>("bad-binary").map(drop),
            Decode,
        ),
        ("bad text", run.load::<String>("bad-text").map(drop), Decode),
        (
            "bad counter",
            run.load_custom::<Counter>("bad-counter").map(drop),
            Decode,
        ),
        (
            "empty binary as struct",
            run.load::<Metrics>("bad-binary").map(drop),
            Decode,
        ),
    ];
    for (what, result, expected) in checks {
        let ok = match expected {
            Decode => matches!(result, Err(Error::Decode { .. })),
            WrongType => matches!(result, Err(Error::WrongRustType { .. })),
        };
        assert!(ok, "{what}: expected {expected:?}, got {result:?}");
    }
    // Through a promise and a file too.
    let promise = run.load_lazy("json")?.ok_or_else(|| missing("json"))?;
    assert!(matches!(
        promise.load::<Vec<String>>(),
        Err(Error::Decode { .. })
    ));
    let mut file = run.open("bytes", "r", None)?;
    assert!(matches!(
        file.load::<String>(),
        Err(Error::WrongRustType { .. })
    ));
    // Failed loads change nothing.
    assert_eq!(run.load::<Metrics>("json")?, Some(Metrics::sample(2)));
    assert_eq!(run.load_custom::<Counter>("counter")?, Some(Counter(7)));
    assert_intact(store, "wrong-type loads")
}

/// `json` bytes that are not one JSON value (as serde_json reads it) are refused when handed
/// over, as bytes or through a file written in `json` mode, with a typed error saying so;
/// nothing is stored and no run is created. The control: valid JSON bytes are accepted and
/// load.
pub fn json_bytes_that_are_not_json_are_refused_and_change_nothing<S: ResultsStore>(
    store: &S,
) -> Result {
    seed(store)?;
    let existing = store.run("train", &config(json!({"lr": 0.1}))?)?;
    let fresh = store.run("train", &config(json!({"lr": 0.2}))?)?;
    let not_json: [&[u8]; 8] = [
        b"{not json",
        b"",
        b"1 2",
        b"NaN",
        b"[1,]",
        b"1e400",
        b"\"\xff\"",
        b"\"\\ud800\"",
    ];
    for run in [&existing, &fresh] {
        for bytes in not_json {
            let streamed = run.open("metrics", "w", Some("json")).and_then(|mut file| {
                file.write_all(bytes).map_err(|source| Error::Stream {
                    op: "write to a json file",
                    source,
                })?;
                file.close()
            });
            let shown = String::from_utf8_lossy(bytes);
            for (how, result) in [
                ("save_bytes", run.save_bytes("metrics", "json", bytes)),
                ("open w", streamed),
            ] {
                match result {
                    Err(e @ Error::Encode { .. }) => {
                        assert!(e.to_string().contains("not JSON"), "{how} {shown:?}: {e}");
                    }
                    other => panic!("{how} {shown:?}: expected Encode, got {other:?}"),
                }
                assert_intact(store, how)?;
            }
        }
    }
    assert_eq!(fresh.state()?, None, "a refused save creates no run");
    // The control: the same paths accept JSON, which loads.
    fresh.save_bytes("v", "json", b" {\"a\": [1, 2.5e3, \"\\u00e9\"]} ")?;
    assert_eq!(
        fresh.load::<Value>("v")?,
        Some(json!({"a": [1, 2500.0, "é"]}))
    );
    let mut file = fresh.open("w", "w", Some("json"))?;
    file.write_all(b"[true]").map_err(|source| Error::Stream {
        op: "write to a json file",
        source,
    })?;
    file.close()?;
    assert_eq!(fresh.load::<Value>("w")?, Some(json!([true])));
    Ok(())
}

pub fn registering_a_taken_type_name_is_rejected<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    for builtin in ["json", "binary", "pickle", "text", "bytes"] {
        let clash = TypeInfo::custom::<u8>(builtin, "x", true, |_, _| Ok(()), |_| Ok(0));
        let result = store.types().register(clash);
        assert!(
            matches!(&result, Err(Error::TypeAlreadyRegistered { type_name }) if type_name == builtin),
            "{builtin}: {result:?}"
        );
    }
    store.types().register(counter_type())?;
    assert!(matches!(
        store.types().register(counter_type()),
        Err(Error::TypeAlreadyRegistered { .. })
    ));
    assert_intact(store, "registering taken names")
}

pub fn rejected_file_opens_change_nothing<S: ResultsStore>(store: &S) -> Result {
    seed(store)?;
    let existing = store.run("train", &config(json!({"lr": 0.1}))?)?;
    let fresh = store.run("train", &config(json!({"lr": 0.2}))?)?;
    let results = [
        ("x on existing", existing.open("log", "x", None).map(drop)),
        (
            "xb+ on existing",
            existing.open("log", "xb+", None).map(drop),
        ),
        ("r on missing", existing.open("nope", "r", None).map(drop)),
        ("r+ on missing run", fresh.open("log", "r+", None).map(drop)),
        ("bad mode", existing.open("log", "wx", None).map(drop)),
        ("bad mode fresh", fresh.open("log", "", None).map(drop)),
    ];
    for (op, result) in results {
        assert!(result.is_err(), "{op}");
        assert_intact(store, op)?;
    }
    assert_eq!(fresh.state()?, None);
    Ok(())
}

/// Which error a wrong-type load must give.
#[derive(Debug, Clone, Copy)]
enum Expected {
    Decode,
    WrongType,
}

/// A custom stream type for the cases above.
#[derive(Debug, PartialEq)]
struct Counter(u64);

fn counter_type() -> TypeInfo {
    TypeInfo::custom::<Counter>(
        "counter",
        "count",
        false,
        |c, w: &mut dyn Write| write!(w, "{}", c.0),
        |r: &mut dyn Read| {
            let mut text = String::new();
            r.read_to_string(&mut text)?;
            text.parse().map(Counter).map_err(std::io::Error::other)
        },
    )
}
