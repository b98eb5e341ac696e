"""Python sweep loop benchmark: runs recorded per second from 1, 4 and 16 processes.

Each process records its share of the runs: a config, ~1 KiB of json metrics and "finished".

    sweepstore   store = sweepstore.open(dir); run = store.run(task, config);
                 run.save(metrics, "metrics", "json"); run.finish()       (each call fsync'ed
                 before it returns, group-committed across processes)
    fluidml      fluidml.storage.LocalFileStore: save(metrics, ...) and a finished
                 `fluidml_info` record, as fluidml's Flow writes them (no fsync)
    optuna       JournalStorage(JournalFileBackend(file)): ask, suggest 2 params, tell(value)
                 (RandomSampler, so the storage is measured, not TPE)

Plus the per-call cost of a 1 KiB load through the binding (`run.load(name)` of a `bytes`
value on a run handle) against the same load made from Rust (`Run::load` on a run handle) in
the same process and build.

    python python/benches/sweep_loop.py [--runs N] [--no-build]

Installs what it needs into the running interpreter: optuna and fluidml (pip), and the
package itself as a release build (`maturin develop --release`) unless --no-build.
"""

import argparse
import importlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
METRICS = {"loss": 0.125, "curve": [round(1 / (i + 1), 6) for i in range(96)]}
assert 900 <= len(json.dumps(METRICS)) <= 1100, len(json.dumps(METRICS))


def ensure(module, requirement):
    try:
        importlib.import_module(module)
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", requirement])


def build():
    ensure("maturin", "maturin>=1.9.4")
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix)
    subprocess.check_call(
        [sys.executable, "-m", "maturin", "develop", "--release", "--quiet", "-m", str(ROOT / "python/Cargo.toml")],
        env=env,
    )


# -- workers: one global store per process, opened by the pool initializer -------------------
STORE = None


def init(kind, where, lock):
    global STORE
    if kind == "sweepstore":
        import sweepstore

        STORE = sweepstore.open(where)
    elif kind == "fluidml":
        from fluidml.storage import LocalFileStore

        STORE = LocalFileStore(where)
        STORE.lock = lock
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(where))
        # Random sampling: what is measured is the storage, not TPE's model fitting.
        STORE = optuna.load_study(study_name="bench", storage=storage, sampler=optuna.samplers.RandomSampler())


def work(kind, worker, runs):
    for i in range(runs):
        config = {"worker": worker, "i": i, "lr": 10.0 ** -(i % 5)}
        if kind == "sweepstore":
            run = STORE.run("train", config)
            run.save(METRICS, "metrics", "json")
            run.finish()
        elif kind == "fluidml":
            STORE.save(METRICS, "metrics", "json", "train", config)
            STORE.save({"state": "finished"}, "fluidml_info", "json", "train", config)
        else:
            trial = STORE.ask()
            trial.suggest_float("lr", 1e-5, 1.0, log=True)
            trial.suggest_int("seed", 0, 1000)
            STORE.tell(trial, METRICS["loss"])
    return runs


def _ready(_):
    time.sleep(0.2)  # long enough that every worker takes one
    return os.getpid()


def sweep_rate(kind, processes, total, tmp):
    where = str(Path(tmp) / f"{kind}-{processes}")
    if kind == "optuna":
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        optuna.create_study(study_name="bench", storage=JournalStorage(JournalFileBackend(where)))
    owner = None
    if kind == "sweepstore":
        import sweepstore

        owner = sweepstore.open(where)  # this process serves it; the workers join
    ctx = multiprocessing.get_context("spawn")
    lock = ctx.Manager().RLock() if kind == "fluidml" else None
    each = total // processes
    with ctx.Pool(processes, initializer=init, initargs=(kind, where, lock)) as pool:
        pool.map(_ready, range(processes), chunksize=1)  # every worker started and opened its store
        start = time.perf_counter()
        done = pool.starmap(work, [(kind, w, each) for w in range(processes)])
        elapsed = time.perf_counter() - start
    if owner is not None:
        assert len(list(owner.sweep("train", "metrics", lazy=True))) == sum(done)
        owner.close()
    return sum(done) / elapsed


def load_overhead(tmp, n=20000):
    import sweepstore

    store = sweepstore.open(Path(tmp) / "overhead")
    config = {"lr": 0.1, "seed": 1}
    run = store.run("train", config)
    run.save(os.urandom(1024), "blob", "bytes")
    text = json.dumps(config)
    for _ in range(1000):  # warm up both paths
        run.load("blob")
    store._native.time_rust_loads("train", text, "blob", 1000)
    start = time.perf_counter()
    for _ in range(n):
        run.load("blob")
    python = (time.perf_counter() - start) / n
    rust = store._native.time_rust_loads("train", text, "blob", n) / n
    store.close()
    return python, rust


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1600, help="runs per measurement (default 1600)")
    parser.add_argument("--no-build", action="store_true", help="use the installed sweepstore as it is")
    args = parser.parse_args()
    ensure("optuna", "optuna")
    ensure("fluidml", "fluidml==0.3.4")
    if not args.no_build:
        build()
    print(f"# {args.runs} runs per cell, spawn workers, {os.cpu_count()} CPUs; runs/s (higher is better)")
    print("| processes | sweepstore | fluidml LocalFileStore | optuna journal | vs fluidml | vs optuna |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(dir=ROOT / "target") as tmp:
        for processes in (1, 4, 16):
            rates = {kind: sweep_rate(kind, processes, args.runs, tmp) for kind in ("sweepstore", "fluidml", "optuna")}
            s, f, o = rates["sweepstore"], rates["fluidml"], rates["optuna"]
            print(f"| {processes} | {s:,.0f} | {f:,.0f} | {o:,.0f} | {s / f:.1f}× | {s / o:.1f}× |", flush=True)
        python, rust = load_overhead(tmp)
    print(f"\n1 KiB load, per call: Python {python * 1e6:.1f} µs, Rust {rust * 1e6:.1f} µs, ratio {python / rust:.2f}×")


if __name__ == "__main__":
    main()
