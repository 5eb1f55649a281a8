"""`lib`: the code behind the book on novel and learnable activation functions.

Each chapter's code lives in one module (see README, "Where the code lives").
Submodules are imported lazily (``lib.activations`` imports on first use) so that
`python -m lib build ...` (the runner) starts without loading torch.
"""
from importlib import import_module, util

__version__ = "0.1.0"

_SHORTCUTS = {"device": "seeding", "seed_everything": "seeding"}


def __getattr__(name):
    if name in _SHORTCUTS:
        return getattr(import_module(f"lib.{_SHORTCUTS[name]}"), name)
    if not name.startswith("_") and util.find_spec(f"lib.{name}") is not None:
        return import_module(f"lib.{name}")
    raise AttributeError(f"module 'lib' has no attribute {name!r}")
