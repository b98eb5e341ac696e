//! Content of a [`MongoStore`](crate::MongoStore): small values inline in their run
//! document, large ones in GridFS under their content hash, uploaded and read in chunks.
//!
//! Invariants:
//! - GridFS layout (readable by any GridFS client): a files document `_id` = `filename` =
//!   the content's blake3 hex, chunks of [`CHUNK_SIZE`] bytes with `files_id` = that hex.
//! - The files document is inserted only after every chunk is stored, so its presence means
//!   the content is complete; run documents refer to a hash only after its files document
//!   exists.
//! - Uploads are idempotent: content whose files document exists with all its chunks is not
//!   uploaded again (one with chunks missing is uploaded again, which repairs it), and
//!   the unique `(files_id, n)` index rejects a second copy of a chunk (identical bytes, since
//!   the id is the hash), which the uploader treats as done. Racing uploaders of one hash
//!   therefore both succeed and store it once; an upload cut short leaves chunks that the
//!   next upload of the same hash completes.
//! - Memory is bounded on both paths: an upload holds at most [`CHUNKS_PER_INSERT`] chunks,
//!   a reader one chunk plus one cursor batch of [`CHUNKS_PER_BATCH`].
//! - An upload hashes what it sends and fails rather than store bytes under another hash;
//!   readers are verified by the promise that opens them.
//! - Garbage collection (§15.9, `content_state.rs`, `gc.rs`): a files document a gc is
//!   deleting is waited for (a gc restores content its second scan finds referenced):
//!   readers then get the content or [`Error::ContentCollected`], uploaders store it afresh
//!   (never counting chunks under deletion as stored).

use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Instant;

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Document, doc};
use mongodb::sync::Cursor as MongoCursor;

use crate::error::{Error, Result};
use crate::key::ContentHash;
use crate::mongo::client::{Shared, is_duplicate_key};
use crate::mongo::content_state::{State, read_state, state_of, wait_while_deleting};
use crate::mongo::documents::{as_u64, size_to_bson};
use crate::promise::{ContentReader, ContentSource, check_hash};

/// Bytes per GridFS chunk (the GridFS default, 255 KiB).
pub(crate) const CHUNK_SIZE: usize = 255 * 1024;
/// Chunks sent to the server in one insert.
const CHUNKS_PER_INSERT: usize = 16;
/// Chunks the server returns per cursor batch when reading.
const CHUNKS_PER_BATCH: u32 = 4;

/// A source of content that can be read again from its start (a save's bytes, a staged
/// temp file), so an upload that a gc interrupted can start over.
pub(crate) trait Rewind: Read + Seek {}

impl<T: Read + Seek> Rewind for T {}

/// Stores the `size` bytes `source` yields under `hash` in GridFS, unless they are stored.
/// Waits while a gc deletes the content (`content_state.rs`), then stores it afresh. It
/// looks at the stored content and stores what is missing in rounds until all is there: a
/// gc that deleted chunks from under it (after a stale read, or taking them for an
/// abandoned upload under a grace period shorter than the upload) costs a round; rounds
/// stop after [`MongoOptions::timeout`](crate::MongoOptions::timeout).
///
/// # Errors
/// [`Error::HashMismatch`] if the bytes read do not hash to `hash` or are not `size` bytes
/// long (nothing refers to the chunks then); [`Error::Stream`] for read errors;
/// [`Error::MongoGcStuck`] if a gc's deletion does not end in time, or gcs keep deleting
/// the content as it is stored (only with a grace period of about 0); server errors.
pub(crate) fn upload(
    shared: &Shared,
    hash: &ContentHash,
    size: u64,
    source: &mut dyn Rewind,
) -> Result<()> {
    let id = hash.to_hex();
    let started = Instant::now();
    while started.elapsed() < shared.options.timeout {
        let state = match read_state(shared, hash)? {
            Some(State::Deleting(_)) => wait_while_deleting(shared, hash)?,
            state => state,
        };
        if let Some(State::Live(_)) = state {
            let chunks = shared
                .chunks
                .count_documents(doc! { "files_id": &id })
                .run()
                .map_err(shared.err("count GridFS chunks"))?;
            if chunks == size.div_ceil(CHUNK_SIZE as u64) {
                return Ok(());
            }
            // Chunks were lost: upload again, which stores exactly the missing ones.
        }
        source
            .seek(SeekFrom::Start(0))
            .map_err(|source| Error::Stream {
                op: "rewind content to upload",
                source,
            })?;
        // Checked by the next round rather than trusted: the state read above may be
        // stale (a gc deleting these chunks meanwhile).
        store(shared, hash, size, source)?;
    }
    Err(Error::MongoGcStuck {
        hash: id,
        location: format!("{}.content", shared.namespace),
        timeout: shared.options.timeout,
    })
}

