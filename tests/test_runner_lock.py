"""The build lock across real processes: a second holder waits, or refuses naming the first one's PID."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib.runner.errors import RunnerError
from lib.runner.lock import build_lock

ROOT = Path(__file__).resolve().parents[1]
HOLD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from lib.runner.lock import build_lock
with build_lock(Path(sys.argv[2])):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def hold(build_dir: Path, seconds: float) -> subprocess.Popen:
    """A subprocess holding the lock of `build_dir` for `seconds` (returns once it holds it)."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(ROOT), str(build_dir), str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_holder_is_refused_with_the_pid_of_the_first(tmp_path):
    child = hold(tmp_path / "_build", 30)
    try:
        start = time.perf_counter()
        with pytest.raises(RunnerError, match=rf"another build is using .*\(PID {child.pid} holds .*\.lock\)") as err:
            with build_lock(tmp_path / "_build", wait=0.3):
                pass
        assert err.value.exit_code == 1 and time.perf_counter() - start >= 0.3
    finally:
        child.kill()
        child.wait()


def test_a_second_holder_waits_for_the_first_to_finish(tmp_path):
    child = hold(tmp_path / "_build", 1.0)
    start = time.perf_counter()
    with build_lock(tmp_path / "_build", wait=30) as path:
        waited = time.perf_counter() - start
        assert path.read_text().strip() == str(os.getpid())
    child.wait()
    assert 0.3 < waited < 30


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(tmp_path):
    child = hold(tmp_path / "_build", 30)
    child.send_signal(signal.SIGKILL)
    child.wait()
    with build_lock(tmp_path / "_build", wait=0):
        pass


def test_bad_wait_is_refused_before_anything_is_created(tmp_path):
    with pytest.raises(RunnerError, match="--wait must be a number of seconds >= 0, got -1"):
        with build_lock(tmp_path / "_build", wait=-1):
            pass
    assert not (tmp_path / "_build").exists()
