"""The environment files agree, and the layout is the one the project fixes."""
from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def normalise(requirement: str) -> str:
    name, rest = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return re.sub(r"[-_.]+", "-", name).lower() + rest.replace(" ", "")


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(map(normalise, project["dependencies"] + project["optional-dependencies"]["test"]))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {normalise(r) for r in pip if not r.startswith("-")}
    assert listed == declared, f"only in environment.yml: {listed - declared}; only in pyproject: {declared - listed}"


def test_the_pins_that_matter():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "jupyter-book==1.0.4.post1" in deps and "torch==2.13.0" in deps


def test_top_level_layout():
    for item in ["book", "_config.yml", "_toc.yml", "lib", "tests", "environment.yml", "README.md",
                 "pyproject.toml", "Makefile", ".ci/run", "benchmarks"]:
        assert (ROOT / item).exists(), item


def test_config_keeps_execution_off_and_builds_only_the_toc():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True
    for bib in config["bibtex_bibfiles"]:
        assert (ROOT / bib).is_file()


def test_a_wheel_carries_the_c_source_of_the_kernels(tmp_path):
    """lib.activations.native compiles native.c on first use: an installed (not editable) copy needs it."""
    import shutil
    import subprocess
    import sys
    import zipfile
    source = tmp_path / "source"          # a copy: setuptools writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT / "lib", source / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                             str(tmp_path), str(source)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    assert "lib/activations/native.c" in zipfile.ZipFile(wheel).namelist()
