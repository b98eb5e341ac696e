//! [`BackgroundHasher`]: blake3 of a stream, computed on a thread of its own once the stream
//! passes one chunk, so hashing a large value overlaps with writing it; the writer only copies
//! bytes into chunks. Small streams never start a thread.
//!
//! Invariant: every byte given to [`BackgroundHasher::update`] is hashed exactly once, in
//! order, by exactly one hasher (the thread's, or the local one if no thread could start);
//! if the thread dies, [`BackgroundHasher::finalize`] returns `None` rather than a hash of
//! part of the stream.

use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use crate::key::ContentHash;

/// Bytes handed to the hashing thread at a time.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the writer and the hashing thread (bounds memory to ~4 MiB).
const CHUNKS_IN_FLIGHT: usize = 4;

/// A running blake3 of a stream.
pub(crate) struct BackgroundHasher {
    chunk: Vec<u8>,
    worker: Option<(Sender<Vec<u8>>, JoinHandle<blake3::Hasher>)>,
    local: blake3::Hasher,
    /// The thread was needed but could not start: hash locally from now on.
    local_only: bool,
    broken: bool,
}

impl BackgroundHasher {
    pub(crate) fn new() -> Self {
        BackgroundHasher {
            chunk: Vec::new(),
            worker: None,
            local: blake3::Hasher::new(),
            local_only: false,
            broken: false,
        }
    }

    /// Adds `data` to the stream.
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.chunk.extend_from_slice(data);
        if self.chunk.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let chunk = std::mem::take(&mut self.chunk);
        if self.worker.is_none() && !self.local_only {
            self.worker = spawn();
            self.local_only = self.worker.is_none();
        }
        match &self.worker {
            Some((tx, _)) => {
                if tx.send(chunk).is_err() {
                    // The thread is gone; what it hashed is lost with it.
                    self.broken = true;
                }
            }
            None => {
                self.local.update(&chunk);
            }
        }
    }

    /// The hash of everything given to `update`; `None` if the hashing thread failed.
    pub(crate) fn finalize(mut self) -> Option<ContentHash> {
        if self.worker.is_none() && !self.local_only {
            // Never needed a thread: hash the one partial chunk here.
            self.local.update(&self.chunk);
            return Some(self.local.finalize().into());
        }
        self.flush();
        match self.worker.take() {
            Some((tx, handle)) => {
                drop(tx);
                let hasher = handle.join().ok()?;
                (!self.broken).then(|| hasher.finalize().into())
            }
            None => Some(self.local.finalize().into()),
        }
    }
}

/// Starts a hashing thread; `None` if the OS refuses a thread.
fn spawn() -> Option<(Sender<Vec<u8>>, JoinHandle<blake3::Hasher>)> {
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    let handle = std::thread::Builder::new()
        .name("sweepstore-hash".to_owned())
        .spawn(move || {
            let mut hasher = blake3::Hasher::new();
            for chunk in rx {
                hasher.update(&chunk);
            }
            hasher
        })
        .ok()?;
    Some((tx, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_of_any_size_and_split_hash_like_blake3() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for piece in [1000, 65_536, CHUNK + 3] {
                let mut hasher = BackgroundHasher::new();
                for part in data.chunks(piece) {
                    hasher.update(part);
                }
                assert_eq!(
                    hasher.finalize(),
                    Some(ContentHash::of(&data)),
                    "len {len}, pieces of {piece}"
                );
            }
        }
    }
}
