"""Writes tests/fixtures/fluidml-0.3.4/ with fluidml's own LocalFileStore (run by make_fixture.sh).

The tree holds what sweepstore must read from a directory fluidml wrote: config.json files, the
pickled load information in .fluidml/, json, text and plain-data pickle results, a result in a
sub_dir, a pickle of a custom Python class (which sweepstore must refuse to decode), and the
fluidml_info.json state of a finished and an unfinished run, plus the .saved_results list that
fluidml's Task.save keeps.
"""

import json
import os
import shutil
import sys

import fluidml
from fluidml.storage import LocalFileStore


class Checkpoint:
    """A custom class: its pickle refers to __main__.Checkpoint, which only Python can build."""

    def __init__(self, step):
        self.step = step


def main(out_dir: str) -> None:
    assert fluidml.__version__ == "0.3.4", fluidml.__version__
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    store = LocalFileStore(out_dir)

    finished = {"lr": 0.01, "seed": 1}
    store.save({"acc": 0.91, "loss": [0.5, 0.25]}, "metrics", "json", "train", finished)
    store.save("epoch 1\nepoch 2\n", "log", "text", "train", finished)
    plain = {
        "weights": [1.5, -2.0],
        "name": "bert",
        "epochs": 3,
        "ok": True,
        "missing": None,
        "pair": (1, "two"),
        7: "int key",
    }
    store.save(plain, "state", "pickle", "train", finished)
    store.save(Checkpoint(3), "checkpoint", "pickle", "train", finished)
    store.save({"best": 2}, "summary", "json", "train", finished, sub_dir="models/best")
    store.save(["metrics", "log", "state"], ".saved_results", "json", "train", finished,
               sub_dir=".fluidml")
    # What fluidml's Flow saves when a task ends (TaskInfo as JSON, with its state).
    store.save({"name": "train", "state": "finished", "unique_config": finished},
               "fluidml_info", "json", "train", finished, indent=4)

    running = {"lr": 0.1, "seed": 2}
    store.save({"acc": 0.5}, "metrics", "json", "train", running)
    store.save({"name": "train", "state": "running", "unique_config": running},
               "fluidml_info", "json", "train", running, indent=4)

    subset = {"lr": 0.001}
    store.save({"acc": 0.7}, "metrics", "json", "train", subset)

    store.save("0.93", "score", "text", "evaluate", {"split": "test"})

    # Sanity: fluidml reads back what it wrote.
    assert store.load("metrics", "train", finished) == {"acc": 0.91, "loss": [0.5, 0.25]}
    assert store.is_finished("train", finished)
    assert not store.is_finished("train", running)
    print(json.dumps({"fluidml": fluidml.__version__, "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main(sys.argv[1])
