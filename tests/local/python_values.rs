//! Values cross between Rust and the Python package (`python/`) in one store: what Rust saves
//! (json, text, bytes, pickle) loads in Python as the same values, and what Python saves loads
//! in Rust; a pickle of a Python class object is refused by Rust with its class named, never
//! unpickled.
//!
//! The interpreter is `SWEEPSTORE_TEST_PYTHON` with the package installed (tests/run.sh
//! builds it there). Without it the test fails under `CI=true` and is skipped (with a
//! message) otherwise.

use std::process::Command;

use crate::shared::{tempdir, test_python};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sweepstore::{Error, RedbOptions, RedbStore, StoreExt, UniqueConfig};

type Result<T = ()> = sweepstore::Result<T>;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Metrics {
    loss: f64,
    epochs: u32,
    tags: Vec<String>,
}

const PYTHON_SIDE: &str = r#"
import sys, sweepstore

class Opaque:
    pass

store = sweepstore.open(sys.argv[1])
run = store.run("train", {"lr": 0.5})
assert run.load("metrics_json") == {"loss": 0.25, "epochs": 3, "tags": ["a", "b"]}, run.load("metrics_json")
assert run.load("metrics_pickle") == {"loss": 0.25, "epochs": 3, "tags": ["a", "b"]}, run.load("metrics_pickle")
assert run.load("note") == "héllo from Rust"
assert run.load("raw") == bytes([0, 1, 255])
back = store.run("eval", {"lr": 0.5})
back.save({"loss": 0.125, "epochs": 7, "tags": ("x",)}, "metrics", "pickle")
back.save({"nested": {"k": [1, 2.5, None, True]}}, "doc", "json")
back.save("from Python", "note", "text")
back.save(b"\x00py", "raw", "bytes")
back.save(Opaque(), "object", "pickle")
store.close()
"#;

#[test]
fn values_cross_between_rust_and_python_both_ways() -> Result {
    let Some(python) = test_python("sweepstore") else {
        return Ok(());
    };
    let dir = tempdir()?;
    let path = dir.path().join("store");
    let config = UniqueConfig::new(json!({"lr": 0.5}))?;
    let metrics = Metrics {
        loss: 0.25,
        epochs: 3,
        tags: vec!["a".into(), "b".into()],
    };
    {
        let store = RedbStore::open(&path, RedbOptions::default())?;
        let run = store.run("train", &config)?;
        run.save("metrics_json", "json", &metrics)?;
        run.save("metrics_pickle", "pickle", &metrics)?;
        run.save("note", "text", &"héllo from Rust")?;
        run.save("raw", "bytes", &vec![0u8, 1, 255])?;
        store.close()?;
    }
    let output = Command::new(&python)
        .args(["-c", PYTHON_SIDE])
        .arg(&path)
        .output()
        .map_err(|source| Error::Stream {
            op: "run the test interpreter",
            source,
        })?;
    assert!(
        output.status.success(),
        "the Python side failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let store = RedbStore::open(&path, RedbOptions::default())?;
    let run = store.run("eval", &config)?;
    let from_python: Option<Metrics> = run.load("metrics")?;
    assert_eq!(
        from_python,
        Some(Metrics {
            loss: 0.125,
            epochs: 7,
            tags: vec!["x".into()],
        })
    );
    assert_eq!(
        run.load::<Value>("doc")?,
        Some(json!({"nested": {"k": [1, 2.5, null, true]}}))
    );
    assert_eq!(run.load::<String>("note")?.as_deref(), Some("from Python"));
    assert_eq!(run.load::<Vec<u8>>("raw")?, Some(b"\x00py".to_vec()));
    match run.load::<Value>("object") {
        Err(Error::Decode { reason, .. }) => {
            assert!(reason.contains("__main__.Opaque"), "{reason}");
        }
        other => panic!("a pickled Python object must not decode in Rust: {other:?}"),
    }
    Ok(())
}
