"""fluidml 0.3.4 writes a result tree: `python write_tree.py OUT MANIFEST`.

What it saves (with fluidml's own LocalFileStore and Flow): json, text, a plain-data pickle, a
custom type (`csv`, registered here the way a fluidml user registers one), a result in a
sub_dir (`plots/raw`), runs of a `Flow` grid named by the flow's run name (`brave-owl-000`, ...)
with fluidml's run state (`fluidml_info`) and result list (`.saved_results`), and a run that
never got a state, plus a file in a run directory that no load information describes
(`notes/readme.txt`). MANIFEST receives, as JSON, every value saved:
`[{"task", "config", "name", "type", "value", "sub_dir"}]`, `{"finished": [...]}` for the
runs fluidml finished, `{"runs": [{"task", "config", "dir", "state"}]}` (each run's directory
name and fluidml's state of it, `null` for none) and `{"unlisted": [...]}` (the extra files,
relative to OUT) — what `load_tree.py` checks another tree against.
"""

import json
import os
import sys

from fluidml import Flow, Task, TaskSpec

from fluidml_types import CsvStore


def train(lr: float, seed: int, task: Task) -> None:
    task.save({"acc": 0.5 + lr, "seed": seed}, "metrics", type_="json")
    task.save(f"lr={lr}\n", "log", type_="text")
    task.save({"weights": [lr, -lr], "ok": True, "none": None}, "state", type_="pickle")
    task.save([["step", "loss"], ["1", str(lr)]], "curve", type_="csv")
    task.save({"bins": [1, 2, 3]}, "histo", type_="json", sub_dir="plots/raw")


def main(out_dir: str, manifest_path: str) -> None:
    store = CsvStore(out_dir)
    flow = Flow(tasks=[TaskSpec(task=train, config={"lr": [0.1, 0.2], "seed": 1}, expand="product")])
    flow.run(num_workers=1, run_name="brave-owl", results_store=store, project_name="i15")

    entries = []
    finished = []
    for lr in (0.1, 0.2):
        # A Flow's unique config nests the task's parameters under its name.
        config = {"train": {"lr": lr, "seed": 1}}
        finished.append({"task": "train", "config": config})
        entries += [
            {"task": "train", "config": config, "name": "metrics", "type": "json",
             "value": {"acc": 0.5 + lr, "seed": 1}, "sub_dir": None},
            {"task": "train", "config": config, "name": "log", "type": "text",
             "value": f"lr={lr}\n", "sub_dir": None},
            {"task": "train", "config": config, "name": "state", "type": "pickle",
             "value": {"weights": [lr, -lr], "ok": True, "none": None}, "sub_dir": None},
            {"task": "train", "config": config, "name": "curve", "type": "csv",
             "value": [["step", "loss"], ["1", str(lr)]], "sub_dir": None},
            {"task": "train", "config": config, "name": "histo", "type": "json",
             "value": {"bins": [1, 2, 3]}, "sub_dir": "plots/raw"},
        ]
    # A run saved outside a Flow: no state, no result list.
    loose = {"split": "test"}
    store.save("0.93", "score", "text", "evaluate", loose)
    entries.append({"task": "evaluate", "config": loose, "name": "score", "type": "text",
                    "value": "0.93", "sub_dir": None})
    runs = []
    for task, config in [(r["task"], r["config"]) for r in finished] + [("evaluate", loose)]:
        run_dir = store.get_context(task, config).run_dir
        info = store.load("fluidml_info", task, config)
        runs.append({"task": task, "config": config, "dir": os.path.basename(run_dir),
                     "state": info["state"] if info else None})
    # A file a task wrote into its run directory, which no load information describes.
    notes = os.path.join(out_dir, "train", runs[0]["dir"], "notes")
    os.makedirs(notes)
    with open(os.path.join(notes, "readme.txt"), "w") as f:
        f.write("not a result\n")
    unlisted = [os.path.relpath(os.path.join(notes, "readme.txt"), out_dir)]
    with open(manifest_path, "w") as f:
        json.dump({"values": entries, "finished": finished, "runs": runs, "unlisted": unlisted},
                  f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
