//! The query core shared by `table`, `ls`, `export`, `diff` and the `ui` dashboard: a task's
//! runs as a table of dotted columns, the `--where` filter language, sorting, column
//! selection, and JSON/CSV output. One implementation; callers never rebuild these rules.
//!
//! Data flows: [`load::runs`] reads a task's runs (and, when asked, one json result of each)
//! from any store the CLI reaches → [`Table::new`] flattens each run's config and result into
//! `Column`s (`table::Column`) → [`Table::retain`] applies [`Filter`]s, [`Table::sort`] [`SortKey`]s,
//! [`Table::truncate`] a limit → [`format`] writes the rows as JSON or CSV (the `table`
//! subcommand prints text; the dashboard HTML).
//!
//! Column names (the only names filters, `--sort` and `--columns` accept):
//! - `run`, `state`, `created`, `finished`, `duration`: the run itself ([`Source::Run`]);
//! - a config key, nested keys joined by dots: `lr`, `Train.lr` ([`Source::Config`]); a config
//!   path whose name another column already has is prefixed `config.`;
//! - a field of the json result, prefixed by the result's name: `metrics.val_loss`
//!   ([`Source::Result`]); a result that is not an object is the column `metrics` itself.
//!
//! A name given by a user resolves to the column of exactly that name, else to the one column
//! whose name ends in `.NAME` (`val_loss` → `metrics.val_loss`); none or several is a
//! [`QueryError`] naming the candidates.
//!
//! Invariants: values keep their JSON types (a number sorts and compares as a number; `0`
//! equals `0.0` as in run keys); a run without a column's value has a blank cell, never an
//! error; every order is deterministic (ties keep the store's run-key order).

pub mod error;
pub mod filter;
pub mod flatten;
pub mod format;
pub mod load;
pub mod table;
#[cfg(test)]
mod tests;

pub use error::QueryError;
pub use filter::Filter;
pub use table::{SortKey, Source, Table};
