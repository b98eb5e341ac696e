//! The messages of the server protocol (`docs/design.md` §17): the handshake, one
//! [`Request`] variant per store operation (mirroring the storage actor's commands, plus the
//! reads and the `open` stream), one [`Response`] per reply, and [`WireError`], the errors
//! that cross the socket.
//!
//! Invariants: variants are only ever appended (postcard encodes a variant by its index), so
//! a server keeps understanding older clients; adding a request is one `Request` variant (and
//! a protocol version bump), answered with existing `Response` variants where they fit.
//! `Response::Error` is variant 0 in every version, so any client can read a refusal. Names
//! travel as validated [`TaskName`]/[`ResultName`] (decoding validates them), configs as
//! canonical JSON text, content by hash.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::key::ContentHash;
use crate::names::{ResultName, TaskName};
use crate::run::RunState;

/// The first 8 bytes of every client's hello.
pub(crate) const MAGIC: [u8; 8] = *b"SWPSTORE";

/// The protocol version this build speaks. Bump it when a request variant is appended.
/// Version 2 appended the browsing requests (`Tasks` to `Verify`); version 3 the request
/// `ClaimRun` and the responses `TimedRuns` and `TimedRun`, which a server sends instead of
/// `Runs` and `Run` to clients of version 3 or later (older clients keep getting the untimed
/// ones).
pub const PROTOCOL_VERSION: u32 = 3;

/// The first version whose clients get run listings with times.
pub(crate) const TIMED_RUNS_VERSION: u32 = 3;

/// The oldest client version this server still serves. Version 1 clients send only
/// requests this server still decodes the same way (variants are only appended), so they
/// stay served; a newer client is refused by an older server at the hello.
pub(crate) const MIN_PROTOCOL_VERSION: u32 = 1;

/// The client's first frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub(crate) magic: [u8; 8],
    pub(crate) version: u32,
}

/// A run as it travels: task and canonical config text (the server re-derives the key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireRun {
    pub(crate) task: TaskName,
    pub(crate) config: String,
}

/// [`SaveOptions`](crate::SaveOptions) as they travel (the maps as JSON text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireOptions {
    pub(crate) sub_dir: Option<String>,
    pub(crate) open_options: String,
    pub(crate) load_options: String,
}

/// A promise as it travels: what the client needs to resolve it through the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WirePromise {
    pub(crate) hash: ContentHash,
    pub(crate) type_name: String,
    pub(crate) size: u64,
}

/// One listed item: a result name (`GetResults`) or a canonical config (`LazySweep`) with
/// its promise, or the error of that one item.
pub(crate) type Item = std::result::Result<(String, WirePromise), WireError>;

/// A client's request. Comments name the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Save a value of at most [`MAX_CHUNK`](super::frame::MAX_CHUNK) bytes → `Done`.
    Save {
        run: WireRun,
        name: ResultName,
        type_name: String,
        bytes: Vec<u8>,
        options: WireOptions,
    },
    /// `load_lazy` (lookup rule) → `Promise`.
    LoadLazy { run: WireRun, name: ResultName },
    /// The exact run's result, for write-opens → `Promise`.
    LoadExact { run: WireRun, name: ResultName },
    /// `load_bytes` → `Value` (bytes included up to `MAX_CHUNK`).
    LoadBytes { run: WireRun, name: ResultName },
    /// `delete` → `Bool`.
    Delete { run: WireRun, name: ResultName },
    /// `delete_run` → `Bool`.
    DeleteRun { run: WireRun },
    /// `get_context` → `Context`.
    GetContext { run: WireRun },
    /// `get_results` → `NoRun` or `Page` (then `Continue` while `more`).
    GetResults { run: WireRun },
    /// `run_state` → `State`.
    RunState { run: WireRun },
    /// `set_run_state` → `Done`.
    SetRunState { run: WireRun, state: RunState },
    /// `lazy_sweep` → `Page` (then `Continue` while `more`).
    LazySweep { task: TaskName, name: ResultName },
    /// The next page of the listing answered just before → `Page`.
    Continue,
    /// Up to `len` (capped at `MAX_CHUNK`) bytes of content `hash` from `offset` →
    /// `Content`.
    ReadContent {
        hash: ContentHash,
        offset: u64,
        len: u32,
    },
    /// Start a write-open: an empty, readable stream on the server that `FileOp::Close`
    /// publishes as result `name` of the exact run → `Done`. Until then (or the end of the
    /// connection, which aborts it), only `File` requests are allowed.
    OpenWrite {
        run: WireRun,
        name: ResultName,
        type_name: String,
        exclusive: bool,
        options: WireOptions,
    },
    /// An operation on the open write stream.
    File(FileOp),
    /// `Browse::tasks` → `Tasks`.
    Tasks,
    /// `Browse::runs` → `Runs` (then `Continue` while `more`).
    Runs { task: TaskName },
    /// `Browse::find_run` (the lookup rule) → `Run`.
    FindRun { task: TaskName, config: String },
    /// `Browse::runs_by_key_prefix` → `Runs` (then `Continue` while `more`).
    RunsByKeyPrefix { task: TaskName, prefix: String },
    /// `RedbStore::stats` → `Stats`.
    Stats,
    /// `RedbStore::verify` → `Progress` frames (at most a few per second), then `Verified`.
    Verify,
    /// `claim_run` with a lease in milliseconds → `Claim`.
    ClaimRun {
        run: WireRun,
        owner: String,
        lease_ms: u64,
    },
}

