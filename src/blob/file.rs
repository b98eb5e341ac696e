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
use crate::file::FileBackend;
use crate::names::ResultName;
use crate::store::RunId;

/// A store that can publish a finished temp file as one save.
pub(crate) trait PublishStaged: Send {
    /// Saves the content of `finished` as result `name` of `run`; with `exclusive` (open mode
    /// `x`) it fails with `AlreadyExists` if the result exists.
    fn save_finished(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        finished: Finished,
        exclusive: bool,
    ) -> Result<()>;
}

/// A writable file staged in a temp file until `commit`.
pub(crate) struct StagedFile<S> {
    pub(crate) writer: BlobWriter,
    pub(crate) store: S,
    pub(crate) run: RunId,
    pub(crate) name: ResultName,
    pub(crate) type_name: String,
    pub(crate) exclusive: bool,
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
        } = *self;
        let finished = writer.finish()?;
        store.save_finished(&run, &name, &type_name, finished, exclusive)
    }
}
