"""The environment of the sweep engine's worker processes (lib.sweep.local_cluster)."""
from __future__ import annotations

import os

from distributed import Client

from lib import sweep


def _environment() -> dict:
    return {name: os.environ.get(name) for name in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}


def test_workers_keep_dasks_thread_limits_but_not_its_malloc_trim_threshold():
    """Dask's default MALLOC_TRIM_THRESHOLD_ switches off glibc's dynamic mmap threshold, which made training in a
    worker cost 1.6-2x the CPU time of the same run in-process; the engine's workers must not carry it."""
    cluster = sweep.local_cluster(1)
    try:
        with Client(cluster, set_as_default=False) as client:
            (found,) = client.run(_environment).values()
    finally:
        cluster.close()
    assert found == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}
