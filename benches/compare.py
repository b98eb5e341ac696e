"""fluidml 0.3.4's own stores, driven by the comparison benchmark (benches/compare/).

The Rust benchmark starts this script once, in the virtualenv benches/report.sh makes, and
sends it one JSON command per line on stdin; every reply is one JSON line on stdout. So the
fluidml measurements run in the same rounds as the Rust systems they are compared with.

Workloads mirror benches/compare/workloads.rs, with the same configs and value bytes:
- metrics(t, i): the same dict (same floats) the Rust side saves as `json`;
- weights(t, i): the same 64 KiB payload (read from the file the Rust side wrote) with the
  first 16 bytes stamped with t and i (little endian), saved as fluidml's `pickle` type.

fluidml never fsyncs: its saves are not durable, which the report states next to its rows.
Threads share the store behind the RLock fluidml itself uses for multi-worker runs.

    python benches/compare.py --payload PATH --root DIR
    python benches/compare.py artifact --root DIR --mib N   # one W4 run, then exit
"""

import argparse
import json
import os
import random
import resource
import shutil
import struct
import sys
import tempfile
import threading
import time

import fluidml
from fluidml.storage import InMemoryStore, LocalFileStore

CHUNK = 1 << 20


def metrics(t, i):
    return {
        "worker": t,
        "i": i,
        "loss": 1.0 / (i + 1),
        "history": [(k + 1) / (i + k + 3) for k in range(48)],
    }


def save(store, obj, name, type_, task, config):
    # Keywords: fluidml's two stores take their positional arguments in different orders.
    store.save(obj, name, type_=type_, task_name=task, task_unique_config=config)


def scale_metrics(k):
    return metrics(0, k)


