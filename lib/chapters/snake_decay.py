"""Code of the chapter "Snake on a decaying signal, the 1/b coefficient, and what the network learns"
(book/snake_decay.ipynb).

Every training run is a `lib.signal_fits.run_signal` config of the one grid `grids(p)` builds; the errors
relative to the envelope and the phase decoding are `lib.signal_metrics`; tables `lib.signal_report`.
"""
from __future__ import annotations

import json

import numpy as np

from lib import signal_fits as sf
from lib import sweep
from lib.parameters import Float, Int, ListOf, Parameters, Positive, Seeds
from lib.signal_metrics import decoding_chance, distance_to_data, error_by_distance, phase_decoding

CHAPTER = "snake_decay"
TASK = {"name": "decay"}
# Margins of the verdicts, in the claims' units (the prose states each with its reason).
LOG_MARGIN = 0.1        # log10 of the test MSE relative to the envelope²: a factor of 1.26 (it spans decades)
DECODE_MARGIN = 0.1     # phase decoding score: a tenth of the way from chance (≈ 0) to a perfect representation (1)
CORRELATION_MARGIN = 0.2


def _check(p) -> None:
    for key, epochs in (("fit_eval_every", "fit_epochs"), ("eval_every", "epochs"), ("eval_every", "grid_epochs")):
        if p[key] > p[epochs]:
            PARAMETERS.fail(key, p[key], f"at most {epochs} ({p[epochs]}): it is the interval between evaluations")
    if p["tsne_points"] > p["L"]:
        PARAMETERS.fail("tsne_points", p["tsne_points"], f"at most L ({p['L']})")


PARAMETERS = Parameters(
    CHAPTER, constraints=[lambda p: _check(p)],
    seeds=Seeds(), last=Int(1), flat_window=Int(1), flat_tolerance=Float(0.0, 1.0), L=Int(minimum=40),
    fit_seeds=Seeds(), fit_hidden=ListOf(Int(1)), fit_a=Positive(), fit_lr=Positive(), fit_epochs=Int(1),
    fit_eval_every=Int(1), frames=Int(minimum=2), hidden=ListOf(Int(minimum=1)), lr=Positive(), epochs=Int(1),
    eval_every=Int(1), snake_a=Positive(), grid_a=ListOf(Positive(), distinct=True),
    grid_b=ListOf(Positive(), distinct=True), grid_hidden=ListOf(Int(minimum=1)), grid_epochs=Int(1),
    tsne_points=Int(minimum=20), tsne_perplexity=Float(minimum=1.0), decode_ridge=Float(minimum=0.0),
    decode_shuffles=Int(minimum=10),
)


def task(p) -> dict:
    return {**TASK, "L": int(p["L"])}


def grid_pairs(p) -> list[dict]:
    """The (a, b) cells of the heat map, a varying slowest."""
    return [{"a": float(a), "b": float(b)} for a in p["grid_a"] for b in p["grid_b"]]


def experiments(p) -> dict[str, list[dict]]:
    """Every run_signal config of the chapter: the seed's network, the comparison, the (a, b) grid."""
    t = task(p)
    bins, periods = sf.task_geometry(t)
    last = int(p["last"])
    snake = sf.Candidate(f"Snake, a = {p['fit_a']:g}", "snake", {"a": float(p["fit_a"])})
    fit = [sf.signal_config(t, snake, seeds=p["fit_seeds"], hidden=p["fit_hidden"], lr=p["fit_lr"],
                            epochs=p["fit_epochs"], eval_every=p["fit_eval_every"], last=last, frames=p["frames"],
                            bins=bins, periods=periods)]
    compare = [sf.signal_config(t, c, seeds=p["seeds"], hidden=p["hidden"], lr=p["lr"], epochs=p["epochs"],
                                eval_every=p["eval_every"], last=last, bins=bins, periods=periods, keep_params=True)
               for c in sf.comparison_candidates(p["snake_a"])]
    grid = [sf.signal_config(t, sf.Candidate(f"a = {ab['a']:g}, b = {ab['b']:g}", "snake_ab", ab), seeds=p["seeds"],
                             hidden=p["grid_hidden"], lr=p["lr"], epochs=p["grid_epochs"], eval_every=p["eval_every"],
                             last=last, bins=bins, periods=periods)
            for ab in grid_pairs(p)]
    return {"fit": fit, "compare": compare, "grid": grid}


