//! The crate's one error type.
//!
//! Invariants: every variant's `Display` is a sentence a user can act on; every I/O failure
//! carries the operation and the path it was working on; bad input never panics, it lands in
//! one of these variants.

use std::io;
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::name_problem::{NameKind, NameProblem};

/// Result with the crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `sweepstore`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A unique config is not a finite JSON object (see [`ConfigError`]).
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),

    /// A task name, result name or `sub_dir` was rejected.
    #[error("{kind} {name:?} is invalid: {problem}")]
    InvalidName {
        /// Which kind of name was rejected.
        kind: NameKind,
        /// The rejected input (lossy if it was not printable).
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },

    /// A hex string could not be parsed as a run key or content hash.
    #[error("{what} {input:?} is not valid: expected 64 lowercase hexadecimal digits")]
    InvalidHash {
        /// `run key` or `content hash`.
        what: &'static str,
        /// The rejected input.
        input: String,
    },

    /// No type with this name is registered in the store's type registry.
    #[error(
        "unknown result type `{type_name}`; register it with TypeRegistry::register \
         (built-in types: json, binary, pickle, text, bytes)"
    )]
    UnknownType {
        /// The type name that was asked for.
        type_name: String,
    },

    /// A type with this name is already registered.
    #[error("result type `{type_name}` is already registered; pick another name")]
    TypeAlreadyRegistered {
        /// The duplicated type name.
        type_name: String,
    },

    /// The Rust type given to save or load does not fit the stored type.
    #[error(
        "result type `{type_name}` holds values of Rust type `{expected}`, but `{found}` was asked for"
    )]
    WrongRustType {
        /// The registered type name.
        type_name: String,
        /// The Rust type the codec works with.
        expected: &'static str,
        /// The Rust type the caller used.
        found: &'static str,
    },

    /// A value could not be encoded with its type's codec.
    #[error("cannot encode a value as type `{type_name}`: {reason}")]
    Encode {
        /// The type name used to encode.
        type_name: String,
        /// What the codec reported.
        reason: String,
    },

    /// A `json` or `pickle` value nests arrays and objects deeper than
    /// [`MAX_DEPTH`](crate::MAX_DEPTH) levels; it was not stored, since not every reader could
    /// read it back.
    #[error(
        "a `{type_name}` value nests arrays and objects deeper than {limit} levels, the limit \
         every sweepstore reader holds to; nothing was stored: flatten the value, or store it \
         as text"
    )]
    NestedTooDeep {
        /// The type it was to be stored as.
        type_name: String,
        /// The limit ([`MAX_DEPTH`](crate::MAX_DEPTH)).
        limit: usize,
    },

    /// A copy ([`copy_planned`](crate::copy_planned)) found a source result no store would
    /// accept as its type (a `json` file that is not JSON, e.g. Python's `NaN`, or nests too
    /// deep): its run is damaged, skipped by a lenient copy and the error of a strict one.
    #[error("cannot copy {what}: {source}")]
    ResultRefused {
        /// The result: its name, task, config and, in a tree, its run directory.
        what: String,
        /// Why it is refused ([`Error::Encode`], [`Error::NestedTooDeep`]).
        source: Box<Error>,
    },

    /// Stored bytes could not be decoded with their type's codec (or into the asked Rust type).
    #[error("cannot decode a stored `{type_name}` value: {reason}")]
    Decode {
        /// The stored type name.
        type_name: String,
        /// What the codec reported.
        reason: String,
    },

    /// The type needs a file-system path, which this store does not have.
    #[error("result type `{type_name}` saves through a file path, which {store} does not have")]
    NeedsPath {
        /// The type name.
        type_name: String,
        /// The store that cannot provide a path.
        store: &'static str,
    },

    /// Something that must exist does not (for example a result opened for reading).
    #[error("{what} does not exist")]
    NotFound {
        /// What was looked for, e.g. ``result `metrics` of task `train` ``.
        what: String,
    },

    /// Something that must not exist already does (for example a result opened with mode `x`).
    #[error("{what} already exists")]
    AlreadyExists {
        /// What already exists.
        what: String,
    },

    /// An open mode string is not one of `r`, `r+`, `w`, `w+`, `a`, `a+`, `x`, `x+` (each with
    /// an optional `b`).
    #[error(
        "open mode {mode:?} is not valid; use one of r, r+, w, w+, a, a+, x, x+, each optionally with b"
    )]
    InvalidMode {
        /// The rejected mode string.
        mode: String,
    },

    /// Content read back does not hash to the address it was stored under.
    #[error("stored content is corrupt: expected blake3 {expected}, found {actual} ({location})")]
    HashMismatch {
        /// The content hash the value was stored under.
        expected: String,
        /// The hash of what was actually read.
        actual: String,
        /// Where it was read from.
        location: String,
    },

    /// An operation on a [`File`](crate::File) that its open mode does not allow, or on a
    /// closed file.
    #[error("cannot {op} result `{name}`: it was opened with mode {mode}")]
    FileMode {
        /// The attempted operation (`read`, `write`, ...).
        op: &'static str,
        /// The result name.
        name: String,
        /// The mode it was opened with.
        mode: String,
    },

    /// An I/O operation failed.
    #[error("failed to {op} {path}: {source}", path = path.display())]
    Io {
        /// What was being done, e.g. `read`, `create directory`.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// Another process (or another handle in this one) has the store open.
    #[error(
        "the store at {path} is already open in another process (or elsewhere in this one); \
         close it there first, or use a different store path",
        path = path.display()
    )]
    AlreadyOpen {
        /// The store directory.
        path: PathBuf,
    },

    /// The path exists but is not a store.
    #[error("{path} is not a sweepstore store: {reason}", path = path.display())]
    NotAStore {
        /// The path given.
        path: PathBuf,
        /// Why it is not a store.
        reason: String,
    },

    /// The store was written in a format this version does not read.
    #[error(
        "the store at {path} has format version {found}; this sweepstore reads version {supported}",
        path = path.display()
    )]
    UnsupportedFormat {
        /// The store directory.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },

    /// The write-ahead log is damaged in a way recovery must not guess about: valid records
    /// follow the damage, or a segment is missing. Nothing was changed.
    #[error("the write-ahead log is damaged at {path} offset {offset}: {reason}; nothing was changed \
             (move the store aside and keep it for inspection)", path = path.display())]
    WalCorrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// The embedded database reported an error.
    #[error("the store's database failed to {op}: {source}")]
    Storage {
        /// What was being done.
        op: &'static str,
        /// The database error.
        #[source]
        source: Box<redb::Error>,
    },

    /// A stored record could not be decoded: the store is damaged or from another version.
    #[error("a stored {what} record is damaged or unreadable: {reason}")]
    CorruptRecord {
        /// Which record.
        what: String,
        /// What failed.
        reason: String,
    },

    /// A promise's content is no longer stored (garbage-collected after its name was
    /// overwritten or deleted).
    #[error(
        "content {hash} is no longer stored: it was garbage-collected after every result that \
         referred to it was overwritten or deleted"
    )]
    ContentCollected {
        /// The content hash.
        hash: String,
    },

    /// An earlier write or sync failed, so the store refuses all further work: after a
    /// failed fsync the state of the file is unknown and retrying could acknowledge lost data.
    /// Reopen the store to recover from the write-ahead log.
    #[error(
        "the store is poisoned by an earlier I/O failure ({cause}); no further writes are \
         accepted: close and reopen it to recover"
    )]
    Poisoned {
        /// The failure that poisoned the store.
        cause: String,
    },

    /// A path below a [`LocalFileStore`](crate::LocalFileStore)'s base directory is a symbolic
    /// link; the store never follows one, since it could lead outside the base directory.
    #[error(
        "refusing to use {path}: it is a symbolic link, and a LocalFileStore never follows links \
         below its base directory (they could lead outside it); replace it with a real directory",
        path = path.display()
    )]
    SymlinkInStore {
        /// The link.
        path: PathBuf,
    },

    /// A file the store keeps (a run's `config.json`, a load-information file, a run record)
    /// or an object file it names is damaged, missing or not in the expected format. Only the
    /// run or result it belongs to is affected.
    #[error(
        "{path} is damaged or missing ({reason}); the rest of the store is unaffected: move \
         the file (or its run directory) aside, or save the result again",
        path = path.display()
    )]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A [`LocalFileStore`](crate::LocalFileStore) needs a directory where a file is: most
    /// often a `sub_dir` that names an existing result's file.
    #[error(
        "cannot use {path} as a directory: a file is in the way (a result saved there?); \
         nothing stored was changed: choose another sub_dir, or delete that result first",
        path = path.display()
    )]
    FileInTheWay {
        /// The file where a directory is needed.
        path: PathBuf,
    },

    /// A result would be written over one of the store's own files.
    #[error(
        "result path `{path}` is reserved for the store's own files (each run's config.json and \
         its .fluidml/ folder); choose another result name or sub_dir"
    )]
    ReservedPath {
        /// The result's path inside its run directory.
        path: String,
    },

    /// The store was closed.
    #[error("the store is closed")]
    Closed,

    /// No server answers at the socket of a [`RemoteStore`](crate::RemoteStore) (it is not
    /// running, or the path is wrong).
    #[error(
        "cannot connect to a sweepstore server at {socket}: {source}; start one with \
         `sweepstore serve STORE` (or pass the socket it prints)",
        socket = socket.display()
    )]
    ServerUnavailable {
        /// The socket path.
        socket: PathBuf,
        /// Why connecting failed.
        #[source]
        source: io::Error,
    },

    /// The connection to the server broke during a request (the server was killed or stopped,
    /// or did not answer in time). If `maybe_applied`, a write in flight may or may not have
    /// been applied; otherwise it never reached the server. Every write acknowledged before
    /// is stored.
    #[error(
        "the connection to the sweepstore server at {socket} broke ({reason}); {}, \
         everything acknowledged before it is stored",
        if *maybe_applied {
            "the request in flight may or may not have been applied"
        } else {
            "the request in flight never reached the server"
        },
        socket = socket.display()
    )]
    Disconnected {
        /// The socket path.
        socket: PathBuf,
        /// What happened.
        reason: String,
        /// Whether the request was sent whole before the connection broke (so the server
        /// may have applied it); `false` means it certainly did not run.
        maybe_applied: bool,
    },

    /// The server serving a store went away while a write was in flight, and whether the
    /// write was applied could not be settled afterwards (`docs/design.md` §18.4). Everything
    /// acknowledged before is stored. Retrying is safe when no other writer changes the same
    /// result or run meanwhile (a save of the same value is idempotent).
    #[error(
        "the process serving the store went away while {what} was in flight, and whether it was \
         applied is unknown; everything acknowledged before is stored, and retrying it is safe \
         unless another writer changed the same result since ({reason})"
    )]
    OutcomeUnknown {
        /// The write, e.g. ``save of result `m` of task `t` with config {..}``.
        what: String,
        /// Why the connection broke.
        reason: String,
    },

    /// The store is locked by another process, but no server answered on its socket within
    /// the wait of [`OpenOptions`](crate::OpenOptions) (the owner serves nothing, or is
    /// still recovering a long write-ahead log).
    #[error(
        "the store at {path} is open in another process that did not serve it within {waited:?}; \
         if that process opened it without serving (or is `sweepstore gc`), wait for it to \
         finish, else raise OpenOptions::wait",
        path = path.display()
    )]
    NotServed {
        /// The store directory.
        path: PathBuf,
        /// How long the open waited.
        waited: std::time::Duration,
    },

    /// A run claim was asked for with an unusable owner name.
    #[error("invalid run claim: {reason}")]
    InvalidClaim {
        /// What was wrong.
        reason: String,
    },

    /// The store does not support an operation (e.g. run claims on a fluidml directory).
    #[error("{store} does not support {what}")]
    Unsupported {
        /// The operation.
        what: &'static str,
        /// The kind of store.
        store: &'static str,
    },

    /// A [`StoreAddress`](crate::StoreAddress) could not be read back.
    #[error("not a sweepstore store address: {reason}")]
    BadAddress {
        /// What was wrong.
        reason: String,
    },

    /// The other end of a server connection does not follow sweepstore's protocol (garbage,
    /// a malformed frame, or an unsupported protocol version).
    #[error("protocol error on a sweepstore server connection: {reason}")]
    Protocol {
        /// What was wrong.
        reason: String,
    },

    /// A request or response is larger than the protocol allows in one frame.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// What was too large, e.g. `request frame`.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },

    /// The server failed with an error that has no typed counterpart on this side (an I/O or
    /// database error of the served store); its message is kept.
    #[error("the sweepstore server failed: {message}")]
    Server {
        /// The server's error message.
        message: String,
    },

    /// A live server already listens on the socket path `sweepstore serve` was given.
    #[error(
        "a sweepstore server is already listening on {socket}; stop it first, or give this one \
         another --socket",
        socket = socket.display()
    )]
    AlreadyServed {
        /// The socket path.
        socket: PathBuf,
    },

    /// No MongoDB server answered within the store's timeout (feature `mongodb`).
    #[cfg(feature = "mongodb")]
    #[error(
        "no MongoDB server at {hosts} answered within {timeout:?} while trying to {op}; check \
         that the server is running and reachable (MongoOptions::timeout sets the wait): {source}"
    )]
    MongoUnreachable {
        /// What was being done.
        op: &'static str,
        /// The hosts of the connection string.
        hosts: String,
        /// How long the driver waited for a server.
        timeout: std::time::Duration,
        /// The driver's error.
        #[source]
        source: Box<mongodb::error::Error>,
    },

    /// The MongoDB server or driver reported an error (feature `mongodb`). The operation may
    /// or may not have taken effect on the server; it was not acknowledged.
    #[cfg(feature = "mongodb")]
    #[error("MongoDB failed to {op}: {source}")]
    Mongo {
        /// What was being done.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: Box<mongodb::error::Error>,
    },

    /// A save waited for a garbage collection that is deleting the content it needs, and
    /// the deletion did not end within the store's timeout (feature `mongodb`): the gc was
    /// probably killed midway. The save was not acknowledged.
    #[cfg(feature = "mongodb")]
    #[error(
        "content {hash} in {location} is being deleted by a garbage collection that did not \
         finish within {timeout:?} (was it killed?); run `sweepstore gc --apply` on the store \
         to finish it, then save again"
    )]
    MongoGcStuck {
        /// The content hash.
        hash: String,
        /// The GridFS bucket.
        location: String,
        /// How long the save waited.
        timeout: std::time::Duration,
    },

    /// An I/O operation on a stream that has no path (an in-memory file or a caller's reader).
    #[error("failed to {op}: {source}")]
    Stream {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The [`Error::NotAStore`] of a path that is a file: what every way of opening a store
    /// (`open`, `RedbStore::open`, `LocalFileStore::new`) says, before touching it.
    pub(crate) fn file_not_a_store(path: &std::path::Path) -> Self {
        Error::NotAStore {
            path: path.to_owned(),
            reason: "it is a file, not a store directory".to_owned(),
        }
    }

    /// Builds an [`Error::Io`] naming the operation and path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Storage`] from any redb error.
    pub(crate) fn storage(op: &'static str, source: impl Into<redb::Error>) -> Self {
        Error::Storage {
            op,
            source: Box::new(source.into()),
        }
    }

    /// Converts to an `io::Error` for `Read`/`Write` impls, keeping this error as the source.
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            Error::Stream { source, .. } => source,
            other => io::Error::other(other),
        }
    }
}
