//! Connecting a [`MongoStore`](crate::MongoStore): one driver client per store, the
//! collections it uses, their indexes, and the mapping of driver errors to ours.
//!
//! Invariants: a store holds exactly one `mongodb::sync::Client` (a connection pool), shared
//! by all clones and threads; `connect` returns only after the server answered a `ping` and
//! the indexes the store relies on exist (creating them is idempotent, so many processes may
//! connect at once), and with [`Create::No`] only if the run collection exists already; every wait for a server is bounded by `MongoOptions::timeout`, and
//! running out of it is [`Error::MongoUnreachable`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mongodb::IndexModel;
use mongodb::bson::{Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, WriteConcern};
use mongodb::sync::{Client, Collection};

use crate::blob::BlobLayout;
use crate::codec::TypeRegistry;
use crate::error::{Error, Result};
use crate::mongo::cache::{Counters, KnownRuns};
use crate::mongo::options::MongoOptions;
use crate::vfs::{Fs, RealFs};

/// The server's error code for a duplicate key in a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// What every handle of one store shares.
pub(crate) struct Shared {
    /// Kept so the pool lives as long as the store (collections hold it too).
    _client: Client,
    /// One document per run, `_id` = run key.
    pub(crate) runs: Collection<Document>,
    /// One document per task: the next sweep counter.
    pub(crate) counters: Collection<Document>,
    /// GridFS files collection of large values, `_id` = content hash.
    pub(crate) files: Collection<Document>,
    /// GridFS chunks collection of large values.
    pub(crate) chunks: Collection<Document>,
    pub(crate) options: MongoOptions,
    pub(crate) types: TypeRegistry,
    /// Sweep counters this store reserved and has not handed out yet.
    pub(crate) counters_pool: Counters,
    /// Runs this store created or wrote: their writes try an update first.
    pub(crate) known: KnownRuns,
    /// `database.collection`, for messages.
    pub(crate) namespace: String,
    hosts: String,
    /// Staging of files opened for writing.
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) staging: BlobLayout,
}

impl Shared {
    /// Maps a driver error of step `op` to ours.
    pub(crate) fn err(&self, op: &'static str) -> impl FnOnce(mongodb::error::Error) -> Error {
        let hosts = self.hosts.clone();
        let timeout = self.options.timeout;
        move |source| map_error(op, &hosts, timeout, source)
    }
}

fn map_error(
    op: &'static str,
    hosts: &str,
    timeout: std::time::Duration,
    source: mongodb::error::Error,
) -> Error {
    if matches!(*source.kind, ErrorKind::ServerSelection { .. }) {
        Error::MongoUnreachable {
            op,
            hosts: hosts.to_owned(),
            timeout,
            source: Box::new(source),
        }
    } else {
        Error::Mongo {
            op,
            source: Box::new(source),
        }
    }
}

/// Whether `e` is only duplicate-key errors (an insert of something that exists already).
pub(crate) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(m) => {
            m.write_concern_error.is_none()
                && m.write_errors
                    .as_ref()
                    .is_some_and(|w| !w.is_empty() && w.iter().all(|w| w.code == DUPLICATE_KEY))
        }
        _ => false,
    }
}

/// Whether [`connect`] may create the store's collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// Create them (and their indexes) if missing.
    Yes,
    /// Fail with [`Error::NotAStore`] unless the run collection exists; create nothing.
    No,
}

/// Connects, checks the server answers, and makes sure the indexes exist.
pub(crate) fn connect(
    uri: &str,
    database: &str,
    collection: &str,
    options: MongoOptions,
    create: Create,
) -> Result<Shared> {
    let parse_error = |source| Error::Mongo {
        op: "parse the connection string",
        source: Box::new(source),
    };
    let mut client_options = ClientOptions::parse(uri).run().map_err(parse_error)?;
    client_options.server_selection_timeout = Some(options.timeout);
    client_options.connect_timeout = Some(options.timeout);
    client_options.app_name = Some("sweepstore".to_owned());
    if options.journal {
        let mut concern = client_options
            .write_concern
            .take()
            .unwrap_or_else(WriteConcern::default);
        concern.journal = Some(true);
        client_options.write_concern = Some(concern);
    }
    let hosts = client_options
        .hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let timeout = options.timeout;
    let err = |op| {
        let hosts = hosts.clone();
        move |source| map_error(op, &hosts, timeout, source)
    };
    let client = Client::with_options(client_options).map_err(err("create the client"))?;
    let db = client.database(database);
    db.run_command(doc! { "ping": 1 })
        .run()
        .map_err(err("connect"))?;
    if create == Create::No {
        let names = db
            .list_collection_names()
            .run()
            .map_err(err("list the collections"))?;
        if !names.iter().any(|name| name == collection) {
            let mut runs: Vec<_> = names
                .iter()
                .filter(|name| !name.contains('.'))
                .cloned()
                .collect();
            runs.sort();
            return Err(Error::NotAStore {
                path: format!("mongodb://{hosts}/{database}/{collection}").into(),
                reason: match runs.is_empty() {
                    true => format!("database `{database}` has no collections"),
                    false => format!(
                        "database `{database}` has no collection `{collection}` (it has: {})",
                        runs.join(", ")
                    ),
                },
            });
        }
    }

    let runs = db.collection::<Document>(collection);
    let counters = db.collection::<Document>(&format!("{collection}.counters"));
    let files = db.collection::<Document>(&format!("{collection}.content.files"));
    let chunks = db.collection::<Document>(&format!("{collection}.content.chunks"));
    // IMPORTANT: the unique (files_id, n) index is what makes concurrent uploads of one
    // content idempotent: a second copy of a chunk is rejected, not stored twice.
    let unique = |keys| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().unique(true).build())
            .build()
    };
    runs.create_index(unique(doc! { "task": 1, "counter": 1 }))
        .run()
        .map_err(err("create the run index"))?;
    chunks
        .create_index(unique(doc! { "files_id": 1, "n": 1 }))
        .run()
        .map_err(err("create the GridFS chunk index"))?;
    let by_name = IndexModel::builder()
        .keys(doc! { "filename": 1, "uploadDate": 1 })
        .build();
    files
        .create_index(by_name)
        .run()
        .map_err(err("create the GridFS file index"))?;

    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let staging = staging_layout(&options.tmp_dir);
    Ok(Shared {
        _client: client,
        runs,
        counters,
        files,
        chunks,
        types: TypeRegistry::default(),
        counters_pool: Counters::default(),
        known: KnownRuns::default(),
        namespace: format!("{database}.{collection}"),
        hosts,
        fs,
        staging,
        options,
    })
}

/// Temp files of this store live in `<tmp_dir>/sweepstore-mongo/tmp/`, named for this
/// process, the time and a per-process count of connections, so no two stores (in this
/// process or another) pick the same name.
fn staging_layout(tmp_dir: &Path) -> BlobLayout {
    static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let session = format!("{}-{nanos:x}-{n}", std::process::id());
    BlobLayout::new(&tmp_dir.join("sweepstore-mongo"), session)
}
