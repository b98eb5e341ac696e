//! A store given as a MongoDB URI, `mongodb://HOST[:PORT][,...]/DATABASE/COLLECTION[?OPTIONS]`
//! (or `mongodb+srv://`), instead of a directory (`docs/design.md` §14, "MongoDB stores").
//!
//! Rules, settled here and nowhere else:
//! - An argument is a MongoDB store iff it starts with `mongodb://` or `mongodb+srv://`;
//!   [`store.rs`](super::store) asks [`is_uri`] before any path rule.
//! - The path of the URI names the store: `/DATABASE/COLLECTION`. Without a collection
//!   (`/DATABASE`) the collection is [`DEFAULT_COLLECTION`]; without a path, the database is
//!   [`DEFAULT_DATABASE`] too. More segments, an empty segment, or a name MongoDB refuses
//!   is an error naming the argument. The driver gets the URI with `/DATABASE` kept (so it
//!   remains the authentication database, as in any MongoDB URI) and the collection cut.
//! - Reading commands open with [`MongoStore::connect_existing`], so a misspelt database or
//!   collection is an error listing what is there and creates nothing; `import` and
//!   `export` into a MongoDB store create it.
//! - A build without the `mongodb` feature recognises the scheme and says it lacks MongoDB
//!   support.

use std::path::Path;

use sweepstore::Error;

/// The database of a URI without a path.
pub const DEFAULT_DATABASE: &str = "sweepstore";
/// The collection of a URI without one.
pub const DEFAULT_COLLECTION: &str = "runs";

const SCHEMES: [&str; 2] = ["mongodb://", "mongodb+srv://"];

/// Whether the store argument `arg` is a MongoDB URI.
pub fn is_uri(arg: &Path) -> bool {
    arg.to_str()
        .is_some_and(|text| SCHEMES.iter().any(|scheme| text.starts_with(scheme)))
}

/// The error for a store argument `arg` that is not a usable MongoDB store address.
fn bad(arg: &str, reason: impl Into<String>) -> Error {
    Error::NotAStore {
        path: arg.into(),
        reason: reason.into(),
    }
}

/// A parsed MongoDB store address.
#[derive(Debug, Clone, PartialEq, Eq)]
// Without MongoDB support an address is only checked, never used.
#[cfg_attr(not(feature = "mongodb"), allow(dead_code))]
pub struct Address {
    /// The connection string for the driver (the database kept, the collection cut).
    pub uri: String,
    /// The database.
    pub database: String,
    /// The collection of run documents.
    pub collection: String,
}

/// Parses `arg` (a MongoDB URI, see the module doc).
///
/// # Errors
/// [`Error::NotAStore`] naming `arg` and what is wrong with it.
pub fn parse(arg: &str) -> Result<Address, Error> {
    let scheme = SCHEMES
        .iter()
        .find(|scheme| arg.starts_with(*scheme))
        .ok_or_else(|| bad(arg, "it does not start with mongodb:// or mongodb+srv://"))?;
    let rest = &arg[scheme.len()..];
    let (before_query, query) = match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (hosts, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i + 1..]),
        None => (before_query, ""),
    };
    if hosts.is_empty() {
        return Err(bad(
            arg,
            "it names no host (mongodb://HOST:PORT/DATABASE/COLLECTION)",
        ));
    }
    let segments: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    };
    let (database, collection) = match segments.as_slice() {
        [] => (DEFAULT_DATABASE, DEFAULT_COLLECTION),
        [database] => (*database, DEFAULT_COLLECTION),
        [database, collection] => (*database, *collection),
        _ => {
            return Err(bad(
                arg,
                format!(
                    "its path `/{path}` has more than two parts; a store is \
                     mongodb://HOST:PORT/DATABASE/COLLECTION"
                ),
            ));
        }
    };
    check_database(arg, database)?;
    check_collection(arg, collection)?;
    Ok(Address {
        uri: format!("{scheme}{hosts}/{database}{query}"),
        database: database.to_owned(),
        collection: collection.to_owned(),
    })
}

/// MongoDB's rules for database names (on any platform).
fn check_database(arg: &str, name: &str) -> Result<(), Error> {
    const FORBIDDEN: &[char] = &[
        '/', '\\', '.', ' ', '"', '$', '*', '<', '>', ':', '|', '?', '\0',
    ];
    if name.is_empty() || name.len() >= 64 || name.contains(FORBIDDEN) {
        return Err(bad(
            arg,
            format!(
                "`{name}` is not a MongoDB database name (1 to 63 bytes, none of \
                 / \\ . space \" $ * < > : | ?)"
            ),
        ));
    }
    Ok(())
}

