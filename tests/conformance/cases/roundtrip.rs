//! Save/load round trips per type, overwrites, missing values and deletes.

use std::io::{self, Read, Write};

use serde_json::json;
use sweepstore::{ResultsStore, RunState, SaveOptions, StoreExt, SubDir, TypeInfo, UniqueConfig};

use crate::support::{Metrics, config, missing};

type Result<T = ()> = sweepstore::Result<T>;

fn cfg() -> Result<UniqueConfig> {
    config(json!({"lr": 0.1, "seed": 1}))
}

pub fn json_struct_round_trips<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let value = Metrics::sample(3);
    run.save("metrics", "json", &value)?;
    assert_eq!(run.load::<Metrics>("metrics")?, Some(value.clone()));
    let promise = run
        .load_lazy("metrics")?
        .ok_or_else(|| missing("metrics"))?;
    assert_eq!(promise.type_name(), "json");
    let as_json = serde_json::from_slice::<Metrics>(&promise.bytes()?);
    assert!(
        matches!(&as_json, Ok(v) if *v == value),
        "json results are stored as JSON text: {as_json:?}"
    );
    Ok(())
}

pub fn binary_struct_round_trips<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let value = Metrics::sample(4);
    run.save("metrics", "binary", &value)?;
    assert_eq!(run.load::<Metrics>("metrics")?, Some(value.clone()));
    let promise = run
        .load_lazy("metrics")?
        .ok_or_else(|| missing("metrics"))?;
    assert_eq!(promise.type_name(), "binary");
    assert_eq!(
        promise.bytes()?,
        store.types().get("binary")?.encode(&value)?
    );
    Ok(())
}

pub fn pickle_is_pythons_pickle_and_keeps_its_name<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let value = Metrics::sample(5);
    run.save("model", "pickle", &value)?;
    assert_eq!(run.load::<Metrics>("model")?, Some(value.clone()));
    let promise = run.load_lazy("model")?.ok_or_else(|| missing("model"))?;
    assert_eq!(
        promise.type_name(),
        "pickle",
        "the stored type name is kept"
    );
    let bytes = promise.bytes()?;
    assert_eq!(
        (bytes.first(), bytes.get(1), bytes.last()),
        (Some(&0x80), Some(&3), Some(&b'.')),
        "a protocol-3 Python pickle: PROTO 3 ... STOP"
    );
    assert_eq!(
        store
            .types()
            .get("pickle")?
            .decode::<serde_json::Value>(&bytes)?,
        serde_json::to_value(&value).map_err(|e| sweepstore::Error::Encode {
            type_name: "json".to_owned(),
            reason: e.to_string(),
        })?,
        "plain-data pickles read as JSON"
    );
    Ok(())
}

pub fn text_round_trips<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let text = "héllo\nwörld ✓\n".to_owned();
    run.save("log", "text", &text)?;
    assert_eq!(run.load::<String>("log")?, Some(text.clone()));
    let promise = run.load_lazy("log")?.ok_or_else(|| missing("log"))?;
    assert_eq!(promise.type_name(), "text");
    assert_eq!(promise.bytes()?, text.as_bytes(), "text is stored as UTF-8");
    Ok(())
}

pub fn bytes_round_trip<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let bytes: Vec<u8> = (0..=255).collect();
    run.save("weights", "bytes", &bytes)?;
    assert_eq!(run.load::<Vec<u8>>("weights")?, Some(bytes.clone()));
    let promise = run
        .load_lazy("weights")?
        .ok_or_else(|| missing("weights"))?;
    assert_eq!(promise.type_name(), "bytes");
    assert_eq!(promise.bytes()?, bytes, "bytes are stored as they are");
    Ok(())
}

pub fn empty_and_large_values_round_trip<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("empty-bytes", "bytes", &Vec::<u8>::new())?;
    run.save("empty-text", "text", &String::new())?;
    let large: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 251) as u8).collect();
    run.save("large", "bytes", &large)?;
    assert_eq!(run.load::<Vec<u8>>("empty-bytes")?, Some(Vec::new()));
    assert_eq!(run.load::<String>("empty-text")?, Some(String::new()));
    assert_eq!(run.load::<Vec<u8>>("large")?, Some(large));
    let empty = run
        .load_lazy("empty-bytes")?
        .ok_or_else(|| missing("empty"))?;
    assert_eq!(empty.size(), 0);
    Ok(())
}

/// A type without serde, saved through a registered custom codec.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

