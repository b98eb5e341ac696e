"""Many processes on one store: 16 `multiprocessing` workers save into a store this process
owns (spawned workers unpickle it and join through its socket, forked ones reconnect)."""

import multiprocessing

import pytest

import sweepstore

PROCESSES = 16
RUNS_EACH = 25


def save_runs(args):
    store, worker = args
    for i in range(RUNS_EACH):
        run = store.run("train", {"worker": worker, "i": i})
        run.save({"worker": worker, "i": i, "pad": "x" * 1000}, "metrics", "json")
        run.finish()
    return worker


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_sixteen_processes_save_without_loss_or_duplicates(tmp_path, start_method):
    store = sweepstore.open(tmp_path / "store")
    with multiprocessing.get_context(start_method).Pool(PROCESSES) as pool:
        done = pool.map(save_runs, [(store, w) for w in range(PROCESSES)])
    assert sorted(done) == list(range(PROCESSES))
    sweeps = list(store.sweep("train", "metrics"))
    seen = [(s.value["worker"], s.value["i"]) for s in sweeps]
    assert len(seen) == len(set(seen)) == PROCESSES * RUNS_EACH
    assert all(s.config == {"worker": s.value["worker"], "i": s.value["i"]} for s in sweeps)
    counters = {store.get_context("train", s.config).sweep_counter for s in sweeps}
    assert len(counters) == PROCESSES * RUNS_EACH, "every run got its own sweep counter"
    assert all(store.is_finished("train", s.config) for s in sweeps)
    store.close()


def test_a_second_process_joins_the_owner(tmp_path):
    owner = sweepstore.open(tmp_path / "store")
    owner.save("from owner", "m", "text", "t", {"a": 1})
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        kind = pool.apply(_join_and_save, (str(tmp_path / "store"),))
    assert kind == "redb"
    assert owner.load("m", "t", {"a": 2}) == "from joiner"
    owner.close()


def _join_and_save(path):
    store = sweepstore.open(path)
    assert store.load("m", "t", {"a": 1}) == "from owner"
    store.save("from joiner", "m", "text", "t", {"a": 2})
    return store.kind
