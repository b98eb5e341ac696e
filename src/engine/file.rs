//! The streaming [`File`](crate::File) backend of a [`RedbStore`]: writes go to a temp file
//! (hashed while written), and `close` publishes it as one save.
//!
//! Invariant: until `commit`, nothing is visible in the store; dropping the file removes the
//! temp file (an abort).

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::blob::BlobWriter;
use crate::engine::handle::RedbStore;
use crate::error::Result;
use crate::file::FileBackend;
use crate::names::ResultName;
use crate::store::RunId;

/// A writable file of a [`RedbStore`].
pub(crate) struct RedbFile {
    pub(crate) writer: BlobWriter,
    pub(crate) store: RedbStore,
    pub(crate) run: RunId,
    pub(crate) name: ResultName,
    pub(crate) type_name: String,
    pub(crate) exclusive: bool,
}

impl Read for RedbFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.writer.read(buf)
    }
}

impl Write for RedbFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.writer.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl Seek for RedbFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.writer.seek(pos)
    }
}

impl FileBackend for RedbFile {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.writer.set_len(len)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let RedbFile {
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
