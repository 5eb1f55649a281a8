"""Synthetic 1-D signals and their train/test splits, with the index semantics of the Snake seed.

Every split cuts one evenly spaced grid ``x = linspace(start, end, L)`` by
*index*, exactly as the original notebook did:

- `extrapolation_split`: train on one contiguous block of ``int(L * prop_train)``
  points starting at index ``L // 8``; test on the rest. ``reverse=True`` swaps
  the two (the seed's "interpolation" experiment).
- `gen_data2`: the seed's own function, two blocks of ``cnt // 2`` points,
  ``[L//8, L//8 + cnt//2)`` and ``[L//8 + cnt//2 + L//8, ... + cnt//2)`` with
  ``cnt = int(L * prop_train)``; returns the same 1-D tensors as the original.
- `decay_split`: the decaying signal ``0.1 e^{-0.03 x} sin x`` on [-100, 100],
  trained on the first 40 % of the points.

Any target function of x can be passed in place of ``torch.sin``. `make_task`
builds the named splits the chapters use.

`SignalTask` is what the experiments train on: training points, an evaluation grid (with the
points that count as test points marked), the factor the network's input is divided by, and the
target's envelope. `split_task` turns a `Split` into one; `authors_task` draws the training points
of Ziyin et al.'s own sin-extrapolation notebook from a seed; `signal_task(name, seed, ...)`
builds either by name from JSON-able arguments (what a sweep's config holds).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Target = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Split:
    """A 1-D regression task cut into train and test by index.

    `x` and `y` hold every point of the grid as columns of shape (L, 1), in grid
    order; `train_index` and `test_index` (sorted, disjoint, together every index)
    say which points train and which test.
    """

    name: str
    x: Tensor
    y: Tensor
    train_index: Tensor
    test_index: Tensor

    @property
    def train(self) -> tuple[Tensor, Tensor]:
        return self.x[self.train_index], self.y[self.train_index]

    @property
    def test(self) -> tuple[Tensor, Tensor]:
        return self.x[self.test_index], self.y[self.test_index]

    @property
    def is_train(self) -> Tensor:
        """A boolean mask over the grid: True where a point is in the training set."""
        mask = torch.zeros(len(self.x), dtype=torch.bool)
        mask[self.train_index] = True
        return mask

    @property
    def train_fraction(self) -> float:
        return len(self.train_index) / len(self.x)


def decay_envelope(x: Tensor) -> Tensor:
    """The amplitude 0.1 e^{-0.03 x} of the decaying signal."""
    return 0.1 * torch.exp(-0.03 * x)


def decaying_sine(x: Tensor) -> Tensor:
    """The seed's decaying signal 0.1 e^{-0.03 x} sin x (amplitude 2.0 at x = -100, 0.005 at x = 100)."""
    return decay_envelope(x) * torch.sin(x)


def unit_envelope(x: Tensor) -> Tensor:
    """The amplitude 1 of sin x, everywhere."""
    return torch.ones_like(x)


def _check_grid(L: int, start: float, end: float) -> None:
    if not isinstance(L, int) or isinstance(L, bool) or L < 2:
        raise ValueError(f"L must be an int >= 2, got {L!r}")
    if not end > start:
        raise ValueError(f"need start < end, got start={start}, end={end}")


def _check_prop(prop_train: float) -> None:
    if not 0 < prop_train < 1:
        raise ValueError(f"prop_train must be in (0, 1), got {prop_train}")


def block_train_index(L: int, prop_train: float = 0.2) -> Tensor:
    """One block of int(L * prop_train) indices starting at L // 8."""
    _check_prop(prop_train)
    first, count = L // 8, int(L * prop_train)
    if count < 1:
        raise ValueError(f"int(L * prop_train) = int({L} * {prop_train}) leaves no training point")
    if first + count > L:
        raise ValueError(f"a block of {count} points from index {first} does not fit in L = {L} points "
                         f"(need L // 8 + int(L * prop_train) <= L)")
    return torch.arange(first, first + count)


def two_block_train_index(L: int, prop_train: float = 0.5) -> Tensor:
    """gen_data2's training indices: [L//8, L//8 + h) and [L//8 + h + L//8, that + h), h = int(L*prop)//2."""
    _check_prop(prop_train)
    gap, half = L // 8, int(L * prop_train) // 2
    if half < 1:
        raise ValueError(f"int(L * prop_train) // 2 = 0 for L = {L}, prop_train = {prop_train}: no training point")
    second = gap + half + gap
    if second + half > L:
        # the original indexes past the end of x here and fails with an IndexError
        raise ValueError(f"the second block [{second}, {second + half}) runs past L = {L} "
                         f"(need 2 * (L // 8) + 2 * (int(L * prop_train) // 2) <= L)")
    return torch.cat([torch.arange(gap, gap + half), torch.arange(second, second + half)])


