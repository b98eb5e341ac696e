//! The streaming [`File`](crate::File) backend of a [`MongoStore`]: writes go to a local
//! temp file (hashed while written), and `close` uploads it and publishes it as one save.
//!
//! Invariant: until `commit`, nothing is sent to the server; dropping the file removes the
//! temp file (an abort). The upload reads the temp file chunk by chunk, so a file of any size
//! is published with constant memory.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::blob::BlobWriter;
use crate::error::Result;
use crate::file::FileBackend;
use crate::mongo::store::MongoStore;
use crate::names::ResultName;
use crate::store::RunId;

/// A writable file of a [`MongoStore`].
pub(crate) struct MongoFile {
    pub(crate) writer: BlobWriter,
    pub(crate) store: MongoStore,
    pub(crate) run: RunId,
    pub(crate) name: ResultName,
    pub(crate) type_name: String,
    pub(crate) exclusive: bool,
}

impl Read for MongoFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.writer.read(buf)
    }
}

impl Write for MongoFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.writer.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl Seek for MongoFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.writer.seek(pos)
    }
}

impl FileBackend for MongoFile {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.writer.set_len(len)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let MongoFile {
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
