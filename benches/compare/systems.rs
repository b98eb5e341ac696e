//! The systems under comparison, behind one trait: the sweepstore backends (through their
//! public API, as a user calls them), raw redb and SQLite (a results table keyed the same
//! way: the run key — blake3 of task and canonical config — and the result name).
//!
//! Invariants:
//! - every system stores the same value bytes: metrics are the `json` encoding and weights the
//!   `binary` encoding of sweepstore's own codecs, computed inside the timed operation for
//!   every system (so no side skips the encoding work);
//! - a `save_run` is two saves (metrics, then weights), each durable as the system's
//!   durability setting says, never one combined transaction;
//! - loads return the decoded value, so callers can check the bytes.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sweepstore::{RunKey, StoreExt, TaskName, TypeInfo, TypeRegistry, UniqueConfig};

use crate::support::BenchResult;

/// Runs saved per durable transaction by the batched raw redb baseline (two saves each).
pub const BATCH_RUNS: u64 = 500;

/// What every compared system can do.
pub trait System: Sync {
    /// Saves a run's metrics, then its weights, from worker thread `t`.
    fn save_run(
        &self,
        t: usize,
        task: &str,
        config: &Value,
        metrics: &Value,
        weights: &[u8],
    ) -> BenchResult<()>;
    /// Saves only a run's metrics (the scale workload).
    fn save_metrics(
        &self,
        t: usize,
        task: &str,
        config: &Value,
        metrics: &Value,
    ) -> BenchResult<()>;
    /// The metrics of a run, if stored.
    fn load_metrics(&self, task: &str, config: &Value) -> BenchResult<Option<Value>>;
    /// The weights of a run, if stored.
    fn load_weights(&self, task: &str, config: &Value) -> BenchResult<Option<Vec<u8>>>;
    /// The metrics of every run of `task` with its config (a reduce step), loaded eagerly or
    /// through promises (`lazy`; systems without promises load eagerly).
    fn reduce(&self, task: &str, lazy: bool) -> BenchResult<Vec<(Value, Value)>>;
    /// Saves the metrics of the runs `keys` (config `config(k)`, value `metrics(k)`) as fast as
    /// the system honestly can — one by one by default, in batched transactions for raw redb
    /// and SQLite: the untimed fill before a measurement.
    fn fill(
        &self,
        task: &str,
        keys: &[u64],
        config: &dyn Fn(u64) -> Value,
        metrics: &dyn Fn(u64) -> Value,
    ) -> BenchResult<()> {
        for &k in keys {
            self.save_metrics(0, task, &config(k), &metrics(k))?;
        }
        Ok(())
    }
}

/// The codecs every system encodes with.
#[derive(Clone)]
pub struct Codecs {
    json: Arc<TypeInfo>,
    binary: Arc<TypeInfo>,
}

impl Codecs {
    pub fn new() -> BenchResult<Self> {
        let types = TypeRegistry::new();
        Ok(Codecs {
            json: types.get(sweepstore::JSON)?,
            binary: types.get(sweepstore::BINARY)?,
        })
    }

    fn metrics(&self, value: &Value) -> BenchResult<Vec<u8>> {
        Ok(self.json.encode(value)?)
    }

    fn weights(&self, bytes: &[u8]) -> BenchResult<Vec<u8>> {
        Ok(self.binary.encode(&bytes.to_vec())?)
    }

    fn decode_metrics(&self, bytes: &[u8]) -> BenchResult<Value> {
        Ok(self.json.decode(bytes)?)
    }

    fn decode_weights(&self, bytes: &[u8]) -> BenchResult<Vec<u8>> {
        Ok(self.binary.decode(bytes)?)
    }
}

/// The run key and canonical config text of a run, as sweepstore computes them.
fn run_key(task: &str, config: &Value) -> BenchResult<(RunKey, String)> {
    let config = UniqueConfig::new(config.clone())?;
    Ok((
        RunKey::new(&TaskName::new(task)?, &config),
        config.canonical().to_owned(),
    ))
}

// ---------------------------------------------------------------------------------------
// sweepstore

/// A sweepstore backend used through `StoreExt`, as a user would.
pub struct Sweepstore<S>(pub S);

impl<S: StoreExt + Sync> Sweepstore<S> {
    fn run_of<'a>(&'a self, task: &str, config: &Value) -> BenchResult<sweepstore::Run<'a, S>> {
        Ok(self.0.run(task, &UniqueConfig::new(config.clone())?)?)
    }
}

