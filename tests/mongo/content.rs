//! MongoStore content and damage: small values inline, large ones in GridFS once per hash
//! (also when many threads upload the same value at once), streaming `open` across chunks,
//! lazy promises, and typed errors for a missing or altered GridFS chunk and for run
//! documents edited by hand into a wrong shape. Needs the server of `tests/run.sh`.

#![cfg(feature = "mongodb")]

use crate::shared::mongo as mongo_support;

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Barrier;

use mongodb::bson::{Bson, Document, doc};
use mongodb::sync::Database;
use serde_json::json;
use sweepstore::{ContentHash, Error, MongoOptions, MongoStore, Result, StoreExt, UniqueConfig};

use mongo_support::{COLLECTION, raw_db, raw_err, store_in, unique_db, uri};

/// GridFS chunk size of the store (255 KiB).
const CHUNK: usize = 255 * 1024;

fn config(lr: u32) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "lr": lr }))?)
}

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

use crate::shared::io_err;

fn setup(prefix: &str) -> Result<(MongoStore, Database)> {
    let db = unique_db(prefix);
    Ok((
        store_in(&db, MongoOptions::default())?,
        raw_db(&uri(), &db)?,
    ))
}

fn count(db: &Database, coll: &str, filter: Document) -> Result<u64> {
    db.collection::<Document>(coll)
        .count_documents(filter)
        .run()
        .map_err(raw_err("count"))
}

#[test]
fn small_values_are_inline_and_large_ones_in_gridfs_once_per_hash() -> Result<()> {
    let (store, db) = setup("placement")?;
    let small = bytes(1, 100);
    let large = bytes(2, 3 * CHUNK + 17);
    for lr in 0..3 {
        let run = store.run("train", &config(lr)?)?;
        run.save("small", "bytes", &small)?;
        run.save("large", "bytes", &large)?;
        run.save("large-again", "bytes", &large)?;
    }
    let runs = db.collection::<Document>(COLLECTION);
    let doc = runs
        .find_one(doc! { "task": "train" })
        .run()
        .map_err(raw_err("read"))?
        .ok_or_else(|| Error::NotFound {
            what: "a run document".into(),
        })?;
    let results = doc.get_document("results").map_err(|e| Error::Stream {
        op: "read results",
        source: std::io::Error::other(e),
    })?;
    let entry = |name: &str| results.get_document(name).ok().cloned().unwrap_or_default();
    assert!(matches!(entry("small").get("data"), Some(Bson::Binary(b)) if b.bytes == small));
    assert_eq!(
        entry("large").get("data"),
        None,
        "large values are not inline"
    );

    let hash = ContentHash::of(&large).to_hex();
    assert_eq!(
        count(&db, "runs.content.files", doc! {})?,
        1,
        "one file for six saves"
    );
    assert_eq!(
        count(&db, "runs.content.chunks", doc! { "files_id": &hash })?,
        4
    );
    for lr in 0..3 {
        let run = store.run("train", &config(lr)?)?;
        assert_eq!(run.load::<Vec<u8>>("large-again")?, Some(large.clone()));
        assert_eq!(run.load::<Vec<u8>>("small")?, Some(small.clone()));
    }
    Ok(())
}

#[test]
fn threads_uploading_one_large_value_at_once_store_it_once() -> Result<()> {
    const THREADS: u32 = 8;
    let (store, db) = setup("upload_race")?;
    let value = bytes(3, 2 * 1024 * 1024);
    let barrier = Barrier::new(THREADS as usize);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, value, barrier) = (&store, &value, &barrier);
                scope.spawn(move || -> Result<()> {
                    barrier.wait();
                    store.run("train", &config(t)?)?.save("w", "bytes", value)
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })?;
    let hash = ContentHash::of(&value).to_hex();
    assert_eq!(count(&db, "runs.content.files", doc! {})?, 1);
    assert_eq!(
        count(&db, "runs.content.chunks", doc! {})?,
        value.len().div_ceil(CHUNK) as u64,
        "no chunk of {hash} stored twice"
    );
    for t in 0..THREADS {
        let loaded = store.run("train", &config(t)?)?.load::<Vec<u8>>("w")?;
        assert_eq!(loaded.as_ref(), Some(&value), "thread {t}");
    }
    Ok(())
}

