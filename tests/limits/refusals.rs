//! What goes past the limits is refused on every path (typed, as bytes, through `open`,
//! from a server's raw frames), naming the limit, with nothing stored; what is at the limit
//! travels; a `sub_dir` naming a result file says a file is in the way.

use serde_json::{Map, Value, json};
use sweepstore::{
    Browse, ConfigError, Error, LocalFileStore, MAX_CONFIG_LEN, MAX_DEPTH, RemoteStore, Result,
    ResultsStore, SaveOptions, StoreExt, SubDir, UniqueConfig,
};

use crate::{
    Served, TASK, deep_config_text, drop_flat, nested_arrays, on_every_backend, seed, tempdir,
};

/// Saves values nested 65, 128 and a million levels, as a typed value, as bytes and through
/// a file opened for writing, on a thread with a small stack: each is refused, naming the
/// limit, and nothing is stored.
pub(crate) fn deep_values_are_refused<S: ResultsStore + ?Sized + Sync>(store: &S) -> Result<()> {
    let run = store.run(TASK, &UniqueConfig::new(json!({"deep": true}))?)?;
    run.save("v", "json", &json!({"kept": 1}))?;
    for levels in [MAX_DEPTH + 1, 128, 1_000_000] {
        let value = nested_arrays(levels);
        let text = "[".repeat(levels) + &"]".repeat(levels);
        let (typed, raw, streamed) = std::thread::scope(|scope| {
            let check = std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(scope, || {
                    let typed = run.save("v", "json", &value);
                    let raw = run.save_bytes("v", "json", text.as_bytes());
                    let streamed = run.open("v", "w", Some("json")).and_then(|mut file| {
                        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(
                            |source| Error::Stream {
                                op: "write a deep value",
                                source,
                            },
                        )?;
                        file.close()
                    });
                    (typed, raw, streamed)
                })
                .map_err(|source| Error::Stream {
                    op: "spawn a thread with a small stack",
                    source,
                })?;
            check.join().map_err(|_| Error::Stream {
                op: "save a deep value on a small stack",
                source: std::io::Error::other("the thread panicked or overflowed"),
            })
        })?;
        drop_flat(value);
        for (how, outcome) in [("typed", typed), ("bytes", raw), ("stream", streamed)] {
            match outcome {
                Err(
                    e @ Error::NestedTooDeep {
                        limit: MAX_DEPTH, ..
                    },
                ) => {
                    assert!(e.to_string().contains("deeper than 64 levels"), "{e}");
                }
                other => panic!("{levels} levels ({how}): {other:?}"),
            }
        }
        assert_eq!(
            run.load::<Value>("v")?,
            Some(json!({"kept": 1})),
            "{levels} levels"
        );
    }
    // The control: the same value at the limit is stored and read back.
    let at_limit = nested_arrays(MAX_DEPTH);
    run.save("v", "json", &at_limit)?;
    assert_eq!(run.load::<Value>("v")?, Some(at_limit));
    Ok(())
}

#[test]
fn values_nested_past_the_limit_are_refused_by_every_backend_on_a_small_stack() -> Result<()> {
    on_every_backend(|store| deep_values_are_refused(store))
}

/// A config of exactly `MAX_CONFIG_LEN` bytes is saved, loaded and swept (through a server
/// it travels in one frame beside its value); one byte more is refused.
pub(crate) fn the_largest_config_travels<S: ResultsStore + ?Sized>(store: &S) -> Result<()> {
    // `{"s":"…"}` is 8 bytes around the string.
    let largest = UniqueConfig::new(json!({ "s": "x".repeat(MAX_CONFIG_LEN - 8) }))?;
    assert_eq!(largest.canonical().len(), MAX_CONFIG_LEN);
    let run = store.run(TASK, &largest)?;
    run.save("v", "json", &json!(1))?;
    assert_eq!(run.load::<Value>("v")?, Some(json!(1)));
    let swept: Vec<_> = store.task(TASK)?.lazy_sweep("v")?.collect::<Result<_>>()?;
    assert!(swept.iter().any(|item| item.config == largest));
    let over = UniqueConfig::new(json!({ "s": "x".repeat(MAX_CONFIG_LEN - 7) }));
    assert!(matches!(
        over,
        Err(ConfigError::TooLarge {
            limit: MAX_CONFIG_LEN,
            ..
        })
    ));
    Ok(())
}

#[test]
fn a_config_of_the_largest_size_travels_through_every_backend() -> Result<()> {
    on_every_backend(|store| the_largest_config_travels(store))
}

