"""Fixtures: one store per backend, so every API test runs on all of them (like the Rust
conformance suite). MongoStore runs when SWEEPSTORE_MONGO_URI names a server (tests/run.sh
starts one) and the package was built with the `mongodb` feature."""

import os
import uuid

import pytest

import sweepstore
from sweepstore import _native

BACKENDS = ["memory", "local", "redb", "remote", "mongo"]


def make_store(kind, tmp_path):
    if kind == "memory":
        return sweepstore.InMemoryStore(), None
    if kind == "local":
        return sweepstore.LocalFileStore(tmp_path / "files"), None
    if kind == "redb":
        store = sweepstore.open(tmp_path / "store")
        return store, store
    if kind == "remote":
        # The owner serves the store on its socket; the client under test goes through it.
        owner = sweepstore.open(tmp_path / "store")
        return sweepstore.connect(tmp_path / "store" / "serve.sock"), owner
    if kind == "mongo":
        uri = os.environ.get("SWEEPSTORE_MONGO_URI")
        if not uri:
            pytest.skip("SWEEPSTORE_MONGO_URI is not set (tests/run.sh starts a server)")
        if not _native.HAS_MONGODB:
            if os.environ.get("CI") == "true":
                pytest.fail("SWEEPSTORE_MONGO_URI is set but the package was built without `mongodb`")
            pytest.skip("the package was built without the `mongodb` feature")
        return sweepstore.MongoStore(uri, "sweepstore_pytest", f"c{uuid.uuid4().hex}"), None
    raise ValueError(kind)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    store, owner = make_store(request.param, tmp_path)
    yield store
    if owner is not None:
        owner.close()
