//! MongoStore run times: a run document records `created` (a BSON date) when the run is
//! created and `finished` when its state becomes finished, `null` again for any other state —
//! the rule of every backend. Needs the server of `tests/run.sh`.

#![cfg(feature = "mongodb")]

use crate::shared::mongo as mongo_support;

use mongodb::bson::{Bson, DateTime, Document, doc};
use serde_json::json;
use sweepstore::{Error, MongoOptions, Result, RunState, StoreExt, UniqueConfig};

use mongo_support::{COLLECTION, raw_db, raw_err, store_in, unique_db, uri};

#[test]
fn a_run_document_records_when_it_was_created_and_finished() -> Result<()> {
    let db = unique_db("times");
    let store = store_in(&db, MongoOptions::default())?;
    let runs = raw_db(&uri(), &db)?.collection::<Document>(COLLECTION);
    let read = || -> Result<Document> {
        runs.find_one(doc! { "task": "train" })
            .run()
            .map_err(raw_err("read"))?
            .ok_or_else(|| Error::NotFound {
                what: "the run document".into(),
            })
    };
    let date = |doc: &Document, field: &str| match doc.get(field) {
        Some(Bson::DateTime(at)) => Some(*at),
        _ => None,
    };
    // BSON dates are whole milliseconds: allow for the truncation.
    let before = DateTime::from_millis(DateTime::now().timestamp_millis() - 1);
    let run = store.run("train", &UniqueConfig::new(json!({"lr": 1}))?)?;
    run.save("metrics", "json", &json!({"loss": 1}))?;
    let created = date(&read()?, "created").ok_or(Error::Closed)?;
    assert!(created >= before);
    assert_eq!(date(&read()?, "finished"), None);

    run.finish()?;
    let doc = read()?;
    let finished = date(&doc, "finished").ok_or(Error::Closed)?;
    assert!(created <= finished && finished <= DateTime::now());
    assert_eq!(date(&doc, "created"), Some(created), "creation kept");

    run.set_state(RunState::Running)?;
    let doc = read()?;
    assert_eq!(doc.get("finished"), Some(&Bson::Null));
    assert_eq!(date(&doc, "created"), Some(created));

    run.finish()?;
    assert!(date(&read()?, "finished").is_some());
    run.set_state(RunState::Failed)?;
    assert_eq!(read()?.get("finished"), Some(&Bson::Null));
    Ok(())
}
