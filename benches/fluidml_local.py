"""fluidml 0.3.4's own LocalFileStore on the workload of benches/local.rs, for the README.

Fills one task with N runs (config {"run": i}, one ~1 KiB json result each), then times, per
repetition, 40 saves overwriting the result of a random existing run, 10 first saves of new
configs, and 400 loads of random runs. Prints the median per-op cost over the repetitions
with min-max, in the same Markdown shape as benches/local.rs.

Run it in the virtualenv tests/fluidml/make_fixture.sh creates:

    /tmp/fluidml-venv/bin/python benches/fluidml_local.py [--runs 1000] [--reps 5]
"""

import argparse
import random
import shutil
import statistics
import tempfile
import time

import fluidml
from fluidml.storage import LocalFileStore


def value(i):
    return {"run": i, "loss": [0.5, 0.25, 0.125], "note": "x" * 900}


def per_op(n, op):
    start = time.perf_counter()
    for k in range(n):
        op(k)
    return (time.perf_counter() - start) * 1e6 / n


def spread(values):
    return f"{statistics.median(values):.0f} µs ({min(values):.0f}–{max(values):.0f})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="fluidml-bench-", dir=".")
    try:
        store = LocalFileStore(base)
        for i in range(args.runs):
            store.save(value(i), "metrics", "json", "train", {"run": i})
        rng = random.Random(args.runs)
        saves, new_runs, loads = [], [], []
        for rep in range(args.reps):
            def save(_):
                i = rng.randrange(args.runs)
                store.save(value(i), "metrics", "json", "train", {"run": i})

            def new_run(k):
                store.save(value(k), "metrics", "json", "train", {"new": rep * 10 + k})

            def load(_):
                i = rng.randrange(args.runs)
                assert store.load("metrics", "train", {"run": i})["run"] == i

            saves.append(per_op(40, save))
            new_runs.append(per_op(10, new_run))
            loads.append(per_op(400, load))
        print(f"fluidml {fluidml.__version__}, {args.runs} runs, {args.reps} reps")
        print("| runs in the task | operation | fluidml LocalFileStore per op, median (min–max) |")
        print("|---:|---|---:|")
        print(f"| {args.runs} | save (overwrite) | {spread(saves)} |")
        print(f"| {args.runs} | save (new run) | {spread(new_runs)} |")
        print(f"| {args.runs} | load | {spread(loads)} |")
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
