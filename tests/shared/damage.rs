//! Damaging store files on disk, for the suites that check damage is detected
//! (`engine/verify.rs`, `local/transfer.rs`).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use sweepstore::Result;

use super::io;

/// XORs the byte at `at` of file `path` with `mask`.
pub fn flip_byte(path: &Path, at: u64, mask: u8) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io("open", path))?;
    // As bit rot does, the flip leaves the modification time alone (a LocalFileStore
    // takes a later modification time for an edit made outside it, not for damage).
    let modified = file
        .metadata()
        .and_then(|m| m.modified())
        .map_err(io("inspect", path))?;
    let mut byte = [0];
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.read_exact(&mut byte))
        .and_then(|()| file.seek(SeekFrom::Start(at)))
        .and_then(|_| file.write_all(&[byte[0] ^ mask]))
        .and_then(|()| file.set_modified(modified))
        .map_err(io("flip a byte of", path))
}
