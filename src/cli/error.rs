//! [`CommandError`]: what a subcommand refuses, in sentences that say what to do instead.
//! Store errors stay the library's [`sweepstore::Error`]; these are about the command line.
//! [`CliError`] is what every subcommand returns (here, not in `mod.rs`, so the panic guard
//! can name it without importing the folder head that uses it).

use std::path::PathBuf;

/// Errors the binary reports; printed once as a chain of causes.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// A request the command line cannot carry out as given.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No run of the task matches the selection.
    #[error(
        "no run of task `{task}` {selection}; `sweepstore ls STORE --task {task}` lists its runs"
    )]
    NoRun {
        /// The task.
        task: String,
        /// How the run was selected, e.g. `has a run key starting with 12ab`.
        selection: String,
    },

    /// A run key prefix matches several runs.
    #[error(
        "run key prefix `{prefix}` matches {count} runs of task `{task}` ({}{}); give more digits",
        shown.join(", "),
        if *count > shown.len() as u64 { ", ..." } else { "" }
    )]
    AmbiguousPrefix {
        /// The task.
        task: String,
        /// The prefix given.
        prefix: String,
        /// How many runs match.
        count: u64,
        /// The first digits of the first few matching run keys.
        shown: Vec<String>,
    },

    /// A run key prefix is empty or not hexadecimal.
    #[error("run key prefix `{prefix}` is not valid: give one or more hexadecimal digits")]
    BadPrefix {
        /// The prefix given.
        prefix: String,
    },

    /// A `--config` that is no valid config.
    #[error("--config `{text}` is not a valid config: {reason}")]
    BadConfig {
        /// The text given.
        text: String,
        /// Why it is not one.
        reason: String,
    },

    /// `rm` was not confirmed.
    #[error(
        "did not remove {what}: confirm at the prompt, or pass --yes where stdin is no terminal"
    )]
    NotConfirmed {
        /// What would have been removed.
        what: String,
    },

    /// The store has no run of the task.
    #[error(
        "the store has no task `{task}`; {}",
        if known.is_empty() { "it has no runs at all".to_owned() } else { format!("its tasks are: {}", known.join(", ")) }
    )]
    UnknownTask {
        /// The task given.
        task: String,
        /// The tasks it has.
        known: Vec<String>,
    },

    /// The run has no result of that name.
    #[error("run {run} of task `{task}` has no result `{name}`; it has: {available}")]
    NoResult {
        /// The task.
        task: String,
        /// The run key.
        run: String,
        /// The result asked for.
        name: String,
        /// The names it has (or `nothing`).
        available: String,
    },

    /// A binary result would be printed to a terminal.
    #[error(
        "result `{name}` is of type `{type_name}`, which is not printable; write it to a file \
         with -o FILE (or pipe stdout elsewhere)"
    )]
    BinaryToTerminal {
        /// The result name.
        name: String,
        /// Its type.
        type_name: String,
    },

    /// The demo's store holds a run of task `train` that is not a point of its grid.
    #[error(
        "run {config} of task `train` is not a run of the demo's grid ({reason}); use a new \
         store for the demo"
    )]
    NotADemoRun {
        /// The run's config.
        config: String,
        /// What does not fit.
        reason: String,
    },

    /// A directory given as a LocalFileStore directory holds a RedbStore.
    #[error(
        "`sweepstore {command}` expects a LocalFileStore directory at {}, but it holds a \
         RedbStore (store.redb); the order is `export STORE DIR` and `import DIR STORE` (are \
         the arguments swapped?)",
        .path.display()
    )]
    IsARedbStore {
        /// The directory.
        path: PathBuf,
        /// `export` or `import`.
        command: &'static str,
    },

    /// `import` was given a directory holding no run.
    #[error(
        "{} holds no runs (no <task>/<run>/config.json): it is not a LocalFileStore or fluidml \
         result directory; nothing was imported and no store was created",
        .path.display()
    )]
    NoRuns {
        /// The directory.
        path: PathBuf,
    },

    /// `export` was given a non-empty directory that is not a result directory.
    #[error(
        "{} is not empty and holds no runs: export writes into an empty directory or into an \
         existing LocalFileStore directory (to add what is missing), never among other files",
        .path.display()
    )]
    NotAResultTree {
        /// The directory.
        path: PathBuf,
    },

    /// A command that needs the store to itself was given a store being served.
    #[error(
        "the store at {} is in use: it is being served on {} (`sweepstore serve`); \
         `sweepstore {command}` needs it to itself, so stop the server first",
        .path.display(),
        .socket.display()
    )]
    Served {
        /// The store directory.
        path: PathBuf,
        /// The socket it is served on.
        socket: PathBuf,
        /// The command, e.g. `gc`.
        command: &'static str,
    },

    /// The store's database hit damage it could not report as an error (see
    /// `panic_guard`).
    #[error(
        "the store at {} is damaged: its database found an impossible page ({detail}); \
         nothing was changed (`sweepstore verify` lists the problems it can reach)",
        .path.display()
    )]
    Damaged {
        /// The store directory.
        path: PathBuf,
        /// What the database reported.
        detail: String,
    },

    /// A worker process of `demo --processes` failed.
    #[error(
        "demo worker process {shard} of {workers} failed ({how}); its error is printed above; \
         run the demo again to resume"
    )]
    WorkerFailed {
        /// Its shard.
        shard: usize,
        /// How many there were.
        workers: usize,
        /// What was seen, e.g. `it exited with exit status: 1`.
        how: String,
    },
}