impl<S: StoreExt + Sync> System for Sweepstore<S> {
    fn save_run(
        &self,
        _: usize,
        task: &str,
        config: &Value,
        metrics: &Value,
        weights: &[u8],
    ) -> BenchResult<()> {
        let run = self.run_of(task, config)?;
        run.save("metrics", sweepstore::JSON, metrics)?;
        run.save("weights", sweepstore::BINARY, &weights.to_vec())?;
        Ok(())
    }

    fn save_metrics(
        &self,
        _: usize,
        task: &str,
        config: &Value,
        metrics: &Value,
    ) -> BenchResult<()> {
        Ok(self
            .run_of(task, config)?
            .save("metrics", sweepstore::JSON, metrics)?)
    }

    fn load_metrics(&self, task: &str, config: &Value) -> BenchResult<Option<Value>> {
        Ok(self.run_of(task, config)?.load::<Value>("metrics")?)
    }

    fn load_weights(&self, task: &str, config: &Value) -> BenchResult<Option<Vec<u8>>> {
        Ok(self.run_of(task, config)?.load::<Vec<u8>>("weights")?)
    }

    fn reduce(&self, task: &str, lazy: bool) -> BenchResult<Vec<(Value, Value)>> {
        let task = self.0.task(task)?;
        let mut out = Vec::new();
        if lazy {
            for sweep in task.lazy_sweep("metrics")? {
                let sweep = sweep?;
                out.push((sweep.config.to_value(), sweep.value.load::<Value>()?));
            }
        } else {
            for sweep in task.sweep::<Value>("metrics")? {
                let sweep = sweep?;
                out.push((sweep.config.to_value(), sweep.value));
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// raw redb

/// `task \0 run key` → canonical config.
const RUNS: TableDefinition<&[u8], &str> = TableDefinition::new("runs");
/// `task \0 run key name` → encoded value.
const RESULTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("results");

/// redb used directly: a runs table and a results table; each save is its own durable write
/// transaction (`batched: false`), or `BATCH_RUNS` runs share one (`batched: true`, only in
/// [`RawRedb::save_batch`]).
pub struct RawRedb {
    db: Database,
    codecs: Codecs,
}

fn redb_prefix(task: &str, key: &RunKey) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(task.len() + 33);
    prefix.extend_from_slice(task.as_bytes());
    prefix.push(0);
    prefix.extend_from_slice(key.as_bytes());
    prefix
}

fn redb_result_key(prefix: &[u8], name: &str) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

impl RawRedb {
    pub fn create(dir: &Path, codecs: Codecs) -> BenchResult<Self> {
        let db = Database::create(dir.join("raw.redb"))?;
        let txn = db.begin_write()?;
        txn.open_table(RUNS)?;
        txn.open_table(RESULTS)?;
        txn.commit()?;
        Ok(RawRedb { db, codecs })
    }

    /// Opens an existing database (redb repairs it first if it was not closed cleanly).
    pub fn open(dir: &Path, codecs: Codecs) -> BenchResult<Self> {
        Ok(RawRedb {
            db: Database::open(dir.join("raw.redb"))?,
            codecs,
        })
    }

    fn put(
        txn: &redb::WriteTransaction,
        task: &str,
        config: &Value,
        name: &str,
        bytes: &[u8],
    ) -> BenchResult<()> {
        let (key, canonical) = run_key(task, config)?;
        let prefix = redb_prefix(task, &key);
        let mut runs = txn.open_table(RUNS)?;
        if runs.get(prefix.as_slice())?.is_none() {
            runs.insert(prefix.as_slice(), canonical.as_str())?;
        }
        txn.open_table(RESULTS)?
            .insert(redb_result_key(&prefix, name).as_slice(), bytes)?;
        Ok(())
    }

    fn save_one(&self, task: &str, config: &Value, name: &str, bytes: &[u8]) -> BenchResult<()> {
        let txn = self.db.begin_write()?;
        Self::put(&txn, task, config, name, bytes)?;
        txn.commit()?;
        Ok(())
    }

    /// Saves every run of `runs` (config, metrics, weights) in one durable transaction.
    pub fn save_batch(&self, task: &str, runs: &[(Value, Value, Vec<u8>)]) -> BenchResult<()> {
        let txn = self.db.begin_write()?;
        for (config, metrics, weights) in runs {
            Self::put(
                &txn,
                task,
                config,
                "metrics",
                &self.codecs.metrics(metrics)?,
            )?;
            Self::put(
                &txn,
                task,
                config,
                "weights",
                &self.codecs.weights(weights)?,
            )?;
        }
        txn.commit()?;
        Ok(())
    }

    fn get(&self, task: &str, config: &Value, name: &str) -> BenchResult<Option<Vec<u8>>> {
        let (key, _) = run_key(task, config)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(RESULTS)?;
        let key = redb_result_key(&redb_prefix(task, &key), name);
        Ok(table.get(key.as_slice())?.map(|v| v.value().to_vec()))
    }
}

impl System for RawRedb {
    fn save_run(
        &self,
        _: usize,
        task: &str,
        config: &Value,
        metrics: &Value,
        weights: &[u8],
    ) -> BenchResult<()> {
        self.save_one(task, config, "metrics", &self.codecs.metrics(metrics)?)?;
        self.save_one(task, config, "weights", &self.codecs.weights(weights)?)
    }

    fn save_metrics(
        &self,
        _: usize,
        task: &str,
        config: &Value,
        metrics: &Value,
    ) -> BenchResult<()> {
        self.save_one(task, config, "metrics", &self.codecs.metrics(metrics)?)
    }

    fn load_metrics(&self, task: &str, config: &Value) -> BenchResult<Option<Value>> {
        self.get(task, config, "metrics")?
            .map(|b| self.codecs.decode_metrics(&b))
            .transpose()
    }

    fn load_weights(&self, task: &str, config: &Value) -> BenchResult<Option<Vec<u8>>> {
        self.get(task, config, "weights")?
            .map(|b| self.codecs.decode_weights(&b))
            .transpose()
    }

    fn reduce(&self, task: &str, _lazy: bool) -> BenchResult<Vec<(Value, Value)>> {
        let txn = self.db.begin_read()?;
        let runs = txn.open_table(RUNS)?;
        let results = txn.open_table(RESULTS)?;
        let mut start = task.as_bytes().to_vec();
        start.push(0);
        let mut end = task.as_bytes().to_vec();
        end.push(1);
        let mut out = Vec::new();
        for entry in runs.range(start.as_slice()..end.as_slice())? {
            let (prefix, config) = entry?;
            let key = redb_result_key(prefix.value(), "metrics");
            if let Some(bytes) = results.get(key.as_slice())? {
                let config: Value = serde_json::from_str(config.value())?;
                out.push((config, self.codecs.decode_metrics(bytes.value())?));
            }
        }
        Ok(out)
    }

    fn fill(
        &self,
        task: &str,
        keys: &[u64],
        config: &dyn Fn(u64) -> Value,
        metrics: &dyn Fn(u64) -> Value,
    ) -> BenchResult<()> {
        for chunk in keys.chunks(1000) {
            let txn = self.db.begin_write()?;
            for &k in chunk {
                Self::put(
                    &txn,
                    task,
                    &config(k),
                    "metrics",
                    &self.codecs.metrics(&metrics(k))?,
                )?;
            }
            txn.commit()?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// SQLite

/// SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit fsyncs the WAL: durable.
    Full,
    /// Commits do not fsync (only checkpoints do): a power loss can lose recent commits.
    Normal,
}

/// SQLite in WAL mode through rusqlite (bundled SQLite), one connection per worker thread,
/// each save its own `BEGIN IMMEDIATE … COMMIT` transaction.
pub struct Sqlite {
    connections: Vec<Mutex<Connection>>,
    codecs: Codecs,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run_key BLOB PRIMARY KEY, task TEXT NOT NULL, config TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_task ON runs (task);
CREATE TABLE IF NOT EXISTS results (
    run_key BLOB NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (run_key, name));
";

/// Opens a connection to the database in `dir` with WAL mode and `sync`.
pub fn sqlite_connection(dir: &Path, sync: Synchronous) -> BenchResult<Connection> {
    let conn = Connection::open(dir.join("results.sqlite"))?;
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let level = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", level)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

impl Sqlite {
    pub fn open(
        dir: &Path,
        sync: Synchronous,
        threads: usize,
        codecs: Codecs,
    ) -> BenchResult<Self> {
        let connections = (0..threads.max(1))
            .map(|_| Ok(Mutex::new(sqlite_connection(dir, sync)?)))
            .collect::<BenchResult<_>>()?;
        Ok(Sqlite {
            connections,
            codecs,
        })
    }

    /// Turns off automatic WAL checkpoints on every connection.
    pub fn without_autocheckpoint(&self) -> BenchResult<()> {
        for t in 0..self.connections.len() {
            self.conn(t).pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        Ok(())
    }

    /// Saves every run of `runs` (config, metrics, weights) in one transaction.
    pub fn save_batch(&self, task: &str, runs: &[(Value, Value, Vec<u8>)]) -> BenchResult<()> {
        let mut conn = self.conn(0);
        let txn = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (config, metrics, weights) in runs {
            Self::put(
                &txn,
                task,
                config,
                "metrics",
                sweepstore::JSON,
                &self.codecs.metrics(metrics)?,
            )?;
            Self::put(
                &txn,
                task,
                config,
                "weights",
                sweepstore::BINARY,
                &self.codecs.weights(weights)?,
            )?;
        }
        txn.commit()?;
        Ok(())
    }

    fn conn(&self, t: usize) -> std::sync::MutexGuard<'_, Connection> {
        self.connections[t % self.connections.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn put(
        conn: &Connection,
        task: &str,
        config: &Value,
        name: &str,
        kind: &str,
        bytes: &[u8],
    ) -> BenchResult<()> {
        let (key, canonical) = run_key(task, config)?;
        conn.prepare_cached(
            "INSERT OR IGNORE INTO runs (run_key, task, config) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![key.as_bytes().as_slice(), task, canonical])?;
        conn.prepare_cached(
            "INSERT OR REPLACE INTO results (run_key, name, type, value) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![key.as_bytes().as_slice(), name, kind, bytes])?;
        Ok(())
    }

    fn save_one(
        &self,
        t: usize,
        task: &str,
        config: &Value,
        name: &str,
        kind: &str,
        bytes: &[u8],
    ) -> BenchResult<()> {
        let mut conn = self.conn(t);
        let txn = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Self::put(&txn, task, config, name, kind, bytes)?;
        txn.commit()?;
        Ok(())
    }

    fn get(&self, task: &str, config: &Value, name: &str) -> BenchResult<Option<Vec<u8>>> {
        let (key, _) = run_key(task, config)?;
        let conn = self.conn(0);
        let mut stmt =
            conn.prepare_cached("SELECT value FROM results WHERE run_key = ?1 AND name = ?2")?;
        Ok(stmt
            .query_row(params![key.as_bytes().as_slice(), name], |row| row.get(0))
            .optional()?)
    }
}

impl System for Sqlite {
    fn save_run(
        &self,
        t: usize,
        task: &str,
        config: &Value,
        metrics: &Value,
        weights: &[u8],
    ) -> BenchResult<()> {
        self.save_one(
            t,
            task,
            config,
            "metrics",
            sweepstore::JSON,
            &self.codecs.metrics(metrics)?,
        )?;
        self.save_one(
            t,
            task,
            config,
            "weights",
            sweepstore::BINARY,
            &self.codecs.weights(weights)?,
        )
    }

    fn save_metrics(
        &self,
        t: usize,
        task: &str,
        config: &Value,
        metrics: &Value,
    ) -> BenchResult<()> {
        self.save_one(
            t,
            task,
            config,
            "metrics",
            sweepstore::JSON,
            &self.codecs.metrics(metrics)?,
        )
    }

    fn load_metrics(&self, task: &str, config: &Value) -> BenchResult<Option<Value>> {
        self.get(task, config, "metrics")?
            .map(|b| self.codecs.decode_metrics(&b))
            .transpose()
    }

    fn load_weights(&self, task: &str, config: &Value) -> BenchResult<Option<Vec<u8>>> {
        self.get(task, config, "weights")?
            .map(|b| self.codecs.decode_weights(&b))
            .transpose()
    }

    fn reduce(&self, task: &str, _lazy: bool) -> BenchResult<Vec<(Value, Value)>> {
        let conn = self.conn(0);
        let mut stmt = conn.prepare_cached(
            "SELECT runs.config, results.value FROM runs JOIN results \
             ON results.run_key = runs.run_key AND results.name = 'metrics' \
             WHERE runs.task = ?1 ORDER BY runs.rowid",
        )?;
        let rows = stmt.query_map(params![task], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (config, bytes) = row?;
            out.push((
                serde_json::from_str(&config)?,
                self.codecs.decode_metrics(&bytes)?,
            ));
        }
        Ok(out)
    }

    fn fill(
        &self,
        task: &str,
        keys: &[u64],
        config: &dyn Fn(u64) -> Value,
        metrics: &dyn Fn(u64) -> Value,
    ) -> BenchResult<()> {
        let mut conn = self.conn(0);
        for chunk in keys.chunks(1000) {
            let txn = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for &k in chunk {
                Self::put(
                    &txn,
                    task,
                    &config(k),
                    "metrics",
                    sweepstore::JSON,
                    &self.codecs.metrics(&metrics(k))?,
                )?;
            }
            txn.commit()?;
        }
        Ok(())
    }
}
