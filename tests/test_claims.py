"""Claim records (lib.claims): publish in a real kernel → extract → write → read, JSON safety, ids, the profile."""
from __future__ import annotations

import inspect
import json
import math
import re
import textwrap

import nbclient
import nbformat
import numpy as np
import pytest

from lib.claims import (
    MIME_TYPE,
    PROFILE_VARIABLE,
    SOURCES,
    Claim,
    ClaimSet,
    conclusions,
    current_profile,
    extract,
    markdown_table,
    read,
    write,
)
from lib.stats import compare, proportion

SNAKE = [0.30, 0.32, 0.29, 0.31, 0.33]
RELU = [0.45, 0.43, 0.47, 0.44, 0.46]


def example_set(profile: str | None = None) -> ClaimSet:
    claims = ClaimSet(chapter="snake_extrapolation", profile=profile)
    claims.add(id="snake.extrapolation.snake_vs_relu", source="snake",
               wording="Snake extrapolates sin(x) better than ReLU", section="Extrapolating a sine",
               setting="test MSE beyond the training range, mean of the last 3 epochs",
               verdict=compare(SNAKE, RELU, claim="a<b", margin=0.05, names=("snake", "relu"), units="MSE"),
               seeds=range(5), details={"snake": SNAKE, "relu": RELU})
    claims.add(id="snake.extrapolation.almost_all_fit", source="snake", wording="almost all | runs fit",
               section="Extrapolating a sine", setting="50 runs",
               verdict=proportion(46, 50, claim="a>b", reference=0.9))
    return claims


def test_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(PROFILE_VARIABLE, "quick")
    assert current_profile() == "quick" and example_set().profile == "quick"
    assert all(claim.profile == "quick" for claim in example_set())
    assert example_set(profile="full").profile == "full"
    monkeypatch.delenv(PROFILE_VARIABLE)
    assert current_profile() == "custom" and example_set().profile == "custom"


def test_duplicate_ids_are_an_error():
    claims = example_set()
    with pytest.raises(ValueError, match="'snake.extrapolation.snake_vs_relu' is already in chapter"):
        claims.add(id="snake.extrapolation.snake_vs_relu", source="snake", wording="again", section="s", setting="s",
                   verdict=claims["snake.extrapolation.snake_vs_relu"].verdict)
    assert len(claims) == 2


@pytest.mark.parametrize("change, error, message", [
    ({"id": "Snake vs ReLU"}, ValueError, "id='Snake vs ReLU'"),
    ({"id": "snake"}, ValueError, "id='snake'"),
    ({"source": "gelu"}, ValueError, "source='gelu'"),
    ({"wording": " "}, ValueError, "wording must be a non-empty string"),
    ({"verdict": "confirmed"}, TypeError, "verdict must be a lib.stats.Verdict"),
    ({"seeds": [0.5, 1]}, ValueError, "seeds must be whole numbers"),
    ({"details": {"model": object()}}, ValueError, "details must be JSON data"),
])
def test_bad_claims_are_refused(change, error, message):
    arguments = {"id": "snake.x.y", "source": "snake", "wording": "w", "section": "s", "setting": "s",
                 "verdict": compare(SNAKE, RELU, claim="a<b", margin=0)} | change
    with pytest.raises(error, match=re.escape(message)):
        ClaimSet(chapter="snake_extrapolation").add(**arguments)
    with pytest.raises(ValueError, match="chapter='../x'"):
        ClaimSet(chapter="../x")


def test_records_are_strict_json_and_round_trip():
    claims = ClaimSet(chapter="sqrt_family")
    claim = claims.add(id="sqrt.family.diverged", source="sqrt", wording="w", section="s", setting="s",
                       verdict=compare([1.0, math.nan], [2.0, 3.0], claim="a<b", margin=0.0),
                       seeds=np.arange(3), details={"values": np.array([1.0, np.nan, np.inf]), "n": np.int64(3)})
    record = json.loads(json.dumps(claim.to_dict(), allow_nan=False))
    assert record["details"] == {"values": [1.0, None, None], "n": 3} and record["seeds"] == [0, 1, 2]
    assert record["verdict"]["low"] is None and record["verdict"]["outcome"] == "inconclusive"
    assert Claim.from_dict(record) == claim
    assert set(SOURCES) == {"snake", "swarm", "sqrt", "ortho"}


