//! Results opened as files: every open mode, publish-on-close, the stream operations, the
//! codec through a file, and the default write type.

use std::io::{self, Read, Seek, SeekFrom};

use serde_json::json;
use sweepstore::{Error, File, ResultsStore, Run, SaveOptions, StoreExt, SubDir, UniqueConfig};

use crate::support::{Metrics, config, io_err, missing, read_all, write_all};

type Result<T = ()> = sweepstore::Result<T>;

const READ_MODES: [&str; 5] = ["r", "rb", "r+", "rb+", "r+b"];
const ALL_MODES: [&str; 16] = [
    "r", "rb", "r+", "rb+", "w", "wb", "w+", "wb+", "a", "ab", "a+", "ab+", "x", "xb", "x+", "xb+",
];

fn cfg() -> Result<UniqueConfig> {
    config(json!({"lr": 0.1}))
}

/// The run of `train` with `cfg()`, holding text result `log` = `content`.
fn run_with_log<'s, S: ResultsStore>(store: &'s S, content: &str) -> Result<Run<'s, S>> {
    let run = store.run("train", &cfg()?)?;
    run.save("log", "text", &content.to_owned())?;
    Ok(run)
}

/// The stored bytes of `name`, or `None`.
fn bytes_of<S: ResultsStore>(run: &Run<'_, S>, name: &str) -> Result<Option<Vec<u8>>> {
    run.load_lazy(name)?.map(|p| p.bytes()).transpose()
}

fn type_of<S: ResultsStore>(run: &Run<'_, S>, name: &str) -> Result<String> {
    let promise = run.load_lazy(name)?.ok_or_else(|| missing(name))?;
    Ok(promise.type_name().to_owned())
}

fn seek(file: &mut File, to: SeekFrom) -> Result<u64> {
    file.seek(to).map_err(io_err("seek"))
}

/// The crate error inside an `io::Error` from a `File`'s `Read`/`Write` impl.
fn inner(error: &io::Error) -> Option<&Error> {
    error.get_ref().and_then(|e| e.downcast_ref::<Error>())
}

pub fn open_for_reading_a_missing_result_is_not_found<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "x")?;
    let other = store.run("train", &config(json!({"lr": 0.2}))?)?;
    for mode in READ_MODES {
        let missing_name = run.open("missing", mode, None);
        assert!(
            matches!(missing_name, Err(Error::NotFound { .. })),
            "{mode}"
        );
        let missing_run = other.open("log", mode, None);
        assert!(matches!(missing_run, Err(Error::NotFound { .. })), "{mode}");
    }
    assert_eq!(other.state()?, None, "a failed open creates no run");
    assert_eq!(bytes_of(&run, "missing")?, None);
    Ok(())
}

pub fn open_in_every_read_mode_reads_the_stored_content<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "hello\nworld\n")?;
    for mode in READ_MODES {
        let mut file = run.open("log", mode, None)?;
        assert!(file.readable(), "{mode}");
        assert_eq!(file.writable(), mode.contains('+'), "{mode}");
        assert_eq!(
            file.type_name(),
            "text",
            "{mode} reads with the stored type"
        );
        assert_eq!(read_all(&mut file)?, b"hello\nworld\n", "{mode}");
        file.close()?;
    }
    assert_eq!(
        bytes_of(&run, "log")?.as_deref(),
        Some(&b"hello\nworld\n"[..])
    );
    Ok(())
}

pub fn r_plus_overwrites_in_place_from_the_start<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "hello world")?;
    let mut file = run.open("log", "r+", None)?;
    assert_eq!(file.tell()?, 0);
    write_all(&mut file, b"HELLO")?;
    file.close()?;
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"HELLO world"[..]));
    // Writing after a (buffered) read goes to the logical position.
    let mut file = run.open("log", "rb+", None)?;
    let mut first = [0u8; 6];
    file.read_exact(&mut first).map_err(io_err("read"))?;
    assert_eq!(&first, b"HELLO ");
    write_all(&mut file, b"W")?;
    assert_eq!(file.tell()?, 7);
    assert_eq!(read_all(&mut file)?, b"orld");
    file.close()?;
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"HELLO World"[..]));
    assert_eq!(type_of(&run, "log")?, "text", "r+ keeps the stored type");
    Ok(())
}

pub fn r_plus_addresses_the_exact_run_only<S: ResultsStore>(store: &S) -> Result {
    store
        .run("train", &config(json!({"a": 1}))?)?
        .save("log", "text", &"subset".to_owned())?;
    let superset = store.run("train", &config(json!({"a": 1, "b": 2}))?)?;
    assert!(matches!(
        superset.open("log", "r+", None),
        Err(Error::NotFound { .. })
    ));
    let mut file = superset.open("log", "r", None)?;
    assert_eq!(read_all(&mut file)?, b"subset");
    Ok(())
}