def _ordered(p) -> list[dict]:
    exps = experiments(p)
    compare = exps["compare"]
    return exps["fit"] + [compare[-1], *compare[:-1]] + exps["grid"]    # the longest runs first


def grids(p) -> list[sweep.Grid]:
    """The chapter's one grid: every training run (the seed's network, seven activations, the (a, b) cells)."""
    return [sweep.Grid(CHAPTER, sf.run_signal, _ordered(p), check=sf.check_config)]


def by_experiment(p, results: list) -> dict[str, list]:
    """The grid's results back in `experiments(p)` order."""
    found = {json.dumps(c, sort_keys=True): r for c, r in zip(_ordered(p), results, strict=True)}
    return {name: [found[json.dumps(c, sort_keys=True)] for c in configs] for name, configs in experiments(p).items()}


# ---------------------------------------------------------------- what the features represent

def phase(x) -> np.ndarray:
    """The phase x mod 2 pi in [0, 2 pi)."""
    return np.mod(np.asarray(x, dtype=float), 2 * np.pi)


def decoding(run: sf.SignalRun, member: int, ridge: float, shuffles: int) -> dict:
    """Phase decoding from member `member`'s last hidden layer: the decoded phase at every grid point, the test
    score (mean cos of the phase error; 1 = perfect), its mean per distance bin, and the chance level (the mean
    score of the decoder fitted to shuffled phases, over `shuffles` shuffles, and its 95th percentile)."""
    features = run.features(member)
    train = ~run.test_mask
    decoded, cosines = phase_decoding(features, run.x_eval, train, run.test_mask, ridge=ridge)
    chance = decoding_chance(features, run.x_eval, train, run.test_mask, shuffles=shuffles, seed=member, ridge=ridge)
    score = np.full(len(run.x_eval), np.nan)
    score[run.test_mask] = cosines
    distance = distance_to_data(run.x_eval, run.x_train[member])
    by_distance = error_by_distance(np.nan_to_num(score), distance, run.test_mask, run.period, run.by_distance.shape[1])
    return {"decoded": decoded, "score": float(cosines.mean()), "by_distance": by_distance,
            "chance": float(chance.mean()), "chance_95": float(np.quantile(chance, 0.95))}


def tsne(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """A 2-D t-SNE embedding (scikit-learn, PCA start, seeded) of standardised features."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    features = np.asarray(features, dtype=np.float64)
    scale = features.std(axis=0)
    features = (features - features.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    perplexity = min(perplexity, (len(features) - 1) / 3)
    # One OpenMP thread: for a few hundred points it is as fast, and on a shared machine
    # several spinning threads made the same call 10-60x slower.
    with threadpool_limits(limits=1):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def subsample(n: int, points: int) -> np.ndarray:
    """Every k-th of n indices, k chosen so that about `points` remain."""
    if points < 4:
        raise ValueError(f"need at least 4 points, got {points}")
    return np.arange(0, n, max(1, n // points))


# ---------------------------------------------------------------- the (a, b) grid

def correlations(values: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per seed (columns of `values`, cells × seeds): the correlation over the cells of log b with log value."""
    out = []
    for column in values.T:
        keep = np.isfinite(column) & (column > 0)
        out.append(float(np.corrcoef(np.log(b[keep]), np.log(column[keep]))[0, 1]) if keep.sum() > 2 else np.nan)
    return np.array(out)


def held_out_best(values: np.ndarray, pairs: list[dict], select: np.ndarray) -> tuple[int | None, int | None]:
    """The best cell off the diagonal (b != a) and on it (b = a), chosen by the mean over the seeds in `select`
    (a boolean mask over the columns of `values`, cells × seeds); None where the grid has no such cell."""
    mean = np.array([np.nanmean(row[select]) if np.isfinite(row[select]).any() else np.inf for row in values])
    off = [i for i, ab in enumerate(pairs) if ab["a"] != ab["b"]]
    diagonal = [i for i, ab in enumerate(pairs) if ab["a"] == ab["b"]]
    best_off = min(off, key=lambda i: mean[i]) if off else None
    best_diagonal = min(diagonal, key=lambda i: mean[i]) if diagonal else None
    return best_off, best_diagonal
