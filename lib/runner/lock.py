"""One build at a time per build folder: an exclusive `fcntl.flock` on ``<build-dir>/.lock``.

Two builds into the same folder would overwrite each other's stage, executed notebooks and HTML.
The lock is held by an open file, so the kernel releases it when its holder exits in any way
(``kill -9`` included): a stale lock file never blocks a later build. The holder writes its PID
into the file, so that the one refused can say who holds it.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from lib.runner.errors import RunnerError

LOCK_NAME = ".lock"


def add_lock_arguments(parser) -> None:
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="when another build holds BUILD_DIR, wait up to this long for it (default 0: refuse)")


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return f"PID {text}" if text.isdigit() else "a process whose PID is not recorded yet"


@contextlib.contextmanager
def build_lock(build_dir: Path, wait: float = 0.0, poll: float = 0.1):
    """Hold the lock of `build_dir` for the block; wait up to `wait` s for another holder, then refuse.

    Raises RunnerError naming the PID of the holder. Where `fcntl` does not exist (Windows), no lock.
    """
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0:
        raise RunnerError(f"--wait must be a number of seconds >= 0, got {wait!r}")
    try:
        import fcntl
    except ImportError:  # no flock on this platform: builds are not guarded
        yield None
        return
    build_dir.mkdir(parents=True, exist_ok=True)
    path = build_dir / LOCK_NAME
    handle = open(path, "a+")   # "a+", not "w": the holder's PID stays readable until we hold the lock
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RunnerError(f"another build is using {build_dir} ({_holder(path)} holds {path}); "
                                      "let it finish, or pass --wait SECONDS to queue behind it",
                                      exit_code=1) from None
                if not told:
                    print(f"waiting up to {wait:g} s for the build of {_holder(path)} to release {path} ...",
                          file=sys.stderr)
                    told = True
                time.sleep(min(poll, left))
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
