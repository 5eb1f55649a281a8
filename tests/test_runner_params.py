"""The runner's reading of _toc.yml, profiles and overrides: every mistake is caught before execution."""
from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from lib.runner.errors import RunnerError
from lib.runner.params import (
    available_profiles,
    coerce,
    declared_parameters,
    load_profile,
    parse_sets,
    parse_value,
    resolve,
)
from lib.runner.toc import filter_toc, find_root, read_toc


def write_notebook(path: Path, parameters: str, body: str = "print('ok')") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {path.stem}"))
    cell = nbformat.v4.new_code_cell(textwrap.dedent(parameters).strip())
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell(body))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def project(tmp_path):
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text(textwrap.dedent("""
        format: jb-book
        root: book/intro
        parts:
          - caption: A
            chapters:
              - file: book/alpha
                sections:
                  - file: book/beta
          - caption: B
            chapters:
              - file: book/notes
    """))
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# intro\n")
    (tmp_path / "book" / "notes.md").write_text("# notes\n")
    write_notebook(tmp_path / "book" / "alpha.ipynb", """
        epochs: int = 10  # how long
        lr: float = 1e-3
        names: list[str] = ["relu"]
        verbose: bool = False
        title: str = "x"
        extra = 3
    """)
    write_notebook(tmp_path / "book" / "beta.ipynb", "seeds: list[int] = [0, 1]")
    return tmp_path


def test_read_toc_walks_parts_chapters_and_sections(project):
    pages = read_toc(project)
    assert [p.name for p in pages] == ["intro", "alpha", "beta", "notes"]
    assert [p.is_notebook for p in pages] == [False, True, True, False]
    assert find_root(project / "book") == project