pub fn read_mode_uses_the_lookup_rule<S: ResultsStore>(store: &S) -> Result {
    store
        .run("train", &config(json!({}))?)?
        .save("log", "text", &"empty".to_owned())?;
    store
        .run("train", &config(json!({"a": 1}))?)?
        .save("log", "text", &"a".to_owned())?;
    let query = store.run("train", &config(json!({"a": 1, "b": 2}))?)?;
    for mode in ["r", "rb"] {
        let mut file = query.open("log", mode, None)?;
        assert_eq!(read_all(&mut file)?, b"a", "{mode}");
    }
    Ok(())
}

pub fn w_replaces_the_stored_content<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "old content")?;
    for (mode, new) in [("w", "new"), ("wb", "newer")] {
        let mut file = run.open("log", mode, None)?;
        assert!(file.writable() && !file.readable(), "{mode}");
        assert_eq!(file.tell()?, 0, "{mode} starts empty");
        write_all(&mut file, new.as_bytes())?;
        file.close()?;
        assert_eq!(
            bytes_of(&run, "log")?,
            Some(new.as_bytes().to_vec()),
            "{mode}"
        );
    }
    Ok(())
}

pub fn w_plus_reads_back_what_it_wrote<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "old content")?;
    for mode in ["w+", "wb+", "w+b"] {
        let mut file = run.open("log", mode, None)?;
        assert!(file.readable() && file.writable(), "{mode}");
        assert_eq!(read_all(&mut file)?, b"", "{mode} starts empty");
        write_all(&mut file, b"abc")?;
        assert_eq!(seek(&mut file, SeekFrom::Start(0))?, 0);
        assert_eq!(read_all(&mut file)?, b"abc", "{mode}");
        file.close()?;
        assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"abc"[..]));
    }
    Ok(())
}

pub fn append_appends_to_the_stored_content_even_after_seek<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "abc")?;
    for (mode, expected) in [("a", "abcde"), ("ab", "abcdede")] {
        let mut file = run.open("log", mode, None)?;
        assert!(file.writable() && !file.readable(), "{mode}");
        write_all(&mut file, b"d")?;
        seek(&mut file, SeekFrom::Start(0))?;
        write_all(&mut file, b"e")?;
        file.close()?;
        assert_eq!(
            bytes_of(&run, "log")?,
            Some(expected.as_bytes().to_vec()),
            "{mode}"
        );
    }
    Ok(())
}

pub fn append_plus_reads_the_whole_content_after_seek<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "abc")?;
    for (mode, expected) in [("a+", "abcd"), ("ab+", "abcdd")] {
        let mut file = run.open("log", mode, None)?;
        assert!(file.readable() && file.writable(), "{mode}");
        let start = expected.len() as u64 - 1;
        assert_eq!(file.tell()?, start, "{mode} starts at the end");
        assert_eq!(read_all(&mut file)?, b"");
        seek(&mut file, SeekFrom::Start(0))?;
        assert_eq!(read_all(&mut file)?.len() as u64, start);
        seek(&mut file, SeekFrom::Start(1))?;
        write_all(&mut file, b"d")?;
        seek(&mut file, SeekFrom::Start(0))?;
        assert_eq!(read_all(&mut file)?, expected.as_bytes(), "{mode}");
        file.close()?;
        assert_eq!(bytes_of(&run, "log")?, Some(expected.as_bytes().to_vec()));
    }
    Ok(())
}

pub fn append_to_a_missing_result_starts_empty<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "x")?;
    for (i, mode) in ["a", "ab", "a+", "ab+"].into_iter().enumerate() {
        let name = format!("new{i}");
        let mut file = run.open(&name, mode, None)?;
        assert_eq!(file.tell()?, 0, "{mode}");
        write_all(&mut file, b"first")?;
        file.close()?;
        assert_eq!(
            bytes_of(&run, &name)?.as_deref(),
            Some(&b"first"[..]),
            "{mode}"
        );
    }
    Ok(())
}

pub fn exclusive_mode_creates_a_new_result<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    for mode in ["x", "xb", "x+", "xb+"] {
        let name = format!("new-{}", mode.replace('+', "plus"));
        let mut file = run.open(&name, mode, None)?;
        assert!(file.writable(), "{mode}");
        assert_eq!(file.readable(), mode.contains('+'), "{mode}");
        write_all(&mut file, mode.as_bytes())?;
        file.close()?;
        assert_eq!(
            bytes_of(&run, &name)?,
            Some(mode.as_bytes().to_vec()),
            "{mode}"
        );
    }
    Ok(())
}

