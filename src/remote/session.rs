//! One server connection: the handshake, then requests answered in order against the served
//! [`RedbStore`], over any byte stream (a Unix socket in the server, a byte slice in the fuzz
//! harness).
//!
//! Invariants: a reply is sent only after the store call it answers returned, so `Done` for a
//! write means the engine acknowledged it (durable under the store's durability mode); a
//! frame that is too large, does not decode or breaks the request order gets one
//! `Response::Error` and ends the connection; a connection that ends with a write-open
//! stream still open drops it, which publishes nothing; memory per connection is bounded by
//! one frame plus one listing.

use std::io::{Read, Seek, SeekFrom, Write};
use std::mem;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::browse::Browse;
use crate::codec::TypeInfo;
use crate::config::UniqueConfig;
use crate::engine::RedbStore;
use crate::error::{Error, Result};
use crate::file::{File, OpenMode};
use crate::names::SubDir;
use crate::promise::Promise;
use crate::remote::frame::{self, FrameError, MAX_CHUNK, MAX_FRAME};
use crate::remote::inspect::{
    PROGRESS_EVERY, wire_report, wire_run_size, wire_run_summary, wire_stats, wire_task,
};
use crate::remote::protocol::{
    FileOp, Hello, Item, MAGIC, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, Request, Response,
    TIMED_RUNS_VERSION, WireError, WireOptions, WirePromise, WireRun, WireRunSummary, WireRunTimes,
    path_bytes,
};
use crate::run::{RunId, SaveOptions};
use crate::store::ResultsStore;

/// A listing page closes once its items hold about this many bytes.
const PAGE_BYTES: usize = 256 << 10;

/// Most result types the server accepts on behalf of its clients (see [`accept_type`]).
const MAX_TYPES: usize = 4096;

