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
