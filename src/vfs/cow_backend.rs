//! [`CowBackend`]: redb's storage on top of a database file it must never change.
//!
//! Reads come from the file (opened read-only) unless a block was written; every write redb
//! makes — the repair after an unclean shutdown, WAL replay, checkpoints — lands in an
//! in-memory overlay of 4 KiB blocks, and `set_len` only changes the length it reports.
//!
//! Invariants: the file is opened without write access, so no byte, length or mtime of it can
//! change through this backend; a read returns what the last write or `set_len` left there
//! (bytes past the file's end and past a shrink read as zero, as redb requires).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use redb::StorageBackend;

/// The overlay's block size.
const BLOCK: u64 = 4096;

/// What has been written over the file.
#[derive(Debug)]
struct Overlay {
    /// The length redb sees.
    len: u64,
    /// How much of the file is still visible (a shrink hides the rest for good).
    file_visible: u64,
    /// Written blocks, by index.
    blocks: HashMap<u64, Vec<u8>>,
}

/// A database file read in place, written in memory only.
#[derive(Debug)]
pub(crate) struct CowBackend {
    file: File,
    overlay: Mutex<Overlay>,
}

impl CowBackend {
    /// Opens `path` read-only.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(CowBackend {
            file,
            overlay: Mutex::new(Overlay {
                len,
                file_visible: len,
                blocks: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> io::Result<std::sync::MutexGuard<'_, Overlay>> {
        self.overlay
            .lock()
            .map_err(|_| io::Error::other("the database overlay was poisoned"))
    }

    /// The current bytes of block `index` (from the overlay, else the file, zero past it).
    fn load(&self, overlay: &Overlay, index: u64) -> io::Result<Vec<u8>> {
        if let Some(block) = overlay.blocks.get(&index) {
            return Ok(block.clone());
        }
        let mut block = vec![0u8; BLOCK as usize];
        let start = index * BLOCK;
        let end = (start + BLOCK).min(overlay.file_visible);
        if end > start {
            self.file
                .read_exact_at(&mut block[..(end - start) as usize], start)?;
        }
        Ok(block)
    }
}

/// The blocks covering `offset..offset + len`, as (block index, range within the block,
/// range within the caller's buffer).
fn spans(
    offset: u64,
    len: usize,
) -> impl Iterator<Item = (u64, std::ops::Range<usize>, std::ops::Range<usize>)> {
    let end = offset + len as u64;
    let mut pos = offset;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let index = pos / BLOCK;
        let within = (pos % BLOCK) as usize;
        let n = ((BLOCK - pos % BLOCK).min(end - pos)) as usize;
        let buf = (pos - offset) as usize;
        pos += n as u64;
        Some((index, within..within + n, buf..buf + n))
    })
}

impl StorageBackend for CowBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock()?.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let overlay = self.lock()?;
        if offset + out.len() as u64 > overlay.len {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        for (index, within, buf) in spans(offset, out.len()) {
            match overlay.blocks.get(&index) {
                Some(block) => out[buf].copy_from_slice(&block[within]),
                None => {
                    let block = self.load(&overlay, index)?;
                    out[buf].copy_from_slice(&block[within]);
                }
            }
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut overlay = self.lock()?;
        if len < overlay.len {
            overlay.file_visible = overlay.file_visible.min(len);
            overlay.blocks.retain(|index, _| index * BLOCK < len);
            let cut = len / BLOCK;
            if let Some(block) = overlay.blocks.get_mut(&cut) {
                block[(len % BLOCK) as usize..].fill(0);
            }
        }
        overlay.len = len;
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        // Nothing reaches the disk, so there is nothing to sync.
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut overlay = self.lock()?;
        for (index, within, buf) in spans(offset, data.len()) {
            let mut block = self.load(&overlay, index)?;
            block[within].copy_from_slice(&data[buf]);
            overlay.blocks.insert(index, block);
        }
        overlay.len = overlay.len.max(offset + data.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stay_in_memory_and_reads_see_them() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("db");
        let original: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &original)?;
        let backend = CowBackend::open(&path)?;
        backend.write(4000, &[7; 200])?;
        let mut out = vec![0; 300];
        backend.read(3950, &mut out)?;
        assert_eq!(&out[..50], &original[3950..4000]);
        assert_eq!(&out[50..250], &[7; 200][..]);
        assert_eq!(&out[250..], &original[4200..4250]);
        backend.set_len(5000)?;
        backend.set_len(9000)?;
        let mut tail = vec![1; 100];
        backend.read(8000, &mut tail)?;
        assert_eq!(tail, vec![0; 100], "a shrink hides the file's old bytes");
        assert!(backend.read(8950, &mut [0; 100]).is_err());
        assert_eq!(std::fs::read(&path)?, original, "the file is unchanged");
        Ok(())
    }
}