class Driver:
    def __init__(self, payload, root):
        self.payload = payload
        self.root = root
        self.filled = {}  # (kind, task) -> (store, runs filled)

    def new_store(self, kind):
        if kind == "local":
            store = LocalFileStore(tempfile.mkdtemp(prefix="fluidml-", dir=self.root))
        else:
            store = InMemoryStore()
        store.lock = threading.RLock()
        return store

    def weights(self, t, i):
        return struct.pack("<QQ", t, i) + self.payload[16:]

    def w1(self, kind, threads, secs, max_runs):
        """K threads save metrics + weights of new runs until `secs` pass."""
        store = self.new_store(kind)
        per_thread = max(1, max_runs // threads)
        counts = [0] * threads
        barrier = threading.Barrier(threads + 1)

        def work(t):
            barrier.wait()
            start = time.perf_counter()
            i = 0
            while time.perf_counter() - start < secs and i < per_thread:
                config = {"worker": t, "i": i}
                save(store, metrics(t, i), "metrics", "json", "train", config)
                save(store, self.weights(t, i), "weights", "pickle", "train", config)
                i += 1
            counts[t] = i

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        barrier.wait()
        start = time.perf_counter()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        runs = sum(counts)
        # Verify: every run is there, spot-check bytes of a few.
        stored = self.count(store, kind, "train")
        rng = random.Random(runs)
        for _ in range(8):
            t = rng.randrange(threads)
            if counts[t] == 0:
                continue
            i = rng.randrange(counts[t])
            config = {"worker": t, "i": i}
            if store.load("metrics", "train", config) != metrics(t, i):
                raise RuntimeError(f"fluidml {kind}: wrong metrics for {config}")
            if store.load("weights", "train", config) != self.weights(t, i):
                raise RuntimeError(f"fluidml {kind}: wrong weights for {config}")
        self.dispose(store, kind)
        if stored != runs:
            raise RuntimeError(f"fluidml {kind}: {runs} runs saved but {stored} stored")
        return {"runs": runs, "secs": elapsed}

    def count(self, store, kind, task):
        if kind == "local":
            task_dir = os.path.join(store.base_dir, task)
            return len([d for d in os.listdir(task_dir) if not d.startswith(".")])
        return len(store._memory_store.get(task, []))

    def dispose(self, store, kind):
        if kind == "local":
            shutil.rmtree(store.base_dir, ignore_errors=True)

    def fill(self, kind, task, runs, cap_secs):
        """Grows the store of (kind, task) to `runs` runs of `{"i": k}`, or until the cap."""
        store, have = self.filled.get((kind, task)) or (self.new_store(kind), 0)
        start = time.perf_counter()
        while have < runs and time.perf_counter() - start < cap_secs:
            save(store, scale_metrics(have), "metrics", "json", task, {"i": have})
            have += 1
        self.filled[(kind, task)] = (store, have)
        stored = self.count(store, kind, task)
        if stored != have:
            raise RuntimeError(f"fluidml {kind}: filled {have} runs but {stored} stored")
        return {"runs": have, "secs": time.perf_counter() - start}

    def scale(self, kind, task, runs, secs, warmup):
        """Per-op cost of overwriting and of loading the metrics of random runs."""
        store, have = self.filled[(kind, task)]
        if have < runs:
            raise RuntimeError(f"fluidml {kind}: {task} has {have} runs, not {runs}")
        rng = random.Random(runs)

        def overwrite():
            k = rng.randrange(runs)
            save(store, scale_metrics(k), "metrics", "json", task, {"i": k})

        def load():
            k = rng.randrange(runs)
            value = store.load("metrics", task, {"i": k})
            if value != scale_metrics(k):
                raise RuntimeError(f"fluidml {kind}: wrong metrics for run {k}")

        out = {}
        for name, op in (("save", overwrite), ("load", load)):
            for _ in range(warmup):
                op()
            n, start = 0, time.perf_counter()
            while n < 3 or time.perf_counter() - start < secs:
                op()
                n += 1
            out[name + "_ops"] = n
            out[name + "_secs"] = time.perf_counter() - start
        return out

    def reduce(self, kind, task, runs, lazy):
        """Loads the metrics of every run, as fluidml hands a reduce task its sweep."""
        store, have = self.filled[(kind, task)]
        start = time.perf_counter()
        values = []
        for k in range(have):
            config = {"i": k}
            if lazy and kind == "local":
                promise = store.load("metrics", task, config, lazy=True)
                values.append((config, promise.load()))
            else:
                values.append((config, store.load("metrics", task, config)))
        elapsed = time.perf_counter() - start
        for config, value in values:
            if value != scale_metrics(config["i"]):
                raise RuntimeError(f"fluidml {kind}: wrong metrics for {config}")
        if len(values) != runs:
            raise RuntimeError(f"fluidml {kind}: reduce saw {len(values)} runs, not {runs}")
        return {"runs": len(values), "secs": elapsed}

    def handle(self, cmd):
        op = cmd["op"]
        if op == "version":
            return {"version": fluidml.__version__}
        if op == "w1":
            return self.w1(cmd["kind"], cmd["threads"], cmd["secs"], cmd["max_runs"])
        if op == "fill":
            cap = cmd["cap_secs"]  # null: no cap
            return self.fill(cmd["kind"], cmd["task"], cmd["runs"], float("inf") if cap is None else cap)
        if op == "scale":
            return self.scale(cmd["kind"], cmd["task"], cmd["runs"], cmd["secs"], cmd["warmup"])
        if op == "reduce":
            return self.reduce(cmd["kind"], cmd["task"], cmd["runs"], cmd["lazy"])
        raise ValueError(f"unknown command {op!r}")


def serve(args):
    with open(args.payload, "rb") as f:
        payload = f.read()
    driver = Driver(payload, args.root)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = driver.handle(json.loads(line))
        except Exception as e:  # reported to the Rust side, which stops with it
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


def artifact(args):
    """W4: stream `mib` MiB into a fluidml LocalFileStore result and read it back."""
    store = LocalFileStore(tempfile.mkdtemp(prefix="fluidml-artifact-", dir=args.root))
    config = {"model": "large"}
    chunk = bytearray(os.urandom(16)) + bytearray(CHUNK - 16)
    try:
        start = time.perf_counter()
        f = store.open("weights", "train", config, mode="wb", type_="pickle")
        for n in range(args.mib):
            chunk[:8] = struct.pack("<Q", n)
            f.write(chunk)
        f.close()
        write_secs = time.perf_counter() - start
        start = time.perf_counter()
        f = store.open("weights", "train", config, mode="rb")
        total = 0
        while True:
            # fluidml 0.3.4's File.read() drops the data (returns None): read the file it wraps.
            data = f.f.read(CHUNK)
            if not data:
                break
            total += len(data)
        f.close()
        read_secs = time.perf_counter() - start
        if total != args.mib * CHUNK:
            raise RuntimeError(f"read back {total} bytes, wrote {args.mib * CHUNK}")
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"write_secs": write_secs, "read_secs": read_secs, "peak_rss_kib": peak_kib}))
    finally:
        shutil.rmtree(store.base_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", nargs="?", default="serve", choices=["serve", "artifact"])
    parser.add_argument("--payload")
    parser.add_argument("--root", default=".")
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    if args.mode == "artifact":
        artifact(args)
    else:
        serve(args)


if __name__ == "__main__":
    main()
