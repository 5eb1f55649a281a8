"""`lib`: the code behind the book on novel and learnable activation functions.

Each chapter's code lives in one module (see README, "Where the code lives").
Submodules are imported lazily so that `python -m lib build ...` (the runner)
starts without loading torch.
"""
from importlib import import_module

__version__ = "0.1.0"

_SUBMODULES = {
    "activations", "data", "models", "moments", "plotting", "report", "runner", "seeding",
    "train", "gallery",
}
_SHORTCUTS = {"device": "seeding", "seed_everything": "seeding"}


def __getattr__(name):
    if name in _SHORTCUTS:
        return getattr(import_module(f"lib.{_SHORTCUTS[name]}"), name)
    if name in _SUBMODULES:
        return import_module(f"lib.{name}")
    raise AttributeError(f"module 'lib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | set(_SHORTCUTS))
