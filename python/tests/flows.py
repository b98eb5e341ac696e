"""A fluidml pipeline for the tests (a module, so spawned workers can import its tasks):
`train` over a grid of 8 configs, then a `summarize` reduce step over lazy sweeps.

Set FLOW_EVENTS to a directory to record each training that finished (one file per
execution), and FLOW_KILL_AT to `lr-seed` to make the first training of that config kill its
own worker with SIGKILL (the marker file `killed` in FLOW_EVENTS records that it happened).
"""

import os
import signal
import sys
import uuid
from typing import List

from fluidml import Flow, Task, TaskSpec
from fluidml.storage.base import LazySweep

GRID = {"lr": [0.1, 0.01, 0.001, 0.0001], "seed": [0, 1]}


class Model:
    """A custom object only Python's pickle round-trips."""

    def __init__(self, lr, seed):
        self.weights = [lr * (i + seed) for i in range(16)]

    def __eq__(self, other):
        return isinstance(other, Model) and self.weights == other.weights


def train(lr: float, seed: int, task: Task):
    events = os.environ.get("FLOW_EVENTS")
    label = f"{lr}-{seed}"
    if events and os.environ.get("FLOW_KILL_AT") == label:
        marker = os.path.join(events, "killed")
        if not os.path.exists(marker):
            task.save({"partial": True}, "metrics", type_="json")
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    curve = [round(lr * 100 / (epoch + 1) + seed, 6) for epoch in range(10)]
    task.save({"loss": curve[-1], "curve": curve}, "metrics", type_="json")
    task.save(Model(lr, seed), "model", type_="pickle")
    with task.open("log", mode="w", type_="text") as f:
        f.write(f"trained lr={lr} seed={seed}\n")
    if events:
        open(os.path.join(events, f"done-{label}-{uuid.uuid4().hex}"), "w").close()


def summarize(metrics: List[LazySweep], task: Task):
    losses = sorted(
        (sweep.value.load()["loss"], sweep.config["train"]["lr"], sweep.config["train"]["seed"])
        for sweep in metrics
    )
    task.save({"n": len(metrics), "best": list(losses[0]), "losses": losses}, "summary", type_="json")


def unique_config(lr, seed):
    """The unique config fluidml gives the `train` run of (lr, seed)."""
    return {"train": {"lr": lr, "seed": seed}}


def flow() -> Flow:
    train_spec = TaskSpec(task=train, config=GRID, expand="product")
    summary_spec = TaskSpec(task=summarize, reduce=True)
    summary_spec.requires(train_spec)
    return Flow(tasks=[train_spec, summary_spec])


def run(store, num_workers=4, start_method="spawn"):
    return flow().run(
        num_workers=num_workers,
        start_method=start_method,
        results_store=store,
        return_results="all",
    )


if __name__ == "__main__":
    # python flows.py STORE_DIR START_METHOD: run the flow on a SweepStore (the kill test).
    # Through the module, so pickles name `flows.Model`, not `__main__.Model`.
    import flows
    from sweepstore.fluidml import SweepStore

    flows.run(SweepStore(sys.argv[1]), start_method=sys.argv[2])