pub fn exclusive_mode_on_an_existing_result_already_exists<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "precious")?;
    for mode in ["x", "xb", "x+", "xb+"] {
        let opened = run.open("log", mode, None);
        assert!(matches!(opened, Err(Error::AlreadyExists { .. })), "{mode}");
    }
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"precious"[..]));
    Ok(())
}

pub fn exclusive_mode_does_not_publish_over_a_result_saved_meanwhile<S: ResultsStore>(
    store: &S,
) -> Result {
    let run = store.run("train", &cfg()?)?;
    let mut file = run.open("log", "x", None)?;
    write_all(&mut file, b"late")?;
    run.save("log", "text", &"early".to_owned())?;
    assert!(matches!(file.close(), Err(Error::AlreadyExists { .. })));
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"early"[..]));
    Ok(())
}

pub fn invalid_mode_strings_are_rejected<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "kept")?;
    for mode in [
        "", "q", "R", "rw", "wr", "r++", "rbb", "wt", "+", "b", "br", "w+x", "ra", " r", "r ",
    ] {
        let opened = run.open("log", mode, None);
        assert!(
            matches!(&opened, Err(Error::InvalidMode { mode: m }) if m == mode),
            "{mode:?}: {opened:?}"
        );
    }
    for mode in ALL_MODES {
        assert!(mode.parse::<sweepstore::OpenMode>().is_ok(), "{mode}");
    }
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"kept"[..]));
    Ok(())
}

pub fn writes_publish_only_on_close<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let mut file = run.open("log", "w", None)?;
    write_all(&mut file, b"pending")?;
    assert_eq!(
        bytes_of(&run, "log")?,
        None,
        "nothing is visible before close"
    );
    assert_eq!(store.task("train")?.lazy_sweep("log")?.count(), 0);
    file.close()?;
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"pending"[..]));
    let mut dropped = run.open("never", "w", None)?;
    write_all(&mut dropped, b"aborted")?;
    drop(dropped);
    assert_eq!(
        bytes_of(&run, "never")?,
        None,
        "a dropped file stores nothing"
    );
    Ok(())
}

pub fn dropping_a_writable_file_keeps_the_old_value<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "old")?;
    for mode in ["w", "wb+", "a", "ab+", "r+", "rb+"] {
        let mut file = run.open("log", mode, None)?;
        write_all(&mut file, b"aborted write")?;
        file.truncate(Some(3))?;
        drop(file);
        assert_eq!(
            bytes_of(&run, "log")?.as_deref(),
            Some(&b"old"[..]),
            "{mode}"
        );
    }
    Ok(())
}

pub fn write_modes_address_the_exact_run<S: ResultsStore>(store: &S) -> Result {
    let subset = store.run("train", &config(json!({"a": 1}))?)?;
    subset.save("log", "text", &"subset".to_owned())?;
    let superset = store.run("train", &config(json!({"a": 1, "b": 2}))?)?;
    let mut file = superset.open("log", "a", None)?;
    assert_eq!(file.tell()?, 0, "the exact run has no `log` to append to");
    write_all(&mut file, b"exact")?;
    file.close()?;
    let mut file = superset.open("other", "w", None)?;
    write_all(&mut file, b"w")?;
    file.close()?;
    assert_eq!(bytes_of(&subset, "log")?.as_deref(), Some(&b"subset"[..]));
    assert_eq!(bytes_of(&subset, "other")?, None);
    assert_eq!(bytes_of(&superset, "log")?.as_deref(), Some(&b"exact"[..]));
    Ok(())
}

pub fn readline_and_readlines_keep_line_ends<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "a\nbb\n\nccc")?;
    let mut file = run.open("log", "r", None)?;
    assert_eq!(file.readline()?, "a\n");
    assert_eq!(file.readlines()?, ["bb\n", "\n", "ccc"]);
    assert_eq!(file.readline()?, "", "an empty string at the end");
    assert_eq!(file.readlines()?, Vec::<String>::new());
    seek(&mut file, SeekFrom::Start(2))?;
    assert_eq!(file.readline()?, "bb\n");
    Ok(())
}

pub fn writelines_adds_no_separators<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let mut file = run.open("log", "w", None)?;
    file.writelines(["a", "b\n", "c"])?;
    file.writelines([b"\n".to_vec(), b"d".to_vec()])?;
    assert_eq!(file.tell()?, 6);
    file.close()?;
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"ab\nc\nd"[..]));
    Ok(())
}

