"""The environment the sweep engine's worker processes start with (a real embedded cluster)."""
from __future__ import annotations

import os

from distributed import Client

from lib import sweep


def environment(names):
    return {name: os.environ.get(name) for name in names}


def test_workers_start_without_the_malloc_trim_threshold_and_with_one_thread_per_library():
    names = ("MALLOC_TRIM_THRESHOLD_", *sweep.WORKER_ENVIRON)
    cluster = sweep.local_cluster(1)
    try:
        with Client(cluster) as client:
            first = client.submit(environment, names, pure=False).result()
            cluster.scale(2)                          # a worker started later gets the same environment
            client.wait_for_workers(2)
            later = client.run(environment, names)
    finally:
        cluster.close()
    expected = {"MALLOC_TRIM_THRESHOLD_": None, **{k: str(v) for k, v in sweep.WORKER_ENVIRON.items()}}
    assert first == expected
    assert list(later.values()) == [expected, expected]
