//! The commands handles send to the storage actor: one variant per write operation, each
//! with its reply sender.

use crate::engine::reply::Reply;

use crate::engine::gc::GcReport;
use crate::error::Result;
use crate::key::ContentHash;
use crate::names::{ResultName, RunName, SubDir};
use crate::run::{RunId, RunState};

/// A value to save: bytes travelling with the command, or a blob already durable.
#[derive(Debug)]
pub(crate) enum Content {
    Inline { hash: ContentHash, bytes: Vec<u8> },
    Blob { hash: ContentHash, size: u64 },
}

/// One request to the actor.
#[derive(Debug)]
pub(crate) enum Command {
    /// Set result `name` of the exact run.
    Save {
        run: RunId,
        name: ResultName,
        type_name: String,
        content: Content,
        /// Fail if the name exists (open mode `x`).
        exclusive: bool,
        /// The sub-directory it is kept in (fluidml's `sub_dir`).
        sub_dir: Option<SubDir>,
        reply: Reply<Result<()>>,
    },
    /// Record the exact run's directory name in a fluidml tree and whether it has no state,
    /// creating the run if needed.
    Tree {
        run: RunId,
        dir_name: Option<RunName>,
        stateless: bool,
        reply: Reply<Result<()>>,
    },
    /// Set the state of the exact run.
    SetState {
        run: RunId,
        state: RunState,
        reply: Reply<Result<()>>,
    },
    /// Create the exact run if needed; reply with its sweep counter.
    Context {
        run: RunId,
        reply: Reply<Result<u64>>,
    },
    /// Delete result `name` of the looked-up run.
    Delete {
        run: RunId,
        name: ResultName,
        reply: Reply<Result<bool>>,
    },
    /// Delete the looked-up run; reply with its task and counter.
    DeleteRun {
        run: RunId,
        /// The deleted run's task and sweep counter, if a run was deleted.
        reply: Reply<Result<Option<(String, u64)>>>,
    },
    /// Claim the exact run for `owner` (the claim rule, `crate::claim`).
    Claim {
        run: RunId,
        owner: String,
        lease: std::time::Duration,
        reply: Reply<Result<crate::claim::ClaimOutcome>>,
    },
    /// Collect unreferenced content.
    Gc {
        dry_run: bool,
        reply: Reply<Result<GcReport>>,
    },
    /// Make everything applied durable in the database and trim the WAL.
    Checkpoint { reply: Reply<Result<()>> },
    /// Checkpoint and stop.
    Close { reply: Reply<Result<()>> },
}
