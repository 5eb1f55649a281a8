"""Dry runs: every training engine stops after a given number of optimiser steps.

``with step_limit(1): run(config)`` exercises a whole configuration (model, data, optimiser,
evaluation, the result it returns) in seconds; the `paper` profile is checked this way so that
it cannot rot. `lib.train` and `lib.ensemble` read `current_limit()` before every step.
"""
from __future__ import annotations

import contextlib
import contextvars

_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("step_limit", default=None)


def current_limit() -> int | None:
    """The number of optimiser steps a training run may still take in total (None: no limit)."""
    return _LIMIT.get()


@contextlib.contextmanager
def step_limit(steps: int):
    """Within the block, each training run stops after `steps` optimiser steps."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    token = _LIMIT.set(steps)
    try:
        yield
    finally:
        _LIMIT.reset(token)
