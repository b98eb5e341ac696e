//! The shape of a run document and of its result entries (`docs/design.md` §15.2), built
//! and parsed in one place.
//!
//! Invariants: a run document's `_id` is the run key of its `task` and `config`; `config` is
//! the canonical (RFC 8785) text and `pairs` its top-level members as canonical
//! `"key":value` texts, in canonical order, so the canonical text is `{` + the pairs joined
//! by `,` + `}`; result entries sit under `results.<escaped name>` (`%`, `.` and `$` are
//! percent-escaped, since MongoDB field names cannot carry `.` or start with `$`). Parsing
//! checks all of this and reports any deviation (a hand-edited document) as
//! [`Error::CorruptRecord`], never as a panic or a silently wrong answer.

use std::collections::BTreeMap;
use std::time::SystemTime;

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Document, doc};
use serde_json::Value;

use crate::browse::finished_at;
use crate::claim::now_ms;
use crate::config::UniqueConfig;
use crate::config::canonical;
use crate::error::{Error, Result};
use crate::key::{ContentHash, RunKey};
use crate::names::{ResultName, TaskName};
use crate::run::{RunId, RunState};

/// The run document format this build writes and reads.
pub(crate) const FORMAT: i32 = 1;

/// Which result entries a read brings back.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Results<'a> {
    /// None: the run's header only.
    None,
    /// Only this one.
    One(&'a ResultName),
    /// All of them.
    All,
}

/// The fields a read of a run document asks the server for.
pub(crate) fn projection(results: Results<'_>) -> Document {
    let mut projection = doc! { "v": 1, "task": 1, "config": 1, "pairs": 1, "counter": 1, "state": 1, "created": 1, "finished": 1 };
    match results {
        Results::None => {}
        Results::One(name) => {
            projection.insert(result_field(name), 1);
        }
        Results::All => {
            projection.insert("results", 1);
        }
    }
    projection
}

/// A stored value: its type, content hash and size, and the bytes if kept inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) type_name: String,
    pub(crate) hash: ContentHash,
    pub(crate) size: u64,
    /// `Some` for values inside the run document, `None` for values in GridFS.
    pub(crate) inline: Option<Vec<u8>>,
}

impl Entry {
    /// The entry as stored under `results.<escaped name>`.
    pub(crate) fn to_document(&self, name: &ResultName) -> Result<Document> {
        let mut entry = doc! {
            "name": name.as_str(),
            "type": self.type_name.as_str(),
            "hash": self.hash.to_hex(),
            "size": size_to_bson(self.size)?,
        };
        if let Some(bytes) = &self.inline {
            entry.insert(
                "data",
                Binary {
                    subtype: BinarySubtype::Generic,
                    bytes: bytes.clone(),
                },
            );
        }
        Ok(entry)
    }
}

/// A size as BSON (`Int64`).
pub(crate) fn size_to_bson(size: u64) -> Result<Bson> {
    i64::try_from(size)
        .map(Bson::Int64)
        .map_err(|_| Error::Encode {
            type_name: "bytes".to_owned(),
            reason: format!("a value of {size} bytes is too large to store"),
        })
}

