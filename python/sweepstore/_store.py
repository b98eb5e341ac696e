"""Stores as Python objects: fluidml's ``ResultsStore`` methods with their seed signatures, run
handles, sweeps and lazy promises, over any backend of the Rust engine.

Invariants: configs are validated by the engine (a config that is not a dict of finite JSON
values raises :class:`~sweepstore.errors.InvalidConfig` before anything is stored); a store
object pickles to its address and reconnects where it is unpickled (a spawned worker), and a
forked child reconnects on its first call, so stores can be handed to ``multiprocessing``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Tuple

from . import _native
from ._file import File
from ._values import BUILTIN_TYPES, TypeInfo, Types, decode, encode
from .errors import InvalidConfig, InvalidInput

# A store's address: enough to reach the same store again from another process.
Address = Tuple[str, ...]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def config_text(config: Any) -> str:
    """The JSON text of a unique config, for the engine to validate and canonicalize."""
    if not isinstance(config, Mapping):
        raise InvalidConfig(f"a unique config must be a dict, not {type(config).__name__}")
    try:
        # NaN and infinities pass here (as NaN/Infinity) so the engine names the bad key.
        return json.dumps(config if type(config) is dict else dict(config), default=_jsonable)
    except (TypeError, ValueError) as e:
        raise InvalidConfig(f"a unique config must hold only JSON values: {e}") from e


def _native_for(address: Address) -> _native.NativeStore:
    kind, *args = address
    if kind == "redb":
        return _native.open_path(args[0])
    if kind == "local":
        return _native.local_files(args[0])
    if kind == "remote":
        return _native.connect_socket(args[0])
    if kind == "mongo":
        return _native.mongo(*args)
    raise InvalidInput(f"unknown store address {address!r}")


@dataclass
class StoreContext:
    """A run's store context (fluidml's ``StoreContext``)."""

    run_dir: Optional[str] = None
    sweep_counter: Optional[str] = None


@dataclass
class Sweep:
    """One run's value of a result, with the run's unique config (loaded, or a :class:`Promise`)."""

    value: Any
    config: Dict[str, Any]


class Promise:
    """A stored value, loaded on demand (fluidml's ``Promise``). It names the content by its
    hash, so it stays valid when the result is later overwritten; every load verifies it."""

    __slots__ = ("_native", "_types")

    def __init__(self, native: _native.NativePromise, types: Types) -> None:
        self._native = native
        self._types = types

    @property
    def hash(self) -> str:
        """The blake3 hash (hex) of the stored bytes."""
        return self._native.hash

    @property
    def type_name(self) -> str:
        return self._native.type_name

    @property
    def size(self) -> int:
        return self._native.size

    def load(self, **kwargs: Any) -> Any:
        """Reads, verifies and decodes the value."""
        return decode(self._native.type_name, self._native.bytes(), self._types, **kwargs)

    def open(self) -> File:
        """The verified content as a binary file opened for reading."""
        return File(self._native.open(), "rb", self._types)

    def __repr__(self) -> str:
        return f"Promise(type_name={self.type_name!r}, size={self.size}, hash={self.hash[:12]}…)"


class Store:
    """A results store. Made by :func:`open`, :func:`connect`, :class:`LocalFileStore`,
    :class:`InMemoryStore` or :class:`MongoStore`; all behave alike."""

    def __init__(self, native: _native.NativeStore, address: Optional[Address]) -> None:
        self._native = native
        self._address = address
        self._types: Types = {}

    # -- pickling: a store travels as its address ------------------------------------------
    def __getstate__(self) -> Dict[str, Any]:
        if self._address is None:
            raise TypeError(
                f"a {type(self).__name__} lives in one process and cannot be sent to another; "
                "use sweepstore.open(path) to share a store between processes"
            )
        state = dict(self.__dict__)
        del state["_native"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        assert self._address is not None
        self._native = _native_for(self._address)
        for name, info in self._types.items():
            self._native.register_type(name, info.extension, info.is_binary)

    # -- fluidml's ResultsStore API --------------------------------------------------------
    def save(
        self,
        obj: Any,
        name: str,
        type_: Optional[str],
        task_name: str,
        task_unique_config: Mapping,
        sub_dir: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        """Saves ``obj`` as result ``name`` of the run (``task_name``, ``task_unique_config``),
        encoded as ``type_`` (``None``: ``pickle``); durable when this returns. Extra keyword
        arguments go to the encoder (e.g. ``indent`` for ``json``)."""
        config = config_text(task_unique_config)
        type_name, data = encode(obj, type_, self._types, **kwargs)
        self._native.save(task_name, config, name, type_name, data, sub_dir)
        self._saved(obj, name, task_name, task_unique_config)

    def _saved(self, obj: Any, name: str, task_name: str, task_unique_config: Mapping) -> None:
        """Called after every ``save`` (the fluidml adapter keeps run states in step)."""

    def load(
        self,
        name: str,
        task_name: str,
        task_unique_config: Mapping,
        lazy: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Result ``name`` of the run (exact config, else fluidml's subset rule), decoded, or a
        :class:`Promise` if ``lazy``; ``None`` if there is none."""
        config = config_text(task_unique_config)
        if lazy:
            found = self._native.load_lazy(task_name, config, name)
            return None if found is None else Promise(found, self._types)
        stored = self._native.load(task_name, config, name)
        if stored is None:
            return None
        return decode(stored[0], stored[1], self._types, **kwargs)

    def delete(self, name: str, task_name: str, task_unique_config: Mapping) -> bool:
        """Deletes result ``name`` of the run; whether there was one."""
        return self._native.delete(task_name, config_text(task_unique_config), name)

    def delete_run(self, task_name: str, task_unique_config: Mapping) -> bool:
        """Deletes the run and all its results; whether there was one."""
        return self._native.delete_run(task_name, config_text(task_unique_config))

    def get_context(self, task_name: str, task_unique_config: Mapping) -> StoreContext:
        """The run's context (its directory in file stores, its sweep counter); creates the run."""
        run_dir, counter = self._native.get_context(task_name, config_text(task_unique_config))
        return StoreContext(None if run_dir is None else str(run_dir), counter)

    def get_results(self, task_name: str, task_unique_config: Mapping) -> Optional[Dict[str, Any]]:
        """All results of the run, loaded, by name; ``None`` if there is no run."""
        found = self._native.get_results(task_name, config_text(task_unique_config))
        if found is None:
            return None
        return {name: Promise(p, self._types).load() for name, p in found.items()}

    def is_finished(self, task_name: str, task_unique_config: Mapping) -> bool:
        """Whether the run is marked finished (a resumed sweep skips it)."""
        return self._native.run_state(task_name, config_text(task_unique_config)) == "finished"

    def open(
        self,
        name: Optional[str] = None,
        task_name: Optional[str] = None,
        task_unique_config: Optional[Mapping] = None,
        mode: Optional[str] = None,
        promise: Optional[Promise] = None,
        type_: Optional[str] = None,
        sub_dir: Optional[str] = None,
        **open_kwargs: Any,
    ) -> File:
        """Opens result ``name`` as a file (modes as Python's ``open``; default ``r``), or a
        ``promise`` for reading. Writing publishes on ``close``; see :class:`File`."""
        if open_kwargs:
            raise InvalidInput(f"unsupported open arguments: {', '.join(sorted(open_kwargs))}")
        mode = mode or "r"
        if promise is not None:
            return File(promise._native.open(), mode, self._types)
        if name is None or task_name is None or task_unique_config is None:
            raise InvalidInput("open needs name, task_name and task_unique_config (or a promise)")
        native = self._native.open(
            task_name, config_text(task_unique_config), name, mode, type_, sub_dir
        )
        return File(native, mode, self._types)

    # -- sweepstore's own API ----------------------------------------------------------------
    def run(self, task_name: str, config: Mapping) -> "Run":
        """A handle on one run: ``save``/``load``/``open``/``finish``/``fail``/``state``."""
        return Run(self, task_name, config)

    def sweep(self, task_name: str, name: str, lazy: bool = False) -> Iterator[Sweep]:
        """Result ``name`` of every run of ``task_name`` that has it, in creation order, as
        :class:`Sweep` objects (value loaded, or a :class:`Promise` if ``lazy``)."""
        for config, promise in self._native.lazy_sweep(task_name, name):
            value = Promise(promise, self._types)
            yield Sweep(value if lazy else value.load(), json.loads(config))

    def register_type(self, name: str, info: TypeInfo) -> None:
        """Makes custom type ``name`` known; values are stored under the name."""
        if not isinstance(info, TypeInfo):
            raise InvalidInput(f"register_type needs a sweepstore.TypeInfo, not {type(info).__name__}")
        if name in BUILTIN_TYPES:
            raise InvalidInput(f"`{name}` is a built-in type; pick another name")
        if name not in self._types:
            self._native.register_type(name, info.extension, info.is_binary)
        self._types[name] = info

    @property
    def kind(self) -> str:
        """The backend: ``redb``, ``memory``, ``local``, ``remote`` or ``mongo``."""
        return self._native.kind

    def close(self) -> None:
        """Lets go of the store; later calls raise :class:`~sweepstore.StoreClosed`. A store this
        process serves closes when its last handle is gone, and its clients take it over."""
        self._native.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "" if self._address is None else f" {self._address[1]!r}"
        return f"<sweepstore {self.kind} store{where}>"


class Run:
    """One run of a task (``store.run(task, config)``); its config is validated once."""

    def __init__(self, store: Store, task_name: str, config: Mapping) -> None:
        self.store = store
        self.task_name = task_name
        self.config = dict(config)
        self._native = store._native.run(task_name, config_text(config))

    def save(self, obj: Any, name: str, type_: Optional[str] = "pickle", sub_dir: Optional[str] = None, **kwargs: Any) -> None:
        """Saves ``obj`` as result ``name`` (default type ``pickle``)."""
        type_name, data = encode(obj, type_, self.store._types, **kwargs)
        self._native.save(name, type_name, data, sub_dir)
        self.store._saved(obj, name, self.task_name, self.config)

    def load(self, name: str, lazy: bool = False, **kwargs: Any) -> Any:
        """Result ``name``, decoded (or a :class:`Promise`), or ``None``."""
        if lazy:
            found = self._native.load_lazy(name)
            return None if found is None else Promise(found, self.store._types)
        stored = self._native.load(name)
        return None if stored is None else decode(stored[0], stored[1], self.store._types, **kwargs)

    def open(self, name: str, mode: str = "r", type_: Optional[str] = None, sub_dir: Optional[str] = None) -> File:
        """Opens result ``name`` as a file."""
        return self.store.open(name, self.task_name, self.config, mode=mode, type_=type_, sub_dir=sub_dir)

    def results(self) -> Optional[Dict[str, Any]]:
        """All results, loaded, by name."""
        return self.store.get_results(self.task_name, self.config)

    def finish(self) -> None:
        """Marks the run finished: a resumed sweep skips it."""
        self._native.set_state("finished")

    def fail(self) -> None:
        """Marks the run failed."""
        self._native.set_state("failed")

    @property
    def state(self) -> Optional[str]:
        """``None`` (no such run), ``"running"``, ``"finished"`` or ``"failed"``."""
        return self._native.state()

    @property
    def is_finished(self) -> bool:
        return self.state == "finished"

    @property
    def context(self) -> StoreContext:
        return self.store.get_context(self.task_name, self.config)

    def __repr__(self) -> str:
        return f"<run of {self.task_name!r} with {self.config!r}>"


def open(path: Any) -> Store:  # noqa: A001 - the package's name for it
    """Opens (creating it if needed) the store in directory ``path``: this process owns and
    serves it to others, or joins the process that already does. Pickles to its path."""
    path = str(path)
    return Store(_native.open_path(path), ("redb", path))


def connect(socket: Any) -> Store:
    """A client of the server listening on ``socket`` (``sweepstore serve STORE``)."""
    socket = str(socket)
    return Store(_native.connect_socket(socket), ("remote", socket))


class LocalFileStore(Store):
    """Results as browsable files in fluidml's directory layout under ``base_dir``."""

    def __init__(self, base_dir: Any) -> None:
        base_dir = str(base_dir)
        super().__init__(_native.local_files(base_dir), ("local", base_dir))


class InMemoryStore(Store):
    """Results in this process's memory (not picklable: use :func:`open` to share)."""

    def __init__(self) -> None:
        super().__init__(_native.in_memory(), None)


class MongoStore(Store):
    """Results in a MongoDB collection (needs a build with the ``mongodb`` feature)."""

    def __init__(self, uri: str, db: str, collection: str) -> None:
        super().__init__(_native.mongo(uri, db, collection), ("mongo", uri, db, collection))


__all__ = [
    "Store", "Run", "Promise", "Sweep", "StoreContext", "File", "open", "connect",
    "LocalFileStore", "InMemoryStore", "MongoStore",
]
