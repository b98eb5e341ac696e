"""sweepstore as fluidml's results store: ``SweepStore(path)`` is a
``fluidml.storage.ResultsStore`` that ``Flow.run(num_workers=N)`` uses as it is.

It pickles to its address, so spawned workers reconnect to the process serving the store;
forked workers reconnect on their first call. fluidml's ``lock`` is accepted and not needed
(the engine synchronizes). ``load(..., lazy=True)`` returns :class:`sweepstore.Promise`
objects, which are fluidml ``Promise``s, so ``List[LazySweep]`` reduce steps work. fluidml's
own records (``fluidml_info``, ``.saved_results``) are ordinary json results, so
``is_finished`` and ``get_results`` behave as with fluidml's stores and a re-run skips
finished tasks; a finished ``fluidml_info`` also marks the run finished for the CLI.

Importing this module needs fluidml; the rest of the package does not.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from fluidml.storage.base import Promise as FluidmlPromise
from fluidml.storage.base import ResultsStore

from . import _store
from ._store import Promise, Store

FluidmlPromise.register(Promise)

_INFO = "fluidml_info"


class SweepStore(Store, ResultsStore):
    """A fluidml results store backed by sweepstore.

    Args:
        path: The store directory (a RedbStore, shared by every worker process), or an
            already opened :class:`sweepstore.Store` of any backend.
    """

    def __init__(self, path: Any) -> None:
        ResultsStore.__init__(self)
        base = path if isinstance(path, Store) else _store.open(path)
        Store.__init__(self, base._native, base._address)
        self._types = base._types
        self.run_info: Any = None

    def __getstate__(self) -> Dict[str, Any]:
        state = Store.__getstate__(self)
        state["_lock"] = None  # fluidml's lock belongs to the process that set it
        state["run_info"] = None
        return state

    def _saved(self, obj: Any, name: str, task_name: str, task_unique_config: Mapping) -> None:
        if name == _INFO and isinstance(obj, Mapping) and obj.get("state") == "finished":
            self.run(task_name, task_unique_config).finish()

    # The rest of ResultsStore's methods are Store's (first in the MRO), except these two,
    # fluidml's own: results listed in `.saved_results`, finished per `fluidml_info`.
    get_results = ResultsStore.get_results
    is_finished = ResultsStore.is_finished


__all__ = ["SweepStore"]