/// A task as [`Browse::tasks`](crate::Browse::tasks) lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireTask {
    pub(crate) name: TaskName,
    pub(crate) runs: u64,
}

/// A run as [`Browse`](crate::Browse) describes it; the client re-derives the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireRunSummary {
    pub(crate) task: TaskName,
    pub(crate) config: String,
    pub(crate) state: Option<RunState>,
    pub(crate) results: Vec<WireResultSummary>,
}

/// When a run was created and finished, in Unix milliseconds (`None` if unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireRunTimes {
    pub(crate) created_ms: Option<u64>,
    pub(crate) finished_ms: Option<u64>,
}

/// A result of a [`WireRunSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireResultSummary {
    pub(crate) name: ResultName,
    pub(crate) type_name: String,
    pub(crate) size: u64,
    pub(crate) hash: Option<ContentHash>,
    pub(crate) sub_dir: Option<String>,
}

/// [`StoreStats`](crate::StoreStats) as they travel (the checkpoint time in Unix seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireStats {
    pub(crate) tasks: u64,
    pub(crate) runs: u64,
    pub(crate) results: u64,
    pub(crate) distinct_contents: u64,
    pub(crate) logical_bytes: u64,
    pub(crate) stored_bytes: u64,
    pub(crate) wal_bytes: u64,
    pub(crate) wal_segments: u64,
    pub(crate) last_checkpoint_lsn: u64,
    pub(crate) last_checkpoint_at: Option<u64>,
}

/// [`VerifyReport`](crate::VerifyReport) as it travels; problems as (location, description).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireVerifyReport {
    pub(crate) values_checked: u64,
    pub(crate) bytes_checked: u64,
    pub(crate) problems: Vec<(String, String)>,
}

/// An operation on the write-open stream of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum FileOp {
    /// Write at the stream's position. No response (a failure is kept and answered by the
    /// next `Read` or `Close`).
    Write { bytes: Vec<u8> },
    /// Move the stream's position. No response (as `Write`).
    Seek { pos: u64 },
    /// Cut or extend the stream. No response (as `Write`).
    SetLen { len: u64 },
    /// Read up to `len` (capped at `MAX_CHUNK`) bytes at the position → `Data`.
    Read { len: u32 },
    /// Publish the stream (the save is acknowledged by the engine first) → `Done`.
    Close,
}

