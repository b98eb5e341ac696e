//! The lookup rule on the server: the exact run by `_id`, otherwise a query that returns
//! exactly the task's runs whose config is a subset of the queried one, then the shared
//! tie-breaks of `src/lookup.rs`.
//!
//! Invariant: the subset query selects the run documents of the task none of whose `pairs`
//! lies outside the query's pairs (`pairs: {$not: {$elemMatch: {$nin: [..]}}}`). Pairs are
//! canonical `"key":value` texts (see `documents.rs`), so this is set inclusion of top-level
//! members compared canonically — the subset rule itself, not an order on documents (the
//! `$lte` comparison fluidml uses matches `{a: 0, z: 5}` for `{a: 1, b: 2}`). The server's
//! answer is checked again on the client by [`best_subset`], which also breaks ties.

use mongodb::bson::{Document, doc};

use crate::error::Result;
use crate::lookup::best_subset;
use crate::mongo::client::Shared;
use crate::mongo::documents::{Results, RunDoc, pairs, parse_run, projection};
use crate::run::RunId;

/// The run document of exactly `run`, with the result entries `results` asks for.
///
/// # Errors
/// [`Error::CorruptRecord`](crate::Error::CorruptRecord) for a malformed document; server
/// errors.
pub(crate) fn exact(shared: &Shared, run: &RunId, results: Results<'_>) -> Result<Option<RunDoc>> {
    let found = shared
        .runs
        .find_one(doc! { "_id": run.key().to_hex() })
        .projection(projection(results))
        .run()
        .map_err(shared.err("read a run document"))?;
    found
        .map(|doc| parse_run(&doc, &shared.namespace))
        .transpose()
}

/// The filter selecting the runs of `run`'s task whose config is a subset of `run`'s.
pub(crate) fn subset_filter(run: &RunId) -> Result<Document> {
    Ok(doc! {
        "task": run.task().as_str(),
        "pairs": { "$not": { "$elemMatch": { "$nin": pairs(run.config())? } } },
    })
}

/// The run the lookup rule selects for `run`, with the result entries `results` asks for.
///
/// # Errors
/// As [`exact`]; a malformed document among the task's subset candidates fails the lookup.
pub(crate) fn lookup(shared: &Shared, run: &RunId, results: Results<'_>) -> Result<Option<RunDoc>> {
    if let Some(doc) = exact(shared, run, results)? {
        return Ok(Some(doc));
    }
    let cursor = shared
        .runs
        .find(subset_filter(run)?)
        .projection(projection(results))
        .run()
        .map_err(shared.err("query the subset runs"))?;
    let mut candidates = Vec::new();
    for doc in cursor {
        let doc = doc.map_err(shared.err("read the subset runs"))?;
        candidates.push(parse_run(&doc, &shared.namespace)?);
    }
    let best = best_subset(
        run.config(),
        candidates
            .iter()
            .enumerate()
            .map(|(i, doc)| (&doc.config, doc.counter, i)),
    );
    Ok(best.map(|i| candidates.swap_remove(i)))
}
