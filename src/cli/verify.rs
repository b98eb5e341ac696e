//! `sweepstore verify STORE [--json]`: has redb check every page of the database as the
//! store opens, then re-hashes every stored value, cross-checks the tables and reads the
//! write-ahead log ([`sweepstore::RedbStore::verify`]); prints each problem found. A served
//! store is verified by its server (`RemoteStore::verify`), without the page check, which
//! needs the store to itself (said on stderr).
//!
//! Invariants: verification never writes (a store that cannot be opened because its
//! database or log is damaged is itself reported as a problem, and nothing is repaired);
//! the exit code is 3 when problems were found, 1 when verification could not run.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use sweepstore::{Error, RedbOptions};

use super::panic_guard::contain;
use super::progress::Bar;
use super::render::size;
use super::store::{Access, Store, open_existing_with};
use super::{CliError, Out, Status};

/// Check every stored value, the database and the write-ahead log.
///
/// redb's page checksums, every stored value re-hashed against its content hash, the tables
/// against each other, and the write-ahead log. Prints each problem found; exits with 3 if
/// there were any. Never changes the store.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The store: a directory, or a MongoDB store (mongodb://HOST:PORT/DATABASE/COLLECTION).
    store: PathBuf,
    /// Print JSON: {"values_checked", "bytes_checked", "problems": [{"location",
    /// "description"}]}.
    #[arg(long)]
    json: bool,
}

/// One problem: where, and what is wrong.
struct Found {
    location: String,
    description: String,
}

/// What was checked and found.
#[derive(Default)]
struct Outcome {
    values_checked: u64,
    bytes_checked: u64,
    problems: Vec<Found>,
}

/// Opens the store with redb's page check (or reaches it through its server, which cannot
/// run that check on a store it has open); damage found while opening becomes the one
/// problem of the outcome (`Err` only for reasons unrelated to damage, such as the store
/// being in use).
fn open_checked(path: &Path) -> Result<Result<Store, Found>, Error> {
    let options = RedbOptions::default().check_integrity_on_open(true);
    match open_existing_with(path, options, Access::Read) {
        Ok(store) => Ok(Ok(store)),
        Err(
            e @ (Error::Storage { .. }
            | Error::WalCorrupt { .. }
            | Error::CorruptRecord { .. }
            | Error::UnsupportedFormat { .. }),
        ) => Ok(Err(Found {
            location: path.display().to_string(),
            description: format!("redb's page check failed: {e}"),
        })),
        Err(e) => Err(e),
    }
}

/// Verifies an opened store.
fn check(store: &Store, out: &Out<'_>) -> Result<Outcome, Error> {
    if let Store::Served(remote) = store {
        eprintln!(
            "sweepstore: verifying through the server on {} (redb's page check runs \
             only when the store is opened directly; progress is coarse)",
            remote.socket().display()
        );
    }
    let bar = Bar::new(out.is_terminal, 0, "values");
    let report = store.verify(&mut |progress| bar.follow(progress))?;
    bar.finish();
    Ok(Outcome {
        values_checked: report.values_checked,
        bytes_checked: report.bytes_checked,
        problems: report
            .problems
            .into_iter()
            .map(|p| Found {
                location: p.location,
                description: p.description,
            })
            .collect(),
    })
}

/// After redb's page check refused the store (`damage`): opens it without that check and
/// checks what can still be reached. A read the damage stops (an error, or a panic of redb's
/// internal checks, contained by [`contain`]) is one more problem, never a crash.
fn check_damaged(path: &Path, damage: Found, out: &Out<'_>) -> Outcome {
    let reached = contain(path, || {
        let store = open_existing_with(path, RedbOptions::default(), Access::Read)?;
        Ok(check(&store, out)?)
    });
    let mut outcome = reached.unwrap_or_else(|e| Outcome {
        problems: vec![Found {
            location: path.display().to_string(),
            description: format!("checking stopped at the damage: {e}"),
        }],
        ..Outcome::default()
    });
    outcome.problems.insert(0, damage);
    outcome
}

pub fn run(args: &VerifyArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let report = match open_checked(&args.store)? {
        Ok(store) => check(&store, out)?,
        Err(damage) => check_damaged(&args.store, damage, out),
    };
    if args.json {
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|p| json!({ "location": p.location, "description": p.description }))
            .collect();
        let value = json!({
            "values_checked": report.values_checked,
            "bytes_checked": report.bytes_checked,
            "problems": problems,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        for problem in &report.problems {
            writeln!(
                out,
                "problem: {}: {}",
                problem.location, problem.description
            )?;
        }
        writeln!(
            out,
            "checked {} values ({}): {}",
            report.values_checked,
            size(report.bytes_checked),
            match report.problems.len() {
                0 => "no problems found".to_owned(),
                1 => "1 problem found".to_owned(),
                n => format!("{n} problems found"),
            }
        )?;
    }
    Ok(if report.problems.is_empty() {
        Status::Success
    } else {
        Status::ProblemsFound
    })
}
