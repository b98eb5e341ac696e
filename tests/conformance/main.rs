//! The backend conformance suite: one set of behaviour tests for the [`ResultsStore`]
//! contract (see `src/store.rs`), written once in `cases/` and instantiated for every backend
//! by [`conformance!`].
//!
//! Each case is `pub fn name<S: ResultsStore>(store: &S) -> Result<()>` and gets a fresh,
//! empty store. To test a new backend, add one line at the bottom of this file:
//! `conformance!(backend_name, make)`, where `make` is a function or closure returning
//! `Result<Fixture<YourStore, Guard>>`; the guard keeps alive whatever the store needs (a
//! temporary directory, a server) and is dropped after the store. For example:
//!
//! ```text
//! fn redb_fixture() -> sweepstore::Result<Fixture<RedbStore, tempfile::TempDir>> {
//!     let dir = tempfile::tempdir().map_err(support::io_err("create a temporary directory"))?;
//!     let store = RedbStore::open(dir.path().join("store"), RedbOptions::default())?;
//!     Ok(Fixture { store, _guard: dir })
//! }
//! conformance!(redb, redb_fixture);
//! ```
//!
//! Run claims are optional (a store may refuse them): their cases (`cases/claims.rs`) are
//! instantiated by [`claims!`] for the backends that support them.
//!
//! Invariants: the case lists in [`conformance!`] and [`claims!`] name every `pub fn` in
//! `cases/` exactly once;
//! a case missing from the list is dead code, which `clippy -D warnings` rejects. Cases only
//! use the public API.
//!
//! The same binary holds the other suites every backend or every store shares: `browse.rs`
//! ([`Browse`](sweepstore::Browse) on each browsable backend), `config_props.rs` (property
//! tests of the canonical config form) and `golden_keys.rs` (the fixed canonical bytes and
//! run keys of the on-disk format).

mod browse;
mod cases;
mod config_props;
mod golden_keys;
#[path = "../shared/mod.rs"]
mod shared;
mod support;

use support::Fixture;
use sweepstore::{InMemoryStore, LocalFileStore, RedbOptions, RedbStore, RemoteStore};