fn point_type() -> TypeInfo {
    TypeInfo::custom::<Point>(
        "point",
        "pt",
        false,
        |p, w: &mut dyn Write| write!(w, "{},{}", p.x, p.y),
        |r: &mut dyn Read| {
            let mut text = String::new();
            r.read_to_string(&mut text)?;
            let (x, y) = text
                .split_once(',')
                .ok_or_else(|| io::Error::other("expected `x,y`"))?;
            let parse = |s: &str| s.parse::<i32>().map_err(io::Error::other);
            Ok(Point {
                x: parse(x)?,
                y: parse(y)?,
            })
        },
    )
}

pub fn custom_type_round_trips_through_its_own_codec<S: ResultsStore>(store: &S) -> Result {
    store.types().register(point_type())?;
    let run = store.run("train", &cfg()?)?;
    let point = Point { x: 3, y: -4 };
    run.save_custom("origin", "point", &point)?;
    assert_eq!(run.load_custom::<Point>("origin")?, Some(point));
    let promise = run.load_lazy("origin")?.ok_or_else(|| missing("origin"))?;
    assert_eq!(promise.type_name(), "point", "the custom type name is kept");
    assert_eq!(
        promise.bytes()?,
        b"3,-4",
        "the custom codec wrote the bytes"
    );
    assert_eq!(promise.load_custom::<Point>()?, Point { x: 3, y: -4 });
    Ok(())
}

pub fn raw_bytes_saved_as_a_type_load_through_its_codec<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save_bytes(
        "metrics",
        "json",
        br#"{"loss": 0.25, "epochs": 2, "tags": []}"#,
    )?;
    let loaded = run.load::<Metrics>("metrics")?;
    let expected = Metrics {
        loss: 0.25,
        epochs: 2,
        tags: Vec::new(),
    };
    assert_eq!(loaded, Some(expected));
    Ok(())
}

pub fn results_in_a_sub_dir_load_by_name<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let options = SaveOptions::in_sub_dir(SubDir::new("models/best")?);
    run.save_with("checkpoint", "bytes", &vec![1u8, 2, 3], &options)?;
    run.save("plain", "text", &"top level".to_owned())?;
    assert_eq!(run.load::<Vec<u8>>("checkpoint")?, Some(vec![1, 2, 3]));
    let results = run.get_results()?.ok_or_else(|| missing("run"))?;
    let names: Vec<&str> = results.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["checkpoint", "plain"]);
    assert!(run.delete("checkpoint")?);
    assert_eq!(run.load::<Vec<u8>>("checkpoint")?, None);
    Ok(())
}

pub fn save_after_overwrite_returns_the_new_value<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("metrics", "json", &Metrics::sample(1))?;
    run.save("metrics", "json", &Metrics::sample(2))?;
    assert_eq!(run.load::<Metrics>("metrics")?, Some(Metrics::sample(2)));
    run.save("metrics", "json", &Metrics::sample(1))?;
    assert_eq!(
        run.load::<Metrics>("metrics")?,
        Some(Metrics::sample(1)),
        "going back to an earlier value works too"
    );
    let results = run.get_results()?.ok_or_else(|| missing("run"))?;
    assert_eq!(results.len(), 1, "an overwrite does not add a result");
    Ok(())
}

pub fn overwrite_may_change_the_type<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("out", "json", &Metrics::sample(1))?;
    run.save("out", "text", &"now text".to_owned())?;
    let promise = run.load_lazy("out")?.ok_or_else(|| missing("out"))?;
    assert_eq!(promise.type_name(), "text");
    assert_eq!(promise.load::<String>()?, "now text");
    Ok(())
}

pub fn identical_values_under_two_names_are_independent<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let value = vec![7u8; 100];
    run.save("a", "bytes", &value)?;
    run.save("b", "bytes", &value)?;
    let a = run.load_lazy("a")?.ok_or_else(|| missing("a"))?;
    let b = run.load_lazy("b")?.ok_or_else(|| missing("b"))?;
    assert_eq!(a.hash(), b.hash(), "equal bytes have equal content hashes");
    assert!(run.delete("a")?);
    assert_eq!(run.load::<Vec<u8>>("b")?, Some(value.clone()));
    run.save("b", "bytes", &vec![8u8])?;
    assert_eq!(
        a.load::<Vec<u8>>()?,
        value,
        "shared content outlives both names"
    );
    Ok(())
}

pub fn load_of_a_missing_name_is_none<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("metrics", "json", &Metrics::sample(1))?;
    assert_eq!(run.load::<Metrics>("other")?, None);
    assert!(run.load_lazy("other")?.is_none());
    assert!(!run.delete("other")?);
    Ok(())
}

