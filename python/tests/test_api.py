"""The native API on every backend (the `store` fixture is parametrized over all of them)."""

import json
import math
import os
import pickle
import threading
from fractions import Fraction

import numpy
import pytest

import sweepstore

CFG = {"lr": 0.01, "seed": 3}


class Checkpoint:
    """A custom class: only Python's pickle round-trips it."""

    def __init__(self, step, weights):
        self.step = step
        self.weights = weights

    def __eq__(self, other):
        return (self.step, self.weights) == (other.step, other.weights)


def test_every_builtin_type_round_trips(store):
    values = {
        "metrics": ({"loss": 0.25, "acc": [1, 2]}, "json"),
        "log": ("épochs done\n", "text"),
        "blob": (b"\x00\xff" * 10, "bytes"),
        "model": (Checkpoint(3, Fraction(1, 3)), "pickle"),
        "plain": ({"a": (1, 2), "b": {1, 2}}, None),
    }
    for name, (value, type_) in values.items():
        store.save(value, name, type_, "train", CFG)
    for name, (value, _) in values.items():
        assert store.load(name, "train", CFG) == value, name
    assert store.load("missing", "train", CFG) is None
    assert store.load("metrics", "other", CFG) is None


def test_binary_takes_bytes_and_loads_them(store):
    store.save(bytearray(b"abc"), "raw", "binary", "train", CFG)
    assert store.load("raw", "train", CFG) == b"abc"


def test_lazy_loads_are_promises_that_survive_overwrites(store):
    store.save({"v": 1}, "m", "json", "train", CFG)
    promise = store.load("m", "train", CFG, lazy=True)
    assert isinstance(promise, sweepstore.Promise)
    assert (promise.type_name, promise.size) == ("json", len(b'{"v": 1}'))
    assert len(promise.hash) == 64
    store.save({"v": 2}, "m", "json", "train", CFG)
    assert promise.load() == {"v": 1}
    assert store.load("m", "train", CFG) == {"v": 2}


def test_subset_lookup_finds_the_most_specific_run(store):
    store.save("base", "x", "text", "train", {"lr": 1})
    store.save("more", "x", "text", "train", {"lr": 1, "seed": 2})
    assert store.load("x", "train", {"lr": 1, "seed": 2, "extra": True}) == "more"
    assert store.load("x", "train", {"lr": 1, "extra": True}) == "base"
    # Configs are canonical: key order and 1.0 vs 1 do not matter.
    assert store.load("x", "train", {"seed": 2, "lr": 1.0}) == "more"


def test_delete_and_delete_run(store):
    store.save(1, "a", "json", "train", CFG)
    store.save(2, "b", "json", "train", CFG)
    assert store.delete("a", "train", CFG) is True
    assert store.delete("a", "train", CFG) is False
    assert store.load("a", "train", CFG) is None
    assert store.load("b", "train", CFG) == 2
    assert store.delete_run("train", CFG) is True
    assert store.delete_run("train", CFG) is False
    assert store.load("b", "train", CFG) is None


def test_get_results_context_and_state(store):
    assert store.get_results("train", CFG) is None
    store.save([1], "a", "json", "train", CFG)
    store.save("t", "b", "text", "train", CFG, sub_dir="logs")
    assert store.get_results("train", CFG) == {"a": [1], "b": "t"}
    context = store.get_context("train", CFG)
    assert context.sweep_counter == "000"
    assert store.get_context("train", {"lr": 9}).sweep_counter == "001"
    assert not store.is_finished("train", CFG)
    run = store.run("train", CFG)
    assert run.state == "running"
    run.finish()
    assert store.is_finished("train", CFG) and run.is_finished
    run.fail()
    assert run.state == "failed"
    assert store.run("train", {"never": 1}).state is None


def test_run_handle_saves_loads_and_opens(store):
    run = store.run("train", CFG)
    run.save(Checkpoint(1, [0.5]), "ckpt")
    run.save({"loss": 0.5}, "metrics", "json")
    assert run.load("ckpt") == Checkpoint(1, [0.5])
    assert run.load("metrics", lazy=True).load() == {"loss": 0.5}
    with run.open("notes", "w") as f:
        f.write("line 1\nline 2\n")
    with run.open("notes") as f:
        assert list(f) == ["line 1\n", "line 2\n"]
    assert set(run.results()) == {"ckpt", "metrics", "notes"}


