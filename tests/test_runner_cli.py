"""The runner end to end on a tiny throwaway book: caching, failures, previews, fast errors."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from lib.runner.lock import build_lock
from tests.test_runner_params import write_notebook

pytestmark = pytest.mark.slow


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lib", "build", "--root", str(root), "--no-progress", *args],
                          capture_output=True, text=True)


@pytest.fixture
def book(tmp_path):
    (tmp_path / "_config.yml").write_text(textwrap.dedent("""
        title: Tiny
        only_build_toc_files: true
        execute:
          execute_notebooks: "off"
    """))
    (tmp_path / "_toc.yml").write_text(textwrap.dedent("""
        format: jb-book
        root: book/intro
        chapters:
          - file: book/alpha
          - file: book/beta
    """))
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Tiny book\n")
    (tmp_path / "book" / "profiles").mkdir()
    (tmp_path / "book" / "profiles" / "quick.yaml").write_text("alpha:\n  n: 2\n")
    write_notebook(tmp_path / "book" / "alpha.ipynb", "n: int = 3  # a count", "print('alpha', n * 2)")
    write_notebook(tmp_path / "book" / "beta.ipynb", "label: str = 'b'", "print('beta', label)")
    return tmp_path


def text_of(html: str) -> str:
    """The page's text: tags removed, white space folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def statuses(result: subprocess.CompletedProcess) -> dict[str, str]:
    rows = [line.split() for line in result.stdout.splitlines()]
    return {r[0]: r[1] for r in rows if len(r) >= 3 and r[1] in ("executed", "reused")}


def test_build_cache_edit_and_fresh(book):
    first = run(book, "--profile", "quick")
    assert first.returncode == 0, first.stderr
    assert statuses(first) == {"alpha": "executed", "beta": "executed"}
    html = book / "_build" / "html"
    page = text_of((html / "book" / "alpha.html").read_text())
    assert "alpha 4" in page                                     # the quick override n=2 took effect
    assert "How this page was computed" in page and "n = 2" in page and "(override)" in page

    executed = nbformat.read(book / "_build" / "executed" / "alpha.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters == {"n": 2}
    assert executed.metadata.papermill.duration > 0
    record = json.loads((book / "_build" / "executed" / "alpha.json").read_text())
    assert record["parameters"] == {"n": 2} and record["profile"] == "quick" and record["seconds"] > 0
    # the sources are never executed in place
    assert not nbformat.read(book / "book" / "alpha.ipynb", as_version=4).cells[2].outputs

    again = run(book, "--profile", "quick")
    assert statuses(again) == {"alpha": "reused", "beta": "reused"}

    beta = book / "book" / "beta.ipynb"
    nb = nbformat.read(beta, as_version=4)
    nb.cells[2].source = "print('beta edited', label)"
    nbformat.write(nb, beta)
    edited = run(book, "--profile", "quick")
    assert statuses(edited) == {"alpha": "reused", "beta": "executed"}
    assert "beta edited b" in (html / "book" / "beta.html").read_text()

    other_params = run(book, "--profile", "quick", "--set", "alpha.n=5")
    assert statuses(other_params) == {"alpha": "executed", "beta": "reused"}
    assert "alpha 10" in (html / "book" / "alpha.html").read_text()

    fresh = run(book, "--profile", "quick", "--fresh")
    assert statuses(fresh) == {"alpha": "executed", "beta": "executed"}
    assert "chapter" in fresh.stdout and "seconds" in fresh.stdout   # the timing table


def test_failing_chapter_names_cell_and_error_and_keeps_the_old_html(book):
    assert run(book).returncode == 0
    html = book / "_build" / "html"
    marker = html / "book" / "alpha.html"
    before = marker.read_text()

    write_notebook(book / "book" / "alpha.ipynb", "n: int = 3", "raise ValueError('deliberate failure')")
    failed = run(book)
    assert failed.returncode == 1
    assert "chapter 'alpha' failed in cell 2" in failed.stderr
    assert "ValueError: deliberate failure" in failed.stderr
    assert marker.read_text() == before                          # the previous book is untouched
    assert (book / "_build" / "executed" / "alpha.failed.ipynb").is_file()


def test_broken_html_build_keeps_the_old_html(book):
    assert run(book).returncode == 0
    index = (book / "_build" / "html" / "index.html").read_text()
    (book / "book" / "intro.md").write_text("# Tiny book\n\n{doc}`no-such-page`\n")  # a warning -> error
    failed = run(book)
    assert failed.returncode == 1 and "jupyter-book build failed" in failed.stderr
    assert (book / "_build" / "html" / "index.html").read_text() == index


def test_chapter_preview_leaves_the_whole_book_alone(book):
    preview = run(book, "--chapter", "beta")
    assert preview.returncode == 0, preview.stderr
    assert statuses(preview) == {"beta": "executed"}
    assert (book / "_build" / "chapters" / "html" / "book" / "beta.html").is_file()
    assert not (book / "_build" / "chapters" / "html" / "book" / "alpha.html").exists()
    assert not (book / "_build" / "html").exists()


@pytest.mark.parametrize("args, message", [
    (["--set", "alpha.m=1"], "chapter 'alpha' has no parameter 'm'; valid parameters: n: int"),
    (["--set", "alpha.n=1.5"], "chapter 'alpha', parameter 'n': expected int"),
    (["--set", "gamma.n=1"], "unknown chapter 'gamma'"),
    (["--chapter", "gamma"], "unknown chapter(s) gamma; chapters: alpha, beta"),
    (["--profile", "fast"], "unknown profile 'fast'; available: full, quick"),
    (["--set", "n=1"], "expected CHAPTER.PARAM=VALUE"),
])
def test_bad_input_fails_fast_before_anything_executes(book, args, message):
    start = time.perf_counter()
    result = run(book, *args)
    elapsed = time.perf_counter() - start
    assert result.returncode == 2
    assert message in result.stderr
    assert not (book / "_build").exists()                        # nothing staged, nothing executed
    assert elapsed < 10


def test_a_mistyped_override_of_the_real_book_fails_fast(root):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "lib", "build", "--set", "gallery.mc_sample=10"],
                            cwd=root, capture_output=True, text=True)
    assert result.returncode == 2
    assert "valid parameters: mc_samples: int" in result.stderr
    assert time.perf_counter() - start < 10