def split_by_index(name: str, x: Tensor, y: Tensor, train_index: Tensor, reverse: bool = False) -> Split:
    """A `Split` of the grid (x, y) with `train_index` training (or testing, if `reverse`)."""
    mask = torch.zeros(len(x), dtype=torch.bool)
    mask[train_index] = True
    if reverse:
        mask = ~mask
    column = (lambda t: t.reshape(-1, 1))
    return Split(name, column(x), column(y), mask.nonzero().flatten(), (~mask).nonzero().flatten())


def _grid(L: int, start: float, end: float, target: Target) -> tuple[Tensor, Tensor]:
    _check_grid(L, start, end)
    if not callable(target):
        raise TypeError(f"target must be a function of x (e.g. torch.sin), got {type(target).__name__}")
    x = torch.linspace(start, end, L)
    y = torch.as_tensor(target(x))
    if y.shape != x.shape:
        raise ValueError(f"target must map x of shape {tuple(x.shape)} to values of the same shape, "
                         f"got {tuple(y.shape)}")
    return x, y.to(x.dtype)


def extrapolation_split(L: int = 1000, start: float = -50.0, end: float = 50.0, prop_train: float = 0.2,
                        reverse: bool = False, target: Target = torch.sin) -> Split:
    """The seed's extrapolation task: train on int(L*prop_train) points from index L//8, test on the rest.

    ``reverse=True`` is the seed's "interpolation" task: train on the rest, test on the block.
    With the defaults the block covers x in [-37.5, -17.6].
    """
    x, y = _grid(L, start, end, target)
    name = "interpolation" if reverse else "extrapolation"
    return split_by_index(name, x, y, block_train_index(L, prop_train), reverse)


def gen_data2(L: int = 1000, prop_train: float = 0.5, start: float = -30 * torch.pi, end: float = 30 * torch.pi,
              reverse: bool = False, target: Target = torch.sin) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The seed's `gen_data2`: (x_train, y_train, x_test, y_test) as 1-D tensors, same indices.

    Train on two blocks of int(L*prop_train)//2 points (see `two_block_train_index`),
    test on every other index; `reverse` swaps train and test.
    """
    split = two_block_split(L, prop_train, start, end, reverse, target)
    (x_train, y_train), (x_test, y_test) = split.train, split.test
    return x_train.flatten(), y_train.flatten(), x_test.flatten(), y_test.flatten()


def two_block_split(L: int = 2000, prop_train: float = 0.5, start: float = -50.0, end: float = 50.0,
                    reverse: bool = False, target: Target = torch.sin) -> Split:
    """`gen_data2` as a `Split` (defaults: the seed's call, L=2000 on [-50, 50], train x in
    [-37.5, -12.5] and [0, 25])."""
    x, y = _grid(L, start, end, target)
    return split_by_index("gen_data2", x, y, two_block_train_index(L, prop_train), reverse)


def decay_split(L: int = 1000, start: float = -100.0, end: float = 100.0, prop_train: float = 0.4,
                target: Target = decaying_sine) -> Split:
    """The decaying signal: train on the first int(L*prop_train) points (x < -20 by default), test on the rest."""
    _check_prop(prop_train)
    x, y = _grid(L, start, end, target)
    count = int(L * prop_train)
    if count < 1:
        raise ValueError(f"int(L * prop_train) = int({L} * {prop_train}) leaves no training point")
    return split_by_index("decay", x, y, torch.arange(count))


@dataclass(frozen=True)
class SignalTask:
    """A 1-D regression task in the coordinate of its target, as the experiments train on it.

    `x_train`, `y_train` (N, 1): the training points; `x_eval`, `y_eval` (M, 1): an evaluation grid in
    increasing x on which predictions are recorded (for a `Split` its whole grid, training points
    included); `test_mask` (M,) marks the grid points that count as test points. The network sees
    ``x / input_scale``. `period` is the target's period in x; `envelope(x)` its amplitude (1 for
    sin x), so that errors can be read relative to the signal's size.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_eval: Tensor
    y_eval: Tensor
    test_mask: Tensor
    input_scale: float = 1.0
    period: float = 2 * math.pi
    envelope: Callable[[Tensor], Tensor] = unit_envelope

    @property
    def train_inputs(self) -> tuple[Tensor, Tensor]:
        """The training data as the network sees it: (x_train / input_scale, y_train)."""
        return self.x_train / self.input_scale, self.y_train

    @property
    def eval_inputs(self) -> Tensor:
        return self.x_eval / self.input_scale

    @property
    def test(self) -> tuple[Tensor, Tensor]:
        """The test points (raw x, y)."""
        return self.x_eval[self.test_mask], self.y_eval[self.test_mask]