/// Stores the chunks, then the files document (a duplicate, be it another uploader's or a
/// gc's tombstone, is left to the caller's next look).
fn store(shared: &Shared, hash: &ContentHash, size: u64, reader: &mut dyn Read) -> Result<()> {
    let id = hash.to_hex();
    let mut hasher = blake3::Hasher::new();
    let mut batch = Vec::with_capacity(CHUNKS_PER_INSERT);
    let mut buf = vec![0; CHUNK_SIZE];
    let mut total = 0u64;
    for n in 0i64.. {
        let len = read_full(reader, &mut buf).map_err(|source| Error::Stream {
            op: "read content to upload",
            source,
        })?;
        if len == 0 {
            break;
        }
        hasher.update(&buf[..len]);
        total += len as u64;
        batch.push(doc! {
            "files_id": &id,
            "n": n,
            "data": Binary { subtype: BinarySubtype::Generic, bytes: buf[..len].to_vec() },
        });
        if batch.len() == CHUNKS_PER_INSERT {
            insert_chunks(shared, std::mem::take(&mut batch))?;
        }
        if len < CHUNK_SIZE {
            break;
        }
    }
    insert_chunks(shared, batch)?;
    check_hash(*hash, hasher.finalize().into(), || {
        format!("the content being uploaded to {}", location(shared, hash))
    })?;
    if total != size {
        return Err(Error::HashMismatch {
            expected: format!("{id} ({size} bytes)"),
            actual: format!("{total} bytes"),
            location: format!("the content being uploaded to {}", location(shared, hash)),
        });
    }
    // IMPORTANT: last, after every chunk: the files document marks the content complete.
    let file = doc! {
        "_id": &id,
        "length": size_to_bson(size)?,
        "chunkSize": CHUNK_SIZE as i32,
        "uploadDate": DateTime::now(),
        "filename": &id,
    };
    match shared.files.insert_one(file).run() {
        Err(e) if !is_duplicate_key(&e) => Err(shared.err("store a GridFS files document")(e)),
        _ => Ok(()),
    }
}

/// Inserts chunks; a chunk that is stored already (identical, as its id is the hash) counts
/// as inserted.
fn insert_chunks(shared: &Shared, chunks: Vec<Document>) -> Result<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    match shared.chunks.insert_many(chunks).ordered(false).run() {
        Err(e) if !is_duplicate_key(&e) => Err(shared.err("store GridFS chunks")(e)),
        _ => Ok(()),
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn location(shared: &Shared, hash: &ContentHash) -> String {
    format!("GridFS file {hash} in {}.content", shared.namespace)
}

/// Where promises of GridFS values read their content.
pub(crate) struct GridFsContent(pub(crate) Arc<Shared>);

impl ContentSource for GridFsContent {
    /// Opens the content after checking its files document and that all its chunks exist.
    fn open(&self, hash: &ContentHash) -> Result<Box<dyn ContentReader>> {
        let shared = &self.0;
        let corrupt = |reason: String| Error::CorruptRecord {
            what: location(shared, hash),
            reason,
        };
        let id = hash.to_hex();
        let read = || {
            shared
                .files
                .find_one(doc! { "_id": &id })
                .run()
                .map_err(shared.err("read a GridFS files document"))
        };
        let mut file = read()?;
        if file
            .as_ref()
            .is_some_and(|f| matches!(state_of(f), State::Deleting(_)))
        {
            // A gc may yet find it referenced and restore it: wait for its verdict.
            wait_while_deleting(shared, hash)?;
            file = read()?;
        }
        // No files document, or one a gc is (again) deleting: collected (as RedbStore says).
        let Some(file) = file.filter(|f| matches!(state_of(f), State::Live(_))) else {
            return Err(Error::ContentCollected { hash: id });
        };
        let number = |field: &str| as_u64(file.get(field));
        let length = number("length")
            .ok_or_else(|| corrupt("`length` is missing or not an integer".to_owned()))?;
        let chunk_size = number("chunkSize")
            .filter(|n| *n > 0)
            .ok_or_else(|| corrupt("`chunkSize` is missing or not positive".to_owned()))?;
        let expected = length.div_ceil(chunk_size);
        let stored = shared
            .chunks
            .count_documents(doc! { "files_id": &id })
            .run()
            .map_err(shared.err("count GridFS chunks"))?;
        if stored != expected {
            return Err(corrupt(format!("it has {stored} of its {expected} chunks")));
        }
        Ok(Box::new(ChunkReader {
            shared: shared.clone(),
            hash: *hash,
            length,
            chunk_size,
            pos: 0,
            chunk: None,
            cursor: None,
        }))
    }

    fn location(&self, hash: &ContentHash) -> String {
        location(&self.0, hash)
    }
}

/// Where promises of inline values read their content: the bytes themselves, taken from the
/// run document when the promise was made.
pub(crate) struct InlineContent {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) namespace: String,
}

