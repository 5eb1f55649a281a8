"""One sweep API: a grid of independent runs, on every core by default, on a Dask cluster when given one.

>>> grid = Grid("snake-seeds", train_one, [{"seed": s, "activation": a} for s in range(5) for a in ("relu", "snake")])
>>> results = run(grid)            # in the order of the configs

Where the runs go (arguments win over the environment, so that plain `papermill` runs can be steered):

- default: an embedded `distributed.LocalCluster` of worker *processes*, one thread each, as many as
  `os.cpu_count()` (capped by the number of runs still to compute), started on first use and
  closed at interpreter exit; ``workers=N`` (or ``$ACTIVATION_BOOK_WORKERS``) sets N;
- ``workers=0`` (or ``ACTIVATION_BOOK_WORKERS=0``): one after another in this process, without Dask
  (for debugging; this wins over a scheduler from the environment);
- ``scheduler="tcp://host:8786"`` (or ``$ACTIVATION_BOOK_SCHEDULER``): an existing Dask cluster (the
  book runner starts one for a whole build and passes its address this way).

Identical results everywhere: `fn` must seed its own generators from its configuration (e.g.
``lib.seed_everything(config["seed"])`` first thing), and the engine runs every call with one torch
thread (which also fixes the order of reductions), so in-process, embedded and remote runs agree
bit for bit.

Nothing is lost: each finished run is written to disk by this process as soon as it completes
(`lib.sweep_store`: atomic, checksummed), under a hash of ``fn``'s module and name, the canonical
JSON of its config and the hash of the sources ``fn``'s module imports (`lib.provenance`); a later
`run` of the same grid reuses it, and recomputes only what an edit of those sources can change.
``ACTIVATION_BOOK_FRESH=1`` recomputes and overwrites. Configs that are equal are run once.

Faults are isolated: a run that raises `FloatingPointError` (the training engines do on a non-finite
loss) is stored and returned as a `Diverged` record; any other exception lets the other runs finish
(and be stored), then raises `RunFailed` with the worker's traceback. A worker process that dies is
replaced and its run rescheduled (up to `ALLOWED_FAILURES` times per run).

One tqdm bar per grid; with ``$ACTIVATION_BOOK_SWEEP_LOG`` set, one JSON line per grid is appended
to that file (the book runner sums them per chapter).
"""
from __future__ import annotations

import atexit
import copy
import importlib
import json
import logging
import os
import pickle
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm  # text bars: executed notebooks keep no widget outputs

from lib import cbuild
from lib.provenance import import_closure, source_hash
from lib.sweep_store import ENV_RUNS, RunStore, canonical_json, run_key, store_dir

__all__ = ["ALLOWED_FAILURES", "Diverged", "ENV_FRESH", "ENV_RUNS", "ENV_SCHEDULER", "ENV_SWEEP_LOG", "ENV_WORKERS",
           "Grid", "RunFailed", "backend", "close", "dry_run", "local_cluster", "run"]

ENV_WORKERS = "ACTIVATION_BOOK_WORKERS"
ENV_SCHEDULER = "ACTIVATION_BOOK_SCHEDULER"
ENV_FRESH = "ACTIVATION_BOOK_FRESH"
ENV_SWEEP_LOG = "ACTIVATION_BOOK_SWEEP_LOG"
# How many times one run may lose its worker (killed, out of memory) before it counts as failed.
ALLOWED_FAILURES = 3


@dataclass(frozen=True)
class Diverged:
    """The record of a run that raised FloatingPointError (a non-finite loss): stored and returned in its place."""

    config: dict
    message: str


class RunFailed(RuntimeError):
    """Runs of a grid raised; the other runs finished and are stored. `failures`: [(config, traceback text)]."""

    def __init__(self, grid: str, failures: list[tuple[dict, str]]):
        self.grid = grid
        self.failures = failures
        self.config, self.traceback = failures[0]
        others = f" (and {len(failures) - 1} more: {[c for c, _ in failures[1:]]})" if len(failures) > 1 else ""
        super().__init__(f"grid {grid!r}: the run with config {self.config!r} failed{others}; "
                         f"the other runs are stored. Worker traceback:\n{self.traceback}")


