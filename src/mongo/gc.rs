//! Garbage collection of a [`MongoStore`]'s GridFS content (`docs/design.md` §15.9):
//! contents no run refers to, and chunks of uploads abandoned before their files document.
//!
//! Invariants (the gc's half; `content_state.rs` holds the saver's):
//! - Content is deleted only when no run document refers to it, a gc found it unreferenced
//!   at least `grace` ago (the `unreferenced` mark, set by the first gc that found it so),
//!   and it was uploaded at least `grace` ago; so a promise to content that lost its last
//!   reference stays valid for at least `grace` after a gc first noticed.
//! - Deleting is a compare-and-set of `deleting` on the mark the gc read (and on no
//!   `deleting` being set, so of racing gcs one deletes), *then* a second
//!   scan of every run document: a reference found by that scan restores the content (its
//!   chunks are untouched until then); a save that referred to it after the scan sees
//!   `deleting` in its post-check and uploads the content again. Only then are the chunks
//!   deleted, and the files document last.
//! - Orphan chunks (no files document) are deleted only if their newest chunk is older than
//!   `grace`, under a tombstone files document inserted first (an upload finishing at the
//!   same moment fails to insert its files document and starts over after the gc).
//! - A damaged run document stops the gc before anything is changed: it cannot tell what
//!   that run refers to.
//! - A dry run only reads.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, UNIX_EPOCH};

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, DateTime, Document, doc};

use crate::error::Result;
use crate::key::ContentHash;
use crate::mongo::MongoStore;
use crate::mongo::client::{Shared, is_duplicate_key};
use crate::mongo::content::CHUNK_SIZE;
use crate::mongo::content_state::{DELETING, State, UNREFERENCED, state_of};
use crate::mongo::documents::{Results, as_u64, parse_run, projection};

/// A deletion older than this was left by a gc that died; a later gc finishes it.
const ABANDONED: Duration = Duration::from_secs(600);

/// What a [`MongoStore::gc`] freed (or, for a dry run, would free now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MongoGcReport {
    /// Whether this was a dry run (nothing was changed).
    pub dry_run: bool,
    /// GridFS contents no run refers to, past their grace period: freed.
    pub contents: u64,
    /// Bytes of those contents.
    pub bytes: u64,
    /// Abandoned uploads (chunks without a files document) past the grace period: freed.
    pub uploads: u64,
    /// Chunks of those uploads.
    pub upload_chunks: u64,
    /// Unreferenced contents still within their grace period: a gc after it frees them.
    pub waiting: u64,
    /// Bytes of those contents.
    pub waiting_bytes: u64,
}