pub fn tell_and_seek_track_the_logical_position<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let content: Vec<u8> = (0..100).collect();
    run.save("data", "bytes", &content)?;
    let mut file = run.open("data", "rb", None)?;
    let mut ten = [0u8; 10];
    file.read_exact(&mut ten).map_err(io_err("read"))?;
    assert_eq!(
        file.tell()?,
        10,
        "read-ahead does not move the logical position"
    );
    assert_eq!(seek(&mut file, SeekFrom::Current(5))?, 15);
    let mut one = [0u8; 1];
    file.read_exact(&mut one).map_err(io_err("read"))?;
    assert_eq!(one, [15]);
    assert_eq!(seek(&mut file, SeekFrom::End(-1))?, 99);
    file.read_exact(&mut one).map_err(io_err("read"))?;
    assert_eq!(one, [99]);
    assert_eq!(file.tell()?, 100);
    assert_eq!(seek(&mut file, SeekFrom::Start(200))?, 200);
    assert_eq!(
        read_all(&mut file)?,
        b"",
        "reading past the end gives nothing"
    );
    assert!(file.seekable());
    let mut w = run.open("log", "w+", None)?;
    write_all(&mut w, b"abc")?;
    assert_eq!(w.tell()?, 3);
    assert_eq!(seek(&mut w, SeekFrom::Start(1))?, 1);
    write_all(&mut w, b"X")?;
    assert_eq!(w.tell()?, 2);
    w.close()?;
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"aXc"[..]));
    Ok(())
}

pub fn reads_larger_than_the_buffer_are_complete<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    run.save("big", "bytes", &content)?;
    let mut file = run.open("big", "rb", None)?;
    assert_eq!(read_all(&mut file)?, content);
    let mut file = run.open("big", "rb", None)?;
    let mut small = [0u8; 7];
    file.read_exact(&mut small).map_err(io_err("read"))?;
    let mut big = vec![0u8; 100_000];
    file.read_exact(&mut big).map_err(io_err("read"))?;
    assert_eq!(&big[..], &content[7..100_007]);
    assert_eq!(file.tell()?, 100_007);
    seek(&mut file, SeekFrom::Start(250_000))?;
    assert_eq!(read_all(&mut file)?, &content[250_000..]);
    Ok(())
}

pub fn truncate_cuts_at_the_position_or_a_size<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let mut file = run.open("log", "w+", None)?;
    write_all(&mut file, b"hello world")?;
    seek(&mut file, SeekFrom::Start(5))?;
    file.truncate(None)?;
    assert_eq!(file.tell()?, 5, "truncate does not move the position");
    file.close()?;
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"hello"[..]));
    let mut file = run.open("log", "r+", None)?;
    file.truncate(Some(2))?;
    assert_eq!(read_all(&mut file)?, b"he");
    file.close()?;
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"he"[..]));
    let mut file = run.open("log", "a", None)?;
    file.truncate(Some(0))?;
    write_all(&mut file, b"fresh")?;
    file.close()?;
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"fresh"[..]));
    Ok(())
}

pub fn file_save_and_load_use_the_type_codec<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    for (name, mode, type_name) in [("j", "w", "json"), ("b", "wb", "binary")] {
        let mut file = run.open(name, mode, Some(type_name))?;
        assert_eq!(file.type_name(), type_name);
        file.save(&Metrics::sample(6))?;
        file.close()?;
        assert_eq!(type_of(&run, name)?, type_name);
        assert_eq!(run.load::<Metrics>(name)?, Some(Metrics::sample(6)));
        let mut file = run.open(name, "r", None)?;
        assert_eq!(file.load::<Metrics>()?, Metrics::sample(6));
    }
    let mut text = run.open("t", "w", None)?;
    text.save(&"through the text codec".to_owned())?;
    text.close()?;
    let mut file = run.open("t", "r", None)?;
    assert_eq!(file.load::<String>()?, "through the text codec");
    Ok(())
}

pub fn reading_a_write_only_file_fails<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "content")?;
    for mode in ["w", "wb", "a", "ab", "x", "xb"] {
        let name = if mode.starts_with('x') {
            "fresh"
        } else {
            "log"
        };
        let mut file = run.open(name, mode, None)?;
        let mut buf = [0u8; 4];
        let err = file
            .read(&mut buf)
            .err()
            .ok_or_else(|| missing("read error"))?;
        assert!(
            matches!(inner(&err), Some(Error::FileMode { op: "read", .. })),
            "{mode}: {err:?}"
        );
        let mut big = vec![0u8; 1 << 17];
        assert!(file.read(&mut big).is_err(), "{mode}: large reads too");
        assert!(file.readline().is_err(), "{mode}");
        assert!(file.load::<String>().is_err(), "{mode}");
    }
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"content"[..]));
    Ok(())
}

