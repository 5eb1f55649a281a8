"""lib.sweep on real backends: in-process, a real LocalCluster of worker processes, the embedded cluster.

Run functions live in tests/sweep_tasks.py so that worker processes can import them.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster

import lib.sweep as sweep
from lib import cbuild
from lib.dry_run import current_limit
from lib.sweep import Diverged, Grid, RunFailed, backend, dry_run, run
from lib.sweep_store import ENV_RUNS, SUFFIX, RunStore, store_dir
from tests import sweep_tasks as tasks

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    """One real cluster for the module: two worker processes, one thread each."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR) as local:
        yield local
        sweep.close()   # the embedded cluster and the connections to this one, before this one closes


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh store and sweep log; no backend or fresh setting from the caller's environment."""
    for name in (sweep.ENV_WORKERS, sweep.ENV_SCHEDULER, sweep.ENV_FRESH):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_RUNS, str(tmp_path / "runs"))
    monkeypatch.setenv(sweep.ENV_SWEEP_LOG, str(tmp_path / "sweeps.jsonl"))
    return tmp_path


def accounts(env: Path) -> list[dict]:
    return [json.loads(line) for line in (env / "sweeps.jsonl").read_text().splitlines()]


def stored_files(env: Path) -> list[Path]:
    return sorted((env / "runs").rglob(f"*{SUFFIX}"))


def test_the_same_grid_is_bitwise_equal_in_process_on_a_cluster_and_on_one_embedded_worker(env, cluster, monkeypatch):
    grid = Grid("tiny-mlp", tasks.tiny_fit, [{"seed": s, "lr": lr} for s in (0, 1) for lr in (0.01, 0.03)])
    monkeypatch.setenv(sweep.ENV_FRESH, "1")
    here = run(grid, workers=0, progress=False)
    there = run(grid, scheduler=cluster.scheduler_address, progress=False)
    embedded = run(grid, workers=1, progress=False)
    assert [a["backend"] for a in accounts(env)] == ["in-process", cluster.scheduler_address,
                                                     "embedded:1"]
    assert all(a["computed"] == 4 and a["reused"] == 0 for a in accounts(env))
    for one, two, three in zip(here, there, embedded, strict=True):
        assert one["losses"] == two["losses"] == three["losses"]          # float == float: bitwise
        assert np.array_equal(one["weight"], two["weight"]) and np.array_equal(one["weight"], three["weight"])
        assert one["threads"] == two["threads"] == three["threads"] == 1
        assert one["losses"][-1] < one["losses"][0]                        # it did train
    assert len({r["losses"][-1] for r in here}) == 4                       # four different runs


def test_results_follow_the_config_order_equal_configs_run_once_and_reruns_reuse(env, cluster):
    configs = [{"x": 3}, {"x": 1}, {"x": 2}, {"x": 1}]
    grid = Grid("order", tasks.slow_square, configs)
    first = run(grid, scheduler=cluster.scheduler_address, progress=False)
    assert [r["square"] for r in first] == [9, 1, 4, 1]
    assert len(stored_files(env)) == 3 and accounts(env)[-1]["computed"] == 3
    again = run(grid, scheduler=cluster.scheduler_address, progress=False)
    assert again == first
    assert accounts(env)[-1] | {"seconds": 0} == {"grid": "order", "computed": 0, "reused": 3, "diverged": 0,
                                                 "failed": 0, "discarded": 0, "seconds": 0, "backend": "stored"}


def test_fresh_recomputes_and_overwrites(env, monkeypatch):
    grid = Grid("fresh", tasks.trivial, [{"x": 1}, {"x": 2}])
    run(grid, workers=0, progress=False)
    monkeypatch.setenv(sweep.ENV_FRESH, "1")
    assert run(grid, workers=0, progress=False) == [1, 2]
    assert accounts(env)[-1]["computed"] == 2 and accounts(env)[-1]["reused"] == 0