def test_publish_in_a_real_kernel_then_extract_write_and_read(tmp_path, monkeypatch):
    monkeypatch.setenv(PROFILE_VARIABLE, "quick")        # the runner sets it; the kernel inherits it
    setup = textwrap.dedent(f"""
        from IPython.display import Markdown
        from lib.claims import ClaimSet
        from lib.stats import compare, proportion
        SNAKE, RELU = {SNAKE!r}, {RELU!r}
    """)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(setup + inspect.getsource(example_set)),
        nbformat.v4.new_code_cell("claims = example_set()\nclaims.publish()", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("Markdown(claims.conclusions())"),
    ]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)                         # validates against the notebook schema
    published = notebook.cells[1].outputs
    assert len(published) == 1 and published[0].output_type == "display_data"
    assert published[0].data["text/plain"] == "2 claim records of snake_extrapolation"

    expected = example_set(profile="quick")
    records = extract(path)
    assert records == expected.records()
    assert [Claim.from_dict(r) for r in records] == list(expected)
    assert notebook.cells[2].outputs[0].data["text/markdown"] == expected.conclusions()

    stored = write("snake_extrapolation", records, tmp_path / "claims")
    assert stored == tmp_path / "claims" / "snake_extrapolation.json"
    assert read(stored) == records
    json.loads(stored.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in strict JSON"))
    assert [p.name for p in stored.parent.iterdir()] == ["snake_extrapolation.json"]   # no temporary left


def test_extract_reads_every_published_output_and_refuses_duplicates():
    records = example_set().records()
    payload = {"version": 1, "chapter": "snake_extrapolation", "claims": records[:1]}
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("execute_result", data={"text/plain": "1"},
                                                                      execution_count=1)]),
        nbformat.v4.new_code_cell("claims.publish()", outputs=[nbformat.v4.new_output(
            "display_data", data={MIME_TYPE: payload, "text/plain": "1 claim record"})]),
        nbformat.v4.new_code_cell("more.publish()", outputs=[nbformat.v4.new_output(
            "display_data", data={MIME_TYPE: json.dumps({**payload, "claims": records[1:]})})]),   # stored as text
    ])
    nbformat.validate(notebook)
    assert extract(notebook) == records
    assert extract(nbformat.v4.new_notebook()) == []
    notebook.cells.append(notebook.cells[2])
    with pytest.raises(ValueError, match="published more than once: \\['snake.extrapolation.snake_vs_relu'\\]"):
        extract(notebook)


def test_write_replaces_the_old_file_and_leaves_it_intact_on_failure(tmp_path):
    first = write("gallery", [{"id": "a.b"}], tmp_path)
    write("gallery", [{"id": "a.c", "x": math.nan}], tmp_path)
    assert read(first) == [{"id": "a.c", "x": None}]
    with pytest.raises(TypeError):
        write("gallery", [{"id": "a.d", "x": object()}], tmp_path)
    assert read(first) == [{"id": "a.c", "x": None}] and [p.name for p in tmp_path.iterdir()] == ["gallery.json"]
    with pytest.raises(ValueError, match="chapter='a/b'"):
        write("a/b", [], tmp_path)


def test_markdown_table_and_conclusions_are_generated_from_the_records():
    claims = example_set()
    table = claims.markdown_table().splitlines()
    assert table[0] == "| Claim | Source says | Verdict | Effect | n | Margin |" and len(table) == 4
    verdict = claims["snake.extrapolation.snake_vs_relu"].verdict
    assert table[2] == (f"| snake < relu | Snake extrapolates sin(x) better than ReLU | confirmed | {verdict.interval} "
                        f"| 5 and 5 | 0.05 MSE |")
    assert table[3].startswith("| a > 0.9 | almost all \\| runs fit | inconclusive | ")
    assert table[3].endswith("| 50 trials | 0 |")
    sentences = claims.conclusions().splitlines()
    assert len(sentences) == 2
    assert sentences[0] == ("- “Snake extrapolates sin(x) better than ReLU” (Ziyin et al. 2020, experiments) — "
                            "**confirmed** (test MSE beyond the training range, mean of the last 3 epochs; profile "
                            f"{claims.profile}): {verdict.explanation}.")
    assert "would likely decide" in sentences[1]
    assert markdown_table(claims.records()) == claims.markdown_table()
    assert conclusions(claims.records()) == claims.conclusions()
