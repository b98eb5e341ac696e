//! Pickles nesting past `MAX_DEPTH` are refused before `serde-pickle` reads them (it recurses
//! once per level, so 10^5 levels would overflow the stack): at save as bytes or as a typed
//! value on every backend, and at load of a pickle fluidml left in a run directory; each on
//! a thread with a small stack, with the value at the limit as the control.

use serde_json::{Value, json};
use sweepstore::{Error, LocalFileStore, MAX_DEPTH, Result, ResultsStore, StoreExt, UniqueConfig};

use crate::{TASK, drop_flat, fluidml_pickle_run, nested_arrays, on_every_backend, seed, tempdir};

/// `levels` lists one inside the other as Python's pickle protocol 2 may write them: one
/// `EMPTY_LIST` per level, then one `APPEND` per level (no marks).
fn nested_pickle(levels: usize) -> Vec<u8> {
    let mut bytes = vec![0x80, 2];
    bytes.extend(std::iter::repeat_n(b']', levels));
    bytes.extend(std::iter::repeat_n(b'a', levels - 1));
    bytes.push(b'.');
    bytes
}

/// Runs `work` on a thread with a 256 KiB stack; an overflow there fails the test.
fn on_a_small_stack<T: Send>(work: impl FnOnce() -> T + Send) -> Result<T> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn_scoped(scope, work)
            .map_err(|source| Error::Stream {
                op: "spawn a thread with a small stack",
                source,
            })?
            .join()
            .map_err(|_| Error::Stream {
                op: "work on a small stack",
                source: std::io::Error::other("the thread panicked or overflowed"),
            })
    })
}

fn assert_too_deep(outcome: Result<()>, what: &str) {
    match outcome {
        Err(
            e @ Error::NestedTooDeep {
                limit: MAX_DEPTH, ..
            },
        ) => {
            assert!(
                e.to_string().contains("deeper than 64 levels"),
                "{what}: {e}"
            );
        }
        other => panic!("{what}: {other:?}"),
    }
}

fn deep_pickles_are_refused(store: &dyn ResultsStore) -> Result<()> {
    let run = store.run(TASK, &UniqueConfig::new(json!({"pickle": true}))?)?;
    run.save("p", "pickle", &json!({"kept": 1}))?;
    for levels in [MAX_DEPTH + 1, 100_000] {
        let bytes = nested_pickle(levels);
        let value = nested_arrays(levels);
        let (raw, typed) = on_a_small_stack(|| {
            (
                run.save_bytes("p", "pickle", &bytes),
                run.save("p", "pickle", &value),
            )
        })?;
        drop_flat(value);
        assert_too_deep(raw, &format!("{levels} levels as bytes"));
        assert_too_deep(typed, &format!("{levels} levels typed"));
        assert_eq!(run.load::<Value>("p")?, Some(json!({"kept": 1})));
    }
    // The control: at the limit, the same pickle is stored and loads.
    run.save_bytes("p", "pickle", &nested_pickle(MAX_DEPTH))?;
    let loaded = on_a_small_stack(|| run.load::<Value>("p"))??;
    let empty_innermost = (1..MAX_DEPTH).fold(json!([]), |inner, _| json!([inner]));
    assert_eq!(loaded, Some(empty_innermost));
    Ok(())
}

#[test]
fn pickles_nested_past_the_limit_are_refused_at_save_by_every_backend_on_a_small_stack()
-> Result<()> {
    on_every_backend(deep_pickles_are_refused)
}

#[test]
fn a_deep_pickle_fluidml_left_is_a_decode_error_on_a_small_stack() -> Result<()> {
    let dir = tempdir()?;
    let results = [
        ("limit", MAX_DEPTH),
        ("past", MAX_DEPTH + 1),
        ("deep", 100_000),
    ]
    .map(|(name, levels)| (name, nested_pickle(levels)));
    fluidml_pickle_run(dir.path(), &results)?;
    let store = LocalFileStore::new(dir.path())?;
    let run = store.run(TASK, &seed(1)?)?;
    let (limit, past, deep) = on_a_small_stack(|| {
        (
            run.load::<Value>("limit"),
            run.load::<Value>("past"),
            run.load::<Value>("deep"),
        )
    })?;
    assert!(matches!(limit, Ok(Some(Value::Array(_)))), "{limit:?}");
    for (what, outcome) in [("65 levels", past), ("10^5 levels", deep)] {
        match outcome {
            Err(Error::Decode { reason, .. }) => {
                assert!(reason.contains("deeper than 64 levels"), "{what}: {reason}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    Ok(())
}
