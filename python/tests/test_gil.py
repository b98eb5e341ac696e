"""Calls into the engine release the GIL: while one thread waits inside a native call, other
Python threads keep running."""

import socket
import threading
import time

import pytest

import sweepstore


def test_a_thread_blocked_in_a_native_call_lets_others_run(tmp_path):
    # A "server" that accepts and never answers: connect() waits in Rust for its handshake.
    path = str(tmp_path / "silent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    outcome = {}

    def connect():
        try:
            sweepstore.connect(path)
        except Exception as e:  # noqa: BLE001 - recorded and checked below
            outcome["error"] = e

    blocked = threading.Thread(target=connect)
    blocked.start()
    peer, _ = listener.accept()  # the native call is now waiting for the handshake
    counted, until = 0, time.monotonic() + 0.3
    while time.monotonic() < until:
        counted += 1
    assert blocked.is_alive(), "control: the native call was still waiting"
    assert counted > 1000, "this thread ran while the other waited in Rust"
    peer.close()
    listener.close()
    blocked.join(timeout=30)
    assert not blocked.is_alive()
    assert isinstance(outcome.get("error"), sweepstore.ServerError)


def test_closed_stores_refuse_work(tmp_path):
    store = sweepstore.open(tmp_path / "store")
    store.save(1, "m", "json", "t", {})
    store.close()
    with pytest.raises(sweepstore.StoreClosed):
        store.load("m", "t", {})
    again = sweepstore.open(tmp_path / "store")
    assert again.load("m", "t", {}) == 1