/// Instantiates every conformance case as a `#[test]` in `mod $backend`, each on a fresh
/// fixture from `$make` (a function or closure returning `Result<Fixture<_, _>>`).
macro_rules! conformance {
    ($backend:ident, $make:expr) => {
        conformance!(@cases $backend, $make, [
            roundtrip::json_struct_round_trips,
            roundtrip::binary_struct_round_trips,
            roundtrip::pickle_is_pythons_pickle_and_keeps_its_name,
            roundtrip::text_round_trips,
            roundtrip::bytes_round_trip,
            roundtrip::empty_and_large_values_round_trip,
            roundtrip::custom_type_round_trips_through_its_own_codec,
            roundtrip::raw_bytes_saved_as_a_type_load_through_its_codec,
            roundtrip::results_in_a_sub_dir_load_by_name,
            roundtrip::save_after_overwrite_returns_the_new_value,
            roundtrip::overwrite_may_change_the_type,
            roundtrip::identical_values_under_two_names_are_independent,
            roundtrip::load_of_a_missing_name_is_none,
            roundtrip::load_of_a_missing_run_is_none,
            roundtrip::load_of_a_missing_task_is_none,
            roundtrip::delete_returns_true_then_false_and_the_name_is_gone,
            roundtrip::delete_leaves_other_names_and_runs_alone,
            roundtrip::delete_run_removes_all_results_and_state,
            roundtrip::delete_run_leaves_other_runs_and_tasks_alone,
            roundtrip::a_deleted_run_can_be_saved_again,
            roundtrip::tasks_do_not_share_runs,

            lookup::exact_config_wins_over_a_subset,
            lookup::the_most_specific_subset_wins,
            lookup::among_equally_specific_subsets_the_earliest_created_wins,
            lookup::a_config_that_is_not_a_subset_never_matches,
            lookup::lookup_picks_the_run_before_the_name,
            lookup::an_empty_exact_run_hides_its_subsets,
            lookup::integer_and_float_spellings_and_key_order_are_one_config,
            lookup::nested_values_are_compared_canonically,
            lookup::saving_with_a_superset_config_creates_a_new_run,
            lookup::delete_uses_the_lookup_rule,
            lookup::delete_run_uses_the_lookup_rule,
            lookup::get_results_and_state_use_the_lookup_rule,
            lookup::lookup_never_crosses_tasks,

            runs::get_results_returns_every_named_result_of_the_run,
            runs::get_results_of_a_missing_run_is_none,
            runs::get_results_of_a_run_without_results_is_empty,
            runs::sweep_counters_count_up_in_creation_order,
            runs::sweep_counters_are_separate_per_task,
            runs::sweep_counters_are_stable_on_repeated_calls,
            runs::sweep_counters_are_not_reused_after_delete_run,
            runs::get_context_creates_a_running_run,
            runs::a_new_run_is_running,
            runs::finished_runs_report_is_finished,
            runs::failed_runs_are_not_finished,
            runs::state_of_a_missing_run_is_none,
            runs::saving_again_keeps_the_run_state,
            runs::a_resumed_sweep_skips_finished_runs,
            runs::sweep_returns_every_run_with_the_name_in_creation_order,
            runs::lazy_sweep_gives_promises_with_configs,
            runs::sweep_skips_runs_without_the_name,
            runs::sweep_of_a_missing_task_or_name_is_empty,
            runs::sweep_after_delete_run_leaves_the_run_out,
            runs::sweep_with_the_wrong_rust_type_fails_per_item,

            promises::promise_reports_type_size_and_content_hash,
            promises::promise_survives_a_later_overwrite,
            promises::promise_survives_a_delete_of_the_name,
            promises::promise_survives_delete_run,
            promises::promises_from_get_results_and_sweeps_survive_overwrites,
            promises::promise_loads_repeatedly,
            promises::file_from_promise_reads_the_content,

            files::open_for_reading_a_missing_result_is_not_found,
            files::open_in_every_read_mode_reads_the_stored_content,
            files::r_plus_overwrites_in_place_from_the_start,
            files::r_plus_addresses_the_exact_run_only,
            files::read_mode_uses_the_lookup_rule,
            files::w_replaces_the_stored_content,
            files::w_plus_reads_back_what_it_wrote,
            files::append_appends_to_the_stored_content_even_after_seek,
            files::append_plus_reads_the_whole_content_after_seek,
            files::append_to_a_missing_result_starts_empty,
            files::exclusive_mode_creates_a_new_result,
            files::exclusive_mode_on_an_existing_result_already_exists,
            files::exclusive_mode_does_not_publish_over_a_result_saved_meanwhile,
            files::invalid_mode_strings_are_rejected,
            files::writes_publish_only_on_close,
            files::dropping_a_writable_file_keeps_the_old_value,
            files::write_modes_address_the_exact_run,
            files::readline_and_readlines_keep_line_ends,
            files::writelines_adds_no_separators,
            files::tell_and_seek_track_the_logical_position,
            files::reads_larger_than_the_buffer_are_complete,
            files::truncate_cuts_at_the_position_or_a_size,
            files::file_save_and_load_use_the_type_codec,
            files::reading_a_write_only_file_fails,
            files::writing_a_read_only_file_fails,
            files::default_write_type_follows_the_mode,
            files::explicit_write_type_is_used,
            files::files_in_a_sub_dir_load_by_name,
            files::mode_errors_name_the_result,

            concurrency::sixteen_threads_save_and_load_at_once,
            concurrency::concurrent_overwrites_leave_one_of_the_written_values,
            concurrency::concurrent_first_saves_create_one_run,
            concurrency::concurrent_file_writes_all_publish,

            bad_input::invalid_task_names_are_rejected_with_their_problem,
            bad_input::invalid_result_names_are_rejected_with_their_problem,
            bad_input::invalid_result_names_are_rejected_by_every_operation,
            bad_input::invalid_sub_dirs_are_rejected,
            bad_input::invalid_configs_are_config_errors,
            bad_input::unknown_types_are_rejected_without_creating_the_run,
            bad_input::saving_a_value_of_the_wrong_rust_type_is_rejected,
            bad_input::loading_into_the_wrong_rust_type_is_an_error,
            bad_input::json_bytes_that_are_not_json_are_refused_and_change_nothing,
            bad_input::registering_a_taken_type_name_is_rejected,
            bad_input::rejected_file_opens_change_nothing,

            model::random_operations_agree_with_a_reference_model,
        ]);
    };
    (@cases $backend:ident, $make:expr, [$($(#[$meta:meta])* $module:ident :: $case:ident),* $(,)?]) => {
        mod $backend {
            use super::*;
            $(
                #[test]
                $(#[$meta])*
                fn $case() -> sweepstore::Result<()> {
                    let fixture = ($make)()?;
                    cases::$module::$case(&fixture.store)
                }
            )*
        }
    };
}

/// Instantiates the run-claim cases (`cases/claims.rs`) in `mod $backend`, for backends that
/// support claims (LocalFileStore refuses them: `local_file_store_refuses_claims`).
macro_rules! claims {
    ($backend:ident, $make:expr) => {
        conformance!(@cases $backend, $make, [
            claims::a_claim_creates_the_run_running_and_keeps_others_out,
            claims::finishing_releases_a_claim_and_a_finished_run_is_never_claimed,
            claims::failing_or_deleting_a_run_releases_its_claim,
            claims::an_expired_claim_goes_to_the_next_owner,
            claims::claims_address_the_exact_run_not_a_subset,
            claims::an_empty_owner_is_rejected_without_creating_the_run,
            claims::only_one_of_many_threads_gets_a_claim,
        ]);
    };
}

/// The in-memory store needs nothing kept alive.
fn in_memory_fixture() -> sweepstore::Result<Fixture<InMemoryStore>> {
    Ok(Fixture::new(InMemoryStore::new()))
}

conformance!(in_memory, in_memory_fixture);
claims!(in_memory_claims, in_memory_fixture);

/// A RedbStore in a fresh temporary directory, removed after the store is dropped.
fn redb_fixture() -> sweepstore::Result<Fixture<RedbStore, tempfile::TempDir>> {
    let dir = tempfile::tempdir().map_err(|source| sweepstore::Error::Stream {
        op: "create a temporary directory",
        source,
    })?;
    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    Ok(Fixture::with_guard(store, dir))
}

conformance!(redb, redb_fixture);
claims!(redb_claims, redb_fixture);

/// A LocalFileStore in a fresh temporary directory, removed after the store is dropped.
fn local_fixture() -> sweepstore::Result<Fixture<LocalFileStore, tempfile::TempDir>> {
    let dir = tempfile::tempdir().map_err(|source| sweepstore::Error::Stream {
        op: "create a temporary directory",
        source,
    })?;
    let store = LocalFileStore::new(dir.path())?;
    Ok(Fixture::with_guard(store, dir))
}

conformance!(local, local_fixture);

#[test]
fn local_file_store_refuses_claims() -> sweepstore::Result<()> {
    use sweepstore::StoreExt;
    let fixture = local_fixture()?;
    let run = fixture
        .store
        .run("train", &sweepstore::UniqueConfig::parse(r#"{"lr": 1}"#)?)?;
    let refused = run.claim("a", std::time::Duration::from_secs(1));
    assert!(matches!(
        refused,
        Err(sweepstore::Error::Unsupported { .. })
    ));
    assert_eq!(run.state()?, None);
    Ok(())
}

/// A RemoteStore talking to a server (in this process, on its own thread) that serves a
/// RedbStore in a fresh temporary directory; the guard stops the server and removes the
/// directory after the store is dropped.
fn remote_fixture() -> sweepstore::Result<Fixture<RemoteStore, support::Served>> {
    let served = support::Served::start()?;
    let store = RemoteStore::connect(served.socket())?;
    Ok(Fixture::with_guard(store, served))
}

conformance!(remote, remote_fixture);
claims!(remote_claims, remote_fixture);

#[cfg(feature = "mongodb")]
use shared::mongo as mongo_support;

/// A MongoStore on a fresh database of the server `tests/run.sh` started (each test its own
/// database, so they run in parallel).
#[cfg(feature = "mongodb")]
fn mongo_fixture() -> sweepstore::Result<Fixture<sweepstore::MongoStore>> {
    Ok(Fixture::new(mongo_support::store("conformance")?))
}

#[cfg(feature = "mongodb")]
conformance!(mongo, mongo_fixture);
#[cfg(feature = "mongodb")]
claims!(mongo_claims, mongo_fixture);

/// A `Store` that `sweepstore::open` made a client: another handle (the guard, standing in
/// for another process) opened the store first and serves it from its thread.
fn opened_client_fixture()
-> sweepstore::Result<Fixture<sweepstore::Store, (sweepstore::Store, tempfile::TempDir)>> {
    let dir = tempfile::tempdir().map_err(|source| sweepstore::Error::Stream {
        op: "create a temporary directory",
        source,
    })?;
    let owner = sweepstore::open(dir.path(), sweepstore::OpenOptions::default())?;
    let client = sweepstore::open(dir.path(), sweepstore::OpenOptions::default())?;
    assert!(owner.is_owner() && !client.is_owner());
    Ok(Fixture::with_guard(client, (owner, dir)))
}

conformance!(opened_client, opened_client_fixture);
claims!(opened_client_claims, opened_client_fixture);
