//! A one-shot reply from the actor to the caller that sent a command.
//!
//! The caller blocks on a condition variable instead of spinning (a channel's receive backs
//! off with `sched_yield`, which on a 2-core machine takes CPU from the actor it waits for).
//! Invariant: a caller never waits forever: dropping an unsent [`Reply`] wakes it with
//! `None`.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

enum State<T> {
    Waiting,
    Done(T),
    Dropped,
}

struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every update is one assignment, so a poisoned lock still holds a whole state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The actor's end: fill it once with [`Reply::send`].
pub(crate) struct Reply<T> {
    slot: Arc<Slot<T>>,
}

/// The caller's end: wait with [`Answer::recv`].
pub(crate) struct Answer<T> {
    slot: Arc<Slot<T>>,
}

/// A connected reply slot.
pub(crate) fn reply<T>() -> (Reply<T>, Answer<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State::Waiting),
        ready: Condvar::new(),
    });
    (Reply { slot: slot.clone() }, Answer { slot })
}

impl<T> Reply<T> {
    /// Delivers `value` (a caller that stopped waiting just never reads it).
    pub(crate) fn send(self, value: T) {
        *self.slot.lock() = State::Done(value);
        self.slot.ready.notify_one();
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        let mut state = self.slot.lock();
        if matches!(*state, State::Waiting) {
            *state = State::Dropped;
            drop(state);
            self.slot.ready.notify_one();
        }
    }
}

impl<T> fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reply")
    }
}

impl<T> Answer<T> {
    /// Waits for the reply; `None` if the actor dropped it unanswered.
    pub(crate) fn recv(self) -> Option<T> {
        let mut state = self.slot.lock();
        loop {
            match std::mem::replace(&mut *state, State::Dropped) {
                State::Done(value) => return Some(value),
                State::Dropped => return None,
                State::Waiting => {
                    *state = State::Waiting;
                    state = self
                        .slot
                        .ready
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_reply_arrives_and_a_dropped_one_wakes_the_caller() {
        let (tx, rx) = reply();
        let sender = std::thread::spawn(move || tx.send(7));
        assert_eq!(rx.recv(), Some(7));
        let _ = sender.join();
        let (tx, rx) = reply::<u8>();
        let dropper = std::thread::spawn(move || drop(tx));
        assert_eq!(rx.recv(), None);
        let _ = dropper.join();
    }
}
