//! What the dashboard's pages show, as JSON: the tasks with their run states, one run with
//! every result's content, the verified bytes of one result, and a fingerprint that changes
//! whenever any of it does (the pages poll it to refresh live).
//!
//! Invariants: everything is read through [`Reachable`] (browse + load), so the dashboard
//! never writes; every value is read through a promise, which verifies its content hash, so
//! a damaged value is reported as an error *of that result* and the rest still renders;
//! nothing is unpickled (a `pickle` value is offered as a download like any other bytes).

use serde_json::{Value, json};
use sweepstore::{Error, JSON, RunSummary, StoreExt, TEXT, TaskName};

use crate::cli::render::{rfc3339, run_json, state_text};
use crate::cli::store::Reachable;

/// Values up to this size are loaded to show them on a run's page; larger ones are only
/// offered as downloads.
const SHOWN_BYTES: u64 = 8 << 20;
/// How much of the end of a text result a run's page shows (a growing log's tail).
const TEXT_TAIL: usize = 64 << 10;

/// The tasks with their number of runs by state: `[{"name", "runs", "states": {"finished",
/// "running", "failed", "-"}}]`.
///
/// # Errors
/// Browsing errors.
pub fn tasks(store: &dyn Reachable) -> Result<Value, Error> {
    let mut list = Vec::new();
    for task in store.tasks()? {
        let mut states = serde_json::Map::new();
        for run in store.runs(&task.name)? {
            let count = states.entry(state_text(run.state)).or_insert(json!(0));
            *count = json!(count.as_u64().unwrap_or(0) + 1);
        }
        list.push(json!({ "name": task.name.as_str(), "runs": task.runs, "states": states }));
    }
    Ok(Value::Array(list))
}

/// The run of `task` whose run key is `hex` (all 64 digits), if there is one.
///
/// # Errors
/// Browsing errors.
pub fn find_run(store: &dyn Reachable, task: &str, hex: &str) -> Result<Option<RunSummary>, Error> {
    let Ok(task) = TaskName::new(task) else {
        return Ok(None);
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let runs = store.runs_by_key_prefix(&task, hex)?;
    Ok(runs.into_iter().find(|r| r.key.to_hex() == hex))
}

/// Whether `task` has runs.
///
/// # Errors
/// Browsing errors.
pub fn task_exists(store: &dyn Reachable, task: &str) -> Result<bool, Error> {
    let Ok(name) = TaskName::new(task) else {
        return Ok(false);
    };
    Ok(store.tasks()?.iter().any(|t| t.name == name))
}

/// The verified bytes of result `name` of `run`.
///
/// # Errors
/// The value is missing or damaged (its hash does not match), or a backend error.
pub fn result_bytes(store: &dyn Reachable, run: &RunSummary, name: &str) -> Result<Vec<u8>, Error> {
    store
        .run(run.task.as_str(), &run.config)?
        .load_lazy(name)?
        .ok_or_else(|| Error::NotFound {
            what: format!("result `{name}` of run {}", run.key),
        })?
        .bytes()
}

/// The media type to show `bytes` as an image with, if they are a PNG or an SVG.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    let head = std::str::from_utf8(&bytes[..bytes.len().min(1024)]).ok()?;
    let head = head.trim_start_matches('\u{feff}').trim_start();
    let svg = head.starts_with("<svg") || (head.starts_with("<?xml") && head.contains("<svg"));
    svg.then_some("image/svg+xml")
}

/// One run with every result: `render::run_json`'s object (as `show --json` prints it) plus
/// `"times": {"created", "finished"}` (RFC 3339, or `null` where the store recorded none) and,
/// per result, `"show"`: one of `{"json": pretty}`, `{"text": tail, "skipped": bytes before
/// the tail}`, `{"image": media type}`, `{"download": true}` or `{"error": message}` (a
/// damaged or unreadable value).
pub fn run(store: &dyn Reachable, run: &RunSummary) -> Value {
    let mut value = run_json(run);
    value["times"] = json!({
        "created": run.created.map(rfc3339),
        "finished": run.finished.map(rfc3339),
    });
    if let Some(results) = value["results"].as_array_mut() {
        for (shown, r) in results.iter_mut().zip(&run.results) {
            shown["show"] = if r.size > SHOWN_BYTES {
                json!({ "download": true })
            } else {
                match result_bytes(store, run, r.name.as_str()) {
                    Ok(bytes) => show(&r.type_name, bytes),
                    Err(e) => json!({ "error": e.to_string() }),
                }
            };
        }
    }
    value
}

/// How a page shows a value of type `type_name`.
fn show(type_name: &str, bytes: Vec<u8>) -> Value {
    match type_name {
        JSON => match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => {
                json!({ "json": serde_json::to_string_pretty(&value).unwrap_or_default() })
            }
            Err(e) => json!({ "error": format!("the stored JSON does not parse: {e}") }),
        },
        TEXT => {
            let mut start = bytes.len().saturating_sub(TEXT_TAIL);
            while start < bytes.len() && (bytes[start] & 0xC0) == 0x80 {
                start += 1;
            }
            json!({
                "text": String::from_utf8_lossy(&bytes[start..]),
                "skipped": start,
            })
        }
        _ => match image_type(&bytes) {
            Some(media) => json!({ "image": media }),
            None => json!({ "download": true }),
        },
    }
}

/// A fingerprint of what the pages of `task` (or of every task, if `None`) show at the
/// summary level — run keys, states, result hashes and sizes; it changes when a run is
/// added, changes state, or saves or overwrites a result.
///
/// # Errors
/// Browsing errors.
pub fn version(store: &dyn Reachable, task: Option<&str>) -> Result<String, Error> {
    let mut hasher = blake3::Hasher::new();
    let tasks = match task {
        Some(task) => match TaskName::new(task) {
            Ok(name) => vec![name],
            Err(_) => Vec::new(),
        },
        None => store.tasks()?.into_iter().map(|t| t.name).collect(),
    };
    for task in tasks {
        hasher.update(task.as_str().as_bytes());
        hasher.update(&[0]);
        for run in store.runs(&task)? {
            hasher.update(run.key.to_hex().as_bytes());
            hasher.update(state_text(run.state).as_bytes());
            for r in &run.results {
                hasher.update(r.name.as_str().as_bytes());
                hasher.update(&r.size.to_le_bytes());
                if let Some(hash) = r.hash {
                    hasher.update(hash.to_hex().as_bytes());
                }
            }
        }
    }
    Ok(hasher.finalize().to_hex()[..16].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pngs_and_svgs_are_images_and_other_bytes_are_not() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(b"  <svg xmlns=''/>"), Some("image/svg+xml"));
        assert_eq!(
            image_type(b"<?xml version='1.0'?>\n<svg/>"),
            Some("image/svg+xml")
        );
        assert_eq!(image_type(b"<html>"), None);
        assert_eq!(image_type(&[0, 159, 146, 150]), None);
    }

    #[test]
    fn a_text_tail_starts_on_a_character_boundary() {
        let mut log = "é".repeat(TEXT_TAIL).into_bytes();
        log.extend_from_slice(b"end\n");
        let shown = show(TEXT, log.clone());
        let text = shown["text"].as_str().unwrap_or_default();
        assert!(
            text.ends_with("end\n") && !text.contains('\u{fffd}'),
            "{text:.40}"
        );
        assert_eq!(
            shown["skipped"].as_u64(),
            Some((log.len() - text.len()) as u64)
        );
    }
}
