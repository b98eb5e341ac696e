//! MongoStore's subset lookup on the server: fluidml's `$lte` query on an embedded config
//! matches configs that are not subsets (BSON order compares documents field by field);
//! ours selects exactly the subset runs. Needs the server of `tests/run.sh`.

#![cfg(feature = "mongodb")]

use crate::shared::mongo as mongo_support;

use std::collections::BTreeSet;

use mongodb::bson::{Document, doc};
use serde_json::{Map, Value, json};
use sweepstore::{Result, StoreExt, UniqueConfig};

use mongo_support::{COLLECTION, raw_db, raw_err, unique_db, uri};

use crate::shared::config;

/// The `_id`s a raw query selects.
fn ids(coll: &mongodb::sync::Collection<Document>, filter: Document) -> Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for doc in coll.find(filter).run().map_err(raw_err("query"))? {
        let doc = doc.map_err(raw_err("read"))?;
        ids.insert(doc.get_str("_id").map_err(raw_err_bson)?.to_owned());
    }
    Ok(ids)
}

fn raw_err_bson<E: std::error::Error + Send + Sync + 'static>(e: E) -> sweepstore::Error {
    sweepstore::Error::Stream {
        op: "read _id",
        source: std::io::Error::other(e),
    }
}

/// The canonical `"key":value` members of a config, as the run documents store them.
fn pairs(config: &UniqueConfig) -> Vec<String> {
    let inner = &config.canonical()[1..config.canonical().len() - 1];
    // Split at top-level commas: a comma inside a nested value or a string does not count.
    let (mut pairs, mut depth, mut in_string, mut escaped, mut start) =
        (Vec::new(), 0i32, false, false, 0);
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' | '[' if !in_string => depth += 1,
            '}' | ']' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                pairs.push(inner[start..i].to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner.is_empty() {
        pairs.push(inner[start..].to_owned());
    }
    pairs
}

#[test]
fn fluidml_lte_query_matches_a_non_subset_and_ours_does_not() -> Result<()> {
    let db_name = unique_db("lte");
    let db = raw_db(&uri(), &db_name)?;

    // fluidml stores the config as an embedded document and queries `$lte` on it.
    let seed = db.collection::<Document>("fluidml");
    seed.insert_many([
        doc! { "_id": "a0_z5", "unique_config": { "a": 0, "z": 5 } },
        doc! { "_id": "a1", "unique_config": { "a": 1 } },
    ])
    .run()
    .map_err(raw_err("insert"))?;
    let lte = ids(
        &seed,
        doc! { "unique_config": { "$lte": { "a": 1, "b": 2 } } },
    )?;
    assert!(
        lte.contains("a0_z5"),
        "control: the seed's $lte query should reproduce the false match, got {lte:?}"
    );

    // Ours, through the store: only the subset run is found.
    let store = mongo_support::store_in(&db_name, sweepstore::MongoOptions::default())?;
    store
        .run("t", &config(json!({"a": 0, "z": 5}))?)?
        .save("m", "json", &"a0_z5")?;
    store
        .run("t", &config(json!({"a": 1}))?)?
        .save("m", "json", &"a1")?;
    let query = store.run("t", &config(json!({"a": 1, "b": 2}))?)?;
    assert_eq!(query.load::<String>("m")?.as_deref(), Some("a1"));
    let only_non_subset = store.run("t", &config(json!({"a": 0, "b": 2}))?)?;
    assert_eq!(only_non_subset.load::<String>("m")?, None);

    // And the server-side query itself (the documented run-document shape) selects only it.
    let runs = db.collection::<Document>(COLLECTION);
    let query_pairs = pairs(&config(json!({"a": 1, "b": 2}))?);
    let ours = ids(
        &runs,
        doc! { "task": "t", "pairs": { "$not": { "$elemMatch": { "$nin": query_pairs } } } },
    )?;
    let a1_key =
        sweepstore::RunKey::new(&sweepstore::TaskName::new("t")?, &config(json!({"a": 1}))?);
    assert_eq!(ours, BTreeSet::from([a1_key.to_hex()]));
    Ok(())
}

use crate::shared::rng::Rng;

fn random_config(rng: &mut Rng) -> Result<UniqueConfig> {
    let mut map = Map::new();
    for key in ["a", "b", "c", "d"] {
        match rng.below_u64(4) {
            0 => {}
            1 => {
                map.insert(key.to_owned(), json!(rng.below_u64(2)));
            }
            2 => {
                map.insert(key.to_owned(), json!(rng.below_u64(2) as f64 + 0.5));
            }
            _ => {
                map.insert(key.to_owned(), json!({"n": rng.below_u64(2), "s": "x,y"}));
            }
        }
    }
    config(Value::Object(map))
}

#[test]
fn server_subset_query_selects_exactly_the_subset_runs() -> Result<()> {
    let db_name = unique_db("subset");
    let store = mongo_support::store_in(&db_name, sweepstore::MongoOptions::default())?;
    let mut rng = Rng::new(7);
    let mut stored = Vec::new();
    for _ in 0..60 {
        let config = random_config(&mut rng)?;
        store
            .run("t", &config)?
            .save("m", "json", &config.canonical().to_owned())?;
        stored.push(config);
    }
    let runs = raw_db(&uri(), &db_name)?.collection::<Document>(COLLECTION);
    for _ in 0..60 {
        let query = random_config(&mut rng)?;
        let expected: BTreeSet<String> = stored
            .iter()
            .filter(|c| c.is_subset_of(&query))
            .map(|c| Ok(sweepstore::RunKey::new(&sweepstore::TaskName::new("t")?, c).to_hex()))
            .collect::<Result<_>>()?;
        let filter =
            doc! { "task": "t", "pairs": { "$not": { "$elemMatch": { "$nin": pairs(&query) } } } };
        assert_eq!(ids(&runs, filter)?, expected, "query {query}");

        // The store's answer is the most specific subset, then the earliest.
        let best = stored
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_subset_of(&query))
            .min_by_key(|(i, c)| (std::cmp::Reverse(c.len()), *i))
            .map(|(_, c)| c.canonical().to_owned());
        let loaded = store.run("t", &query)?.load::<String>("m")?;
        assert_eq!(loaded, best, "query {query}");
    }
    Ok(())
}
