"""sweepstore.fluidml.SweepStore under fluidml's Flow: spawn and fork workers, lazy reduce
sweeps, results compared value by value with fluidml's own LocalFileStore, and a worker
killed with SIGKILL midway."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

fluidml = pytest.importorskip("fluidml") if os.environ.get("CI") != "true" else __import__("fluidml")

from fluidml.storage import LocalFileStore as FluidmlLocalFileStore  # noqa: E402

import flows  # noqa: E402
from sweepstore.fluidml import SweepStore  # noqa: E402

HERE = Path(__file__).parent


def by_config(results):
    """{task: {unique config as JSON: results}} from Flow.run(return_results="all")."""
    out = {}
    for task, runs in results.items():
        for run in runs:
            key = json.dumps(dict(run.unique_config), sort_keys=True)
            out.setdefault(task, {})[key] = run.results
    return out


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_a_flow_gives_the_same_results_as_fluidmls_own_store(tmp_path, start_method):
    ours = by_config(flows.run(SweepStore(tmp_path / "store"), start_method=start_method))
    theirs = by_config(flows.run(FluidmlLocalFileStore(str(tmp_path / "fluidml")), start_method=start_method))
    assert len(ours["train"]) == 8
    assert ours.keys() == theirs.keys()
    for task in theirs:
        assert ours[task].keys() == theirs[task].keys()
        for config, results in theirs[task].items():
            assert ours[task][config].keys() == results.keys(), (task, config)
            for name, value in results.items():
                assert ours[task][config][name] == value, (task, config, name)
    summary = next(iter(ours["summarize"].values()))["summary"]
    assert summary["n"] == 8 and summary["best"] == [0.0001 * 10, 0.0001, 0]


def test_a_rerun_skips_finished_tasks(tmp_path):
    store = SweepStore(tmp_path / "store")
    flows.run(store, num_workers=1)
    first = [s.value for s in store.sweep("train", "fluidml_info")]
    flows.run(store, num_workers=1)
    second = [s.value for s in store.sweep("train", "fluidml_info")]
    assert len(first) == 8 and first == second, "a re-run re-ran a finished task (its run info changed)"
    assert all(store.run("train", flows.unique_config(lr, 0)).is_finished for lr in flows.GRID["lr"])


def done_markers(events):
    return sorted(p.name[len("done-") :].rsplit("-", 1)[0] for p in events.iterdir() if p.name.startswith("done-"))


def run_flow_process(store, start_method, env):
    return subprocess.Popen(
        [sys.executable, str(HERE / "flows.py"), str(store), start_method],
        env=env,
        cwd=HERE,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_midway_then_a_rerun_finishes_everything_once(tmp_path):
    events = tmp_path / "events"
    events.mkdir()
    store = tmp_path / "store"
    env = dict(os.environ, FLOW_EVENTS=str(events), FLOW_KILL_AT="0.001-1")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    first = run_flow_process(store, "spawn", env)
    # fluidml does not notice a dead worker and waits forever: stop the first run once the
    # kill happened and the other workers have had time to finish what they were doing.
    deadline = time.monotonic() + 120
    seen, quiet_since = None, time.monotonic()
    while first.poll() is None and time.monotonic() < deadline:
        now = done_markers(events)
        if now != seen:
            seen, quiet_since = now, time.monotonic()
        if (events / "killed").exists() and time.monotonic() - quiet_since > 5:
            break
        time.sleep(0.2)
    if first.poll() is None:
        os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert (events / "killed").exists(), "control: the worker was not killed"
    trained_before = done_markers(events)
    assert "0.001-1" not in trained_before, "control: the killed config finished anyway"

    second = run_flow_process(store, "spawn", env)
    assert second.wait(timeout=300) == 0
    trained = done_markers(events)
    labels = sorted(f"{lr}-{seed}" for lr in flows.GRID["lr"] for seed in flows.GRID["seed"])
    assert trained == labels, "every config trained exactly once to the end across both runs"

    reader = SweepStore(store)
    for lr in flows.GRID["lr"]:
        for seed in flows.GRID["seed"]:
            config = flows.unique_config(lr, seed)
            assert reader.is_finished("train", config)
            assert reader.load("model", "train", config) == flows.Model(lr, seed)
            assert "partial" not in reader.load("metrics", "train", config)
    summaries = list(reader.sweep("summarize", "summary"))
    assert len(summaries) == 1 and summaries[0].value["n"] == 8
