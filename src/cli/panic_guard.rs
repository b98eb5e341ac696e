//! Containing a panic of the embedded database while a subcommand reads a damaged store.
//!
//! redb checks the pages it reads, but some damage (a page whose type byte is neither leaf
//! nor branch) trips a `debug_assert!` inside redb in builds with debug assertions, so the
//! read panics instead of returning `StorageError::Corrupted` as release builds do. A panic is
//! never an acceptable answer to a damaged file: [`contain`] runs a browsing or verifying
//! subcommand under `std::panic::catch_unwind` and turns a panic into
//! [`CommandError::Damaged`] naming the store. It is used only at that boundary (the
//! command's work on one store, in the main thread); nothing observes state the panic could
//! have left half-changed, since the store handle is dropped with the failed command and
//! browsing writes nothing to disk.
//!
//! While a command runs contained, the panic hook prints nothing for the main thread (the
//! error message replaces the panic text); panics elsewhere print as usual.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use super::error::{CliError, CommandError};

thread_local! {
    /// Whether this thread runs a contained command.
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays quiet for contained threads.
fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `command` on the store at `store`; a panic inside it becomes
/// [`CommandError::Damaged`].
pub fn contain<T>(
    store: &Path,
    command: impl FnOnce() -> Result<T, CliError>,
) -> Result<T, CliError> {
    install_hook();
    CONTAINED.with(|c| c.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(command));
    CONTAINED.with(|c| c.set(false));
    outcome.unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "an internal check failed".to_owned());
        Err(CommandError::Damaged {
            path: store.to_owned(),
            detail,
        }
        .into())
    })
}
