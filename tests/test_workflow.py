"""The publishing workflow (.github/workflows/book.yml): it parses, builds with the README's command (the quick
profile on pull requests, CPU torch at the project's pin), and deploys the HTML to GitHub Pages in a second job
that only runs when the build job succeeded and never for a pull request."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict), "the workflow is not a YAML mapping"
    return data


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if str(s.get("uses", "")).split("@")[0] == action]


def run_lines(job: dict) -> list[tuple[str, str]]:
    """(condition, command line) for every line of every `run` step of a job."""
    return [(str(s.get("if", "")), line.strip()) for s in job["steps"] if "run" in s
            for line in s["run"].splitlines() if line.strip()]


def test_triggers_and_the_two_jobs_are_wired(workflow):
    triggers = workflow.get("on", workflow.get(True))      # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    assert triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert set(jobs) == {"build", "deploy"}
    needs = jobs["deploy"]["needs"]
    assert needs == "build" or needs == ["build"]
    assert "pull_request" in jobs["deploy"]["if"] and "!=" in jobs["deploy"]["if"]


def test_pages_permissions_and_actions(workflow):
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert len(steps_using(deploy, "actions/deploy-pages")) == 1
    upload = steps_using(build, "actions/upload-pages-artifact")
    assert len(upload) == 1 and upload[0]["with"]["path"] == "_build/html"
    assert workflow["permissions"] == {"contents": "read"}        # nothing else may write


def test_the_build_runs_the_readme_commands(workflow):
    readme = (ROOT / "README.md").read_text()
    assert "make book PROFILE=quick" in readme and re.search(r"^make book\b", readme, re.M)
    lines = run_lines(workflow["jobs"]["build"])
    quick = [cmd for cond, cmd in lines if cmd.startswith("make book")
             and "== 'pull_request'" in cond.replace('"', "'")]
    full = [cmd for cond, cmd in lines if cmd.startswith("make book")
            and "!= 'pull_request'" in cond.replace('"', "'")]
    assert quick == ["make book PROFILE=quick"]
    assert full == ["make book"]


def test_torch_is_the_pinned_cpu_build_installed_before_the_book(workflow):
    pin = next(d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
               if d.startswith("torch=="))
    commands = [cmd for _, cmd in run_lines(workflow["jobs"]["build"])]
    torch = [i for i, cmd in enumerate(commands) if pin in cmd.split()]
    assert torch, f"no step installs {pin}"
    assert "--index-url https://download.pytorch.org/whl/cpu" in commands[torch[0]]
    assert commands[torch[0]].startswith(".venv/bin/python -m pip install")   # into the venv `make` uses
    assert torch[0] < min(i for i, cmd in enumerate(commands) if cmd.startswith("make "))
