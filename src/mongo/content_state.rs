//! The garbage-collection state of a GridFS content, kept in its files document, and the
//! saver's side of the gc protocol (`docs/design.md` §15.9).
//!
//! A files document is *live* (no gc field), *unreferenced* (`unreferenced: <date>`: a gc
//! found no run referring to it at that time; still readable) or *deleting*
//! (`deleting: <date>`: a gc has decided to delete it; gone for readers and savers alike).
//! A deleting document without `length` is a gc's tombstone over orphan chunks.
//!
//! Invariants (the saver's half; `gc.rs` holds the other):
//! - A save that refers to GridFS content calls [`secure`] *after* its run document write
//!   is acknowledged, and returns `Ok` only once it has seen the content live (clearing an
//!   `unreferenced` mark with a compare-and-set) or uploaded it again. A gc sets `deleting`
//!   *before* its last scan of the run documents, so of a save and a gc racing on one
//!   content, either the gc's scan sees the save's reference (and restores the content) or
//!   the save sees `deleting` (and uploads the content again once the gc is done).
//! - Nobody uploads over a deleting document: an uploader waits until the gc has removed it
//!   (at most [`MongoOptions::timeout`](crate::MongoOptions::timeout), then
//!   [`Error::MongoGcStuck`]), so chunks a gc is deleting are never counted as stored.

use std::thread::sleep;
use std::time::{Duration, Instant};

use mongodb::bson::{Bson, Document, doc};

use crate::error::{Error, Result};
use crate::key::ContentHash;
use crate::mongo::client::Shared;

/// Field of an unreferenced files document: when a gc first found it unreferenced.
pub(crate) const UNREFERENCED: &str = "unreferenced";
/// Field of a files document being deleted: when the gc decided so.
pub(crate) const DELETING: &str = "deleting";
/// How long a waiting saver sleeps between looks at a deleting document.
const POLL: Duration = Duration::from_millis(25);

/// The gc state of a files document; `None` where there is none (the content is not
/// stored, or its upload is not complete).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum State {
    /// Stored; `Some(mark)` if a gc found it unreferenced at `mark`.
    Live(Option<Bson>),
    /// A gc is deleting it (since the date held).
    Deleting(Bson),
}

/// The state of the files document `doc`.
pub(crate) fn state_of(doc: &Document) -> State {
    match doc.get(DELETING) {
        Some(mark) if *mark != Bson::Null => State::Deleting(mark.clone()),
        _ => State::Live(doc.get(UNREFERENCED).filter(|m| **m != Bson::Null).cloned()),
    }
}

/// Reads the state of content `hash`.
pub(crate) fn read_state(shared: &Shared, hash: &ContentHash) -> Result<Option<State>> {
    let doc = shared
        .files
        .find_one(doc! { "_id": hash.to_hex() })
        .projection(doc! { UNREFERENCED: 1, DELETING: 1 })
        .run()
        .map_err(shared.err("read a GridFS files document"))?;
    Ok(doc.as_ref().map(state_of))
}

/// Waits until no gc is deleting content `hash` and returns its state then (absent, or live
/// if the gc restored it).
///
/// # Errors
/// [`Error::MongoGcStuck`] if the deletion does not end within the store's timeout.
pub(crate) fn wait_while_deleting(shared: &Shared, hash: &ContentHash) -> Result<Option<State>> {
    let started = Instant::now();
    loop {
        let state = read_state(shared, hash)?;
        if !matches!(state, Some(State::Deleting(_))) {
            return Ok(state);
        }
        if started.elapsed() >= shared.options.timeout {
            return Err(Error::MongoGcStuck {
                hash: hash.to_hex(),
                location: format!("{}.content", shared.namespace),
                timeout: shared.options.timeout,
            });
        }
        sleep(POLL);
    }
}

/// The saver's check after its run document refers to content `hash`: returns once the
/// content is live and unmarked, calling `upload` to store it again if a gc deleted it.
///
/// # Errors
/// As [`wait_while_deleting`]; errors of `upload`; server errors.
pub(crate) fn secure(
    shared: &Shared,
    hash: &ContentHash,
    upload: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    loop {
        match read_state(shared, hash)? {
            Some(State::Live(None)) => return Ok(()),
            Some(State::Live(Some(mark))) => {
                // Compare-and-set: only while no gc has moved it on to deleting.
                let cleared = shared
                    .files
                    .update_one(
                        doc! { "_id": hash.to_hex(), UNREFERENCED: mark, DELETING: { "$exists": false } },
                        doc! { "$unset": { UNREFERENCED: "" } },
                    )
                    .run()
                    .map_err(shared.err("mark content as referenced"))?;
                if cleared.matched_count == 1 {
                    return Ok(());
                }
            }
            Some(State::Deleting(_)) => {
                wait_while_deleting(shared, hash)?;
            }
            None => upload()?,
        }
    }
}
