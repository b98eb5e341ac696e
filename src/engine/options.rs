//! [`RedbOptions`]: how a [`RedbStore`](crate::RedbStore) trades durability, memory and
//! throughput. Every option documents its default.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// When a save is acknowledged relative to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Durability {
    /// Acknowledge a save only after its WAL record is `fdatasync`ed: an acknowledged save
    /// survives a process crash, `kill -9` and power loss. The default.
    Immediate,
    /// Acknowledge a save once its WAL record is written to the operating system (not
    /// synced); sync at most `sync_interval` later. A process crash or `kill -9` loses
    /// nothing (the kernel holds the bytes); **power loss or an OS crash can lose the saves
    /// acknowledged in the last `sync_interval`** (never a torn or wrong value: recovery
    /// still verifies every record and keeps a prefix of the acknowledged order).
    Relaxed {
        /// Longest time an acknowledged save stays unsynced.
        sync_interval: Duration,
    },
}

/// Options of [`RedbStore::open`](crate::RedbStore::open). Build with
/// `RedbOptions::default()` and the setters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedbOptions {
    pub(crate) durability: Durability,
    pub(crate) channel_capacity: usize,
    pub(crate) max_batch: usize,
    pub(crate) inline_limit: usize,
    pub(crate) checkpoint_wal_bytes: u64,
    pub(crate) checkpoint_interval: Duration,
    pub(crate) check_integrity: bool,
}

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions {
            durability: Durability::Immediate,
            channel_capacity: 1024,
            max_batch: 512,
            inline_limit: 64 * 1024,
            checkpoint_wal_bytes: 64 << 20,
            checkpoint_interval: Duration::from_secs(60),
            check_integrity: false,
        }
    }
}

impl RedbOptions {
    /// Durability of acknowledgements. Default: [`Durability::Immediate`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Capacity of the command channel to the storage actor: when it is full, writers wait
    /// (back-pressure, bounded memory). Default: 1024. At least 1.
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity.max(1);
        self
    }

    /// Most commands committed by one group commit (one WAL sync). Default: 512. At least 1.
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Values up to this many bytes are stored inside the database (and the WAL record);
    /// larger ones in `blobs/`. Default: 64 KiB. At most 16 MiB.
    pub fn inline_limit(mut self, bytes: usize) -> Self {
        self.inline_limit = bytes.min(16 << 20);
        self
    }

    /// Checkpoint when this many WAL bytes were written since the last one. Default: 64 MiB.
    pub fn checkpoint_wal_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_wal_bytes = bytes.max(1);
        self
    }

    /// Checkpoint at least this often while there are changes. Default: 60 s.
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.checkpoint_interval = interval;
        self
    }

    /// Have redb verify the checksum of every page of the database file when opening it
    /// (and rebuild its allocator state), so a file damaged outside redb fails to open with a
    /// storage error instead of being trusted. Reads the whole file: for `sweepstore verify`,
    /// not everyday opens. Default: off.
    pub fn check_integrity_on_open(mut self, check: bool) -> Self {
        self.check_integrity = check;
        self
    }
}