impl ContentSource for InlineContent {
    fn open(&self, _: &ContentHash) -> Result<Box<dyn ContentReader>> {
        Ok(Box::new(Cursor::new(self.bytes.clone())))
    }

    fn location(&self, hash: &ContentHash) -> String {
        format!(
            "inline value {hash} of a run document in {}",
            self.namespace
        )
    }
}

/// A seekable reader over a GridFS file: reads chunks in order through one cursor, which is
/// reopened only when a seek leaves the sequence.
struct ChunkReader {
    shared: Arc<Shared>,
    hash: ContentHash,
    length: u64,
    chunk_size: u64,
    pos: u64,
    /// The chunk in memory: its number and bytes.
    chunk: Option<(u64, Vec<u8>)>,
    /// An open cursor and the chunk number it yields next.
    cursor: Option<(MongoCursor<Document>, u64)>,
}

impl ChunkReader {
    fn corrupt(&self, reason: String) -> io::Error {
        io::Error::other(Error::CorruptRecord {
            what: location(&self.shared, &self.hash),
            reason,
        })
    }

    /// Makes chunk `n` the chunk in memory.
    fn load(&mut self, n: u64) -> io::Result<()> {
        if self.cursor.as_ref().is_none_or(|(_, next)| *next != n) {
            let filter = doc! { "files_id": self.hash.to_hex(), "n": { "$gte": n as i64 } };
            let cursor = self
                .shared
                .chunks
                .find(filter)
                .sort(doc! { "n": 1 })
                .batch_size(CHUNKS_PER_BATCH)
                .run()
                .map_err(|e| self.shared.err("read GridFS chunks")(e).into_io())?;
            self.cursor = Some((cursor, n));
        }
        let next = self.cursor.as_mut().and_then(|(cursor, _)| cursor.next());
        let doc = match next {
            Some(Ok(doc)) => doc,
            Some(Err(e)) => {
                self.cursor = None;
                return Err(self.shared.err("read GridFS chunks")(e).into_io());
            }
            None => {
                self.cursor = None;
                return Err(self.corrupt(format!("chunk {n} is missing")));
            }
        };
        let found = as_u64(doc.get("n"));
        if found != Some(n) {
            self.cursor = None;
            return Err(self.corrupt(format!("chunk {n} is missing")));
        }
        let bytes = match doc.get("data") {
            Some(Bson::Binary(binary)) => binary.bytes.clone(),
            _ => return Err(self.corrupt(format!("chunk {n} has no binary `data`"))),
        };
        let expected = self.chunk_size.min(self.length - n * self.chunk_size);
        if bytes.len() as u64 != expected {
            return Err(self.corrupt(format!(
                "chunk {n} holds {} bytes, expected {expected}",
                bytes.len()
            )));
        }
        if let Some((_, next)) = &mut self.cursor {
            *next = n + 1;
        }
        self.chunk = Some((n, bytes));
        Ok(())
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.length || buf.is_empty() {
            return Ok(0);
        }
        let n = self.pos / self.chunk_size;
        if self.chunk.as_ref().is_none_or(|(k, _)| *k != n) {
            self.load(n)?;
        }
        let Some((_, chunk)) = &self.chunk else {
            return Ok(0);
        };
        let offset = usize::try_from(self.pos - n * self.chunk_size).map_err(io::Error::other)?;
        let len = buf.len().min(chunk.len() - offset);
        buf[..len].copy_from_slice(&chunk[offset..offset + len]);
        self.pos += len as u64;
        Ok(len)
    }
}

impl Seek for ChunkReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.length.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}
