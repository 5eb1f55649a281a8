"""A run function for tests/test_snake_chapters.py, in a module of its own so that Dask worker processes import it."""
from __future__ import annotations

import os


def worker_environment(config: dict) -> dict:
    """The allocator settings the worker process runs with."""
    return {name: os.environ.get(name) for name in config["names"]}
