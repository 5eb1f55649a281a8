"""The static import closure and its source hash, on the real `lib` and on a package written to tmp_path."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest

import lib
from lib.provenance import import_closure, module_file, notebook_imports, source_hash

LIB = Path(lib.__file__).parent


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def pkg(tmp_path) -> Path:
    """A throwaway package `pkg` exercising every kind of import the closure follows."""
    write(tmp_path, {
        "pkg/__init__.py": '''
            from importlib import import_module
            def __getattr__(name):              # PEP 562 lazy attribute: not a reason to take everything
                return import_module(f"pkg.{name}")
        ''',
        "pkg/top.py": '''
            import os                           # outside the followed packages: not listed
            import pkg.absolute
            from pkg.sub import leaf            # `leaf` is a submodule
            from . import relative
            def later():
                from pkg.sub.deep import inner  # an import inside a function
                return inner
        ''',
        "pkg/absolute.py": "import pkg.plugins\nimport pkg\nVALUE = pkg.attr_target.X\n",
        "pkg/attr_target.py": "X = 1\n",
        "pkg/relative.py": "from .sub.deep import sibling\n",
        "pkg/sub/__init__.py": "from ..initdep import Y\n",    # reached only as the __init__ on the way
        "pkg/sub/leaf.py": "Z = 1\n",
        "pkg/sub/deep/__init__.py": "",
        "pkg/sub/deep/inner.py": "from ... import unused_by_name  # a relative import two levels up\n",
        "pkg/sub/deep/sibling.py": "",
        "pkg/unused_by_name.py": "",
        "pkg/initdep.py": "Y = 2\n",
        "pkg/plugins/__init__.py": '''
            from importlib import import_module
            NAMES = ("alpha", "beta")
            for name in NAMES:
                import_module(f"pkg.plugins.{name}")
        ''',
        "pkg/plugins/alpha.py": "",
        "pkg/plugins/beta.py": "",
        "pkg/plugins/gamma.py": "",            # not in NAMES: not reached
        "pkg/dynamic.py": "import importlib\ndef load(x):\n    return importlib.import_module(f'pkg.sub.{x}')\n",
        "pkg/unreached.py": "import pkg.top\n",
    })
    return tmp_path


def test_closure_follows_every_kind_of_import(pkg):
    closure = import_closure(["pkg.top"], path=[str(pkg)])
    assert closure == sorted([
        "pkg", "pkg.top", "pkg.absolute", "pkg.attr_target", "pkg.sub", "pkg.initdep", "pkg.sub.leaf",
        "pkg.relative", "pkg.sub.deep", "pkg.sub.deep.sibling", "pkg.sub.deep.inner", "pkg.unused_by_name",
        "pkg.plugins", "pkg.plugins.alpha", "pkg.plugins.beta",
    ])


def test_an_unresolvable_dynamic_import_takes_its_whole_package(pkg):
    closure = import_closure(["pkg.dynamic"], path=[str(pkg)])
    assert {"pkg.sub.leaf", "pkg.sub.deep.inner", "pkg.sub.deep.sibling", "pkg.initdep"} <= set(closure)
    assert "pkg.top" not in closure and "pkg.plugins" not in closure


def test_source_hash_changes_with_the_closure_only_and_not_with_the_location(pkg, tmp_path_factory):
    closure = import_closure(["pkg.top"], path=[str(pkg)])
    before = source_hash(closure, path=[str(pkg)])
    assert len(before) == 64 and source_hash(reversed(closure), path=[str(pkg)]) == before

    elsewhere = tmp_path_factory.mktemp("copy")
    shutil.copytree(pkg / "pkg", elsewhere / "pkg")
    assert source_hash(closure, path=[str(elsewhere)]) == before   # relative paths, not absolute ones

    (pkg / "pkg" / "unreached.py").write_text("# edited\n")
    (pkg / "pkg" / "plugins" / "gamma.py").write_text("# edited\n")
    assert source_hash(import_closure(["pkg.top"], path=[str(pkg)]), path=[str(pkg)]) == before

    (pkg / "pkg" / "sub" / "deep" / "sibling.py").write_text("# edited\n")
    assert source_hash(closure, path=[str(pkg)]) != before


def test_a_renamed_file_with_the_same_bytes_changes_the_hash(pkg):
    one = source_hash(["pkg.sub.leaf"], path=[str(pkg)])
    (pkg / "pkg" / "sub" / "twin.py").write_bytes((pkg / "pkg" / "sub" / "leaf.py").read_bytes())
    assert source_hash(["pkg.sub.twin"], path=[str(pkg)]) != one


def test_missing_modules_and_bad_input_fail_clearly(pkg):
    with pytest.raises(ModuleNotFoundError, match="'pkg.nope'"):
        import_closure(["pkg.nope"], path=[str(pkg)])
    with pytest.raises(ModuleNotFoundError, match="'pkg.nope'"):
        source_hash(["pkg.nope"], path=[str(pkg)])
    with pytest.raises(TypeError, match="not the string"):
        import_closure("pkg.top", path=[str(pkg)])


def test_the_real_lib_train_closure():
    closure = import_closure(["lib.train"])
    assert {"lib", "lib.train", "lib.activations", "lib.activations.registry", "lib.seeding"} <= set(closure)
    assert not [m for m in closure if m.startswith("lib.runner")]
    assert module_file("lib.activations") == LIB / "activations" / "__init__.py"
    assert all(module_file(m) is not None for m in closure)


def test_a_runner_edit_leaves_the_training_hash_alone_but_a_training_edit_does_not(tmp_path):
    shutil.copytree(LIB, tmp_path / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    where = [str(tmp_path)]
    closure = import_closure(["lib.train"], path=where)
    before = source_hash(closure, path=where)
    assert before == source_hash(import_closure(["lib.train"]))   # the copy hashes like the original

    cli = tmp_path / "lib" / "runner" / "cli.py"
    cli.write_text(cli.read_text() + "\n# an edit of the runner\n")
    assert source_hash(import_closure(["lib.train"], path=where), path=where) == before

    train = tmp_path / "lib" / "train.py"
    train.write_text(train.read_text() + "\n# an edit of the engine\n")
    assert source_hash(import_closure(["lib.train"], path=where), path=where) != before


def test_notebook_imports_reads_the_code_cells_and_skips_magics(pkg, tmp_path):
    notebook = tmp_path / "chapter.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("import pkg.unreached  # prose, not code"),
        nbformat.v4.new_code_cell("%matplotlib inline\n!ls\nimport numpy\nfrom pkg import top"),
        nbformat.v4.new_code_cell("import pkg\nvalue = pkg.sub.leaf.Z"),
    ]), notebook)
    where = [str(pkg)]
    assert notebook_imports(notebook, follow=["pkg"], path=where) == ["pkg", "pkg.sub", "pkg.sub.leaf", "pkg.top"]
    assert "pkg.unreached" not in import_closure(notebook_imports(notebook, follow=["pkg"], path=where), path=where)

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def broken(:\n")]), notebook)
    with pytest.raises(SyntaxError, match=r"chapter.ipynb, cell 0"):
        notebook_imports(notebook, follow=["pkg"], path=where)


def test_every_chapter_of_the_book_depends_on_lib_but_not_on_the_runner(root):
    for notebook in sorted((root / "book").glob("*.ipynb")):
        closure = import_closure(notebook_imports(notebook))
        assert "lib" in closure and len(closure) > 3, notebook.name
        assert not [m for m in closure if m.startswith("lib.runner")], notebook.name


def test_a_chapter_s_cache_hash_covers_what_its_code_imports_and_nothing_else(tmp_path):
    from lib.runner.execute import code_hash
    from lib.runner.toc import Page

    def chapter(name: str, code: str) -> Page:
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), path)
        return Page(name=name, file=f"book/{name}", path=path)

    dry = code_hash(chapter("dry", "from lib.dry_run import step_limit"))
    assert dry == source_hash(import_closure(["lib.dry_run"]))
    assert "lib.runner.cli" not in import_closure(["lib.dry_run"])
    assert code_hash(chapter("sweep", "import lib.sweep")) != dry
    everything = code_hash(chapter("broken", "def f(:"))            # falls back on all of lib
    assert everything not in (dry, code_hash(chapter("sweep", "import lib.sweep")))
    package = Path(lib.__file__).parent
    assert everything == source_hash(sorted(".".join(f.relative_to(package.parent).with_suffix("").parts)
                                            .removesuffix(".__init__") for f in package.rglob("*.py")))


def test_companion_files_are_hashed_with_their_module(tmp_path):
    package = tmp_path / "cpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "kernel.py").write_text('COMPANION_FILES = ("kernel.c",)\n')
    (package / "kernel.c").write_text("int f(void) { return 1; }\n")
    before = source_hash(["cpkg.kernel"], path=[str(tmp_path)])
    (package / "kernel.c").write_text("int f(void) { return 2; }\n")
    assert source_hash(["cpkg.kernel"], path=[str(tmp_path)]) != before
    (package / "kernel.c").unlink()
    with pytest.raises(FileNotFoundError):
        source_hash(["cpkg.kernel"], path=[str(tmp_path)])


def test_the_c_kernels_are_in_the_closure_of_the_activations():
    from lib import provenance
    closure = import_closure(["lib.activations"])
    assert "lib.activations.native" in closure
    source = (Path(lib.__file__).parent / "activations" / "native.py").read_bytes()
    assert provenance._companions(source, "native.py") == ("native.c",)