@dataclass
class Grid:
    """`fn(config)` for every config; `check(config)` is called on all of them before any run starts.

    `fn` must be a module-level function (worker processes import it by name, and its module's
    sources go into the run keys); configs must be JSON-able dicts.
    """

    name: str
    fn: Callable[[dict], Any]
    configs: list[dict]
    check: Callable[[dict], None] | None = None
    _texts: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"Grid name must be a non-empty str, got {self.name!r}")
        _check_importable(self.fn, self.name)
        if self.check is not None and not callable(self.check):
            raise TypeError(f"grid {self.name!r}: check must be callable or None, got {self.check!r}")
        if not isinstance(self.configs, (list, tuple)) or not self.configs:
            raise ValueError(f"grid {self.name!r}: configs must be a non-empty list of dicts, got {self.configs!r}")
        self.configs = list(self.configs)
        self._texts = [canonical_json(c, what=f"grid {self.name!r}, config #{i}") for i, c in enumerate(self.configs)]

    @property
    def fn_name(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}"


def _check_importable(fn: Any, grid: str) -> None:
    """Fail early unless `fn` is reachable as ``module.qualname`` (what pickling by reference needs)."""
    if not callable(fn):
        raise TypeError(f"grid {grid!r}: fn must be a function, got {fn!r}")
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not module or not qualname:
        raise TypeError(f"grid {grid!r}: fn must be a module-level function, got {fn!r} (no module or name)")
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise TypeError(f"grid {grid!r}: fn must be a module-level function, got {module}.{qualname} "
                        "(a lambda or a nested function cannot be imported by worker processes)")
    if module == "__main__":
        raise TypeError(f"grid {grid!r}: fn {qualname!r} is defined in __main__ (a notebook or a script); move it "
                        "into a module under lib/ so that workers can import it and its source can be hashed")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not fn:
        raise TypeError(f"grid {grid!r}: fn {module}.{qualname} is not what that name imports as")


def _failure_text(err: BaseException) -> str:
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))


@dataclass(frozen=True)
class _Failure:
    """A run that raised something other than FloatingPointError (returned, not raised, to keep its traceback)."""

    traceback: str


def _execute(fn: Callable[[dict], Any], config: dict) -> bytes | _Failure:
    """One run, here or in a worker, with one torch thread: its pickled result (a Diverged record for a
    FloatingPointError), or a _Failure with the traceback of any other error.

    The result is pickled where it was computed, so that one that cannot be pickled fails its own run
    with a clear message, and the bytes travel and are stored as they are (once, on the client).
    """
    from lib.seeding import torch_threads

    with torch_threads(1):
        try:
            value = fn(config)
        except FloatingPointError as err:
            value = Diverged(config, f"{type(err).__name__}: {err}")
        except Exception as err:
            return _Failure(_failure_text(err))
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:
        return _Failure(f"its result ({type(value).__name__}) cannot be pickled:\n{_failure_text(err)}")


# ---------------------------------------------------------------- backends

_lock = threading.Lock()
_embedded: dict[str, Any] = {}          # "cluster", "client": the one embedded LocalCluster of this process
_clients: dict[str, Any] = {}           # scheduler address -> Client


# The environment worker processes start with: distributed's default minus MALLOC_TRIM_THRESHOLD_=65536, which
# (by fixing glibc's thresholds) sends every freed tensor buffer back to the OS and makes CPU training about twice
# as expensive (benchmarks/sweep_worker_overhead.py); one thread per library, as the engine runs one torch thread.
WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
# Whether the user set it: a nanny of any other cluster started in this process (with distributed's defaults)
# writes MALLOC_TRIM_THRESHOLD_ into this process's own environment, which every later worker would inherit.
_USER_TRIM_THRESHOLD = os.environ.get("MALLOC_TRIM_THRESHOLD_")


def local_cluster(n_workers: int, wait: bool = True):
    """A `distributed.LocalCluster` of `n_workers` processes with one thread each, as every sweep uses it.

    ``wait=False`` returns as soon as the scheduler listens (a few ms); the workers start meanwhile
    and take tasks as they come up (the book runner starts its cluster so, before a kernel starts).
    """
    import dask
    from distributed import LocalCluster

    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers must be a positive int, got {n_workers!r}")
    # Set for the whole process, not for this call: nannies read it whenever they (re)start a worker, also when
    # the cluster is scaled or a killed worker is replaced later.
    dask.config.set({"distributed.nanny.pre-spawn-environ": dict(WORKER_ENVIRON)})
    if _USER_TRIM_THRESHOLD is None:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    # No dashboard; its HTTP server (health checks) on a free port, not on a fixed 8787 another may hold.
    cluster = LocalCluster(n_workers=n_workers if wait else 0, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR,
                           scheduler_kwargs={"dashboard": False, "allowed_failures": ALLOWED_FAILURES})
    if not wait:
        cluster.scale(n_workers)   # does not block
    return cluster


