"""The book runner: stage the sources, execute the chapters with papermill, build the HTML.

`python -m lib build --help` for the command line; see README for the workflow.
"""
from lib.runner.errors import RunnerError

__all__ = ["RunnerError"]
