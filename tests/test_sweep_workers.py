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


def test_a_cluster_with_distributeds_defaults_started_earlier_does_not_leak_its_threshold(monkeypatch):
    """A nanny writes its pre-spawn environment into this process's os.environ; our workers must not inherit it."""
    import dask
    from distributed import LocalCluster

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": 65536}}):
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"):
            pass
    assert os.environ.get("MALLOC_TRIM_THRESHOLD_") == "65536"   # what distributed leaves behind
    cluster = sweep.local_cluster(1)
    try:
        with Client(cluster) as client:
            found = client.submit(environment, ("MALLOC_TRIM_THRESHOLD_",), pure=False).result()
    finally:
        cluster.close()
    assert found == {"MALLOC_TRIM_THRESHOLD_": None}
