"""fluidml 0.3.4 writes a sweep in which one run diverged: `python nan_tree.py OUT`.

A `Flow` grid over `lr` (0.1, 0.2, 0.4) saves each run's `metrics` as fluidml's `json` type
and its `log` as text. The run with `lr` 0.4 diverged: its loss is `float("nan")`, which
Python's `json.dump` writes as `NaN` (not JSON). Prints that run's directory, relative to
OUT, after checking the file holds `NaN`.
"""

import os
import sys

from fluidml import Flow, Task, TaskSpec
from fluidml.storage import LocalFileStore

DIVERGED = 0.4


def train(lr: float, task: Task) -> None:
    loss = float("nan") if lr == DIVERGED else lr / 10
    task.save({"loss": loss, "lr": lr}, "metrics", type_="json")
    task.save(f"lr={lr}\n", "log", type_="text")


def main(out_dir: str) -> None:
    store = LocalFileStore(out_dir)
    grid = TaskSpec(task=train, config={"lr": [0.1, 0.2, DIVERGED]}, expand="product")
    Flow(tasks=[grid]).run(num_workers=1, run_name="lost-owl", results_store=store,
                           project_name="nan")
    run_dir = store.get_context("train", {"train": {"lr": DIVERGED}}).run_dir
    with open(os.path.join(run_dir, "metrics.json")) as f:
        assert "NaN" in f.read(), "fluidml no longer writes NaN for a nan loss"
    print(os.path.relpath(run_dir, out_dir))


if __name__ == "__main__":
    main(sys.argv[1])
