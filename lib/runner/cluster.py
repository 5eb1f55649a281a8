"""Sweeps during a build: one Dask cluster for every chapter, and the environment their kernels read.

The runner process starts ONE embedded `LocalCluster` (`lib.sweep.local_cluster`) when the first
chapter is executed (not at all when every chapter is reused) and hands its address to the chapters'
kernels through ``$ACTIVATION_BOOK_SCHEDULER`` (papermill kernels inherit the runner's environment),
so that the grids of all chapters share the same worker processes. It also sets
``ACTIVATION_BOOK_RUNS=<build-dir>/runs`` (finished runs survive an interrupted build),
``ACTIVATION_BOOK_FRESH`` for ``--fresh``, and, per chapter, ``ACTIVATION_BOOK_SWEEP_LOG``, whose
lines it sums into the chapter's ``runs_computed`` / ``runs_reused``.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from lib.runner.errors import RunnerError

RUNS = "runs"
SWEEP_LOGS = "sweeps"


def add_sweep_arguments(parser) -> None:
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes of the build's embedded Dask cluster (default: one per core); "
                             "0 runs every sweep inside its chapter's kernel")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the sweeps on this existing Dask cluster (e.g. tcp://head:8786) instead")


class BuildSweeps:
    """The sweep backend of one build: use as ``with BuildSweeps(...) as sweeps:`` around the chapters."""

    def __init__(self, build_dir: Path, workers: int | None, scheduler: str | None, fresh: bool):
        from lib import sweep

        self._sweep = sweep
        try:
            self.kind, self.where = sweep.backend(workers, scheduler)   # also reads the caller's environment
        except ValueError as err:
            raise RunnerError(f"--workers/--scheduler: {err}") from None
        self.build_dir = Path(build_dir)
        self.fresh = fresh
        self.cluster = None
        self._saved: dict[str, str | None] = {}

    def _set(self, name: str, value: str | None) -> None:
        self._saved.setdefault(name, os.environ.get(name))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def __enter__(self) -> BuildSweeps:
        sweep = self._sweep
        self._set(sweep.ENV_RUNS, str(self.build_dir / RUNS))
        self._set(sweep.ENV_FRESH, "1" if self.fresh else None)
        self._set(sweep.ENV_SWEEP_LOG, None)
        if self.kind == "in-process":
            self._set(sweep.ENV_WORKERS, "0")
            self._set(sweep.ENV_SCHEDULER, None)
        elif self.kind == "scheduler":
            self._set(sweep.ENV_WORKERS, None)
            self._set(sweep.ENV_SCHEDULER, self.where)
        else:   # embedded: started by `start`, before the first chapter that executes
            self._set(sweep.ENV_WORKERS, None)
            self._set(sweep.ENV_SCHEDULER, None)
        return self

    def start(self) -> None:
        """Start the build's embedded cluster if it is the backend and not running yet (idempotent)."""
        if self.kind != "embedded" or self.cluster is not None:
            return
        print(f"starting the sweeps' Dask cluster ({self.where or os.cpu_count() or 1} worker processes) ...",
              file=sys.stderr)
        self.cluster = self._sweep.local_cluster(self.where or os.cpu_count() or 1, wait=False)
        self._set(self._sweep.ENV_SCHEDULER, self.cluster.scheduler_address)

    def log_path(self, chapter: str) -> Path:
        return self.build_dir / SWEEP_LOGS / f"{chapter}.jsonl"

    @contextlib.contextmanager
    def chapter(self, name: str):
        """The block runs chapter `name`: its grids append to a fresh ``<build-dir>/sweeps/<name>.jsonl``."""
        log = self.log_path(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)
        self._set(self._sweep.ENV_SWEEP_LOG, str(log))
        try:
            yield log
        finally:
            os.environ.pop(self._sweep.ENV_SWEEP_LOG, None)

    def counts(self, chapter: str) -> tuple[int, int]:
        """(runs computed, runs reused) summed over the grids chapter `chapter` ran in this build."""
        log = self.log_path(chapter)
        if not log.is_file():
            return 0, 0
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        return sum(line["computed"] for line in lines), sum(line["reused"] for line in lines)

    def __exit__(self, *exc) -> None:
        try:
            if self.cluster is not None:
                self.cluster.close()
                self.cluster = None
        finally:
            for name, value in self._saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._saved.clear()
