"""What a run of the SQRT-family chapter costs: timed training steps of the report's CNN, extrapolated to a run
and to a whole profile.

    python benchmarks/sqrt_chapter_cost.py [--profile full|paper|quick] [--rounds 5] [--steps 3] [--clock cpu]

For the profile's network (one 16x16 input channel for Fashion-MNIST and the digits, three for CIFAR-10), every
activation of its main grid, without and with BN, is trained for `--steps` optimiser steps per round on random
images, in interleaved rounds in a shuffled order (a burst of load on a shared machine falls on all alike); the
median seconds per step (one thread, as the sweep engine runs) times the steps of one run, plus the evaluations
(forward passes of the test and train-evaluation images every epoch, timed the same way), gives the cost of one
run. The profile's cost is that, averaged over the activations, times the number of its runs (`grids(p)`),
divided by the workers. With `--clock cpu` (the default) the times are CPU seconds of this process, which a busy
machine inflates less than wall time; the target of the full profile (12 minutes on 2 cores) is checked on them.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.chapters import sqrt_family as se  # noqa: E402
from lib.models.sqrt_cnn import SqrtCNN  # noqa: E402
from lib.train import make_optimizer  # noqa: E402

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
IN_CHANNELS = {"fashion_mnist": 1, "digits": 1, "cifar10": 3}
TRAIN_SIZES = {"fashion_mnist": 60_000, "digits": 1_347, "cifar10": 50_000}
TEST_SIZES = {"fashion_mnist": 10_000, "digits": 450, "cifar10": 10_000}
TARGET_MINUTES = {"full": 12.0, "quick": 1.0}


def profile_values(profile: str) -> dict:
    """The chapter's parameters in `profile` (the notebook's defaults with the profile's entries)."""
    from lib.runner.checks import profile_values as values

    return values(ROOT, "sqrt_family", profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=["quick", "full", "paper"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="optimiser steps per configuration and round")
    parser.add_argument("--clock", default="cpu", choices=list(CLOCKS))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    torch.set_num_threads(1)
    p = profile_values(args.profile)
    channels_in = IN_CHANNELS[p["dataset"]]
    n_train = p["train_limit"] or TRAIN_SIZES[p["dataset"]]
    n_test = p["test_limit"] or TEST_SIZES[p["dataset"]]
    n_eval = n_test + min(se.TRAIN_EVAL, n_train)
    steps_per_run = p["epochs"] * math.ceil(n_train / p["batch_size"])

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(p["batch_size"], channels_in, se.IMAGE_SIZE, se.IMAGE_SIZE, generator=generator)
    y = torch.randint(0, 10, (p["batch_size"],), generator=generator)
    x_eval = torch.randn(se.EVAL_BATCH, channels_in, se.IMAGE_SIZE, se.IMAGE_SIZE, generator=generator)
    names = ["relu", *p["trainable"]]
    cases = {}
    for name in names:
        for bn in (False, True):
            model = SqrtCNN(name, learnable=name in se.TRAINABLE, granularity=p["granularity"], batch_norm=bn,
                            in_channels=channels_in, channels=p["channels"], hidden=p["hidden"],
                            kernel_size=p["kernel_size"])
            cases[(name, bn)] = (model, make_optimizer(model, "adam", p["lr"]))

    def step(model, optimizer):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    @torch.no_grad()
    def forward(model):
        model.eval()
        model(x_eval)
        model.train()

    for model, optimizer in cases.values():          # warm-up
        step(model, optimizer)
        forward(model)
    times = {key: [] for key in cases}
    evals = {key: [] for key in cases}
    order = list(cases)
    shuffle = random.Random(0).shuffle
    for _ in range(args.rounds):
        shuffle(order)
        for key in order:
            model, optimizer = cases[key]
            start = clock()
            for _ in range(args.steps):
                step(model, optimizer)
            times[key].append((clock() - start) / args.steps)
            start = clock()
            forward(model)
            evals[key].append((clock() - start) / se.EVAL_BATCH)

    print(f"profile {args.profile}: C = {p['channels']}, H = {p['hidden']}, k = {p['kernel_size']}, "
          f"{channels_in} input channel(s), batch {p['batch_size']}, {steps_per_run:,} steps and "
          f"{p['epochs']} x {n_eval:,} evaluated images per run; {args.clock} seconds, one thread; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'activation':<12} {'BN':<6} {'ms/step':>9} {'images/s':>9} {'s/run':>10} {'h/run':>7}")
    per_run = []
    for key in cases:
        step_s, eval_s = statistics.median(times[key]), statistics.median(evals[key])
        run_s = steps_per_run * step_s + p["epochs"] * n_eval * eval_s
        per_run.append(run_s)
        print(f"{key[0]:<12} {'BN' if key[1] else 'no BN':<6} {1e3 * step_s:9.1f} {p['batch_size'] / step_s:9.0f} "
              f"{run_s:10.1f} {run_s / 3600:7.2f}")
    grids = se.grids(p)
    n_cnn = sum(len(g.configs) for g in grids if not g.name.endswith("references"))
    mean_run = statistics.mean(per_run)
    total = n_cnn * mean_run / args.workers
    print(f"{n_cnn} CNN runs (the references add little) x {mean_run:.1f} s on {args.workers} workers: "
          f"{total / 60:.1f} min ({total / 3600:.2f} h)")
    if args.profile in TARGET_MINUTES:
        target = TARGET_MINUTES[args.profile]
        print(f"target: the {args.profile} profile within {target:g} min on {args.workers} cores: "
              f"{'met' if total / 60 <= target else 'not met'}")


if __name__ == "__main__":
    main()