pub fn writing_a_read_only_file_fails<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "content")?;
    for mode in ["r", "rb"] {
        let mut file = run.open("log", mode, None)?;
        let err = io::Write::write(&mut file, b"x")
            .err()
            .ok_or_else(|| missing("write error"))?;
        assert!(
            matches!(inner(&err), Some(Error::FileMode { op: "write", .. })),
            "{mode}: {err:?}"
        );
        assert!(file.writelines(["x"]).is_err(), "{mode}");
        assert!(file.save(&"x".to_owned()).is_err(), "{mode}");
        assert!(
            matches!(
                file.truncate(Some(0)),
                Err(Error::FileMode { op: "truncate", .. })
            ),
            "{mode}"
        );
        assert_eq!(read_all(&mut file)?, b"content", "{mode}: still readable");
        file.close()?;
    }
    assert_eq!(bytes_of(&run, "log")?.as_deref(), Some(&b"content"[..]));
    Ok(())
}

pub fn default_write_type_follows_the_mode<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    run.save("stored-json", "json", &json!([1]))?;
    let cases = [
        ("w", "fresh-w", "text"),
        ("w+", "fresh-w+", "text"),
        ("x", "fresh-x", "text"),
        ("a", "fresh-a", "text"),
        ("wb", "fresh-wb", "bytes"),
        ("xb+", "fresh-xb+", "bytes"),
        ("ab", "fresh-ab", "bytes"),
        ("w", "stored-json", "text"),
        ("a", "stored-json", "json"),
        ("ab+", "stored-json", "json"),
        ("r+", "stored-json", "json"),
        ("wb", "stored-json", "bytes"),
    ];
    for (mode, name, expected) in cases {
        if name == "stored-json" {
            run.save(name, "json", &json!([1]))?;
        }
        let file = run.open(name, mode, None)?;
        assert_eq!(file.type_name(), expected, "{mode} {name}");
        file.close()?;
        assert_eq!(type_of(&run, name)?, expected, "{mode} {name}");
    }
    Ok(())
}

pub fn explicit_write_type_is_used<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let mut file = run.open("m", "wb", Some("json"))?;
    write_all(&mut file, br#"{"loss": 0.5, "epochs": 1, "tags": ["x"]}"#)?;
    file.close()?;
    assert_eq!(type_of(&run, "m")?, "json");
    let expected = Metrics {
        loss: 0.5,
        epochs: 1,
        tags: vec!["x".to_owned()],
    };
    assert_eq!(run.load::<Metrics>("m")?, Some(expected));
    let file = run.open("m", "a", Some("text"))?;
    assert_eq!(
        file.type_name(),
        "text",
        "an explicit type beats the stored one"
    );
    file.close()?;
    assert_eq!(type_of(&run, "m")?, "text");
    let file = run.open("m", "r", Some("bytes"))?;
    assert_eq!(file.type_name(), "text", "reading uses the stored type");
    Ok(())
}

pub fn files_in_a_sub_dir_load_by_name<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &cfg()?)?;
    let options = SaveOptions::in_sub_dir(SubDir::new("logs/epoch1")?);
    let mut file = run.open_with("log", "w", None, &options)?;
    write_all(&mut file, b"in a sub dir")?;
    file.close()?;
    assert_eq!(run.load::<String>("log")?.as_deref(), Some("in a sub dir"));
    let mut file = run.open_with("log", "a", None, &options)?;
    write_all(&mut file, b"!")?;
    file.close()?;
    let mut file = run.open_with("log", "r", None, &options)?;
    assert_eq!(read_all(&mut file)?, b"in a sub dir!");
    Ok(())
}

pub fn mode_errors_name_the_result<S: ResultsStore>(store: &S) -> Result {
    let run = run_with_log(store, "content")?;
    for (mode, op) in [("w", "read"), ("r", "write")] {
        let mut file = run.open("log", mode, None)?;
        let failed = if op == "read" {
            file.read(&mut [0u8; 4]).err()
        } else {
            io::Write::write(&mut file, b"x").err()
        };
        let failed = failed.ok_or_else(|| missing("a mode error"))?;
        assert!(
            matches!(inner(&failed), Some(Error::FileMode { name, .. }) if name == "log"),
            "mode {mode}: the error names the result `log`: {failed}"
        );
    }
    Ok(())
}