#[test]
fn open_streams_a_value_across_chunks_and_seeks_anywhere() -> Result<()> {
    let (store, _db) = setup("stream")?;
    let value = bytes(4, 5 * CHUNK + 1000);
    let run = store.run("train", &config(0)?)?;
    let mut file = run.open("trace", "wb", None)?;
    for piece in value.chunks(64 * 1024) {
        file.write_all(piece).map_err(io_err("write"))?;
    }
    file.close()?;

    let mut file = run.open("trace", "rb", None)?;
    let mut all = Vec::new();
    file.read_to_end(&mut all).map_err(io_err("read"))?;
    assert_eq!(all, value);
    for at in [0, CHUNK - 3, 3 * CHUNK + 5, value.len() - 10, 7, 2 * CHUNK] {
        file.seek(SeekFrom::Start(at as u64))
            .map_err(io_err("seek"))?;
        let mut buf = vec![0; 20.min(value.len() - at)];
        file.read_exact(&mut buf).map_err(io_err("read at"))?;
        assert_eq!(buf, value[at..at + buf.len()], "at {at}");
    }
    Ok(())
}

/// Deletes one chunk of `value`'s GridFS file.
fn delete_chunk(db: &Database, value: &[u8], n: i64) -> Result<()> {
    let deleted = db
        .collection::<Document>("runs.content.chunks")
        .delete_one(doc! { "files_id": ContentHash::of(value).to_hex(), "n": n })
        .run()
        .map_err(raw_err("delete a chunk"))?;
    assert_eq!(deleted.deleted_count, 1, "control: the chunk existed");
    Ok(())
}

#[test]
fn a_missing_gridfs_chunk_is_a_corrupt_record_even_for_an_earlier_promise() -> Result<()> {
    let (store, db) = setup("missing_chunk")?;
    let value = bytes(5, 3 * CHUNK);
    let run = store.run("train", &config(0)?)?;
    run.save("w", "bytes", &value)?;
    run.save("ok", "json", &1)?;
    let promise = run
        .load_lazy("w")?
        .ok_or_else(|| Error::NotFound { what: "w".into() })?;
    // The promise read nothing yet: the damage after it was made is what it sees.
    delete_chunk(&db, &value, 1)?;
    let hash = ContentHash::of(&value).to_hex();
    let is_missing_chunk = |e: &Error| {
        matches!(e, Error::CorruptRecord { what, reason }
            if what.contains(&hash) && reason.contains("2 of its 3 chunks"))
    };
    let from_promise = promise.bytes().err();
    assert!(
        from_promise.as_ref().is_some_and(is_missing_chunk),
        "{from_promise:?}"
    );
    let from_load = run.load::<Vec<u8>>("w").err();
    assert!(
        from_load.as_ref().is_some_and(is_missing_chunk),
        "{from_load:?}"
    );
    let from_open = run.open("w", "rb", None).err();
    assert!(
        from_open.as_ref().is_some_and(is_missing_chunk),
        "{from_open:?}"
    );
    // The rest of the run is unaffected, and saving the value again repairs it.
    assert_eq!(run.load::<i32>("ok")?, Some(1));
    store
        .run("train", &config(1)?)?
        .save("w", "bytes", &value)?;
    assert_eq!(run.load::<Vec<u8>>("w")?, Some(value));
    Ok(())
}