def split_task(split: Split, input_scale: float = 1.0, envelope: Callable[[Tensor], Tensor] = unit_envelope,
               period: float = 2 * math.pi) -> SignalTask:
    """A `Split` as a `SignalTask`: its grid is the evaluation grid, its test indices the test points."""
    return SignalTask(split.name, *split.train, split.x, split.y, ~split.is_train, float(input_scale),
                      float(period), envelope)


def authors_task(seed: int, points_per_side: int = 32, inner: float = 5.0, outer: float = 15.0,
                 input_scale: float = 15.0, test_half_width: float = 52.5, test_points: int = 1000) -> SignalTask:
    """The data of Ziyin et al.'s sin-extrapolation notebook, with training points drawn from `seed`.

    `points_per_side` points x ~ U(-outer, -inner) and as many x ~ U(inner, outer), y = sin x of the
    undivided x; the network sees x / input_scale. Test points: linspace(-test_half_width,
    test_half_width, test_points) (every one of them counts, as in the notebook's test loss). The draw
    uses its own generator seeded with `seed`, so it does not disturb (or depend on) the global RNG.
    """
    if isinstance(points_per_side, bool) or not isinstance(points_per_side, int) or points_per_side < 1:
        raise ValueError(f"points_per_side must be a positive int, got {points_per_side!r}")
    if not 0 <= inner < outer:
        raise ValueError(f"need 0 <= inner < outer, got inner={inner}, outer={outer}")
    if not (input_scale > 0 and math.isfinite(input_scale)):
        raise ValueError(f"input_scale must be a positive number, got {input_scale}")
    if not test_half_width > 0 or isinstance(test_points, bool) or not isinstance(test_points, int) or test_points < 2:
        raise ValueError(f"need test_half_width > 0 and an int test_points >= 2, got {test_half_width}, {test_points}")
    generator = torch.Generator().manual_seed(int(seed))
    width = outer - inner
    left = -outer + width * torch.rand(points_per_side, generator=generator)
    right = inner + width * torch.rand(points_per_side, generator=generator)
    x = torch.cat([left, right]).reshape(-1, 1)
    grid = torch.linspace(-test_half_width, test_half_width, test_points).reshape(-1, 1)
    return SignalTask("authors", x, torch.sin(x), grid, torch.sin(grid), torch.ones(test_points, dtype=torch.bool),
                      float(input_scale))


def signal_task(name: str, seed: int = 0, **kwargs) -> SignalTask:
    """The task called `name` for `seed`: "authors" (drawn from the seed) or a split of `TASKS` (the same for
    every seed; the decaying signal carries its envelope). `kwargs` go to the generator."""
    if name == "authors":
        return authors_task(seed, **kwargs)
    if name == "decay":
        return split_task(make_task("decay", **kwargs), envelope=decay_envelope)
    return split_task(make_task(name, **kwargs))


TASKS: dict[str, Callable[..., Split]] = {
    "extrapolation": extrapolation_split,
    "interpolation": lambda **kw: extrapolation_split(reverse=True, **kw),
    "gen_data2": two_block_split,
    "decay": decay_split,
}


def make_task(name: str, **kwargs) -> Split:
    """The split called `name` (one of `TASKS`), with keyword arguments passed to its generator."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    return TASKS[name](**kwargs)


def sine_data(points: int = 61, low: float = -5.0, high: float = 5.0) -> tuple[torch.Tensor, torch.Tensor]:
    """y = sin x on `points` evenly spaced x in [low, high] (the swarm posts' data: 61 points on [-5, 5])."""
    if points < 2 or not high > low:
        raise ValueError(f"need points >= 2 and high > low, got {points}, [{low}, {high}]")
    x = torch.linspace(low, high, points)
    return x, torch.sin(x)
