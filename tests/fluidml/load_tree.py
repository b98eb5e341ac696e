"""fluidml 0.3.4 loads a result tree and checks it: `python load_tree.py DIR MANIFEST`.

MANIFEST is what `write_tree.py` wrote (or a test made in the same shape). Every value must
load with fluidml's own LocalFileStore and equal the one saved; every run listed as finished
must be finished for fluidml (`is_finished`), and fluidml's `get_results` of it must hold its
values; a value with a `sub_dir` must be in that sub-directory of its run directory; each
entry of `runs` (if any) must have its directory name and fluidml's state (`null`: none).
Prints `ok N` (values checked) or the mismatches and exits 1.
"""

import json
import os
import sys

from fluidml_types import CsvStore


def main(base_dir: str, manifest_path: str) -> int:
    with open(manifest_path) as f:
        manifest = json.load(f)
    store = CsvStore(base_dir)
    problems = []
    for entry in manifest["values"]:
        got = store.load(entry["name"], entry["task"], entry["config"])
        if got != entry["value"]:
            problems.append(f"{entry['task']} {entry['config']} {entry['name']}: "
                            f"expected {entry['value']!r}, fluidml loaded {got!r}")
        if entry.get("sub_dir") and got is not None:
            run_dir = store._get_run_dir(os.path.join(base_dir, entry["task"]), entry["config"])
            obj_dir = os.path.join(run_dir, entry["sub_dir"])
            if not any(f.startswith(entry["name"] + ".") for f in os.listdir(obj_dir)):
                problems.append(f"{entry['task']} {entry['config']} {entry['name']}: "
                                f"not in sub_dir {entry['sub_dir']}")
    for run in manifest.get("runs", []):
        run_dir = store._get_run_dir(os.path.join(base_dir, run["task"]), run["config"])
        name = os.path.basename(run_dir) if run_dir else None
        if name != run["dir"]:
            problems.append(f"{run['task']} {run['config']}: directory {name}, "
                            f"expected {run['dir']}")
        info = store.load("fluidml_info", run["task"], run["config"])
        state = info["state"] if info else None
        if state != run["state"]:
            problems.append(f"{run['task']} {run['config']}: state {state!r}, "
                            f"expected {run['state']!r}")
    for run in manifest.get("finished", []):
        if not store.is_finished(run["task"], run["config"]):
            problems.append(f"{run['task']} {run['config']}: not finished for fluidml")
        results = store.get_results(run["task"], run["config"]) or {}
        for entry in manifest["values"]:
            if entry["task"] == run["task"] and entry["config"] == run["config"]:
                if results.get(entry["name"]) != entry["value"]:
                    problems.append(f"{run['task']} {run['config']}: get_results lacks "
                                    f"{entry['name']} (has {sorted(results)})")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"ok {len(manifest['values'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
