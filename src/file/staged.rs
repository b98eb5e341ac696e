//! The streaming [`File`](crate::File) backend of stores that stage a write in a local temp
//! file: [`RedbStore`](crate::RedbStore) publishes it as a blob (or inline value), and
//! `MongoStore` uploads it. Writes go to a [`BlobWriter`] (hashed while written); `close`
//! hands the finished temp file to the store as one save.
//!
//! Invariant: until `commit`, nothing is visible in the store (nothing is sent to a server);
//! dropping the file removes the temp file (an abort).

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::blob::writer::{BlobWriter, Finished};
use crate::error::Result;
use crate::file::{File, FileBackend, OpenMode, OpenRequest, open_file};
use crate::names::{ResultName, SubDir};
use crate::promise::Promise;
use crate::run::RunId;
use crate::store::ResultsStore;

/// How a staged write is saved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct How<'a> {
    /// Fail with `AlreadyExists` if the result exists (open mode `x`).
    pub(crate) exclusive: bool,
    /// The sub-directory the result is kept in (for stores that keep one).
    pub(crate) sub_dir: Option<&'a SubDir>,
}

/// A store that can publish a finished temp file as one save.
pub(crate) trait PublishStaged: Send {
    /// Saves the content of `finished` as result `name` of `run`, as `how` says.
    fn save_finished(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        finished: Finished,
        how: How<'_>,
    ) -> Result<()>;

    /// A new temp file to stage a write in.
    fn staging_writer(&self) -> Result<BlobWriter>;

    /// Result `name` of exactly `run` (no subset lookup), if stored.
    fn stored_exact(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>>;
}

/// Runs the shared open protocol for `store`: the existing value is the exact run's for a
/// writable mode and the looked-up run's for mode `r`; writes are staged in a temp file.
pub(crate) fn open_staged<S: PublishStaged + ResultsStore + Clone + 'static>(
    store: &S,
    run: &RunId,
    name: &ResultName,
    mode: OpenMode,
    type_name: Option<&str>,
    sub_dir: Option<&SubDir>,
) -> Result<File> {
    let existing = if mode.writable() {
        store.stored_exact(run, name)?
    } else {
        store.load_lazy(run, name)?
    };
    let request = OpenRequest {
        run,
        name,
        mode,
        type_name,
        types: store.types(),
        existing,
    };
    open_file(request, |type_name, exclusive| {
        Ok(Box::new(StagedFile {
            writer: store.staging_writer()?,
            store: store.clone(),
            run: run.clone(),
            name: name.clone(),
            type_name: type_name.to_owned(),
            exclusive,
            sub_dir: sub_dir.cloned(),
        }))
    })
}

/// A writable file staged in a temp file until `commit`.
struct StagedFile<S> {
    writer: BlobWriter,
    store: S,
    run: RunId,
    name: ResultName,
    type_name: String,
    exclusive: bool,
    sub_dir: Option<SubDir>,
}

impl<S> Read for StagedFile<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.writer.read(buf)
    }
}

impl<S> Write for StagedFile<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.writer.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl<S> Seek for StagedFile<S> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.writer.seek(pos)
    }
}

impl<S: PublishStaged> FileBackend for StagedFile<S> {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.writer.set_len(len)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let StagedFile {
            writer,
            store,
            run,
            name,
            type_name,
            exclusive,
            sub_dir,
        } = *self;
        let finished = writer.finish()?;
        let how = How {
            exclusive,
            sub_dir: sub_dir.as_ref(),
        };
        store.save_finished(&run, &name, &type_name, finished, how)
    }
}