def test_open_files_work_with_json_and_numpy(store):
    with store.open("cfg", "train", CFG, mode="w", type_="json") as f:
        json.dump({"layers": [64, 64]}, f)
    assert store.load("cfg", "train", CFG) == {"layers": [64, 64]}
    with store.open("cfg", "train", CFG) as f:
        assert json.load(f) == {"layers": [64, 64]}
    array = numpy.arange(12.0).reshape(3, 4)
    with store.open("weights", "train", CFG, mode="wb") as f:
        numpy.save(f, array)
    with store.open("weights", "train", CFG, mode="rb") as f:
        assert (numpy.load(f) == array).all()
    promise = store.load("weights", "train", CFG, lazy=True)
    with store.open(promise=promise, mode="rb") as f:
        assert (numpy.load(f) == array).all()


def test_a_failed_with_block_stores_nothing(store):
    store.save("old", "doc", "text", "train", CFG)
    with pytest.raises(RuntimeError):
        with store.open("doc", "train", CFG, mode="w") as f:
            f.write("half")
            raise RuntimeError("training crashed")
    assert store.load("doc", "train", CFG) == "old"
    with pytest.raises(sweepstore.AlreadyExists):
        store.open("doc", "train", CFG, mode="x")
    with pytest.raises(sweepstore.NotFound):
        store.open("nothing", "train", CFG, mode="r")


def test_sweeps_yield_config_and_value_in_creation_order(store):
    for lr in [0.3, 0.2, 0.1]:
        store.run("train", {"lr": lr}).save({"loss": lr * 2}, "metrics", "json")
    sweeps = list(store.sweep("train", "metrics"))
    assert [s.config for s in sweeps] == [{"lr": 0.3}, {"lr": 0.2}, {"lr": 0.1}]
    assert [s.value for s in sweeps] == [{"loss": 0.6}, {"loss": 0.4}, {"loss": 0.2}]
    lazy = list(store.sweep("train", "metrics", lazy=True))
    assert all(isinstance(s.value, sweepstore.Promise) for s in lazy)
    assert [s.value.load() for s in lazy] == [s.value for s in sweeps]


def save_npy(array, f):
    numpy.save(f, array)


def test_custom_types_are_stored_under_their_name(store):
    store.register_type("npy", sweepstore.TypeInfo(save_npy, numpy.load, "npy"))
    store.save(numpy.eye(2), "w", "npy", "train", CFG)
    assert (store.load("w", "train", CFG) == numpy.eye(2)).all()
    assert store.load("w", "train", CFG, lazy=True).type_name == "npy"
    with pytest.raises(sweepstore.InvalidInput):
        store.register_type("json", sweepstore.TypeInfo(save_npy, numpy.load))


BAD_CONFIGS = [{"lr": math.nan}, {"lr": math.inf}, [1, 2], "lr=1", {"f": object()}, None]
BAD_NAMES = ["", "../x", "/abs", "a\0b", "a/b"]


