//! redb's `StorageBackend` over a file of the [`SimDisk`], so the database file obeys the
//! same crash model as the WAL and the blobs.

use std::io;

use redb::StorageBackend;

use crate::sim::disk::SimDisk;

/// The database file on the simulated disk.
#[derive(Debug)]
pub(crate) struct SimBackend {
    disk: SimDisk,
    ino: usize,
}

impl SimBackend {
    pub(crate) fn new(disk: SimDisk, ino: usize) -> Self {
        SimBackend { disk, ino }
    }
}

impl StorageBackend for SimBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.disk.lock().inodes[self.ino].data.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let state = self.disk.lock();
        let data = &state.inodes[self.ino].data;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let source = data
            .get(start..start + out.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.disk.lock().set_len(self.ino, len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.disk.lock().sync_file(self.ino)
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut state = self.disk.lock();
        let written = state.write(self.ino, offset, data)?;
        if written == data.len() {
            Ok(())
        } else {
            Err(io::Error::from(io::ErrorKind::WriteZero))
        }
    }
}
