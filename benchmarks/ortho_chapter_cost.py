"""What the orthogonal-bases chapter's training runs cost at a profile's scale: timed steps, extrapolated.

    python benchmarks/ortho_chapter_cost.py [--profile paper|full|quick] [--steps 5] [--workers 2]

For each contender of the vision and the language grid (the first seed's configuration of the profile), the
chapter's model at the configuration's size (SmallConvNeXt, CharGPT) takes `--steps` AdamW steps on a batch of the
configuration's shape (random images, random characters: the cost does not depend on the values), timed in CPU
seconds of this process after one untimed step, one torch thread, as the sweep engine runs it. A run's estimate is
the median step times its steps (vision: epochs x ceil(train images / batch); language: the configured steps);
evaluations, data loading and the final measurements come on top: at the full profile the chapter's own cost
table (CPU seconds per finished run) is 1.3-1.4x this estimate for the language runs and 1.9-2.3x for vision,
whose test set is as large as its training set there. The profile's estimate is the grids' runs on `--workers`
workers (the propagation and gain grids add minutes, not hours).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor  # noqa: E402

from lib.chapters import ortho_activations as oe  # noqa: E402
from lib.models.char_gpt import CharGPT  # noqa: E402
from lib.models.convnext import SmallConvNeXt  # noqa: E402
from lib.runner.checks import profile_values  # noqa: E402
from lib.seeding import torch_threads  # noqa: E402


def step_seconds(model: torch.nn.Module, x: Tensor, y: Tensor, steps: int) -> float:
    """Median CPU seconds of one forward, cross-entropy backward and AdamW step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for i in range(steps + 1):
        start = time.process_time()
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).backward()
        optimizer.step()
        if i:                                            # the first step pays one-off set-up
            times.append(time.process_time() - start)
    return statistics.median(times)


def measured_run(grid_name: str, config: dict, steps: int) -> tuple[float, int]:
    """(CPU seconds per step, steps per run) of one configuration."""
    make = oe.factory(config["activation"])
    if grid_name == "ortho-vision":
        data = oe.vision_data(config)
        channels, size = data.train[0].shape[1], data.train[0].shape[-1]
        model = SmallConvNeXt(channels, data.num_classes, make, config["widths"], config["depths"])
        x = torch.randn(config["batch_size"], channels, size, size)
        y = torch.randint(data.num_classes, (config["batch_size"],))
        return step_seconds(model, x, y, steps), config["epochs"] * math.ceil(len(data.train[0]) / config["batch_size"])
    vocab = oe._text().vocab_size
    model = CharGPT(vocab, make, block_size=config["block_size"], layers=config["layers"], width=config["width"],
                    heads=config["heads"])
    x = torch.randint(vocab, (config["batch_size"], config["block_size"]))
    return step_seconds(model, x, torch.randint(vocab, x.shape), steps), config["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", choices=["paper", "full", "quick"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    p = profile_values(ROOT, "ortho_activations", args.profile)
    print(f"ortho_activations, profile {args.profile}; CPU seconds, one thread; load average {os.getloadavg()[0]:.1f}")
    print(f"{'grid':14s} {'contender':10s} {'s/step':>8s} {'steps':>7s} {'s/run':>8s} {'runs':>5s}")
    total = 0.0
    with torch_threads(1):
        for grid in oe.grids(p)[1:]:                     # vision and language; propagation is minutes
            firsts: dict[str, dict] = {}
            for config in grid.configs:
                firsts.setdefault(config["activation"], config)
            runs_per = len(grid.configs) // len(firsts)
            for name, config in firsts.items():
                per_step, steps = measured_run(grid.name, config, args.steps)
                total += per_step * steps * runs_per
                print(f"{grid.name:14s} {name:10s} {per_step:8.4f} {steps:7d} {per_step * steps:8.1f} {runs_per:5d}")
    print(f"training steps of vision + language: {total / 3600:.1f} CPU hours; on {args.workers} workers about "
          f"{total / 3600 / args.workers:.1f} h, evaluations not included")


if __name__ == "__main__":
    main()
