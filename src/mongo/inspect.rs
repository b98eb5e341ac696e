//! [`MongoStore::verify`] and [`MongoStore::stats`]: what `sweepstore verify` and
//! `sweepstore stats` report for a MongoDB store.
//!
//! Invariants: both only read; verification checks every run document (`parse_run`) and
//! re-hashes every distinct content a run refers to — inline bytes from the document,
//! GridFS content streamed chunk by chunk through the checked reader of `content.rs` —
//! reporting each problem with the results that hold the content; an `Err` only means it
//! could not proceed (the server went away).

use std::collections::{BTreeMap, HashSet};

use mongodb::bson::doc;

use crate::browse::Progress;
use crate::engine::{StoreStats, VerifyReport};
use crate::error::{Error, Result};
use crate::key::ContentHash;
use crate::mongo::content::GridFsContent;
use crate::mongo::documents::{Results, RunDoc, as_u64, parse_run, projection};
use crate::mongo::store::MongoStore;
use crate::promise::ContentSource;

/// Results named in a problem before "and N more".
const NAMED: usize = 5;

/// A distinct content and the results that hold it.
struct Content {
    size: u64,
    /// The bytes, for an inline value.
    inline: Option<Vec<u8>>,
    /// `result `name` of run KEY`, for each result holding it.
    holders: Vec<String>,
}

/// Every run document, parsed, or the problem of a damaged one (`location`, `description`).
type Scanned = Vec<std::result::Result<RunDoc, (String, String)>>;

impl MongoStore {
    fn scan_all(&self) -> Result<Scanned> {
        let shared = self.shared();
        let cursor = shared
            .runs
            .find(doc! {})
            .projection(projection(Results::All))
            .run()
            .map_err(shared.err("scan the run documents"))?;
        let mut runs = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(shared.err("scan the run documents"))?;
            runs.push(parse_run(&doc, &shared.namespace).map_err(|e| match e {
                Error::CorruptRecord { what, reason } => (what, reason),
                other => (shared.namespace.clone(), other.to_string()),
            }));
        }
        Ok(runs)
    }

    /// Checks every run document and re-hashes every content a run refers to, calling
    /// `progress` after each content. Never writes.
    ///
    /// # Errors
    /// Server errors that stop the check; damage is reported in the report's problems.
    pub fn verify(&self, progress: &mut dyn FnMut(Progress)) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let mut contents: BTreeMap<(ContentHash, bool), Content> = BTreeMap::new();
        for run in self.scan_all()? {
            let run = match run {
                Ok(run) => run,
                Err((location, description)) => {
                    report.problem(location, description);
                    continue;
                }
            };
            for (name, entry) in run.results {
                let key = (entry.hash, entry.inline.is_some());
                let content = contents.entry(key).or_insert_with(|| Content {
                    size: entry.size,
                    inline: entry.inline,
                    holders: Vec::new(),
                });
                content
                    .holders
                    .push(format!("result `{name}` of run {}", run.key));
            }
        }
        let total = contents.len() as u64;
        let gridfs = GridFsContent(self.inner.clone());
        for (done, ((hash, _), content)) in contents.into_iter().enumerate() {
            let checked = match &content.inline {
                Some(bytes) => Ok(ContentHash::of(bytes)),
                None => rehash(&gridfs, &hash),
            };
            let location = match content.inline {
                Some(_) => format!("inline value {hash} in {}", self.namespace()),
                None => gridfs.location(&hash),
            };
            let description = match checked {
                Ok(actual) if actual == hash => None,
                Ok(actual) => Some(format!("hash mismatch: its bytes hash to {actual}")),
                Err(Error::ContentCollected { .. }) => Some("missing content".to_owned()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(description) = description {
                report.problem(
                    location,
                    format!("{description}; {}", holders(&content.holders)),
                );
            } else {
                report.values_checked += 1;
                report.bytes_checked += content.size;
            }
            progress(Progress::new(done as u64 + 1, total, report.bytes_checked));
        }
        Ok(report)
    }

    /// Counts runs, results and contents, and the bytes they take (GridFS contents no run
    /// refers to included, as RedbStore's stored bytes include what gc would free). A
    /// MongoStore has no write-ahead log: those fields are 0.
    ///
    /// # Errors
    /// [`Error::CorruptRecord`] for a damaged run document; server errors.
    pub fn stats(&self) -> Result<StoreStats> {
        let mut stats = StoreStats::default();
        let mut tasks = HashSet::new();
        let mut inline = HashSet::new();
        for run in self.scan_all()? {
            let run = run.map_err(|(what, reason)| Error::CorruptRecord { what, reason })?;
            tasks.insert(run.task);
            stats.runs += 1;
            for entry in run.results.values() {
                stats.results += 1;
                stats.logical_bytes += entry.size;
                if entry.inline.is_some() && inline.insert(entry.hash) {
                    stats.distinct_contents += 1;
                    stats.stored_bytes += entry.size;
                }
            }
        }
        stats.tasks = tasks.len() as u64;
        let shared = self.shared();
        let files = shared
            .files
            .find(doc! { "length": { "$exists": true } })
            .projection(doc! { "length": 1 })
            .run()
            .map_err(shared.err("list GridFS files"))?;
        for file in files {
            let file = file.map_err(shared.err("list GridFS files"))?;
            stats.distinct_contents += 1;
            stats.stored_bytes += as_u64(file.get("length")).unwrap_or(0);
        }
        Ok(stats)
    }
}

/// The blake3 of GridFS content `hash` as stored, read through the checked reader.
fn rehash(gridfs: &GridFsContent, hash: &ContentHash) -> Result<ContentHash> {
    let mut reader = gridfs.open(hash)?;
    let mut hasher = blake3::Hasher::new();
    std::io::copy(&mut reader, &mut hasher).map_err(|source| Error::Stream {
        op: "read stored content",
        source,
    })?;
    Ok(hasher.finalize().into())
}

/// "it is the value of result … (and N more)".
fn holders(holders: &[String]) -> String {
    let named = holders[..holders.len().min(NAMED)].join(", ");
    match holders.len().saturating_sub(NAMED) {
        0 => format!("it is the value of {named}"),
        more => format!("it is the value of {named} and {more} more"),
    }
}
