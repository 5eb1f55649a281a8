"""lib.sweep backends side by side: the embedded Dask cluster's overhead, and its speed-up on a chapter-sized grid.

    python benchmarks/sweep_backends.py [--rounds 2] [--epochs 800] [--workers 2]

(a) Overhead: 100 trivial runs in-process against the embedded cluster, cold (the cluster started
    by the grid, as a notebook's first grid pays it: spawning the workers and their first import
    of torch) and warm (the cluster already up, as under the book runner). Target: under 3 s more.
(b) Speed-up: 14 runs (7 activations x 2 seeds) of a 1-64-64-1 MLP fitted to sin with full-batch
    Adam, in-process against the warm embedded cluster of `--workers` processes. Target: >= 1.6x
    with 2 workers on a 2-core machine.

Every timed grid computes all of its runs (``ACTIVATION_BOOK_FRESH=1``, store in a temp folder,
so the atomic writes are included). The candidates alternate within each round, so load from
other processes on a shared machine falls on both alike; the table gives medians over rounds,
and the load average is printed before and after, with the cores each backend obtained (the
runs' CPU seconds over the wall time): a speed-up needs the second core to be free.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from anywhere: the worktree's lib

from _sweep_tasks import ACTIVATIONS, fit_sin, trivial  # noqa: E402  (beside this script, importable by workers)

from lib import sweep  # noqa: E402


def seconds(grid: sweep.Grid, **backend) -> tuple[float, list]:
    start = time.perf_counter()
    results = sweep.run(grid, progress=False, **backend)
    return time.perf_counter() - start, results


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=800)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ[sweep.ENV_RUNS] = tempfile.mkdtemp(prefix="sweep-bench-")
    os.environ[sweep.ENV_FRESH] = "1"
    os.environ.pop(sweep.ENV_SWEEP_LOG, None)
    print(f"lib.sweep backends; {os.cpu_count()} cores, shared with other work: load average {load()} at start")

    tiny = sweep.Grid("overhead", trivial, [{"i": i} for i in range(100)])
    chapter = sweep.Grid("chapter", fit_sin, [{"seed": s, "activation": a, "epochs": args.epochs}
                                              for a in ACTIVATIONS for s in (0, 1)])
    times: dict[str, list[float]] = {k: [] for k in ("tiny in-process", "tiny cold", "tiny warm",
                                                     "chapter in-process", "chapter cluster")}
    cores: dict[str, list[float]] = {"in-process": [], "cluster": []}   # CPU seconds of the runs / wall seconds
    for round_ in range(args.rounds):
        sweep.close()   # the next embedded grid starts its cluster: cold
        if round_ % 2:
            times["tiny cold"].append(seconds(tiny, workers=args.workers)[0])
            times["tiny warm"].append(seconds(tiny, workers=args.workers)[0])
            times["tiny in-process"].append(seconds(tiny, workers=0)[0])
        else:
            times["tiny in-process"].append(seconds(tiny, workers=0)[0])
            times["tiny cold"].append(seconds(tiny, workers=args.workers)[0])
            times["tiny warm"].append(seconds(tiny, workers=args.workers)[0])
        order = ["cluster", "in-process"] if round_ % 2 else ["in-process", "cluster"]
        losses = {}
        for which in order:
            t, results = seconds(chapter, workers=0 if which == "in-process" else args.workers)
            times[f"chapter {which}"].append(t)
            cores[which].append(sum(r["cpu_seconds"] for r in results) / t)
            losses[which] = [r["loss"] for r in results]
        assert losses["in-process"] == losses["cluster"], "the backends disagree"
    sweep.close()

    median = {k: statistics.median(v) for k, v in times.items()}
    cold_extra = median["tiny cold"] - median["tiny in-process"]
    warm_extra = median["tiny warm"] - median["tiny in-process"]
    speedup = median["chapter in-process"] / median["chapter cluster"]
    rows = [
        ("(a) 100 trivial runs, in-process", median["tiny in-process"], "", ""),
        (f"(a) same, embedded cold ({args.workers} workers)", median["tiny cold"], f"+{cold_extra:.2f} s",
         "met" if cold_extra < 3 else "not met"),
        (f"(a) same, embedded warm ({args.workers} workers)", median["tiny warm"], f"+{warm_extra:.2f} s",
         "met" if warm_extra < 3 else "not met"),
        (f"(b) 14 MLP fits x {args.epochs} epochs, in-process", median["chapter in-process"], "", ""),
        (f"(b) same, embedded warm ({args.workers} workers)", median["chapter cluster"], f"{speedup:.2f}x",
         "met" if speedup >= 1.6 else "not met"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'grid':<{width}}  {'median s':>8}  {'vs in-process':>13}  target")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 13}  {'-' * 7}")
    for name, value, versus, verdict in rows:
        print(f"{name:<{width}}  {value:8.2f}  {versus:>13}  {verdict}")
    print(f"(b) cores obtained (CPU seconds of the runs / wall seconds): in-process "
          f"{statistics.median(cores['in-process']):.2f}, embedded {statistics.median(cores['cluster']):.2f} "
          f"of {args.workers} (below that, other processes took the rest)")
    print(f"targets: (a) under 3 s more than in-process; (b) >= 1.6x. Medians of {args.rounds} rounds; "
          f"load average {load()} at the end (other agents share this machine).")


if __name__ == "__main__":
    main()