#[test]
fn altered_chunk_bytes_are_a_hash_mismatch() -> Result<()> {
    let (store, db) = setup("altered_chunk")?;
    let value = bytes(6, 2 * CHUNK);
    let run = store.run("train", &config(0)?)?;
    run.save("w", "bytes", &value)?;
    let mut altered = value[CHUNK..].to_vec();
    altered[100] ^= 0xff;
    db.collection::<Document>("runs.content.chunks")
        .update_one(
            doc! { "files_id": ContentHash::of(&value).to_hex(), "n": 1 },
            doc! { "$set": { "data": mongodb::bson::Binary {
                subtype: mongodb::bson::spec::BinarySubtype::Generic,
                bytes: altered,
            } } },
        )
        .run()
        .map_err(raw_err("alter a chunk"))?;
    let err = run.load::<Vec<u8>>("w").err();
    assert!(
        matches!(&err, Some(Error::HashMismatch { location, .. }) if location.contains("GridFS")),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn hand_edited_run_documents_are_corrupt_records_and_harm_nothing_else() -> Result<()> {
    let (store, db) = setup("hand_edit")?;
    let runs = db.collection::<Document>(COLLECTION);
    // (what, edit, whether a read of the run's header alone sees it)
    let edits: Vec<(&str, Document, bool)> = vec![
        (
            "counter is a string",
            doc! { "$set": { "counter": "seven" } },
            true,
        ),
        (
            "config changed",
            doc! { "$set": { "config": "{\"lr\":99}" } },
            true,
        ),
        ("pairs removed", doc! { "$unset": { "pairs": "" } }, true),
        ("state unknown", doc! { "$set": { "state": "done" } }, true),
        (
            "entry size wrong",
            doc! { "$set": { "results.m.size": 3_i64 } },
            false,
        ),
        (
            "entry hash not hex",
            doc! { "$set": { "results.m.hash": "xyz" } },
            false,
        ),
        (
            "entry data not binary",
            doc! { "$set": { "results.m.data": "text" } },
            false,
        ),
        (
            "results not a document",
            doc! { "$set": { "results": 5 } },
            false,
        ),
    ];
    let healthy = store.run("train", &config(1000)?)?;
    healthy.save("m", "json", &"fine")?;
    for (i, (what, edit, in_header)) in edits.into_iter().enumerate() {
        let run = store.run("train", &config(i as u32)?)?;
        run.save("m", "json", &"value")?;
        let key = run.id().key().to_hex();
        let edited = runs
            .update_one(doc! { "_id": &key }, edit)
            .run()
            .map_err(raw_err("edit"))?;
        assert_eq!(edited.modified_count, 1, "control: {what} was applied");
        let corrupt = |e: &Option<Error>| matches!(e, Some(Error::CorruptRecord { what, .. }) if what.contains(&key));
        let all = run.get_results().err();
        assert!(corrupt(&all), "{what}: get_results gave {all:?}");
        if what == "results not a document" {
            // A load asks the server for `results.m` only, which such a document lacks.
            assert!(run.load::<String>("m")?.is_none(), "{what}");
        } else {
            let one = run.load::<String>("m").err();
            assert!(corrupt(&one), "{what}: load gave {one:?}");
        }
        if in_header {
            let state = run.state().err();
            assert!(corrupt(&state), "{what}: state gave {state:?}");
        }
        // Repair by deleting the document by hand; the other run never noticed.
        runs.delete_one(doc! { "_id": &key })
            .run()
            .map_err(raw_err("repair"))?;
        assert_eq!(healthy.load::<String>("m")?.as_deref(), Some("fine"));
    }
    Ok(())
}

#[test]
fn a_lost_counters_document_is_repaired_by_the_next_new_run() -> Result<()> {
    let (store, db) = setup("lost_counters")?;
    for i in 0..12 {
        store.run("train", &config(i)?)?.save("m", "json", &i)?;
    }
    let removed = db
        .collection::<Document>("runs.counters")
        .delete_many(doc! {})
        .run()
        .map_err(raw_err("remove the counters"))?;
    assert_eq!(
        removed.deleted_count, 1,
        "control: the task had a counters document"
    );
    let run = store.run("train", &config(100)?)?;
    run.save("m", "json", &100)?;
    assert_eq!(run.get_context()?.sweep_counter.as_deref(), Some("012"));
    let next = store.run("train", &config(101)?)?;
    next.save("m", "json", &101)?;
    assert_eq!(next.get_context()?.sweep_counter.as_deref(), Some("013"));
    Ok(())
}