def test_params_command_lists_parameters_and_profile_values(book):
    result = subprocess.run([sys.executable, "-m", "lib", "params", "--profile", "quick", "--root", str(book)],
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert "n: int = 3   [quick: 2]   # a count" in result.stdout


@pytest.mark.parametrize("setting, message", [
    ("gallery.mc_samples=-5", "chapter 'gallery', parameter 'mc_samples' = -5: must be an int >= 1000"),
    ("sqrt_family.granularity='pixel'", "parameter 'granularity' = 'pixel': must be one of 'layer', 'channel', "
                                        "'element'"),
    ("ortho_activations.lm_heads=3", "parameter 'lm_width' = 64: must be a multiple of lm_heads = 3"),
    ("snake_decay.seeds=[1, 1]", "parameter 'seeds' = [1, 1]: must be a list of at least 1 item(s)"),
])
def test_an_impossible_value_of_the_real_book_fails_before_any_chapter_runs(root, tmp_path, setting, message):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "lib", "build", "--build-dir", str(tmp_path / "b"),
                             "--set", setting], cwd=root, capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "b").exists()                        # nothing staged, nothing executed
    assert time.perf_counter() - start < 10


def test_missing_data_is_found_before_the_first_chapter_runs(root, tmp_path):
    env = {**os.environ, "CIFAR10_DIR": str(tmp_path / "nowhere"), "ACTIVATION_BOOK_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "lib", "build", "--build-dir", str(tmp_path / "b"),
                             "--set", "sqrt_family.dataset='cifar10'"], cwd=root, capture_output=True, text=True,
                            env=env)
    assert result.returncode == 2
    assert "chapter 'sqrt_family' reads cifar10, which is missing" in result.stderr
    assert "CIFAR-10 not found" in result.stderr and "python -m lib.data.images download cifar10" in result.stderr
    assert not (tmp_path / "b").exists()