/// A non-negative integer field (`Int64`, or `Int32` as shells write small numbers).
pub(crate) fn as_u64(value: Option<&Bson>) -> Option<u64> {
    match value {
        Some(Bson::Int64(n)) => u64::try_from(*n).ok(),
        Some(Bson::Int32(n)) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// The field path of result `name` in a run document.
pub(crate) fn result_field(name: &ResultName) -> String {
    format!("results.{}", escape(name.as_str()))
}

/// Percent-escapes `%`, `.` and `$`.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            '$' => out.push_str("%24"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`]; `None` if `field` is not an escaped name.
fn unescape(field: &str) -> Option<String> {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let c = match rest.get(i + 1..i + 3)? {
            "25" => '%',
            "2E" => '.',
            "24" => '$',
            _ => return None,
        };
        out.push(c);
        rest = &rest[i + 3..];
    }
    if rest.contains(['.', '$']) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// The top-level members of `config` as canonical `"key":value` texts, in canonical order.
pub(crate) fn pairs(config: &UniqueConfig) -> Result<Vec<String>> {
    let mut pairs = Vec::with_capacity(config.len());
    for (key, value) in config.members() {
        let mut pair = String::new();
        canonical::write_value(&mut pair, &Value::String(key.clone()), "")?;
        pair.push(':');
        pair.push_str(value);
        pairs.push(pair);
    }
    Ok(pairs)
}

/// The fields of a new run document (everything but its results), for `$setOnInsert`.
pub(crate) fn new_run(run: &RunId, counter: u64) -> Result<Document> {
    Ok(doc! {
        "v": FORMAT,
        "task": run.task().as_str(),
        "config": run.config().canonical(),
        "pairs": pairs(run.config())?,
        "counter": size_to_bson(counter)?,
        "state": state_name(RunState::Running),
        "created": DateTime::now(),
    })
}

/// The `finished` field a run has after its state is set to `state` now: the time for
/// finished, `null` for any other state (the rule of every backend, `browse::finished_at`).
pub(crate) fn finished_field(state: RunState) -> Bson {
    finished_at(state, now_ms()).map_or(Bson::Null, |ms| {
        Bson::DateTime(DateTime::from_millis(i64::try_from(ms).unwrap_or(i64::MAX)))
    })
}

/// The stored name of a run state.
pub(crate) fn state_name(state: RunState) -> &'static str {
    match state {
        RunState::Running => "running",
        RunState::Finished => "finished",
        RunState::Failed => "failed",
    }
}

/// A parsed run document (with the result entries the read projected).
#[derive(Debug)]
pub(crate) struct RunDoc {
    pub(crate) key: RunKey,
    pub(crate) task: TaskName,
    pub(crate) config: UniqueConfig,
    pub(crate) counter: u64,
    pub(crate) state: RunState,
    pub(crate) results: BTreeMap<ResultName, Entry>,
    /// When the run was created; `None` in a document older than times.
    pub(crate) created: Option<SystemTime>,
    /// When it was last marked finished; `None` unless finished (or in an older document).
    pub(crate) finished: Option<SystemTime>,
}

/// Parses and checks a run document read from `namespace`.
///
/// # Errors
/// [`Error::CorruptRecord`] naming the document and what is wrong with it.
pub(crate) fn parse_run(doc: &Document, namespace: &str) -> Result<RunDoc> {
    let id = match doc.get("_id") {
        Some(Bson::String(id)) => id.clone(),
        Some(other) => other.to_string(),
        None => "without _id".to_owned(),
    };
    let corrupt = |reason: String| Error::CorruptRecord {
        what: format!("run document {id} in {namespace}"),
        reason,
    };
    let key: RunKey = id
        .parse()
        .map_err(|_| corrupt("its _id is not a run key".to_owned()))?;
    let field = |name: &str| doc.get(name).ok_or_else(|| corrupt(format!("no `{name}`")));
    let text = |name: &str| match field(name)? {
        Bson::String(s) => Ok(s.as_str()),
        other => Err(corrupt(format!("`{name}` is {other}, not a string"))),
    };
    match field("v")? {
        Bson::Int32(FORMAT) => {}
        other => return Err(corrupt(format!("format `v` is {other}, expected {FORMAT}"))),
    }
    let task = TaskName::new(text("task")?).map_err(|e| corrupt(format!("`task`: {e}")))?;
    let config_text = text("config")?;
    let config = UniqueConfig::parse(config_text).map_err(|e| corrupt(format!("`config`: {e}")))?;
    if config.canonical() != config_text {
        return Err(corrupt("`config` is not in canonical form".to_owned()));
    }
    if RunKey::new(&task, &config) != key {
        return Err(corrupt(
            "its _id is not the run key of its task and config".to_owned(),
        ));
    }
    let stored_pairs: Option<Vec<&str>> = match field("pairs")? {
        Bson::Array(items) => items.iter().map(Bson::as_str).collect(),
        _ => None,
    };
    if stored_pairs != Some(pairs(&config)?.iter().map(String::as_str).collect()) {
        return Err(corrupt(
            "`pairs` are not the canonical members of `config`".to_owned(),
        ));
    }
    let counter = as_u64(Some(field("counter")?))
        .ok_or_else(|| corrupt("`counter` is not a non-negative integer".to_owned()))?;
    let state = match text("state")? {
        "running" => RunState::Running,
        "finished" => RunState::Finished,
        "failed" => RunState::Failed,
        other => return Err(corrupt(format!("unknown `state` {other:?}"))),
    };
    let time = |name: &str| match doc.get(name) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::DateTime(at)) => Ok(Some(at.to_system_time())),
        Some(other) => Err(corrupt(format!("`{name}` is {other}, not a date"))),
    };
    let created = time("created")?;
    let finished = time("finished")?.filter(|_| state == RunState::Finished);
    let mut results = BTreeMap::new();
    match doc.get("results") {
        None => {}
        Some(Bson::Document(entries)) => {
            for (field, entry) in entries {
                let (name, entry) = parse_entry(field, entry).map_err(&corrupt)?;
                results.insert(name, entry);
            }
        }
        Some(other) => return Err(corrupt(format!("`results` is {other}, not a document"))),
    }
    Ok(RunDoc {
        key,
        task,
        config,
        counter,
        state,
        results,
        created,
        finished,
    })
}