/// MongoDB's rules for collection names, and the store's own collections.
fn check_collection(arg: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains(['$', '\0']) || name.starts_with("system.") {
        return Err(bad(
            arg,
            format!(
                "`{name}` is not a collection name (non-empty, no `$`, not starting with \
                 `system.`)"
            ),
        ));
    }
    if name.ends_with(".counters") || name.contains(".content.") {
        return Err(bad(
            arg,
            format!(
                "`{name}` is one of a store's own collections; name the store's run \
                 collection (without `.counters` or `.content.*`)"
            ),
        ));
    }
    Ok(())
}

#[cfg(feature = "mongodb")]
mod open {
    use sweepstore::{Error, MongoOptions, MongoStore};

    use super::parse;

    /// The existing MongoDB store `arg` names (creating nothing).
    ///
    /// # Errors
    /// As [`parse`]; [`Error::NotAStore`] if the collection does not exist; connection
    /// errors.
    pub fn open_existing(arg: &str) -> Result<MongoStore, Error> {
        let address = parse(arg)?;
        tracing::info!(store = %arg, "a MongoDB store: connecting");
        MongoStore::connect_existing(
            &address.uri,
            &address.database,
            &address.collection,
            MongoOptions::default(),
        )
    }

    /// The MongoDB store `arg` names, created if it does not exist (`import`, `export`).
    ///
    /// # Errors
    /// As [`parse`]; connection errors.
    pub fn open_or_create(arg: &str) -> Result<MongoStore, Error> {
        let address = parse(arg)?;
        tracing::info!(store = %arg, "a MongoDB store: connecting (created if missing)");
        MongoStore::connect(&address.uri, &address.database, &address.collection)
    }
}

#[cfg(feature = "mongodb")]
pub use open::{open_existing, open_or_create};

/// The error of a build without MongoDB support given a MongoDB URI (after the address's
/// own error, if it has one).
#[cfg(not(feature = "mongodb"))]
pub fn unsupported(arg: &str) -> Error {
    match parse(arg) {
        Err(e) => e,
        Ok(_) => bad(
            arg,
            "this build of sweepstore has no MongoDB support; build it with the `mongodb` \
             feature (cargo install sweepstore --features mongodb)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_names_database_and_collection_and_defaults_fill_in() -> Result<(), Error> {
        let full = parse("mongodb://h:1,g:2/db/coll?directConnection=true")?;
        assert_eq!(
            full,
            Address {
                uri: "mongodb://h:1,g:2/db?directConnection=true".to_owned(),
                database: "db".to_owned(),
                collection: "coll".to_owned(),
            }
        );
        let only_db = parse("mongodb+srv://user:pw@cluster.example/db")?;
        assert_eq!(only_db.uri, "mongodb+srv://user:pw@cluster.example/db");
        assert_eq!(only_db.collection, DEFAULT_COLLECTION);
        for bare in ["mongodb://h:1", "mongodb://h:1/", "mongodb://h:1/?x=y"] {
            let address = parse(bare)?;
            assert_eq!(
                (address.database.as_str(), address.collection.as_str()),
                (DEFAULT_DATABASE, DEFAULT_COLLECTION),
                "{bare}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_malformed_address_is_an_error_naming_it() {
        for (arg, says) in [
            ("mongodb:///db/c", "no host"),
            ("mongodb://h/db/c/extra", "more than two parts"),
            ("mongodb://h/db//", "more than two parts"),
            ("mongodb://h//c", "database name"),
            ("mongodb://h/d.b/c", "database name"),
            ("mongodb://h/db/$c", "collection name"),
            ("mongodb://h/db/system.x", "collection name"),
            ("mongodb://h/db/runs.counters", "own collections"),
            ("mongodb://h/db/runs.content.files", "own collections"),
            ("postgres://h/db", "mongodb://"),
        ] {
            let err = parse(arg).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(arg) && err.contains(says), "{arg}: {err}");
        }
        assert!(is_uri(Path::new("mongodb://h/db/c")));
        assert!(!is_uri(Path::new("./mongodb:/x")));
    }

    #[cfg(not(feature = "mongodb"))]
    #[test]
    fn a_build_without_mongodb_says_so_after_checking_the_address() {
        let plain = unsupported("mongodb://h/db/c").to_string();
        assert!(plain.contains("no MongoDB support"), "{plain}");
        let typo = unsupported("mongodb://h/db/c/d").to_string();
        assert!(typo.contains("more than two parts"), "{typo}");
    }
}