RESUME_SCRIPT = """
    import sys
    sys.path.insert(0, {root!r})
    from lib.sweep import Grid, run
    from tests.sweep_tasks import slow_square

    if __name__ == "__main__":
        run(Grid("resume", slow_square, [{{"x": i, "sleep": 0.4}} for i in range(8)]),
            scheduler=sys.argv[1], progress=False)
"""


def test_a_grid_killed_with_sigkill_resumes_without_recomputing_finished_runs(env, cluster):
    script = env / "resume.py"
    script.write_text(textwrap.dedent(RESUME_SCRIPT.format(root=str(ROOT))))
    child = subprocess.Popen([sys.executable, str(script), cluster.scheduler_address], env=os.environ.copy(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(stored_files(env)) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()
    done = len(stored_files(env))
    assert 2 <= done < 8                                       # killed half way

    grid = Grid("resume", tasks.slow_square, [{"x": i, "sleep": 0.4} for i in range(8)])
    results = run(grid, scheduler=cluster.scheduler_address, progress=False)
    assert [r["square"] for r in results] == [i * i for i in range(8)]
    assert accounts(env)[-1]["reused"] == done and accounts(env)[-1]["computed"] == 8 - done


def test_truncated_or_corrupted_results_are_detected_removed_and_recomputed(env):
    grid = Grid("damage", tasks.trivial, [{"x": i} for i in range(5)])
    assert run(grid, workers=0, progress=False) == list(range(5))
    files = stored_files(env)
    truncated, flipped, headless = files[0], files[1], files[2]
    truncated.write_bytes(truncated.read_bytes()[:-3])
    data = bytearray(flipped.read_bytes())
    data[-1] ^= 0x01                                           # one bit of the pickled payload
    flipped.write_bytes(bytes(data))
    headless.write_bytes(b"\x80\x05K\x02.")                    # a bare pickle: no header, never unpickled
    (env / "runs" / files[3].parent.name / ".stale.tmp").write_bytes(b"half a write")   # ignored

    assert run(grid, workers=0, progress=False) == list(range(5))
    assert accounts(env)[-1] | {"seconds": 0} == {"grid": "damage", "computed": 3, "reused": 2, "diverged": 0,
                                                 "failed": 0, "discarded": 3, "seconds": 0,
                                                 "backend": "in-process"}
    store = RunStore(env / "runs")
    for file in files:
        assert store.load(file.parent.name, file.stem)[0] == "hit"   # rewritten whole


def test_the_store_writes_a_checked_header_and_reads_back_what_it_wrote(tmp_path):
    store = RunStore(tmp_path)
    value = {"curve": np.arange(5.0), "diverged": Diverged({"seed": 1}, "nan")}
    path = store.save("mod.fn", "ab" * 32, value, grid="g", config={"seed": 1})
    status, back = store.load("mod.fn", "ab" * 32)
    assert status == "hit" and np.array_equal(back["curve"], value["curve"]) and back["diverged"] == value["diverged"]
    header = json.loads(path.read_bytes().split(b"\n")[1])
    assert header["key"] == "ab" * 32 and header["config"] == {"seed": 1} and len(header["sha256"]) == 64
    assert store.load("mod.fn", "cd" * 32) == ("missing", None)
    path.rename(store.path("mod.fn", "cd" * 32))               # a file under another key's name is not trusted
    assert store.load("mod.fn", "cd" * 32) == ("discarded", None)
    assert list(tmp_path.rglob("*")) == [tmp_path / "mod.fn"]  # removed; no temporary files left


@pytest.mark.parametrize("where", ["in-process", "cluster"])
def test_a_diverging_run_is_a_record_and_a_raising_run_fails_the_grid_after_the_others(env, cluster, where):
    target = {"workers": 0} if where == "in-process" else {"scheduler": cluster.scheduler_address}
    configs = [{"x": 1, "mode": "ok"}, {"x": 2, "mode": "raise"}, {"x": 3, "mode": "diverge"}, {"x": 4, "mode": "ok"}]
    with pytest.raises(RunFailed) as failed:
        run(Grid("faults", tasks.sometimes_bad, configs), progress=False, **target)
    message = str(failed.value)
    assert "grid 'faults'" in message and "{'x': 2, 'mode': 'raise'}" in message
    assert "ValueError: deliberate failure for x=2" in message
    assert "sweep_tasks.py" in message and "in sometimes_bad" in message     # the worker's traceback
    assert failed.value.config == configs[1]
    assert accounts(env)[-1]["failed"] == 1 and accounts(env)[-1]["diverged"] == 1
    assert len(stored_files(env)) == 3                                        # the others are kept

    kept = run(Grid("faults", tasks.sometimes_bad, [configs[0], configs[2], configs[3]]), progress=False, **target)
    assert kept[0] == 0.5 and kept[2] == 2.0
    assert kept[1] == Diverged(configs[2], "FloatingPointError: loss is nan at step 3 (x=3)")
    assert accounts(env)[-1]["reused"] == 3 and accounts(env)[-1]["diverged"] == 1


@pytest.mark.parametrize("where", ["in-process", "cluster"])
def test_a_result_that_cannot_be_pickled_fails_its_run_only(env, cluster, where):
    target = {"workers": 0} if where == "in-process" else {"scheduler": cluster.scheduler_address}
    with pytest.raises(RunFailed, match=r"config \{'x': 2\} failed") as failed:
        run(Grid("unpicklable", tasks.unpicklable, [{"x": 2}]), progress=False, **target)
    assert "generator" in failed.value.traceback


def test_a_worker_killed_mid_grid_is_survived(env, cluster):
    marks = env / "marks"
    marks.mkdir()
    watcher = Client(cluster, set_as_default=False)
    before = set(watcher.run(os.getpid).values())
    killed: list[int] = []

    def kill_the_first_worker_that_starts():
        deadline = time.monotonic() + 60
        while not list(marks.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.005)
        pid = int(next(marks.iterdir()).suffix[1:])
        assert pid in before
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_the_first_worker_that_starts)
    killer.start()
    configs = [{"x": i, "sleep": 0.8, "marks": str(marks)} for i in range(4)]
    results = run(Grid("killed", tasks.slow_square, configs), scheduler=cluster.scheduler_address, progress=False)
    killer.join()
    assert [r["square"] for r in results] == [0, 1, 4, 9]
    assert killed and killed[0] not in set(watcher.run(os.getpid).values())
    victim = [m for m in marks.iterdir() if m.suffix == f".{killed[0]}"]
    assert len(victim) == 1 and len(list(marks.glob(f"{victim[0].stem}.*"))) == 2   # that run ran again
    watcher.close()


def test_check_runs_on_every_config_before_any_run(env):
    marks = env / "marks"
    marks.mkdir()
    grid = Grid("checked", tasks.slow_square, [{"x": 1, "marks": str(marks)}, {"x": -1, "marks": str(marks)}],
                check=tasks.check_positive)
    with pytest.raises(ValueError, match="x must be positive, got -1"):
        run(grid, workers=0, progress=False)
    with pytest.raises(ValueError, match="x must be positive, got -1"):
        dry_run(grid)
    assert not list(marks.iterdir()) and not (env / "runs").exists()


def test_dry_run_runs_the_first_config_in_process_under_a_step_limit_and_stores_nothing(env):
    grid = Grid("dry", tasks.read_limit, [{"x": 5}, {"x": 6}], check=tasks.check_positive)
    assert dry_run(grid) == {"limit": 1, "threads": 1, "x": 5}
    assert current_limit() is None and not (env / "runs").exists() and not (env / "sweeps.jsonl").exists()


def nested_function_maker():
    def inner(config):
        return config
    return inner


def test_bad_grids_fail_early_and_clearly():
    with pytest.raises(TypeError, match="module-level function.*lambda"):
        Grid("g", lambda c: c, [{"x": 1}])
    with pytest.raises(TypeError, match="module-level function.*nested"):
        Grid("g", nested_function_maker(), [{"x": 1}])
    in_main = types.FunctionType(tasks.trivial.__code__, {}, "trivial")
    in_main.__module__ = "__main__"
    with pytest.raises(TypeError, match="defined in __main__"):
        Grid("g", in_main, [{"x": 1}])
    with pytest.raises(TypeError, match=r"config #1 \{'x': np.float32\(1.0\)\} is not JSON-able"):
        Grid("g", tasks.trivial, [{"x": 1}, {"x": np.float32(1.0)}])
    with pytest.raises(TypeError, match="config #0 .* is not JSON-able"):
        Grid("g", tasks.trivial, [{"x": float("nan")}])
    with pytest.raises(TypeError, match="keys must be str"):
        Grid("g", tasks.trivial, [{1: 2}])
    with pytest.raises(TypeError, match="must be a dict, got list"):
        Grid("g", tasks.trivial, [[1, 2]])
    with pytest.raises(ValueError, match="non-empty list"):
        Grid("g", tasks.trivial, [])
    with pytest.raises(ValueError, match="non-empty str"):
        Grid("", tasks.trivial, [{"x": 1}])
    assert Grid("tuples", tasks.trivial, [{"x": (1, 2)}]).configs == [{"x": (1, 2)}]   # a tuple reads as a list


def test_the_backend_comes_from_arguments_then_the_environment(env, monkeypatch):
    assert backend() == ("embedded", None)
    monkeypatch.setenv(sweep.ENV_SCHEDULER, "tcp://10.0.0.1:8786")
    assert backend() == ("scheduler", "tcp://10.0.0.1:8786")
    assert backend(workers=3) == ("embedded", 3) and backend(workers=0) == ("in-process", None)
    monkeypatch.setenv(sweep.ENV_WORKERS, "0")                 # the runner's --workers 0 wins over a scheduler
    assert backend() == ("in-process", None)
    assert backend(scheduler="tcp://127.0.0.1:1") == ("scheduler", "tcp://127.0.0.1:1")
    monkeypatch.setenv(sweep.ENV_WORKERS, "two")
    with pytest.raises(ValueError, match=r"\$ACTIVATION_BOOK_WORKERS must be a non-negative int, got 'two'"):
        backend()
    with pytest.raises(ValueError, match="not both"):
        backend(workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="workers must be a non-negative int"):
        backend(workers=-1)
    monkeypatch.setenv(sweep.ENV_FRESH, "maybe")
    with pytest.raises(ValueError, match="ACTIVATION_BOOK_FRESH must be 1 or 0"):
        run(Grid("g", tasks.trivial, [{"x": 1}]), workers=0)


def test_a_scheduler_from_the_environment_is_used(env, cluster, monkeypatch):
    monkeypatch.setenv(sweep.ENV_SCHEDULER, cluster.scheduler_address)
    assert run(Grid("from-env", tasks.trivial, [{"x": 7}]), progress=False) == [7]
    assert accounts(env)[-1]["backend"] == cluster.scheduler_address


def test_the_store_folder_is_the_runner_s_or_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_RUNS, str(tmp_path / "build" / "runs"))
    assert store_dir() == tmp_path / "build" / "runs"
    monkeypatch.delenv(ENV_RUNS)
    monkeypatch.setenv("ACTIVATION_BOOK_CACHE", str(tmp_path / "cache"))
    assert store_dir() == tmp_path / "cache" / "runs"


def test_runs_of_the_c_kernels_and_of_the_torch_code_are_stored_apart(env, monkeypatch):
    """The C kernels round differently from the torch code: a run made with one is not reused for the other."""
    grid = Grid("kernels", tasks.trivial, [{"x": 1}])
    monkeypatch.setenv("ACTIVATION_BOOK_NATIVE", "0")
    run(grid, workers=0, progress=False)
    assert accounts(env)[-1]["computed"] == 1
    run(grid, workers=0, progress=False)
    assert accounts(env)[-1]["reused"] == 1
    monkeypatch.setenv("ACTIVATION_BOOK_NATIVE", "1")
    run(grid, workers=0, progress=False)
    if cbuild.kernels_tag() == "kernels on":
        assert accounts(env)[-1]["computed"] == 1