pub fn load_of_a_missing_run_is_none<S: ResultsStore>(store: &S) -> Result {
    store.run("train", &config(json!({"lr": 0.5}))?)?.save(
        "metrics",
        "json",
        &Metrics::sample(1),
    )?;
    let run = store.run("train", &config(json!({"lr": 0.25}))?)?;
    assert_eq!(run.load::<Metrics>("metrics")?, None);
    assert!(run.get_results()?.is_none());
    assert_eq!(run.state()?, None);
    assert!(!run.is_finished()?);
    assert!(!run.delete("metrics")?);
    assert!(!run.delete_run()?);
    Ok(())
}

pub fn load_of_a_missing_task_is_none<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("never-saved", &UniqueConfig::empty())?;
    assert_eq!(run.load::<Metrics>("metrics")?, None);
    assert!(run.get_results()?.is_none());
    assert_eq!(run.state()?, None);
    assert!(!run.delete("metrics")?);
    assert!(!run.delete_run()?);
    assert_eq!(store.task("never-saved")?.lazy_sweep("metrics")?.count(), 0);
    Ok(())
}

pub fn delete_returns_true_then_false_and_the_name_is_gone<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("metrics", "json", &Metrics::sample(1))?;
    assert!(run.delete("metrics")?);
    assert!(!run.delete("metrics")?);
    assert_eq!(run.load::<Metrics>("metrics")?, None);
    let results = run.get_results()?.ok_or_else(|| missing("run"))?;
    assert!(results.is_empty(), "the run stays, without the name");
    assert_eq!(store.task("train")?.lazy_sweep("metrics")?.count(), 0);
    Ok(())
}

pub fn delete_leaves_other_names_and_runs_alone<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let other = store.run("train", &config(json!({"lr": 0.2}))?)?;
    run.save("a", "text", &"a".to_owned())?;
    run.save("b", "text", &"b".to_owned())?;
    other.save("a", "text", &"other a".to_owned())?;
    assert!(run.delete("a")?);
    assert_eq!(run.load::<String>("b")?, Some("b".to_owned()));
    assert_eq!(other.load::<String>("a")?, Some("other a".to_owned()));
    Ok(())
}

pub fn delete_run_removes_all_results_and_state<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("a", "json", &Metrics::sample(1))?;
    run.save("b", "bytes", &vec![1u8])?;
    run.finish()?;
    assert!(run.delete_run()?);
    assert_eq!(run.load::<Metrics>("a")?, None);
    assert_eq!(run.load::<Vec<u8>>("b")?, None);
    assert!(run.get_results()?.is_none());
    assert_eq!(run.state()?, None);
    assert!(!run.is_finished()?);
    assert!(!run.delete_run()?, "the second delete_run finds nothing");
    assert_eq!(store.task("train")?.lazy_sweep("a")?.count(), 0);
    Ok(())
}

pub fn delete_run_leaves_other_runs_and_tasks_alone<S: ResultsStore>(store: &S) -> Result {
    let config = cfg()?;
    let other_config = config_b()?;
    store
        .run("train", &config)?
        .save("a", "text", &"1".to_owned())?;
    store
        .run("train", &other_config)?
        .save("a", "text", &"2".to_owned())?;
    store
        .run("eval", &config)?
        .save("a", "text", &"3".to_owned())?;
    assert!(store.run("train", &config)?.delete_run()?);
    assert_eq!(
        store.run("train", &other_config)?.load::<String>("a")?,
        Some("2".to_owned())
    );
    assert_eq!(
        store.run("eval", &config)?.load::<String>("a")?,
        Some("3".to_owned())
    );
    Ok(())
}

fn config_b() -> Result<UniqueConfig> {
    config(json!({"lr": 0.01, "seed": 2}))
}

pub fn a_deleted_run_can_be_saved_again<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("a", "text", &"old".to_owned())?;
    run.set_state(RunState::Failed)?;
    assert!(run.delete_run()?);
    run.save("b", "text", &"new".to_owned())?;
    assert_eq!(
        run.state()?,
        Some(RunState::Running),
        "a new run starts running"
    );
    assert_eq!(
        run.load::<String>("a")?,
        None,
        "old results do not come back"
    );
    assert_eq!(run.load::<String>("b")?, Some("new".to_owned()));
    Ok(())
}

pub fn tasks_do_not_share_runs<S: ResultsStore>(store: &S) -> Result {
    let config = cfg()?;
    let train = store.run("train", &config)?;
    let eval = store.run("eval", &config)?;
    train.save("metrics", "json", &Metrics::sample(1))?;
    assert_eq!(eval.load::<Metrics>("metrics")?, None);
    eval.save("metrics", "json", &Metrics::sample(2))?;
    train.finish()?;
    assert_eq!(train.load::<Metrics>("metrics")?, Some(Metrics::sample(1)));
    assert_eq!(eval.load::<Metrics>("metrics")?, Some(Metrics::sample(2)));
    assert_eq!(eval.state()?, Some(RunState::Running));
    Ok(())
}
