"""Shared fixtures: the repository root and one quick build of the whole book per test session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Tests are small: more threads than cores only adds contention on a 2-core machine.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The whole book built in the quick profile into a fresh build folder (not the user's _build)."""
    build_dir = tmp_path_factory.mktemp("book") / "_build"
    result = subprocess.run(
        [sys.executable, "-m", "lib", "build", "--profile", "quick", "--build-dir", str(build_dir), "--no-progress"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if result.returncode != 0:
        pytest.fail(f"quick build of the book failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return build_dir