def _embedded_client(n_workers: int, exact: bool):
    """The client of the embedded cluster, started on first use with `n_workers` (grown to it later)."""
    from distributed import Client

    with _lock:
        if "cluster" not in _embedded:
            cluster = local_cluster(n_workers)
            _embedded.update(cluster=cluster, client=Client(cluster, set_as_default=False))
            atexit.register(close)
        else:
            cluster = _embedded["cluster"]
            current = len(cluster.worker_spec)
            if current < n_workers or (exact and current != n_workers):
                cluster.scale(n_workers)
        return _embedded["client"]


def _remote_client(address: str):
    from distributed import Client

    with _lock:
        client = _clients.get(address)
        if client is None or client.status not in ("running", "connecting"):
            try:
                client = Client(address, set_as_default=False, timeout="20s")
            except (OSError, TimeoutError) as err:
                raise ConnectionError(f"cannot reach the Dask scheduler at {address!r} "
                                      f"(argument scheduler= or ${ENV_SCHEDULER}): {err}") from None
            _clients[address] = client
            if len(_clients) == 1:
                atexit.register(close)
        return client


def close() -> None:
    """Close the embedded cluster and every scheduler connection of this process (also done at exit)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        if _embedded:
            _embedded.pop("client").close()
            _embedded.pop("cluster").close()


def _int_env(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"${name} must be a non-negative int, got {text!r}") from None
    if value < 0:
        raise ValueError(f"${name} must be a non-negative int, got {text!r}")
    return value


def _fresh() -> bool:
    text = os.environ.get(ENV_FRESH, "").strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise ValueError(f"${ENV_FRESH} must be 1 or 0 (true/false, yes/no), got {text!r}")


def backend(workers: int | None = None, scheduler: str | None = None) -> tuple[str, int | str | None]:
    """("in-process", None), ("embedded", N or None for the machine's size) or ("scheduler", address)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise ValueError(f"workers must be a non-negative int (0: in this process), got {workers!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"scheduler must be an address such as 'tcp://host:8786', got {scheduler!r}")
    if workers is not None and scheduler is not None:
        raise ValueError(f"give workers ({workers!r}) or scheduler ({scheduler!r}), not both")
    if workers is None and scheduler is None:
        workers, scheduler = _int_env(ENV_WORKERS), os.environ.get(ENV_SCHEDULER, "").strip() or None
        if workers == 0:
            scheduler = None
    if workers == 0:
        return "in-process", None
    if scheduler is not None:
        return "scheduler", scheduler
    return "embedded", workers


def _run_on_dask(client, grid: Grid, pending: list[tuple[str, dict]], finished: Callable[[str, Any], None]) -> None:
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    futures = {client.submit(_execute, grid.fn, config, key=f"sweep-{grid.name}-{token}-{i}", pure=False): key
               for i, (key, config) in enumerate(pending)}
    # Results are fetched in the background as tasks finish and handed over in batches (a blocking
    # future.result() per run cost ~5 ms each, most of the embedded cluster's overhead).
    completed = as_completed(futures, loop=client.loop, with_results=True, raise_errors=False)
    try:
        for batch in completed.batches():
            for future, result in batch:
                if future.status == "finished":
                    value = result
                elif future.status == "error":   # the worker died too often (KilledWorker), a result that cannot travel
                    _, err, tb = result
                    value = _Failure("".join(traceback.format_exception(type(err), err, tb)))
                else:
                    value = _Failure(f"the task was {future.status} on the cluster ({result!r})")
                future.release()
                finished(futures[future], value)
    finally:  # interrupted: nothing keeps running on the cluster
        client.cancel([f for f in futures if not f.done()])


# ---------------------------------------------------------------- the API

def _check_configs(grid: Grid) -> None:
    if grid.check is None:
        return
    for i, config in enumerate(grid.configs):
        try:
            grid.check(config)
        except Exception as err:
            if hasattr(err, "add_note"):
                err.add_note(f"(grid {grid.name!r}, config #{i}: {config!r}; nothing was run)")
            raise


def run(grid: Grid, *, progress: bool = True, workers: int | None = None, scheduler: str | None = None) -> list:
    """The result of `grid.fn(config)` for every config of `grid`, in order (see the module doc).

    Reuses stored results; computes the rest on the chosen backend, storing each as it completes.
    Raises RunFailed (after every other run finished) when a run raised anything but FloatingPointError.
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"run expects a Grid, got {type(grid).__name__}")
    kind, where = backend(workers, scheduler)
    fresh = _fresh()
    _check_configs(grid)
    started = time.perf_counter()
    # the code's hash, and whether its C kernels run here (they round differently from the torch code)
    source = f"{source_hash(import_closure([grid.fn.__module__]))} {cbuild.kernels_tag()}"
    keys = [run_key(grid.fn_name, text, source) for text in grid._texts]
    configs = dict(zip(keys, grid.configs, strict=True))     # equal configs share a key and run once
    store = RunStore(store_dir())

    values: dict[str, Any] = {}
    counts = {"computed": 0, "reused": 0, "diverged": 0, "failed": 0, "discarded": 0}
    for key in configs:
        status, value = ("missing", None) if fresh else store.load(grid.fn_name, key)
        if status == "hit":
            values[key] = value
            counts["reused"] += 1
            counts["diverged"] += isinstance(value, Diverged)
        counts["discarded"] += status == "discarded"
    pending = [(key, config) for key, config in configs.items() if key not in values]

    bar = tqdm(total=len(configs), initial=counts["reused"], desc=grid.name, unit="run", disable=not progress)
    failures: list[tuple[str, str]] = []

    def show():
        shown = {k: v for k, v in counts.items() if v or k in ("computed", "reused")}
        bar.set_postfix(shown, refresh=False)

    def finished(key: str, outcome: bytes | _Failure) -> None:
        if not isinstance(outcome, _Failure):
            try:
                value = pickle.loads(outcome)
                store.save_payload(grid.fn_name, key, outcome, grid=grid.name, config=configs[key])
            except Exception as err:  # a class this process cannot import, a full disk: this run failed
                outcome = _Failure(f"its result could not be read back or stored here:\n{_failure_text(err)}")
        if isinstance(outcome, _Failure):
            failures.append((key, outcome.traceback))
            counts["failed"] += 1
        else:
            values[key] = value
            counts["computed"] += 1
            counts["diverged"] += isinstance(value, Diverged)
        show()
        bar.update(1)

    show()
    description = "in-process"
    try:
        if pending and kind == "in-process":
            for key, config in pending:   # a copy, as a worker gets one: fn may not change the grid's config
                finished(key, _execute(grid.fn, copy.deepcopy(config)))
        elif pending:
            if kind == "scheduler":
                client, description = _remote_client(where), where
            else:
                target = where if where is not None else min(os.cpu_count() or 1, len(pending))
                client = _embedded_client(target, exact=where is not None)
                description = f"embedded:{len(client.cluster.worker_spec)}"
            _run_on_dask(client, grid, pending, finished)
    finally:
        bar.close()
        _account(grid.name, counts, time.perf_counter() - started, description if pending else "stored")
    if failures:
        order = {key: i for i, key in enumerate(configs)}
        failures.sort(key=lambda f: order[f[0]])
        raise RunFailed(grid.name, [(configs[key], text) for key, text in failures])
    return [values[key] for key in keys]


def _account(grid: str, counts: dict[str, int], seconds: float, backend_used: str) -> None:
    path = os.environ.get(ENV_SWEEP_LOG)
    if not path:
        return
    line = json.dumps({"grid": grid, **counts, "seconds": round(seconds, 3), "backend": backend_used})
    with open(path, "a", encoding="utf-8") as log:   # one write of one line: safe beside other appenders
        log.write(line + "\n")


def dry_run(grid: Grid) -> Any:
    """`check` on every config, then `fn(configs[0])` here under `lib.dry_run.step_limit(1)`; nothing is stored."""
    from lib.dry_run import step_limit
    from lib.seeding import torch_threads

    if not isinstance(grid, Grid):
        raise TypeError(f"dry_run expects a Grid, got {type(grid).__name__}")
    _check_configs(grid)
    with step_limit(1), torch_threads(1):
        return grid.fn(grid.configs[0])
