//! The fuzz harness of the server's input handling (feature `sim`), shared by the cargo-fuzz
//! target `remote_frames` and the corpus replay in `tests/remote/frames.rs`: arbitrary bytes
//! are one client's side of a connection, served against a real store on a simulated disk.
//!
//! Contract checked: no panic; the session ends when the bytes do (no hang); everything the
//! server wrote is a sequence of well-formed response frames; the store keeps working for
//! the next client. Allocation stays bounded because frames are capped at
//! [`MAX_FRAME`](super::frame::MAX_FRAME) and bodies are read as their bytes arrive (libFuzzer's
//! `-rss_limit_mb` would report otherwise).

use crate::engine::{RedbOptions, RedbStore};
use crate::key::ContentHash;
use crate::names::{ResultName, TaskName};
use crate::remote::duplex::Duplex;
use crate::remote::frame::{self, MAX_FRAME};
use crate::remote::protocol::{
    FileOp, Hello, MAGIC, PROTOCOL_VERSION, Request, Response, WireOptions, WireRun,
};
use crate::remote::session;
use crate::run::{RunId, RunState, SaveOptions};
use crate::sim::SimDisk;
use crate::store::ResultsStore;

/// Serves `data` as a client's bytes; returns how many responses the server sent, or what
/// went wrong.
///
/// # Errors
/// A description of the violated contract.
pub fn fuzz_server_input(data: &[u8]) -> Result<usize, String> {
    let disk = SimDisk::new();
    let store = RedbStore::open_simulated("/store", RedbOptions::default(), &disk)
        .map_err(|e| format!("opening the store failed: {e}"))?;
    let mut stream = Duplex {
        input: data,
        output: Vec::new(),
    };
    session::serve(&store, &mut stream);
    let mut output = &stream.output[..];
    let mut responses = 0;
    loop {
        match frame::read(&mut output, MAX_FRAME) {
            Ok(None) => break,
            Ok(Some(payload)) => {
                frame::decode::<Response>(&payload, "response")
                    .map_err(|e| format!("response {responses} is malformed: {e}"))?;
                responses += 1;
            }
            Err(e) => return Err(format!("the server's output is not framed: {e:?}")),
        }
    }
    check_still_serves(&store).map_err(|e| format!("the store stopped working: {e}"))?;
    Ok(responses)
}

fn check_still_serves(store: &RedbStore) -> crate::Result<()> {
    let run = RunId::new(TaskName::new("after")?, crate::UniqueConfig::empty());
    let name = ResultName::new("check")?;
    store.save_bytes(&run, &name, "bytes", b"ok", &SaveOptions::default())?;
    match store.load_bytes(&run, &name)? {
        Some((_, bytes)) if bytes == b"ok" => Ok(()),
        other => Err(crate::Error::Server {
            message: format!("read back {other:?}"),
        }),
    }
}

/// Valid sessions to start fuzzing from (each a client's whole byte stream), by name.
///
/// # Errors
/// Only if a message cannot be encoded (a bug).
pub fn fuzz_server_seeds() -> crate::Result<Vec<(&'static str, Vec<u8>)>> {
    let run = WireRun {
        task: TaskName::new("train")?,
        config: r#"{"lr":0.1}"#.to_owned(),
    };
    let name = ResultName::new("metrics")?;
    let options = WireOptions {
        sub_dir: None,
        open_options: "{}".to_owned(),
        load_options: "{}".to_owned(),
    };
    let hello = Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
    };
    let save = Request::Save {
        run: run.clone(),
        name: name.clone(),
        type_name: "json".to_owned(),
        bytes: br#"{"loss":0.5}"#.to_vec(),
        options: options.clone(),
    };
    let reads = vec![
        Request::LoadLazy {
            run: run.clone(),
            name: name.clone(),
        },
        Request::LoadBytes {
            run: run.clone(),
            name: name.clone(),
        },
        Request::GetResults { run: run.clone() },
        Request::LazySweep {
            task: run.task.clone(),
            name: name.clone(),
        },
        Request::ReadContent {
            hash: ContentHash::of(br#"{"loss":0.5}"#),
            offset: 2,
            len: 4,
        },
        Request::RunState { run: run.clone() },
        Request::SetRunState {
            run: run.clone(),
            state: RunState::Finished,
        },
        Request::GetContext { run: run.clone() },
        Request::ClaimRun {
            run: run.clone(),
            owner: "fuzz".to_owned(),
            lease_ms: 60_000,
        },
        Request::Delete {
            run: run.clone(),
            name: name.clone(),
        },
        Request::Tasks,
        Request::Runs {
            task: run.task.clone(),
        },
        Request::FindRun {
            task: run.task.clone(),
            config: "{}".to_owned(),
        },
        Request::RunsByKeyPrefix {
            task: run.task.clone(),
            prefix: "a".to_owned(),
        },
        // Not `Verify`: its progress frames depend on timing, and these seeds' answers are
        // counted.
        Request::Stats,
        Request::DeleteRun { run: run.clone() },
    ];
    let upload = vec![
        Request::OpenWrite {
            run: run.clone(),
            name: ResultName::new("log")?,
            type_name: "text".to_owned(),
            exclusive: false,
            options,
        },
        Request::File(FileOp::Write {
            bytes: b"line one\nline two\n".to_vec(),
        }),
        Request::File(FileOp::Seek { pos: 5 }),
        Request::File(FileOp::Read { len: 3 }),
        Request::File(FileOp::SetLen { len: 9 }),
        Request::File(FileOp::Close),
        Request::LoadExact {
            run,
            name: ResultName::new("log")?,
        },
    ];
    let session = |requests: &[Request]| -> crate::Result<Vec<u8>> {
        let mut bytes = frame::encode(&hello, "hello", MAX_FRAME)?;
        for request in requests {
            bytes.extend(frame::encode(request, "request", MAX_FRAME)?);
        }
        Ok(bytes)
    };
    let mut all = vec![save.clone()];
    all.extend(reads.iter().cloned());
    Ok(vec![
        ("hello-only", session(&[])?),
        ("save-and-read", session(&all)?),
        ("upload", session(&upload)?),
        ("upload-cut-short", {
            let mut bytes = session(&upload[..3])?;
            bytes.truncate(bytes.len() - 2);
            bytes
        }),
        ("oversized-header", {
            let mut bytes = session(&[save])?;
            bytes.extend((MAX_FRAME as u32 + 1).to_le_bytes());
            bytes
        }),
        ("file-op-without-open", session(&[upload[1].clone()])?),
        ("continue-without-listing", session(&[Request::Continue])?),
    ])
}