def test_plain_papermill_with_an_impossible_value_fails_in_the_check_cell(root, tmp_path):
    result = subprocess.run([sys.executable, "-m", "papermill", "book/swarm_width.ipynb", str(tmp_path / "out.ipynb"),
                             "-k", "python3", "-p", "num_epochs", "-3"], cwd=root, capture_output=True, text=True)
    assert result.returncode != 0
    assert "ParameterError" in result.stderr
    assert "parameter 'num_epochs' = -3: must be an int >= 2" in result.stderr
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    failed = [i for i, c in enumerate(executed.cells)
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert failed and "PARAMETERS.check" in executed.cells[failed[0]].source


CLAIMING_BODY = """
from IPython.display import display
from lib import report
from lib.claims import ClaimSet
from lib.stats import compare

claims = ClaimSet("alpha")
claims.add(id="tiny.alpha.bigger", source="swarm", wording="a is bigger", section="Alpha", setting="a test",
           verdict=compare([n + 1.0, n + 1.1, n + 0.9], [0.0, 0.1, -0.1], claim="a>b", margin=0.5))
display(report.table_download([{"seed": s, "value": s * n} for s in range(3)], "alpha", "values"))
claims.publish()
"""


def test_claims_downloads_and_the_quick_banner_survive_reuse(book):
    with (book / "_config.yml").open("a") as config:     # as the real book: Markdown outputs are MyST
        config.write("sphinx:\n  config:\n    nb_render_markdown_format: myst\n")
    write_notebook(book / "book" / "alpha.ipynb", "n: int = 3  # a count", CLAIMING_BODY)
    for status in ("executed", "reused"):
        result = run(book, "--profile", "quick")
        assert result.returncode == 0, result.stderr
        assert statuses(result)["alpha"] == status
        records = json.loads((book / "_build" / "claims" / "alpha.json").read_text())["claims"]
        assert [r["id"] for r in records] == ["tiny.alpha.bigger"]
        assert records[0]["profile"] == "quick" and records[0]["verdict"]["outcome"] == "confirmed"
        page = (book / "_build" / "html" / "book" / "alpha.html").read_text()
        assert "Quick profile: small settings to test the build" in text_of(page)
        link = re.search(r'href="([^"]*values\.csv)"', page)
        assert link, "no download link on the page"
        csv_text = (book / "_build" / "html" / "book" / link.group(1)).resolve().read_text()
        assert csv_text.splitlines() == ["seed,value", "0,0", "1,2", "2,4"]
    assert not (book / "_build" / "claims" / "beta.json").exists()      # beta publishes nothing
SWEEP_CELL = """
import os
from lib.sweep import Grid, run
from tests.sweep_tasks import slow_square
print("scheduler", os.environ.get("ACTIVATION_BOOK_SCHEDULER"), "workers", os.environ.get("ACTIVATION_BOOK_WORKERS"))
print("squares", [r["square"] for r in run(Grid("alpha-grid", slow_square, [{"x": i} for i in range(n)]),
                                            progress=False)])
"""


def test_sweeps_run_on_the_build_s_one_cluster_are_counted_and_survive_into_the_next_build(book, root):
    write_notebook(book / "book" / "alpha.ipynb", "n: int = 3", SWEEP_CELL)
    env = {**os.environ, "PYTHONPATH": str(root)}     # the kernel and the workers import tests.sweep_tasks
    command = [sys.executable, "-m", "lib", "build", "--root", str(book), "--no-progress"]
    first = subprocess.run([*command, "--workers", "1"], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    page = text_of((book / "_build" / "html" / "book" / "alpha.html").read_text())
    assert re.search(r"scheduler tcp://127\.0\.0\.1:\d+ workers None", page) and "squares [0, 1, 4]" in page
    chapters = {c["name"]: c for c in json.loads((book / "_build" / "report.json").read_text())["chapters"]}
    assert (chapters["alpha"]["runs_computed"], chapters["alpha"]["runs_reused"]) == (3, 0)
    assert (chapters["beta"]["runs_computed"], chapters["beta"]["runs_reused"]) == (0, 0)
    assert len(list((book / "_build" / "runs").rglob("*.run"))) == 3
    assert re.search(r"^alpha\s+executed\s+[\d.]+\s+3\s+0\s", first.stdout, flags=re.M)   # the timing table

    second = subprocess.run([*command, "--workers", "0", "--set", "alpha.n=4"], capture_output=True, text=True,
                            env=env)
    assert second.returncode == 0, second.stderr
    assert "scheduler None workers 0" in text_of((book / "_build" / "html" / "book" / "alpha.html").read_text())
    chapters = {c["name"]: c for c in json.loads((book / "_build" / "report.json").read_text())["chapters"]}
    assert (chapters["alpha"]["runs_computed"], chapters["alpha"]["runs_reused"]) == (1, 3)


def test_a_second_build_into_the_same_folder_refuses_naming_the_holder(book):
    with build_lock(book / "_build"):
        start = time.perf_counter()
        refused = run(book, "--wait", "0.5")
        waited = time.perf_counter() - start
    assert refused.returncode == 1
    assert f"another build is using {book / '_build'} (PID {os.getpid()} holds" in refused.stderr
    assert "--wait SECONDS" in refused.stderr and waited >= 0.5
    assert not (book / "_build" / "stage").exists()


def test_bad_sweep_options_fail_fast(book):
    result = run(book, "--workers", "-1")
    assert result.returncode == 2 and "workers must be a non-negative int (0: in this process), got -1" in result.stderr
    result = run(book, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert result.returncode == 2 and "not both" in result.stderr
    assert not (book / "_build").exists()
