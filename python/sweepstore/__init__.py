"""sweepstore: crash-safe, concurrent storage for the results of ML experiments and sweeps.

A thin layer over the Rust engine: the same stores, the same files, the same guarantees (every
save is durable when it returns). The API follows fluidml's ``ResultsStore``::

    import sweepstore
    store = sweepstore.open("results")           # or LocalFileStore(dir), InMemoryStore(), ...
    run = store.run("train", {"lr": 0.01})
    if not run.is_finished:
        run.save({"loss": 0.1}, "metrics", "json")
        run.finish()
    for sweep in store.sweep("train", "metrics"):
        print(sweep.config, sweep.value)

``sweepstore.fluidml.SweepStore`` is a results store for fluidml's ``Flow`` (needs fluidml).
Loading a ``pickle`` value runs Python's unpickler: load pickles only from stores you trust.
"""

from . import errors
from ._file import File
from ._store import (
    InMemoryStore,
    LocalFileStore,
    MongoStore,
    Promise,
    Run,
    Store,
    StoreContext,
    Sweep,
    connect,
    open,
)
from ._values import TypeInfo
from .errors import (
    AlreadyExists,
    AlreadyOpen,
    CorruptError,
    DecodeError,
    EncodeError,
    InvalidConfig,
    InvalidInput,
    InvalidName,
    NotAStore,
    NotFound,
    OutcomeUnknown,
    ServerError,
    StorageError,
    StoreClosed,
    SweepstoreError,
    UnknownType,
)

__all__ = [
    "errors", "File", "InMemoryStore", "LocalFileStore", "MongoStore", "Promise", "Run", "Store",
    "StoreContext", "Sweep", "connect", "open", "TypeInfo", "AlreadyExists", "AlreadyOpen",
    "CorruptError", "DecodeError", "EncodeError", "InvalidConfig", "InvalidInput", "InvalidName",
    "NotAStore", "NotFound", "OutcomeUnknown", "ServerError", "StorageError", "StoreClosed", "SweepstoreError",
    "UnknownType",
]