/// A content to delete: its id, size, and the gc field its compare-and-set expects.
struct Doomed {
    id: String,
    length: u64,
    /// A gc's tombstone over orphan chunks (no `length`).
    tombstone: bool,
    /// The `unreferenced` mark read (a live content) or the `deleting` date of an
    /// abandoned deletion.
    expect: (&'static str, Bson),
}

impl MongoStore {
    /// Frees GridFS content that no run refers to any more, once it has been unreferenced
    /// for `grace` (promises to it stay valid that long), and the chunks of uploads abandoned
    /// for longer than `grace`; with `dry_run`, only reports what it would free now. Safe
    /// beside saves from any number of processes and machines: a save that refers to content
    /// while a gc deletes it uploads it again before it returns (`docs/design.md` §15.9).
    ///
    /// # Errors
    /// [`Error::CorruptRecord`](crate::Error::CorruptRecord) for a damaged run document
    /// (nothing is freed); server errors (a gc stopped midway is finished by the next one).
    pub fn gc(&self, dry_run: bool, grace: Duration) -> Result<MongoGcReport> {
        let shared = self.shared();
        let now = DateTime::now();
        let before = |age: Duration| {
            let at = now.to_system_time().checked_sub(age);
            DateTime::from_system_time(at.unwrap_or(UNIX_EPOCH))
        };
        let (cutoff, abandoned) = (before(grace), before(ABANDONED));
        let mut report = MongoGcReport {
            dry_run,
            ..MongoGcReport::default()
        };
        let referenced = references(shared)?;
        let mut doomed = Vec::new();
        let mut stored = HashSet::new();
        let files = shared
            .files
            .find(doc! {})
            .projection(doc! { "length": 1, "uploadDate": 1, UNREFERENCED: 1, DELETING: 1 })
            .run()
            .map_err(shared.err("list GridFS files"))?;
        for file in files {
            let file = file.map_err(shared.err("list GridFS files"))?;
            let Some(id) = file.get_str("_id").ok().map(str::to_owned) else {
                continue; // not ours: our files documents are named by their hash
            };
            stored.insert(id.clone());
            let length = as_u64(file.get("length")).unwrap_or(0);
            let expect = match state_of(&file) {
                State::Deleting(since) => {
                    if !is_before(&since, abandoned) {
                        continue; // a gc is at work on it
                    }
                    (DELETING, since)
                }
                State::Live(mark) if referenced.contains(&id) => {
                    if let (Some(mark), false) = (mark, dry_run) {
                        unmark(shared, &id, mark)?;
                    }
                    continue;
                }
                State::Live(Some(mark))
                    if is_before(&mark, cutoff) && is_before_field(&file, "uploadDate", cutoff) =>
                {
                    (UNREFERENCED, mark)
                }
                State::Live(None)
                    if grace.is_zero() && is_before_field(&file, "uploadDate", cutoff) =>
                {
                    if !dry_run {
                        mark_unreferenced(shared, &id, now)?;
                    }
                    (UNREFERENCED, Bson::DateTime(now))
                }
                State::Live(mark) => {
                    // Within its grace period; the first gc to see it unreferenced starts it.
                    if mark.is_none() && !dry_run {
                        mark_unreferenced(shared, &id, now)?;
                    }
                    report.waiting += 1;
                    report.waiting_bytes += length;
                    continue;
                }
            };
            let tombstone = file.get("length").is_none();
            doomed.push(Doomed {
                id,
                length,
                tombstone,
                expect,
            });
        }
        let orphans = orphan_uploads(shared, &stored, cutoff)?;
        if dry_run {
            report.contents = doomed.len() as u64;
            report.bytes = doomed.iter().map(|d| d.length).sum();
            report.uploads = orphans.len() as u64;
            report.upload_chunks = orphans.values().sum();
            return Ok(report);
        }
        // Phase 1: mark each `deleting` (compare-and-set on what was read). IMPORTANT: a
        // live content only while no other gc marked it, so one gc at a time deletes it.
        let mut marked = Vec::new();
        for d in doomed {
            let mut filter = match &d.expect {
                (UNREFERENCED, mark) => doc! { UNREFERENCED: mark, DELETING: { "$exists": false } },
                (field, date) => doc! { *field: date },
            };
            filter.insert("_id", &d.id);
            let set = shared
                .files
                .update_one(filter, doc! { "$set": { DELETING: now } })
                .run()
                .map_err(shared.err("mark content for deletion"))?;
            if set.matched_count == 1 {
                marked.push(d);
            }
        }
        // IMPORTANT: the second scan comes after every `deleting` mark (see the module doc).
        let referenced = references(shared)?;
        for d in marked {
            // A deletion a dead gc left may have removed chunks already: only whole
            // content is restored (a save referring to it then got an error, not `Ok`).
            if referenced.contains(&d.id) && (d.expect.0 == UNREFERENCED || whole(shared, &d)?) {
                restore(shared, &d.id, now)?;
                continue;
            }
            delete(shared, &d.id, now)?;
            report.contents += 1;
            report.bytes += d.length;
        }
        for (id, chunks) in orphans {
            let tombstone = doc! { "_id": &id, "filename": &id, DELETING: now };
            match shared.files.insert_one(tombstone).run() {
                Ok(_) => {}
                // Its upload completed after all (or another gc is at it): leave it.
                Err(e) if is_duplicate_key(&e) => continue,
                Err(e) => return Err(shared.err("insert a gc tombstone")(e)),
            }
            delete(shared, &id, now)?;
            report.uploads += 1;
            report.upload_chunks += chunks;
        }
        Ok(report)
    }
}

/// Every content hash (hex) a run document refers to in GridFS.
fn references(shared: &Shared) -> Result<HashSet<String>> {
    let runs = shared
        .runs
        .find(doc! {})
        .projection(projection(Results::All))
        .run()
        .map_err(shared.err("scan the run documents"))?;
    let mut referenced = HashSet::new();
    for doc in runs {
        let doc = doc.map_err(shared.err("scan the run documents"))?;
        let run = parse_run(&doc, &shared.namespace)?;
        for entry in run.results.values() {
            if entry.inline.is_none() {
                referenced.insert(entry.hash.to_hex());
            }
        }
    }
    Ok(referenced)
}

/// The uploads whose chunks have no files document and whose newest chunk is older than
/// `cutoff`, with their number of chunks.
fn orphan_uploads(
    shared: &Shared,
    stored: &HashSet<String>,
    cutoff: DateTime,
) -> Result<HashMap<String, u64>> {
    let chunks = shared
        .chunks
        .find(doc! {})
        .projection(doc! { "files_id": 1 })
        .run()
        .map_err(shared.err("list GridFS chunks"))?;
    let mut orphans: HashMap<String, (u64, bool)> = HashMap::new();
    for chunk in chunks {
        let chunk = chunk.map_err(shared.err("list GridFS chunks"))?;
        let Ok(id) = chunk.get_str("files_id") else {
            continue;
        };
        if stored.contains(id) || id.parse::<ContentHash>().is_err() {
            continue;
        }
        // A chunk without an ObjectId (not written by a driver) counts as young; an
        // ObjectId's time is rounded down to the second, so it counts a second later.
        let old = chunk.get_object_id("_id").is_ok_and(|oid: ObjectId| {
            oid.timestamp().timestamp_millis().saturating_add(1000) < cutoff.timestamp_millis()
        });
        let entry = orphans.entry(id.to_owned()).or_insert((0, true));
        entry.0 += 1;
        entry.1 &= old;
    }
    Ok(orphans
        .into_iter()
        .filter(|(_, (_, old))| *old)
        .map(|(id, (n, _))| (id, n))
        .collect())
}

/// Whether all chunks of `d` are stored (a tombstone is never whole).
fn whole(shared: &Shared, d: &Doomed) -> Result<bool> {
    let chunks = shared
        .chunks
        .count_documents(doc! { "files_id": &d.id })
        .run()
        .map_err(shared.err("count GridFS chunks"))?;
    Ok(!d.tombstone && chunks == d.length.div_ceil(CHUNK_SIZE as u64))
}

/// Whether `value` is a date before `cutoff`.
fn is_before(value: &Bson, cutoff: DateTime) -> bool {
    matches!(value, Bson::DateTime(at) if *at < cutoff)
}

/// Whether `file`'s date field `field` is before `cutoff` (a missing one counts as old).
fn is_before_field(file: &Document, field: &str, cutoff: DateTime) -> bool {
    file.get(field).is_none_or(|value| is_before(value, cutoff))
}

/// Sets the `unreferenced` mark of a live, unmarked content.
fn mark_unreferenced(shared: &Shared, id: &str, now: DateTime) -> Result<()> {
    shared
        .files
        .update_one(
            doc! { "_id": id, UNREFERENCED: { "$exists": false }, DELETING: { "$exists": false } },
            doc! { "$set": { UNREFERENCED: now } },
        )
        .run()
        .map_err(shared.err("mark content as unreferenced"))?;
    Ok(())
}

/// Removes the `unreferenced` mark `mark` of a content found referenced again.
fn unmark(shared: &Shared, id: &str, mark: Bson) -> Result<()> {
    shared
        .files
        .update_one(
            doc! { "_id": id, UNREFERENCED: mark, DELETING: { "$exists": false } },
            doc! { "$unset": { UNREFERENCED: "" } },
        )
        .run()
        .map_err(shared.err("mark content as referenced"))?;
    Ok(())
}

/// Undoes this gc's `deleting` mark (dated `now`) of a content the second scan found
/// referenced; its chunks are untouched.
fn restore(shared: &Shared, id: &str, now: DateTime) -> Result<()> {
    shared
        .files
        .update_one(
            doc! { "_id": id, DELETING: now },
            doc! { "$unset": { DELETING: "", UNREFERENCED: "" } },
        )
        .run()
        .map_err(shared.err("restore content"))?;
    Ok(())
}

/// Deletes the chunks of a content this gc marked `deleting` at `now`, then its files
/// document (so a waiting uploader starts only after the last chunk is gone).
fn delete(shared: &Shared, id: &str, now: DateTime) -> Result<()> {
    shared
        .chunks
        .delete_many(doc! { "files_id": id })
        .run()
        .map_err(shared.err("delete GridFS chunks"))?;
    shared
        .files
        .delete_one(doc! { "_id": id, DELETING: now })
        .run()
        .map_err(shared.err("delete a GridFS files document"))?;
    Ok(())
}
