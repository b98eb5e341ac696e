//! Reading stored content, and the [`ContentSource`] that promises of a
//! [`RedbStore`](crate::RedbStore) resolve through.
//!
//! Invariants: a promise does not keep its store open (it holds a weak reference); if that
//! store was closed and the same directory reopened in this process, the promise resolves
//! through the reopened store (found in a process-wide registry of open stores). Content is
//! verified by the promise, not here.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use crate::engine::ops::ContentRow;
use crate::engine::shared::Shared;
use crate::error::{Error, Result};
use crate::key::ContentHash;
use crate::promise::{ContentReader, ContentSource};

/// Open stores of this process by root directory.
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Shared>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// Records `shared` as the open store of its root.
pub(crate) fn register(shared: &Arc<Shared>) {
    let mut open = registry().lock().unwrap_or_else(PoisonError::into_inner);
    open.retain(|_, weak| weak.strong_count() > 0);
    open.insert(shared.root.clone(), Arc::downgrade(shared));
}

/// The open store of `root`, if any.
fn find(root: &Path) -> Option<Arc<Shared>> {
    let open = registry().lock().unwrap_or_else(PoisonError::into_inner);
    open.get(root)?.upgrade()
}

/// Opens the content stored under `hash`.
///
/// # Errors
/// [`Error::ContentCollected`] if no such content is stored; storage and I/O errors.
pub(crate) fn read_content(shared: &Shared, hash: &ContentHash) -> Result<Box<dyn ContentReader>> {
    match shared.snapshot()?.content(hash)? {
        Some(ContentRow::Inline(bytes)) => Ok(Box::new(Cursor::new(bytes))),
        Some(ContentRow::Blob(_)) => {
            let path = shared.layout.path(hash);
            let file = shared
                .fs
                .open_read(&path)
                .map_err(|e| Error::io("open blob", &path, e))?;
            Ok(Box::new(file))
        }
        None => Err(Error::ContentCollected {
            hash: hash.to_hex(),
        }),
    }
}

/// Where promises of one store read their content.
pub(crate) struct StoreContent {
    shared: Weak<Shared>,
    root: PathBuf,
}

impl StoreContent {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        StoreContent {
            shared: Arc::downgrade(shared),
            root: shared.root.clone(),
        }
    }
}

impl ContentSource for StoreContent {
    fn open(&self, hash: &ContentHash) -> Result<Box<dyn ContentReader>> {
        let shared = self
            .shared
            .upgrade()
            .or_else(|| find(&self.root))
            .ok_or(Error::Closed)?;
        read_content(&shared, hash)
    }

    fn location(&self, hash: &ContentHash) -> String {
        let blob = self.shared.upgrade().and_then(|s| {
            let path = s.layout.path(hash);
            s.fs.is_file(&path).then_some(path)
        });
        match blob {
            Some(path) => format!("blob file {}", path.display()),
            None => format!("store {}", self.root.display()),
        }
    }
}
