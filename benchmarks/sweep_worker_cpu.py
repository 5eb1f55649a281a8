"""The thread CPU time of one small training workload in this process and in a sweep worker, side by side.

    python benchmarks/sweep_worker_cpu.py [--rounds 3] [--iterations 200]

The workload (a depthwise convolution and a linear layer, forward and backward, on tensors of 512 kB: the shapes
of the ConvNeXt chapter's blocks) runs alternately here and in a worker of `lib.sweep.local_cluster` (one
process, one thread), `rounds` times each; the CPU time of the thread that ran it is compared, which a shared
machine's load disturbs far less than wall-clock time. Target: a worker needs at most 1.2x the CPU time of this
process (Dask's default MALLOC_TRIM_THRESHOLD_ in its workers made it 1.6-2x).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def workload(iterations: int) -> float:
    """Thread CPU seconds of `iterations` forward+backward passes, one torch thread."""
    torch.set_num_threads(1)
    x = torch.randn(128, 16, 8, 8)
    conv = torch.nn.Conv2d(16, 16, 5, padding=2, groups=16)
    linear = torch.nn.Linear(16, 64)
    start = time.thread_time()
    for _ in range(iterations):
        linear(conv(x).permute(0, 2, 3, 1)).sum().backward()
    return time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    from distributed import Client
    from sweep_worker_cpu import workload as importable  # workers import it by this name, not as __main__

    from lib import sweep

    cluster = sweep.local_cluster(1)
    here, there = [], []
    try:
        with Client(cluster, set_as_default=False) as client:
            for _ in range(args.rounds):
                here.append(importable(args.iterations))
                there.append(client.submit(importable, args.iterations, pure=False).result())
    finally:
        cluster.close()
    ratio = statistics.median(there) / statistics.median(here)
    print(f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("| where | thread CPU s (median of rounds) |\n|---|---|")
    print(f"| this process | {statistics.median(here):.3f} |\n| sweep worker | {statistics.median(there):.3f} |")
    print(f"worker / this process: {ratio:.2f} (target <= 1.2: {'met' if ratio <= 1.2 else 'not met'})")


if __name__ == "__main__":
    main()