/// The server's reply to one request (or to the hello).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Response {
    /// The request failed; after a protocol error the server also closes the connection.
    Error(WireError),
    /// The hello was accepted.
    Welcome {
        version: u32,
        max_frame: u32,
        max_chunk: u32,
    },
    /// Done, nothing to return.
    Done,
    /// A yes/no answer.
    Bool(bool),
    /// A looked-up result, unloaded.
    Promise(Option<WirePromise>),
    /// A looked-up result with its bytes if they fit in one chunk.
    Value(Option<(WirePromise, Option<Vec<u8>>)>),
    /// A run's context; the run directory as raw path bytes.
    Context {
        run_dir: Option<Vec<u8>>,
        sweep_counter: Option<String>,
    },
    /// A run's state.
    State(Option<RunState>),
    /// `GetResults` found no run.
    NoRun,
    /// Part of a listing; `more` says whether `Continue` gives another.
    Page { items: Vec<Item>, more: bool },
    /// Bytes read from a write-open stream (empty at its end).
    Data(Vec<u8>),
    /// A piece of stored content and the content's total size.
    Content { total: u64, bytes: Vec<u8> },
    /// The store's tasks.
    Tasks(Vec<WireTask>),
    /// Part of a listing of runs; `more` says whether `Continue` gives another.
    Runs {
        runs: Vec<WireRunSummary>,
        more: bool,
    },
    /// The run a `FindRun` picked, if any.
    Run(Option<WireRunSummary>),
    /// The store's statistics.
    Stats(WireStats),
    /// How far a `Verify` has come: values done, values in all, bytes done. More frames
    /// follow.
    Progress { done: u64, total: u64, bytes: u64 },
    /// The end of a `Verify`.
    Verified(WireVerifyReport),
    /// `Runs` with each run's times (protocol 3).
    TimedRuns {
        runs: Vec<(WireRunSummary, WireRunTimes)>,
        more: bool,
    },
    /// `Run` with the run's times (protocol 3).
    TimedRun(Option<(WireRunSummary, WireRunTimes)>),
    /// The outcome of a `ClaimRun`.
    Claim(crate::claim::ClaimOutcome),
}

/// An error as it crosses the socket: the variants a client acts on keep their type; the
/// rest arrive as [`Error::Server`] with the server's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum WireError {
    Protocol {
        reason: String,
    },
    TooLarge {
        what: String,
        size: u64,
        limit: u64,
    },
    UnknownType {
        type_name: String,
    },
    NotFound {
        what: String,
    },
    AlreadyExists {
        what: String,
    },
    HashMismatch {
        expected: String,
        actual: String,
        location: String,
    },
    ContentCollected {
        hash: String,
    },
    Poisoned {
        cause: String,
    },
    Closed,
    Decode {
        type_name: String,
        reason: String,
    },
    CorruptRecord {
        what: String,
        reason: String,
    },
    AlreadyOpen {
        path: Vec<u8>,
    },
    Other {
        message: String,
    },
}

impl From<&Error> for WireError {
    fn from(e: &Error) -> Self {
        match e {
            Error::Protocol { reason } => WireError::Protocol {
                reason: reason.clone(),
            },
            Error::TooLarge { what, size, limit } => WireError::TooLarge {
                what: what.clone(),
                size: *size,
                limit: *limit,
            },
            Error::UnknownType { type_name } => WireError::UnknownType {
                type_name: type_name.clone(),
            },
            Error::NotFound { what } => WireError::NotFound { what: what.clone() },
            Error::AlreadyExists { what } => WireError::AlreadyExists { what: what.clone() },
            Error::HashMismatch {
                expected,
                actual,
                location,
            } => WireError::HashMismatch {
                expected: expected.clone(),
                actual: actual.clone(),
                location: location.clone(),
            },
            Error::ContentCollected { hash } => WireError::ContentCollected { hash: hash.clone() },
            Error::Poisoned { cause } => WireError::Poisoned {
                cause: cause.clone(),
            },
            Error::Closed => WireError::Closed,
            Error::Decode { type_name, reason } => WireError::Decode {
                type_name: type_name.clone(),
                reason: reason.clone(),
            },
            Error::CorruptRecord { what, reason } => WireError::CorruptRecord {
                what: what.clone(),
                reason: reason.clone(),
            },
            Error::AlreadyOpen { path } => WireError::AlreadyOpen {
                path: path_bytes(path),
            },
            other => WireError::Other {
                message: other.to_string(),
            },
        }
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Protocol { reason } => Error::Protocol { reason },
            WireError::TooLarge { what, size, limit } => Error::TooLarge { what, size, limit },
            WireError::UnknownType { type_name } => Error::UnknownType { type_name },
            WireError::NotFound { what } => Error::NotFound { what },
            WireError::AlreadyExists { what } => Error::AlreadyExists { what },
            WireError::HashMismatch {
                expected,
                actual,
                location,
            } => Error::HashMismatch {
                expected,
                actual,
                location,
            },
            WireError::ContentCollected { hash } => Error::ContentCollected { hash },
            WireError::Poisoned { cause } => Error::Poisoned { cause },
            WireError::Closed => Error::Closed,
            WireError::Decode { type_name, reason } => Error::Decode { type_name, reason },
            WireError::CorruptRecord { what, reason } => Error::CorruptRecord { what, reason },
            WireError::AlreadyOpen { path } => Error::AlreadyOpen {
                path: path_from_bytes(path),
            },
            WireError::Other { message } => Error::Server { message },
        }
    }
}

