"""The Snake chapters' grids: built from the parameters alone, checked, dry-run at the paper profile's scale."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from lib import signal_fits as sf
from lib import sweep
from lib.chapters import snake_decay, snake_extrapolation
from lib.parameters import ParameterError
from lib.runner.checks import profile_values
from lib.seeding import torch_threads

CHAPTERS = {"snake_extrapolation": snake_extrapolation, "snake_decay": snake_decay}


def parameters(root, chapter: str, profile: str | None) -> dict:
    """The notebook's defaults with the profile's overrides (None: the full profile), checked by the chapter's rules."""
    return profile_values(root, chapter, profile or "full")


@pytest.mark.parametrize("profile", [None, "quick", "paper"])
@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_every_config_of_every_profile_passes_its_check(root, chapter, profile):
    p = parameters(root, chapter, profile)
    grids = CHAPTERS[chapter].grids(p)
    for grid in grids:
        for config in grid.configs:
            grid.check(config)
    results = [object()] * len(grids[0].configs)
    split = CHAPTERS[chapter].by_experiment(p, results)
    assert sum(len(v) for v in split.values()) >= len(grids[0].configs)


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_the_paper_profile_dry_runs(root, chapter):
    p = parameters(root, chapter, "paper")
    with torch_threads(1):
        for grid in CHAPTERS[chapter].grids(p):
            result = sweep.dry_run(grid)
            if isinstance(result, sf.SignalRun):
                assert result.train_curve.shape[1] >= 1 and np.isfinite(result.train_mse).all()
            else:
                assert result.a.shape[0] == len(grid.configs[0]["seeds"])


def test_the_authors_setting_is_the_notebooks_in_every_profile(root):
    for profile in (None, "paper"):
        p = parameters(root, "snake_extrapolation", profile)
        authors = snake_extrapolation.experiments(p)["authors"]
        assert [c["candidate"]["label"] for c in authors][:5] == ["ReLU", "tanh", "sin", "x + sin x", "x + sin²x"]
        for c in authors:
            assert (c["hidden"], c["optimizer"], c["lr"], c["momentum"], c["epochs"], c["init"]) == \
                ([512], "sgd", 1e-2, 0.9, 15000, "default")
            assert c["task"] == {"name": "authors", "points_per_side": 32} and len(c["seeds"]) >= 5


def test_impossible_combinations_fail_in_the_parameter_check(root):
    p = parameters(root, "snake_extrapolation", None)
    with pytest.raises(ParameterError, match="authors_eval_every"):
        snake_extrapolation.PARAMETERS.check({**p, "authors_eval_every": p["authors_epochs"] + 1})
    with pytest.raises(ParameterError, match="probe_target_a"):
        snake_extrapolation.PARAMETERS.check({**p, "probe_target_a": 40.0})
    q = parameters(root, "snake_decay", None)
    with pytest.raises(ParameterError, match="tsne_points"):
        snake_decay.PARAMETERS.check({**q, "tsne_points": q["L"] + 1})


def test_decay_grid_helpers():
    b = np.array([1.0, 10.0, 1.0, 10.0])
    values = np.array([[4.0, 3.0], [1.0, 1.5], [8.0, 6.0], [2.0, 2.0]])     # cells x seeds: larger b, lower error
    expected = [scipy.stats.pearsonr(np.log(b), np.log(values[:, j])).statistic for j in range(2)]
    np.testing.assert_allclose(snake_decay.correlations(values, b), expected)
    assert (snake_decay.correlations(values, b) < -0.8).all()
    pairs = [{"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 10.0}, {"a": 10.0, "b": 1.0}, {"a": 10.0, "b": 10.0}]
    off, diagonal = snake_decay.held_out_best(values, pairs, np.array([True, False]))
    assert (off, diagonal) == (1, 3)                         # chosen on the first seed only
    assert snake_decay.subsample(1000, 100).tolist() == list(range(0, 1000, 10))


def test_tables_say_diverged_only_for_diverged_runs():
    from lib import signal_report as sr

    assert sr.interval_text([np.nan, np.nan]) == "n/a" and sr.interval_text([1.0]) == "1"
    assert sr.interval_text([1.0, 3.0], digits=2).startswith("2 [")
    gone = sweep.Diverged({"seeds": [0, 1], "candidate": {"label": "x + sin x"}, "task": {"name": "authors"},
                           "epochs": 10}, "FloatingPointError")
    table = sr.summary_table([gone], window=2, tolerance=0.1)
    assert "| x + sin x | diverged | diverged |" in table and "2 of 2 |" in table
    assert sr.values(gone, "test_mse").shape == (2,) and sr.n_diverged(gone) == 2