def test_bad_input_raises_the_documented_exception_and_harms_nothing(store):
    store.save({"keep": True}, "m", "json", "train", CFG)
    for config in BAD_CONFIGS:
        with pytest.raises(sweepstore.InvalidConfig):
            store.save(1, "m", "json", "train", config)
        with pytest.raises(sweepstore.InvalidConfig):
            store.load("m", "train", config)
    for name in BAD_NAMES:
        with pytest.raises(sweepstore.InvalidName):
            store.save(1, name, "json", "train", CFG)
        with pytest.raises(sweepstore.InvalidName):
            store.save(1, "m", "json", name, CFG)
    with pytest.raises(sweepstore.InvalidName):
        store.save(1, "m", "json", "train", CFG, sub_dir="../up")
    with pytest.raises(sweepstore.EncodeError):
        store.save(lambda: 1, "m", "pickle", "train", CFG)
    with pytest.raises(sweepstore.EncodeError):
        store.save({"x": math.nan}, "m", "json", "train", CFG)
    with pytest.raises(sweepstore.EncodeError):
        store.save(b"bytes", "m", "text", "train", CFG)
    with pytest.raises(sweepstore.EncodeError):
        store.save("text", "m", "bytes", "train", CFG)
    with pytest.raises(sweepstore.UnknownType):
        store.save(1, "m", "no-such-type", "train", CFG)
    # Nesting past the store's limit (64 levels, docs/design.md §1.1) is refused at the door.
    deep = 1
    for _ in range(200):
        deep = [deep]
    with pytest.raises(sweepstore.EncodeError):
        store.save(deep, "m", "json", "train", CFG)
    # The same for a pickle: every reader (the CLI, export, Rust) must be able to read it.
    with pytest.raises(sweepstore.EncodeError, match="deeper than 64 levels"):
        store.save(deep, "m", "pickle", "train", CFG)
    with pytest.raises(sweepstore.InvalidConfig):
        store.save(1, "m", "json", "train", {"deep": deep})
    with pytest.raises(sweepstore.InvalidInput):
        store.open("m", "train", CFG, mode="rw")
    # Every exception is a SweepstoreError and, for bad arguments, a ValueError.
    assert issubclass(sweepstore.InvalidConfig, ValueError)
    assert issubclass(sweepstore.NotFound, LookupError)
    assert store.load("m", "train", CFG) == {"keep": True}
    assert list(store.sweep("train", "m")) == [sweepstore.Sweep({"keep": True}, CFG)]


def test_a_json_file_that_is_not_json_is_refused_on_close_and_harms_nothing(store):
    # Accepted means readable (docs/design.md §1.1): the bytes are checked before they are
    # published, so a json result always loads.
    store.save({"keep": True}, "m", "json", "train", CFG)
    for text in ["{not json", "", '{"a": 1} {"b": 2}', "[NaN]", "1e400"]:
        with pytest.raises(sweepstore.EncodeError, match="not JSON"):
            with store.open("m", "train", CFG, mode="w", type_="json") as f:
                f.write(text)
        assert store.load("m", "train", CFG) == {"keep": True}
    with store.open("m", "train", CFG, mode="w", type_="json") as f:
        f.write('{"written": [1, 2]}')
    assert store.load("m", "train", CFG) == {"written": [1, 2]}


def test_opening_a_file_as_a_store_is_not_a_store(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(b"x")
    with pytest.raises(sweepstore.NotAStore, match="is a file, not a store directory"):
        sweepstore.open(path)
    with pytest.raises(sweepstore.NotAStore, match="is a file, not a store directory"):
        sweepstore.LocalFileStore(path)
    assert path.read_bytes() == b"x"


def test_threads_save_concurrently(store):
    def work(i):
        for j in range(20):
            store.run("train", {"t": i, "j": j}).save({"v": i * 100 + j}, "m", "json")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = sorted(s.value["v"] for s in store.sweep("train", "m"))
    assert values == sorted(i * 100 + j for i in range(8) for j in range(20))


def test_stores_with_an_address_pickle_and_reconnect(store):
    store.save("x", "m", "text", "train", CFG)
    if store.kind == "memory":
        with pytest.raises(TypeError):
            pickle.dumps(store)
        return
    copy = pickle.loads(pickle.dumps(store))
    assert copy.load("m", "train", CFG) == "x"


def test_a_damaged_value_is_a_corrupt_error_never_other_bytes(tmp_path):
    store = sweepstore.LocalFileStore(tmp_path / "files")
    store.save("hello world", "note", "text", "train", CFG)
    store.save("kept", "other", "text", "train", CFG)
    lazy = store.load("note", "train", CFG, lazy=True)
    (path,) = (tmp_path / "files").rglob("note.txt")
    # Same size, one byte changed, and the modification time kept: damage, not an edit (an
    # object changed after its record is an external write, re-hashed and accepted:
    # docs/design.md §12.3; the end of this test checks that).
    before = os.stat(path)
    path.write_text("hellO world")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(sweepstore.CorruptError):
        store.load("note", "train", CFG)
    with pytest.raises(sweepstore.CorruptError):
        lazy.load()
    assert store.load("other", "train", CFG) == "kept"
    # A later modification time marks an edit made outside sweepstore: the new bytes count.
    path.write_text("hello there")
    later = before.st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))
    assert store.load("note", "train", CFG) == "hello there"