#[test]
fn configs_as_deep_as_the_ones_of_issue_16_are_refused_naming_the_limit() {
    for levels in [MAX_DEPTH + 1, 127, 128, 5_200] {
        let inner = nested_arrays(levels - 1);
        let refused = UniqueConfig::from_map(Map::from_iter([("x".to_owned(), inner)]));
        assert!(
            matches!(
                &refused,
                Err(ConfigError::TooDeep {
                    limit: MAX_DEPTH,
                    ..
                })
            ),
            "{levels} levels: {refused:?}"
        );
    }
}

#[test]
fn a_sub_dir_naming_a_result_file_says_a_file_is_in_the_way() -> Result<()> {
    let dir = tempdir()?;
    let store = LocalFileStore::new(dir.path())?;
    let run = store.run(TASK, &seed(0)?)?;
    run.save("metrics", "json", &json!({"loss": 1}))?;
    let options = SaveOptions::in_sub_dir(SubDir::new("metrics.json")?);
    let refused = run.save_with("weights", "json", &json!([1, 2]), &options);
    match refused {
        Err(Error::FileInTheWay { path }) => assert!(path.ends_with("metrics.json")),
        other => panic!("{other:?}"),
    }
    assert_eq!(run.load::<Value>("metrics")?, Some(json!({"loss": 1})));
    assert_eq!(run.load::<Value>("weights")?, None);
    Ok(())
}

/// A `Save` request frame (design §17.2) of result `v` of task `train`, as a client that
/// skipped its own checks would send it.
fn raw_save(config: &str, type_name: &str, bytes: &[u8]) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        let mut n = bytes.len();
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend_from_slice(bytes);
    }
    let mut payload = vec![0]; // Request::Save
    for part in [
        TASK.as_bytes(),
        config.as_bytes(),
        b"v",
        type_name.as_bytes(),
        bytes,
    ] {
        field(&mut payload, part);
    }
    payload.push(0); // no sub_dir
    field(&mut payload, b"{}");
    field(&mut payload, b"{}");
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend(payload);
    frame
}

/// Reads one response frame's payload.
fn read_frame(stream: &mut std::os::unix::net::UnixStream) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |source| Error::Stream {
        op: "read a response frame",
        source,
    };
    let mut len = [0; 4];
    stream.read_exact(&mut len).map_err(io)?;
    let mut payload = vec![0; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut payload).map_err(io)?;
    Ok(payload)
}

#[test]
fn a_server_refuses_past_the_limits_what_a_client_that_skipped_its_checks_sends() -> Result<()> {
    use std::io::Write;
    let dir = tempdir()?;
    let (_served, socket) = Served::start(dir.path())?;
    let io = |source| Error::Stream {
        op: "talk to the server",
        source,
    };
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).map_err(io)?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .map_err(io)?;
    stream
        .write_all(b"\x09\x00\x00\x00SWPSTORE\x02")
        .map_err(io)?;
    assert_eq!(
        read_frame(&mut stream)?.first(),
        Some(&1),
        "Response::Welcome"
    );
    let deep_value = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    let refused = [
        (
            deep_config_text(MAX_DEPTH + 1),
            "1".to_owned(),
            "deeper than 64 levels",
        ),
        ("{}".to_owned(), deep_value, "deeper than 64 levels"),
        ("{}".to_owned(), "{not json".to_owned(), "not JSON"),
    ];
    for (config, value, needle) in refused {
        stream
            .write_all(&raw_save(&config, "json", value.as_bytes()))
            .map_err(io)?;
        let response = read_frame(&mut stream)?;
        assert_eq!(response.first(), Some(&0), "Response::Error");
        let needle = needle.as_bytes();
        assert!(
            response.windows(needle.len()).any(|w| w == needle),
            "{value:?}: {}",
            String::from_utf8_lossy(&response)
        );
    }
    // The control: the same frame within the limits is stored.
    stream
        .write_all(&raw_save(r#"{"ok":1}"#, "json", b"[[1]]"))
        .map_err(io)?;
    assert_eq!(read_frame(&mut stream)?, [2], "Response::Done");
    let store = RemoteStore::connect(&socket)?;
    let tasks = store.tasks()?;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].runs, 1, "the refused saves created no run");
    let run = store.run(TASK, &UniqueConfig::new(json!({"ok": 1}))?)?;
    assert_eq!(run.load::<Value>("v")?, Some(json!([[1]])));
    Ok(())
}