/// A path's raw bytes (paths on the socket's machine need no other encoding).
pub(crate) fn path_bytes(path: &std::path::Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

/// The path of raw bytes from [`path_bytes`].
pub(crate) fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::frame;

    #[test]
    fn the_error_response_is_variant_zero_and_typed_errors_survive_the_trip() -> crate::Result<()> {
        let refusal = Response::Error(WireError::Closed);
        assert_eq!(postcard::to_stdvec(&refusal).unwrap_or_default()[0], 0);
        let original = Error::AlreadyExists {
            what: "result `m`".to_owned(),
        };
        let frame = frame::encode(
            &Response::Error(WireError::from(&original)),
            "response",
            frame::MAX_FRAME,
        )?;
        let back: Response = frame::decode(&frame[frame::HEADER_LEN..], "response")?;
        let Response::Error(wire) = back else {
            panic!("not an error: {back:?}");
        };
        assert!(matches!(Error::from(wire), Error::AlreadyExists { what } if what == "result `m`"));
        let io = Error::Stream {
            op: "read",
            source: std::io::Error::other("disk on fire"),
        };
        assert!(matches!(
            Error::from(WireError::from(&io)),
            Error::Server { message } if message.contains("disk on fire")
        ));
        Ok(())
    }

    /// The byte-by-byte example of `docs/design.md` §17.2.
    #[test]
    fn a_save_frame_is_laid_out_as_documented() -> crate::Result<()> {
        let request = Request::Save {
            run: WireRun {
                task: TaskName::new("t")?,
                config: "{}".to_owned(),
            },
            name: ResultName::new("m")?,
            type_name: "bytes".to_owned(),
            bytes: b"hi".to_vec(),
            options: WireOptions {
                sub_dir: None,
                open_options: "{}".to_owned(),
                load_options: "{}".to_owned(),
            },
        };
        let frame = frame::encode(&request, "request frame", frame::MAX_FRAME)?;
        let mut expected = vec![24, 0, 0, 0, 0, 1, b't', 2, b'{', b'}', 1, b'm', 5];
        expected.extend_from_slice(b"bytes");
        expected.extend_from_slice(&[2, b'h', b'i', 0, 2, b'{', b'}', 2, b'{', b'}']);
        assert_eq!(frame, expected);
        let hello = Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
        };
        let frame = frame::encode(&hello, "hello frame", frame::MAX_FRAME)?;
        assert_eq!(frame, b"\x09\x00\x00\x00SWPSTORE\x03");
        Ok(())
    }

    #[test]
    fn names_are_validated_while_decoding() {
        let bad = (0u8, "a/b".to_owned());
        let payload = postcard::to_stdvec(&bad).unwrap_or_default();
        // Variant 1 is LoadLazy { run, name }: build one whose task name is invalid.
        let mut request = vec![1u8];
        request.extend_from_slice(&payload[1..]);
        request.extend_from_slice(&postcard::to_stdvec(&"{}").unwrap_or_default());
        request.extend_from_slice(&postcard::to_stdvec(&"m").unwrap_or_default());
        assert!(frame::decode::<Request>(&request, "request").is_err());
        let good_task = postcard::to_stdvec(&"t").unwrap_or_default();
        let mut request = vec![1u8];
        request.extend_from_slice(&good_task);
        request.extend_from_slice(&postcard::to_stdvec(&"{}").unwrap_or_default());
        request.extend_from_slice(&postcard::to_stdvec(&"m").unwrap_or_default());
        assert!(matches!(
            frame::decode::<Request>(&request, "request"),
            Ok(Request::LoadLazy { .. })
        ));
    }
}
