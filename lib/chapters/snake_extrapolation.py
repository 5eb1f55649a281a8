"""Code of the chapter "Snake: extrapolating periodic functions" (book/snake_extrapolation.ipynb).

The fits, comparisons and sweeps themselves are `lib.signal_fits`; the splits `lib.data.signals`.
"""
from __future__ import annotations

import math

from lib.parameters import Int, ListOf, OneOf, Parameters, Positive, Seeds

TASKS = ("extrapolation", "interpolation", "gen_data2")   # the three splits of sin x on [-50, 50]

PARAMETERS = Parameters(
    "snake_extrapolation",
    headline_hidden=ListOf(Int(minimum=1)), headline_a=Positive(), headline_lr=Positive(), headline_epochs=Int(1),
    headline_seed=Int(0, 2**32 - 1), frames=Int(minimum=2), eval_every=Int(minimum=1), L=Int(minimum=40),
    gen2_L=Int(minimum=40), seeds=Seeds(), compare_tasks=ListOf(OneOf(*TASKS), distinct=True),
    compare_hidden=ListOf(Int(minimum=1)), compare_epochs=Int(1), compare_lr=Positive(), snake_a=Positive(),
    sweep_task=OneOf(*TASKS), sweep_a=ListOf(Positive()), sweep_epochs=Int(1), torch_threads=Int(0, 64),
)


def snake_period(a: float) -> float:
    """Snake's period pi / a (of sin^2(a x))."""
    return math.pi / a
