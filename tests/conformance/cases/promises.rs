//! Lazy values: a promise names content by hash, reports type and size, and keeps loading
//! the value it was taken for after the name is overwritten or deleted.

use serde_json::json;
use sweepstore::{ContentHash, File, ResultsStore, StoreExt, UniqueConfig};

use crate::support::{Metrics, config, missing, read_all};

type Result<T = ()> = sweepstore::Result<T>;

fn cfg() -> Result<UniqueConfig> {
    config(json!({"lr": 0.1}))
}

pub fn promise_reports_type_size_and_content_hash<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let value = Metrics::sample(9);
    run.save("metrics", "json", &value)?;
    let promise = run
        .load_lazy("metrics")?
        .ok_or_else(|| missing("metrics"))?;
    let bytes = promise.bytes()?;
    assert_eq!(promise.type_name(), "json");
    assert_eq!(promise.size(), bytes.len() as u64);
    assert_eq!(promise.hash(), ContentHash::of(&bytes));
    assert_eq!(bytes, store.types().get("json")?.encode(&value)?);
    assert_eq!(promise.load::<Metrics>()?, value);
    run.save("raw", "bytes", &b"abc".to_vec())?;
    let raw = run.load_lazy("raw")?.ok_or_else(|| missing("raw"))?;
    assert_eq!(raw.hash(), ContentHash::of(b"abc"));
    assert_eq!(raw.size(), 3);
    Ok(())
}

pub fn promise_survives_a_later_overwrite<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("metrics", "json", &Metrics::sample(1))?;
    let old = run
        .load_lazy("metrics")?
        .ok_or_else(|| missing("metrics"))?;
    run.save("metrics", "json", &Metrics::sample(2))?;
    run.save("metrics", "text", &"a different type".to_owned())?;
    assert_eq!(old.load::<Metrics>()?, Metrics::sample(1));
    assert_eq!(old.type_name(), "json");
    let new = run
        .load_lazy("metrics")?
        .ok_or_else(|| missing("metrics"))?;
    assert_ne!(new.hash(), old.hash());
    assert_eq!(new.load::<String>()?, "a different type");
    Ok(())
}

pub fn promise_survives_a_delete_of_the_name<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
    run.save("weights", "bytes", &big)?;
    let promise = run
        .load_lazy("weights")?
        .ok_or_else(|| missing("weights"))?;
    assert!(run.delete("weights")?);
    assert_eq!(run.load::<Vec<u8>>("weights")?, None);
    assert_eq!(promise.load::<Vec<u8>>()?, big);
    assert_eq!(promise.hash(), ContentHash::of(&big));
    Ok(())
}

pub fn promise_survives_delete_run<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("log", "text", &"kept".to_owned())?;
    let promise = run.load_lazy("log")?.ok_or_else(|| missing("log"))?;
    assert!(run.delete_run()?);
    assert_eq!(promise.load::<String>()?, "kept");
    Ok(())
}

pub fn promises_from_get_results_and_sweeps_survive_overwrites<S: ResultsStore>(
    store: &S,
) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("a", "text", &"a1".to_owned())?;
    run.save("b", "bytes", &vec![1u8])?;
    let results = run.get_results()?.ok_or_else(|| missing("run"))?;
    let sweep: Vec<_> = store
        .task("train")?
        .lazy_sweep("a")?
        .collect::<Result<_>>()?;
    run.save("a", "text", &"a2".to_owned())?;
    assert!(run.delete("b")?);
    let loaded: Vec<(String, Vec<u8>)> = results
        .iter()
        .map(|(name, p)| Ok((name.to_string(), p.bytes()?)))
        .collect::<Result<_>>()?;
    assert_eq!(
        loaded,
        [("a".to_owned(), b"a1".to_vec()), ("b".to_owned(), vec![1])]
    );
    let first = sweep.first().ok_or_else(|| missing("sweep"))?;
    assert_eq!(first.value.load::<String>()?, "a1");
    Ok(())
}

pub fn promise_loads_repeatedly<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("metrics", "binary", &Metrics::sample(3))?;
    let promise = run
        .load_lazy("metrics")?
        .ok_or_else(|| missing("metrics"))?;
    let clone = promise.clone();
    for _ in 0..3 {
        assert_eq!(promise.load::<Metrics>()?, Metrics::sample(3));
        assert_eq!(clone.load::<Metrics>()?, Metrics::sample(3));
    }
    Ok(())
}

pub fn file_from_promise_reads_the_content<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("log", "text", &"line 1\nline 2\n".to_owned())?;
    run.save("metrics", "json", &Metrics::sample(4))?;
    let log = run.load_lazy("log")?.ok_or_else(|| missing("log"))?;
    let metrics = run
        .load_lazy("metrics")?
        .ok_or_else(|| missing("metrics"))?;
    run.save("log", "text", &"overwritten".to_owned())?;
    let mut file = File::from_promise(&log)?;
    assert!(file.readable() && !file.writable());
    assert_eq!(file.type_name(), "text");
    assert_eq!(file.readline()?, "line 1\n");
    assert_eq!(read_all(&mut file)?, b"line 2\n");
    file.close()?;
    let mut file = File::from_promise(&metrics)?;
    assert_eq!(
        file.load::<Metrics>()?,
        Metrics::sample(4),
        "through the codec"
    );
    Ok(())
}
