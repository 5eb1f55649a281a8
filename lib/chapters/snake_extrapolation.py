"""Code of the chapter "Snake: extrapolating periodic functions" (book/snake_extrapolation.ipynb).

The runs themselves are `lib.signal_fits.run_signal` (one activation's seeds as one program) and
`lib.signal_fits.run_frequency_probe`; the metrics `lib.signal_metrics`; the data `lib.data.signals`.
Every training run of the chapter is a config of one of the two grids `grids(p)` builds.
"""
from __future__ import annotations

import math

from lib import signal_fits as sf
from lib import sweep
from lib.parameters import Float, Int, ListOf, OneOf, Parameters, Positive, Seeds

CHAPTER = "snake_extrapolation"
TASKS = ("extrapolation", "interpolation", "gen_data2")   # the seed's three splits of sin x on [-50, 50]

# Margins of the verdicts, in the claims' units, with the reason the prose gives for each.
MSE_MARGIN = 0.05          # test MSE: a tenth of the 0.5 that predicting 0 scores on sin x
PHASE_MARGIN = math.pi / 6  # radians: 30 degrees, a twelfth of a period
AMPLITUDE_MARGIN = 0.25    # amplitude ratio: a quarter of the target's amplitude
ORDER_MARGIN = 1.0         # log10 of the training MSE: one order of magnitude
MOVED_MARGIN = 0.1         # fraction of the way to the right a
AUTHORS_TRAIN_MSE = (1.7e-5, 9.1e-6)   # printed by Ziyin et al.'s notebook after 15,000 epochs


def _check(p) -> None:
    for key, epochs in (("authors_eval_every", "authors_epochs"), ("seed_eval_every", "seed_epochs"),
                        ("compare_eval_every", "compare_epochs"), ("compare_eval_every", "sweep_epochs")):
        if p[key] > p[epochs]:
            PARAMETERS.fail(key, p[key], f"at most {epochs} ({p[epochs]}): it is the interval between evaluations")
    low, high = p["probe_start"]
    if not low <= high:
        PARAMETERS.fail("probe_start", p["probe_start"], "[low, high] with low <= high")
    if p["probe_target_a"] >= low:
        PARAMETERS.fail("probe_target_a", p["probe_target_a"], f"below the start range {p['probe_start']} "
                        "(the probe asks a to move down to it)")


PARAMETERS = Parameters(
    CHAPTER, constraints=[lambda p: _check(p)],
    seeds=Seeds(), last=Int(1), flat_window=Int(1), flat_tolerance=Float(0.0, 1.0),
    authors_epochs=Int(1), authors_width=Int(1), authors_a=Positive(), authors_lr=Positive(),
    authors_momentum=Float(0.0, 0.999), authors_points=Int(1), authors_eval_every=Int(1), frames=Int(2),
    seed_tasks=ListOf(OneOf(*TASKS), distinct=True), seed_seeds=Seeds(), seed_hidden=ListOf(Int(1)),
    seed_a=Positive(), seed_lr=Positive(), seed_epochs=Int(1), seed_eval_every=Int(1),
    L=Int(minimum=40), gen2_L=Int(minimum=40),
    compare_tasks=ListOf(OneOf(*TASKS), distinct=True), compare_hidden=ListOf(Int(1)), compare_epochs=Int(1),
    compare_lr=Positive(), compare_eval_every=Int(1), snake_a=Positive(),
    sweep_task=OneOf(*TASKS), sweep_a=ListOf(Positive(), distinct=True), sweep_epochs=Int(1),
    probe_epochs=Int(1), probe_target_a=Positive(), probe_start=ListOf(Positive(), min_length=2, max_length=2),
    probe_x_max=Positive(),
)


def snake_period(a: float) -> float:
    """Snake's period pi / a (of sin^2(a x))."""
    return math.pi / a


# ---------------------------------------------------------------- the experiments

def task_config(name: str, p) -> dict:
    """The JSON description of a task: Ziyin et al.'s ("authors") or one of the seed's splits."""
    if name == "authors":
        return {"name": "authors", "points_per_side": int(p["authors_points"])}
    return {"name": name, "L": int(p["gen2_L"] if name == "gen_data2" else p["L"])}


