"""CPU seconds of the same training run in this process and in a worker of the sweep engine's cluster.

    python benchmarks/sweep_worker_overhead.py [--repeats 3]

The run is a short one of the SQRT chapter (`lib.image_runs.train_run`: the report's CNN with TSQRT on 2,000
Fashion-MNIST images, or the digits when Fashion-MNIST is missing, 2 epochs). It is timed (CPU seconds of the
process that runs it, after one warm-up run there) in three places: here, in a worker of `lib.sweep.local_cluster`
(the engine's environment), and in a worker started with distributed's default environment, which sets
MALLOC_TRIM_THRESHOLD_=65536. Target: a run in the engine's worker costs at most 1.25 times what it costs here.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 1.25


def config() -> dict:
    from lib.data.images import DataError, require

    try:
        require("fashion_mnist")
        dataset, limit = "fashion_mnist", 2000
    except DataError:
        dataset, limit = "digits", 0
    return {"model": "cnn", "dataset": dataset, "train_limit": limit, "test_limit": 1000 if limit else 0,
            "data_seed": 0, "epochs": 2, "batch_size": 64, "schedule": "cosine", "lr": 1e-3, "seed": 0,
            "activation": "tsqrt", "learnable": True, "batch_norm": False, "bn_affine": True, "activation_lr": None,
            "channels": 16, "hidden": 256, "kernel_size": 3, "dropout": 0.0, "granularity": "element", "slices": None}


def timed_runs(cfg: dict, repeats: int) -> list[float]:
    """CPU seconds of `repeats` runs of `cfg` in the calling process, after one warm-up run (one torch thread)."""
    from lib import image_runs
    from lib.seeding import torch_threads

    with torch_threads(1):
        image_runs.train_run(cfg)
        times = []
        for _ in range(repeats):
            start = time.process_time()
            image_runs.train_run(cfg)
            times.append(time.process_time() - start)
    return times


def in_worker(environ: dict | None, cfg: dict, repeats: int) -> tuple[list[float], str | None]:
    """`timed_runs` in a fresh one-worker cluster: the engine's (environ None) or one started with `environ`."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    from lib import sweep

    if environ is None:
        cluster = sweep.local_cluster(1)
    else:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR)
    try:
        with Client(cluster) as client:
            times = client.submit(timed_runs, cfg, repeats, pure=False).result()
            trim = client.submit(os.environ.get, "MALLOC_TRIM_THRESHOLD_", pure=False).result()
    finally:
        cluster.close()
    return times, trim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = config()
    rows = {"this process": (timed_runs(cfg, args.repeats), os.environ.get("MALLOC_TRIM_THRESHOLD_"))}
    rows["engine worker"] = in_worker(None, cfg, args.repeats)
    default = {"MALLOC_TRIM_THRESHOLD_": 65536, "OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
    rows["distributed's default worker"] = in_worker(default, cfg, args.repeats)
    here = statistics.median(rows["this process"][0])
    print(f"one run: {cfg['dataset']}, {cfg['epochs']} epochs; median CPU seconds of {args.repeats} runs; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'where':<30} {'MALLOC_TRIM_THRESHOLD_':>22} {'s/run':>7} {'x here':>7}")
    for where, (times, trim) in rows.items():
        median = statistics.median(times)
        print(f"{where:<30} {str(trim):>22} {median:7.2f} {median / here:7.2f}")
    ratio = statistics.median(rows["engine worker"][0]) / here
    print(f"target: a run in the engine's worker within {TARGET:g} x its cost here: "
          f"{'met' if ratio <= TARGET else 'not met'} ({ratio:.2f})")


if __name__ == "__main__":
    main()
