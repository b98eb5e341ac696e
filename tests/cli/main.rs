//! The `sweepstore` command line as real child processes, one binary (it needs the `cli`
//! feature): `browse.rs` (`ls`, `show`, `get`, and under it `browse/cli_query/`: `table`,
//! `diff`, `rm` and the filter language), `demo.rs` (an interrupted demo sweep resumed),
//! `maintain.rs` (`stats`, `gc`, `verify`), `mongo.rs` (the commands on a MongoDB store,
//! with the `mongodb` feature), `served.rs` (the commands against a served
//! store), `transfer.rs` (`export`, `import`) and `ui.rs` (the dashboard, over HTTP and in
//! a headless Chromium).

mod browse;
mod demo;
mod maintain;
#[cfg(feature = "mongodb")]
mod mongo;
mod served;
#[path = "../shared/mod.rs"]
mod shared;
mod transfer;
mod ui;