def test_read_toc_errors(project):
    (project / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/missing\n")
    with pytest.raises(RunnerError, match="missing"):
        read_toc(project)
    (project / "_toc.yml").write_text("chapters: []\n")
    with pytest.raises(RunnerError, match="root"):
        read_toc(project)
    (project / "sub").mkdir()
    (project / "sub" / "alpha.md").write_text("# again\n")
    (project / "_toc.yml").write_text("root: book/intro\nchapters:\n  - file: book/alpha\n  - file: sub/alpha\n")
    with pytest.raises(RunnerError, match="share the name 'alpha'"):
        read_toc(project)


def test_find_root_fails_outside_a_book(tmp_path):
    with pytest.raises(RunnerError, match="_toc.yml"):
        find_root(tmp_path)


def test_filter_toc_keeps_root_and_selected_entries():
    toc = yaml.safe_load("""
        root: book/intro
        parts:
          - caption: A
            chapters: [{file: book/a, sections: [{file: book/b}]}, {file: book/c}]
          - caption: B
            chapters: [{file: book/d}]
    """)
    out = filter_toc(toc, {"book/a", "book/c"})
    assert out["root"] == "book/intro"
    assert out["parts"] == [{"caption": "A", "chapters": [{"file": "book/a"}, {"file": "book/c"}]}]


def test_declared_parameters_read_type_hints(project):
    alpha = next(p for p in read_toc(project) if p.name == "alpha")
    declared = declared_parameters(alpha)
    assert {n: d.type_name for n, d in declared.items()} == {
        "epochs": "int", "lr": "float", "names": "list[str]", "verbose": "bool", "title": "str",
        "extra": "int",  # no hint: inferred from the default's literal
    }
    assert declared["epochs"].help == "how long"


@pytest.mark.parametrize("text, value", [
    ("5", 5), ("1e-3", 1e-3), ("[1, 2]", [1, 2]), ("'a b'", "a b"), ("relu", "relu"),
    ("true", True), ("False", False), ("{'a': 1}", {"a": 1}),
])
def test_parse_value(text, value):
    assert parse_value(text) == value


@pytest.mark.parametrize("value, type_name, expected", [
    (3, "int", 3), ("12", "int", 12), (3, "float", 3.0), ("1e-3", "float", 1e-3), (True, "bool", True),
    ("x", "str", "x"), ([1, 2], "list[float]", [1.0, 2.0]), ((1, 2), "list[int]", [1, 2]),
    ([1], "tuple[int]", (1,)), ({"a": 1}, "dict", {"a": 1}), ([["a"]], "list[list[str]]", [["a"]]),
])
def test_coerce_accepts_fitting_values(value, type_name, expected):
    out = coerce(value, type_name)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("value, type_name", [
    (1.5, "int"), (True, "int"), ("abc", "int"), ("abc", "float"), (1, "bool"), (1, "str"),
    ("ab", "list[int]"), ([1, "x"], "list[int]"), ([1], "dict"), (1, "frozenset"),
])
def test_coerce_rejects_values_that_do_not_fit(value, type_name):
    with pytest.raises(TypeError):
        coerce(value, type_name)


def test_parse_sets_needs_chapter_dot_param():
    assert parse_sets(["alpha.epochs=3", "alpha.lr=1e-2", "beta.seeds=[4]"]) == {
        "alpha": {"epochs": 3, "lr": 0.01}, "beta": {"seeds": [4]}}
    with pytest.raises(RunnerError, match="CHAPTER.PARAM=VALUE"):
        parse_sets(["epochs=3"])


def test_resolve_merges_profile_and_sets(project):
    pages = {p.name: p for p in read_toc(project)}
    out = resolve(pages, {"alpha": {"epochs": 2, "lr": "1e-2"}}, {"alpha": {"epochs": 5}, "beta": {"seeds": [3]}})
    assert out == {"alpha": {"epochs": 5, "lr": 0.01}, "beta": {"seeds": [3]}}


@pytest.mark.parametrize("sets, match", [
    ({"gamma": {"x": 1}}, r"unknown chapter 'gamma'; chapters with parameters: alpha, beta"),
    ({"notes": {"x": 1}}, r"unknown chapter 'notes'"),
    ({"alpha": {"epoch": 1}}, r"chapter 'alpha' has no parameter 'epoch'; valid parameters: epochs: int, lr: float"),
    ({"alpha": {"epochs": "ten"}}, r"chapter 'alpha', parameter 'epochs': expected int"),
    ({"beta": {"seeds": [0.5]}}, r"chapter 'beta', parameter 'seeds'"),
])
def test_resolve_errors_name_chapter_parameter_and_valid_names(project, sets, match):
    pages = {p.name: p for p in read_toc(project)}
    with pytest.raises(RunnerError, match=match):
        resolve(pages, {}, sets)


def test_profiles(project):
    assert available_profiles(project) == ["full"]
    assert load_profile(project, "full") == {}
    (project / "book" / "profiles").mkdir()
    (project / "book" / "profiles" / "quick.yaml").write_text("alpha:\n  epochs: 1\n")
    assert available_profiles(project) == ["full", "quick"]
    assert load_profile(project, "quick") == {"alpha": {"epochs": 1}}
    with pytest.raises(RunnerError, match="unknown profile 'fast'; available: full, quick"):
        load_profile(project, "fast")
    (project / "book" / "profiles" / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(RunnerError, match="must map chapter names"):
        load_profile(project, "bad")


def test_profile_values_are_the_notebooks_defaults_with_the_profiles_entries_checked(root):
    from lib.runner.checks import profile_values
    from lib.runner.errors import RunnerError

    quick = yaml.safe_load((root / "book" / "profiles" / "quick.yaml").read_text())["sqrt_family"]
    values = profile_values(root, "sqrt_family", "quick")
    assert {k: values[k] for k in quick} == quick
    full = profile_values(root, "sqrt_family", "full")
    assert full["epochs"] != values["epochs"] and set(full) == set(values)
    with pytest.raises(RunnerError, match="no chapter 'sqrt_famly'"):
        profile_values(root, "sqrt_famly", "quick")