def _config(task: dict, candidate: sf.Candidate, *, seeds, **kwargs) -> dict:
    bins, periods = sf.task_geometry(task)
    return sf.signal_config(task, candidate, seeds=seeds, bins=bins, periods=periods, **kwargs)


def authors_candidates(p) -> list[sf.Candidate]:
    return sf.comparison_candidates(p["authors_a"])


def experiments(p) -> dict[str, list[dict]]:
    """Every run_signal config of the chapter by experiment, in the order of its section's tables."""
    last = int(p["last"])
    authors = [_config(task_config("authors", p), c, seeds=p["seeds"], hidden=[p["authors_width"]], init="default",
                       zero_bias=False, optimizer="sgd", lr=p["authors_lr"], momentum=p["authors_momentum"],
                       epochs=p["authors_epochs"], eval_every=p["authors_eval_every"], last=last,
                       frames=p["frames"] if c.label in (authors_candidates(p)[0].label, authors_candidates(p)[5].label)
                       else 0)
               for c in authors_candidates(p)]
    snake = sf.Candidate(f"Snake, a = {p['seed_a']:g}", "snake", {"a": float(p["seed_a"])})
    seed = [_config(task_config(t, p), snake, seeds=p["seed_seeds"], hidden=p["seed_hidden"], lr=p["seed_lr"],
                    epochs=p["seed_epochs"], eval_every=p["seed_eval_every"], last=last, frames=p["frames"])
            for t in p["seed_tasks"]]
    compare = [_config(task_config(t, p), c, seeds=p["seeds"], hidden=p["compare_hidden"], lr=p["compare_lr"],
                       epochs=p["compare_epochs"], eval_every=p["compare_eval_every"], last=last, keep_params=True)
               for t in p["compare_tasks"] for c in sf.comparison_candidates(p["snake_a"])]
    swept = [_config(task_config(p["sweep_task"], p), sf.Candidate(f"Snake, a = {a:g}", "snake", {"a": float(a)}),
                     seeds=p["seeds"], hidden=p["compare_hidden"], lr=p["compare_lr"], epochs=p["sweep_epochs"],
                     eval_every=p["compare_eval_every"], last=last)
             for a in p["sweep_a"]]
    return {"authors": authors, "seed": seed, "compare": compare, "sweep": swept}


# The order configs go to the workers: the longest first (the learnable Snake of the authors' setting, the
# vmap backend), so that two workers finish together.
ORDER = ("authors", "seed", "compare", "sweep")


def probe_configs(p) -> list[dict]:
    """The learnable-a probe: a stored raw or as log a, with the comparison's Adam and the authors' SGD."""
    common = {"target_a": float(p["probe_target_a"]), "start": [float(v) for v in p["probe_start"]],
              "x_max": float(p["probe_x_max"]), "points": 100, "epochs": int(p["probe_epochs"]),
              "seeds": [int(s) for s in p["seeds"]], "record_every": max(1, int(p["probe_epochs"]) // 100)}
    out = []
    for parametrization in sf.PARAMETRIZATIONS:
        for optimizer, lr, momentum in (("adam", p["compare_lr"], 0.0),
                                        ("sgd", p["authors_lr"], p["authors_momentum"])):
            out.append({**common, "parametrization": parametrization, "optimizer": optimizer, "lr": float(lr),
                        "momentum": float(momentum)})
    return out


def _ordered(p) -> list[dict]:
    exps = experiments(p)
    authors = exps["authors"]
    authors = [authors[-1], *authors[:-1]]                   # the learnable one first
    return authors + [c for name in ORDER[1:] for c in exps[name]]


def grids(p) -> list[sweep.Grid]:
    """The chapter's two grids: every run_signal run, and the frequency probe."""
    return [sweep.Grid(CHAPTER, sf.run_signal, _ordered(p), check=sf.check_config),
            sweep.Grid(f"{CHAPTER}-probe", sf.run_frequency_probe, probe_configs(p), check=sf.check_probe_config)]


def by_experiment(p, results: list) -> dict[str, list]:
    """The results of the first grid, back in `experiments(p)` order (equal configs share one result)."""
    found = {sweep_key(c): r for c, r in zip(_ordered(p), results, strict=True)}
    return {name: [found[sweep_key(c)] for c in configs] for name, configs in experiments(p).items()}


def sweep_key(config: dict) -> str:
    import json

    return json.dumps(config, sort_keys=True)