/// Parses the entry stored under `results.<field>`; the error is the reason.
fn parse_entry(field: &str, entry: &Bson) -> Result<(ResultName, Entry), String> {
    let at = |what: &str| format!("result entry `{field}`: {what}");
    let Bson::Document(entry) = entry else {
        return Err(at("not a document"));
    };
    let text = |name: &str| match entry.get(name) {
        Some(Bson::String(s)) => Ok(s.as_str()),
        _ => Err(at(&format!("`{name}` is missing or not a string"))),
    };
    let name = ResultName::new(text("name")?).map_err(|e| at(&e.to_string()))?;
    if unescape(field).as_deref() != Some(name.as_str()) {
        return Err(at("its field is not the escaped form of its `name`"));
    }
    let type_name = text("type")?.to_owned();
    let hash: ContentHash = text("hash")?
        .parse()
        .map_err(|e: Error| at(&e.to_string()))?;
    let size = as_u64(entry.get("size"))
        .ok_or_else(|| at("`size` is missing or not a non-negative integer"))?;
    let inline = match entry.get("data") {
        None => None,
        Some(Bson::Binary(binary)) => {
            if binary.bytes.len() as u64 != size {
                return Err(at(&format!(
                    "`data` holds {} bytes but `size` says {size}",
                    binary.bytes.len()
                )));
            }
            Some(binary.bytes.clone())
        }
        Some(_) => return Err(at("`data` is not binary")),
    };
    let entry = Entry {
        type_name,
        hash,
        size,
        inline,
    };
    Ok((name, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_names_round_trip_and_carry_no_dots_or_dollars() {
        for name in ["plain", "a.b", "$x", "50%", "%2E", "a.$.%25", "ünï.cödé"] {
            let escaped = escape(name);
            assert!(!escaped.contains(['.', '$']), "{escaped}");
            assert_eq!(unescape(&escaped).as_deref(), Some(name));
        }
        assert_eq!(unescape("a%2"), None);
        assert_eq!(unescape("a%41"), None);
        assert_eq!(unescape("a.b"), None);
    }

    #[test]
    fn pairs_join_to_the_canonical_text() -> Result<()> {
        let config = UniqueConfig::parse(r#"{"b":[1,2.0],"a":{"y":1,"x":"q\"z"},"c,d":1e2}"#)?;
        let pairs = pairs(&config)?;
        assert_eq!(format!("{{{}}}", pairs.join(",")), config.canonical());
        assert_eq!(pairs.len(), 3);
        Ok(())
    }

    #[test]
    fn a_new_run_records_its_creation_and_only_finished_has_a_finished_time() -> Result<()> {
        let before = DateTime::now();
        let run = RunId::new(TaskName::new("train")?, UniqueConfig::parse("{}")?);
        let created = new_run(&run, 0)?.get_datetime("created").copied();
        assert!(created.is_ok_and(|at| at >= before && at <= DateTime::now()));
        let finished = finished_field(RunState::Finished);
        assert!(matches!(finished, Bson::DateTime(at) if at >= before));
        assert_eq!(finished_field(RunState::Running), Bson::Null);
        assert_eq!(finished_field(RunState::Failed), Bson::Null);
        Ok(())
    }

    #[test]
    fn a_run_document_round_trips_and_edits_are_corrupt_records() -> Result<()> {
        let run = RunId::new(
            TaskName::new("train")?,
            UniqueConfig::parse(r#"{"lr":0.1}"#)?,
        );
        let name = ResultName::new("m.x")?;
        let entry = Entry {
            type_name: "json".to_owned(),
            hash: ContentHash::of(b"{}"),
            size: 2,
            inline: Some(b"{}".to_vec()),
        };
        let mut doc = new_run(&run, 7)?;
        doc.insert("_id", run.key().to_hex());
        let mut results = Document::new();
        results.insert(escape(name.as_str()), entry.to_document(&name)?);
        doc.insert("results", results);
        let parsed = parse_run(&doc, "db.runs")?;
        assert_eq!(parsed.key, run.key());
        assert_eq!(parsed.counter, 7);
        assert_eq!(parsed.state, RunState::Running);
        assert_eq!(parsed.results.get(&name), Some(&entry));

        let edits: [(&str, Bson); 6] = [
            ("counter", Bson::String("7".to_owned())),
            ("config", Bson::String(r#"{"lr":0.2}"#.to_owned())),
            ("pairs", Bson::Array(vec![])),
            ("state", Bson::String("done".to_owned())),
            ("v", Bson::Int32(2)),
            ("results", Bson::Int32(1)),
        ];
        for (field, value) in edits {
            let mut edited = doc.clone();
            edited.insert(field, value);
            let err = parse_run(&edited, "db.runs").err();
            assert!(
                matches!(&err, Some(Error::CorruptRecord { what, .. }) if what.contains(&run.key().to_hex())),
                "{field}: {err:?}"
            );
        }
        Ok(())
    }
}
