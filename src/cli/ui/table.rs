//! `/api/table`: a task's runs as the params × metrics table (issue 17's query core).

use sweepstore::Error;

use super::http::{Request, Response};
use crate::cli::store::Reachable;

/// The table of `?task=` (placeholder until the query core lands).
pub fn respond(_store: &dyn Reachable, _request: &Request) -> Result<Response, Error> {
    Ok(Response::new(
        501,
        "application/json",
        "{\"error\":\"not yet\"}",
    ))
}