/// Serves one connection until the client closes it or breaks the protocol.
pub(crate) fn serve<S: Read + Write>(store: &RedbStore, stream: &mut S) {
    let Some(version) = handshake(stream) else {
        return;
    };
    let mut session = Session {
        store,
        state: State::Idle,
        timed: version >= TIMED_RUNS_VERSION,
    };
    loop {
        let payload = match frame::read(stream, MAX_FRAME) {
            Ok(Some(payload)) => payload,
            // The client went away, possibly inside a frame: nothing of that frame ran.
            Ok(None) | Err(FrameError::Io(_)) => return,
            Err(too_large) => {
                refuse(stream, &too_large.into_error("request frame"));
                return;
            }
        };
        let request = match frame::decode::<Request>(&payload, "request") {
            Ok(request) => request,
            Err(e) => {
                refuse(stream, &e);
                return;
            }
        };
        match session.handle(request) {
            Reply::Silent => {}
            Reply::Send(response) => {
                if send(stream, &response).is_err() {
                    return;
                }
            }
            Reply::Close(e) => {
                refuse(stream, &e);
                return;
            }
            Reply::Verify => {
                if verify(store, stream).is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads the hello and answers it: the client's protocol version, or `None` if the
/// connection must end.
fn handshake<S: Read + Write>(stream: &mut S) -> Option<u32> {
    let hello = match frame::read(stream, MAX_FRAME) {
        Ok(Some(payload)) => frame::decode::<Hello>(&payload, "hello"),
        Ok(None) | Err(FrameError::Io(_)) => return None,
        Err(too_large) => Err(too_large.into_error("hello frame")),
    };
    let refusal = match hello {
        Err(e) => e,
        Ok(hello) if hello.magic != MAGIC => Error::Protocol {
            reason: "the hello does not start with sweepstore's magic bytes".to_owned(),
        },
        Ok(hello) if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&hello.version) => {
            Error::Protocol {
                reason: format!(
                    "the client speaks protocol version {}, this server {MIN_PROTOCOL_VERSION} \
                     to {PROTOCOL_VERSION}; use the same sweepstore version on both sides",
                    hello.version
                ),
            }
        }
        Ok(hello) => {
            let welcome = Response::Welcome {
                version: PROTOCOL_VERSION,
                max_frame: MAX_FRAME as u32,
                max_chunk: MAX_CHUNK as u32,
            };
            return send(stream, &welcome).is_ok().then_some(hello.version);
        }
    };
    refuse(stream, &refusal);
    None
}

/// Sends `response`; one too large to send becomes an error response.
fn send<S: Write>(stream: &mut S, response: &Response) -> std::io::Result<()> {
    let encoded = frame::encode(response, "response", MAX_FRAME)
        .or_else(|e| frame::encode(&Response::Error(WireError::from(&e)), "response", MAX_FRAME));
    match encoded {
        Ok(bytes) => frame::write(stream, &bytes),
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// Sends a last error before the connection ends (the client may be gone already).
fn refuse<S: Write>(stream: &mut S, e: &Error) {
    let _ = send(stream, &Response::Error(WireError::from(e)));
}

/// What a connection is in the middle of.
#[derive(Default)]
enum State {
    #[default]
    Idle,
    /// A write-open stream; `failed` keeps the first failure of a request without response.
    Upload {
        file: File,
        failed: Option<WireError>,
    },
    /// The rest of a listing of items, for `Continue`.
    Listing(std::vec::IntoIter<Item>),
    /// The rest of a listing of runs, for `Continue`.
    RunListing(std::vec::IntoIter<(WireRunSummary, WireRunTimes)>),
}

/// How to answer one request.
enum Reply {
    Silent,
    Send(Response),
    /// A protocol violation: answer with the error, then end the connection.
    Close(Error),
    /// Run a verification, which answers with progress frames and then its report.
    Verify,
}

fn violation(reason: &str) -> Reply {
    Reply::Close(Error::Protocol {
        reason: reason.to_owned(),
    })
}

struct Session<'a> {
    store: &'a RedbStore,
    state: State,
    /// Whether the client reads run listings with times (protocol 3).
    timed: bool,
}

impl Session<'_> {
    fn handle(&mut self, request: Request) -> Reply {
        let state = mem::take(&mut self.state);
        if let State::Upload { file, failed } = state {
            return match request {
                Request::File(op) => self.file(file, failed, op),
                _ => violation("only file requests are allowed while a write-open is in progress"),
            };
        }
        let store = self.store;
        let result = match request {
            Request::Continue => match state {
                State::Listing(rest) => Ok(self.page(rest)),
                State::RunListing(rest) => Ok(self.run_page(rest)),
                _ => return violation("`Continue` without a listing to continue"),
            },
            Request::File(_) => return violation("a file request without an open file"),
            Request::Save {
                run,
                name,
                type_name,
                bytes,
                options,
            } => run_id(&run).and_then(|run| {
                accept_type(store, &type_name)?;
                let options = save_options(options)?;
                store.save_bytes(&run, &name, &type_name, &bytes, &options)?;
                Ok(Response::Done)
            }),
            Request::LoadLazy { run, name } => run_id(&run)
                .and_then(|run| store.load_lazy(&run, &name))
                .map(|p| Response::Promise(p.as_ref().map(wire_promise))),
            Request::LoadExact { run, name } => run_id(&run)
                .and_then(|run| store.load_exact(&run, &name))
                .map(|p| Response::Promise(p.as_ref().map(wire_promise))),
            Request::LoadBytes { run, name } => {
                run_id(&run).and_then(|run| load_value(store.load_lazy(&run, &name)?))
            }
            Request::Delete { run, name } => run_id(&run)
                .and_then(|run| store.delete(&run, &name))
                .map(Response::Bool),
            Request::DeleteRun { run } => run_id(&run)
                .and_then(|run| store.delete_run(&run))
                .map(Response::Bool),
            Request::GetContext { run } => run_id(&run)
                .and_then(|run| store.get_context(&run))
                .map(|context| Response::Context {
                    run_dir: context.run_dir.as_deref().map(path_bytes),
                    sweep_counter: context.sweep_counter,
                }),
            Request::GetResults { run } => run_id(&run)
                .and_then(|run| store.get_results(&run))
                .map(|results| match results {
                    None => Response::NoRun,
                    Some(results) => {
                        let items: Vec<Item> = results
                            .iter()
                            .map(|(name, p)| Ok((name.as_str().to_owned(), wire_promise(p))))
                            .collect();
                        self.page(items.into_iter())
                    }
                }),
            Request::RunState { run } => run_id(&run)
                .and_then(|run| store.run_state(&run))
                .map(Response::State),
            Request::SetRunState { run, state } => run_id(&run)
                .and_then(|run| store.set_run_state(&run, state))
                .map(|()| Response::Done),
            Request::ClaimRun {
                run,
                owner,
                lease_ms,
            } => run_id(&run)
                .and_then(|run| {
                    store.claim_run(&run, &owner, std::time::Duration::from_millis(lease_ms))
                })
                .map(Response::Claim),
            Request::LazySweep { task, name } => store.lazy_sweep(&task, &name).map(|sweeps| {
                let items: Vec<Item> = sweeps
                    .map(|sweep| match sweep {
                        Ok(s) => Ok((s.config.canonical().to_owned(), wire_promise(&s.value))),
                        Err(e) => Err(WireError::from(&e)),
                    })
                    .collect();
                self.page(items.into_iter())
            }),
            Request::ReadContent { hash, offset, len } => read_content(store, &hash, offset, len),
            Request::OpenWrite {
                run,
                name,
                type_name,
                exclusive,
                options,
            } => run_id(&run).and_then(|run| {
                accept_type(store, &type_name)?;
                // Readable and empty; the client's `File` does modes, appends and copying.
                let mode: OpenMode = if exclusive { "x+" } else { "w+" }.parse()?;
                let options = save_options(options)?;
                let file = store.open(&run, &name, mode, Some(&type_name), &options)?;
                self.state = State::Upload { file, failed: None };
                Ok(Response::Done)
            }),
            Request::Tasks => store
                .tasks()
                .map(|tasks| Response::Tasks(tasks.into_iter().map(wire_task).collect())),
            Request::Runs { task } => store.runs(&task).map(|runs| self.run_listing(runs)),
            Request::FindRun { task, config } => UniqueConfig::parse(&config)
                .map_err(Error::from)
                .and_then(|config| store.find_run(&task, &config))
                .map(|run| {
                    let run = run.map(wire_run_summary);
                    if self.timed {
                        Response::TimedRun(run)
                    } else {
                        Response::Run(run.map(|(run, _)| run))
                    }
                }),
            Request::RunsByKeyPrefix { task, prefix } => store
                .runs_by_key_prefix(&task, &prefix)
                .map(|runs| self.run_listing(runs)),
            Request::Stats => store
                .stats()
                .map(|stats| Response::Stats(wire_stats(stats))),
            Request::Verify => return Reply::Verify,
        };
        Reply::Send(result.unwrap_or_else(|e| Response::Error(WireError::from(&e))))
    }

    /// One operation on the open write stream.
    fn file(&mut self, mut file: File, failed: Option<WireError>, op: FileOp) -> Reply {
        let stream = |op| move |source| WireError::from(&Error::Stream { op, source });
        let outcome = match op {
            FileOp::Write { bytes } => file.write_all(&bytes).map_err(stream("write")),
            FileOp::Seek { pos } => file
                .seek(SeekFrom::Start(pos))
                .map(drop)
                .map_err(stream("seek")),
            FileOp::SetLen { len } => file.truncate(Some(len)).map_err(|e| (&e).into()),
            FileOp::Read { len } => {
                let response = match &failed {
                    Some(e) => Response::Error(e.clone()),
                    None => {
                        let mut data = vec![0; (len as usize).min(MAX_CHUNK)];
                        match file.read(&mut data) {
                            Ok(n) => {
                                data.truncate(n);
                                Response::Data(data)
                            }
                            Err(e) => Response::Error(stream("read")(e)),
                        }
                    }
                };
                self.state = State::Upload { file, failed };
                return Reply::Send(response);
            }
            FileOp::Close => {
                // Either way the stream ends; a failed one is dropped, publishing nothing.
                let response = match failed {
                    Some(e) => Response::Error(e),
                    None => match file.close() {
                        Ok(()) => Response::Done,
                        Err(e) => Response::Error(WireError::from(&e)),
                    },
                };
                return Reply::Send(response);
            }
        };
        // Requests without a response: keep the first failure for the next `Read`/`Close`.
        let failed = failed.or(outcome.err());
        self.state = State::Upload { file, failed };
        Reply::Silent
    }

    /// The next page of a listing; the rest stays for `Continue`.
    fn page(&mut self, mut items: std::vec::IntoIter<Item>) -> Response {
        let page = take_page(&mut items, |item| match item {
            Ok((key, promise)) => key.len() + promise.type_name.len() + 48,
            Err(_) => 256,
        });
        let more = items.len() > 0;
        if more {
            self.state = State::Listing(items);
        }
        Response::Page { items: page, more }
    }

    /// The first page of a listing of runs.
    fn run_listing(&mut self, runs: Vec<crate::browse::RunSummary>) -> Response {
        let wire: Vec<(WireRunSummary, WireRunTimes)> =
            runs.into_iter().map(wire_run_summary).collect();
        self.run_page(wire.into_iter())
    }

    /// The next page of a listing of runs; the rest stays for `Continue`.
    fn run_page(
        &mut self,
        mut runs: std::vec::IntoIter<(WireRunSummary, WireRunTimes)>,
    ) -> Response {
        let page = take_page(&mut runs, |(run, _)| wire_run_size(run) + 16);
        let more = runs.len() > 0;
        if more {
            self.state = State::RunListing(runs);
        }
        if self.timed {
            Response::TimedRuns { runs: page, more }
        } else {
            let runs = page.into_iter().map(|(run, _)| run).collect();
            Response::Runs { runs, more }
        }
    }
}

/// Takes items until they hold about [`PAGE_BYTES`] (by `size`), at least one if any.
fn take_page<T>(items: &mut std::vec::IntoIter<T>, size: impl Fn(&T) -> usize) -> Vec<T> {
    let mut page = Vec::new();
    let mut bytes = 0;
    while bytes < PAGE_BYTES {
        let Some(item) = items.next() else { break };
        bytes += size(&item);
        page.push(item);
    }
    page
}

/// Answers a `Verify`: a progress frame at most every [`PROGRESS_EVERY`] while the store
/// verifies, then the report (or its error). `Err` if the client can no longer be written
/// to (the verification still runs to its end: it cannot be interrupted).
fn verify<S: Write>(store: &RedbStore, stream: &mut S) -> std::io::Result<()> {
    let mut last = Instant::now();
    let mut gone: Option<std::io::Error> = None;
    let report = store.verify(&mut |p| {
        if gone.is_none() && last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            let frame = Response::Progress {
                done: p.done,
                total: p.total,
                bytes: p.bytes,
            };
            gone = send(stream, &frame).err();
        }
    });
    if let Some(e) = gone {
        return Err(e);
    }
    let response = match report {
        Ok(report) => Response::Verified(wire_report(report)),
        Err(e) => Response::Error(WireError::from(&e)),
    };
    send(stream, &response)
}

/// The run a request names (the key is derived here, never taken from the client).
fn run_id(run: &WireRun) -> Result<RunId> {
    Ok(RunId::new(
        run.task.clone(),
        UniqueConfig::parse(&run.config)?,
    ))
}

fn save_options(options: WireOptions) -> Result<SaveOptions> {
    let map = |text: &str| -> Result<Map<String, Value>> {
        serde_json::from_str(text).map_err(|e| Error::Protocol {
            reason: format!("save options are not a JSON object: {e}"),
        })
    };
    let mut saved = match options.sub_dir {
        Some(sub_dir) => SaveOptions::in_sub_dir(SubDir::new(&sub_dir)?),
        None => SaveOptions::default(),
    };
    saved.open_options = map(&options.open_options)?;
    saved.load_options = map(&options.load_options)?;
    Ok(saved)
}

pub(crate) fn wire_promise(promise: &Promise) -> WirePromise {
    WirePromise {
        hash: promise.hash(),
        type_name: promise.type_name().to_owned(),
        size: promise.size(),
    }
}

/// A looked-up value for `LoadBytes`: its bytes (verified) if they fit in one chunk.
fn load_value(promise: Option<Promise>) -> Result<Response> {
    let Some(promise) = promise else {
        return Ok(Response::Value(None));
    };
    let bytes = if promise.size() <= MAX_CHUNK as u64 {
        Some(promise.bytes()?)
    } else {
        None
    };
    Ok(Response::Value(Some((wire_promise(&promise), bytes))))
}

/// A piece of content `hash`, as a promise's stream reads it.
fn read_content(
    store: &RedbStore,
    hash: &crate::key::ContentHash,
    offset: u64,
    len: u32,
) -> Result<Response> {
    let stream = |op| move |source| Error::Stream { op, source };
    let mut reader = store.content_source().open(hash)?;
    let total = reader
        .seek(SeekFrom::End(0))
        .map_err(stream("size stored content"))?;
    reader
        .seek(SeekFrom::Start(offset.min(total)))
        .map_err(stream("seek in stored content"))?;
    let mut bytes = Vec::new();
    reader
        .take(u64::from(len).min(MAX_CHUNK as u64))
        .read_to_end(&mut bytes)
        .map_err(stream("read stored content"))?;
    Ok(Response::Content { total, bytes })
}

/// The value of a result type the server holds for its clients: never decoded here.
struct Opaque;

/// Makes the served store accept `type_name`. Types (and their codecs) live in each client's
/// registry, which checks them before sending; the served store only needs the name known.
fn accept_type(store: &RedbStore, type_name: &str) -> Result<()> {
    let types = store.types();
    if types.get(type_name).is_ok() {
        return Ok(());
    }
    if types.names().len() >= MAX_TYPES {
        return Err(Error::TooLarge {
            what: "the number of result types in use on this server".to_owned(),
            size: MAX_TYPES as u64 + 1,
            limit: MAX_TYPES as u64,
        });
    }
    let refuse = || std::io::Error::other("values of client types are decoded by the client");
    let info = TypeInfo::custom::<Opaque>(
        type_name,
        "bin",
        true,
        move |_, _| Err(refuse()),
        move |_| Err(refuse()),
    );
    match types.register(info) {
        // Another connection registered it first.
        Ok(()) | Err(Error::TypeAlreadyRegistered { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::RedbOptions;
    use crate::names::TaskName;
    use crate::remote::duplex::Duplex;
    use crate::remote::protocol::WireRunTimes;
    use crate::run::RunState;

    /// The responses to a hello of `version` followed by `request`.
    fn exchange(store: &RedbStore, version: u32, request: &Request) -> Result<Vec<Response>> {
        let mut input = frame::encode(
            &Hello {
                magic: MAGIC,
                version,
            },
            "hello",
            MAX_FRAME,
        )?;
        input.extend(frame::encode(request, "request", MAX_FRAME)?);
        let mut stream = Duplex {
            input: &input,
            output: Vec::new(),
        };
        serve(store, &mut stream);
        let mut output = &stream.output[..];
        let mut responses = Vec::new();
        while let Some(payload) =
            frame::read(&mut output, MAX_FRAME).map_err(|e| e.into_error("response"))?
        {
            responses.push(frame::decode(&payload, "response")?);
        }
        Ok(responses)
    }

    #[test]
    fn clients_of_protocol_3_get_run_times_and_older_clients_the_untimed_listing() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("make a temp dir", "/tmp", e))?;
        let store = RedbStore::open(dir.path().join("s"), RedbOptions::default())?;
        let run = RunId::new(TaskName::new("t")?, UniqueConfig::new(json!({"a": 1}))?);
        store.set_run_state(&run, RunState::Finished)?;
        let runs = Request::Runs {
            task: TaskName::new("t")?,
        };
        match &exchange(&store, 2, &runs)?[..] {
            [
                Response::Welcome { .. },
                Response::Runs { runs, more: false },
            ] => assert_eq!(runs.len(), 1),
            other => panic!("a version 2 client got {other:?}"),
        }
        match &exchange(&store, PROTOCOL_VERSION, &runs)?[..] {
            [
                Response::Welcome { .. },
                Response::TimedRuns { runs, more: false },
            ] => {
                let [
                    (
                        _,
                        WireRunTimes {
                            created_ms: Some(created),
                            finished_ms: Some(finished),
                        },
                    ),
                ] = runs[..]
                else {
                    panic!("no times in {runs:?}");
                };
                assert!(
                    created <= finished && created > 1_700_000_000_000,
                    "{created} {finished}"
                );
            }
            other => panic!("a version 3 client got {other:?}"),
        }
        Ok(())
    }
}
