"""Code of the chapter "Snake on a decaying signal, the 1/b coefficient, and what the network learns"
(book/snake_decay.ipynb): what the last hidden layer represents.

The fits, comparisons and sweeps themselves are `lib.signal_fits`; the splits `lib.data.signals`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lib.data.signals import Split
from lib.models.mlp import MLP
from lib.parameters import Float, Int, ListOf, Parameters, Positive, Seeds

PARAMETERS = Parameters(
    "snake_decay",
    L=Int(minimum=40), fit_hidden=ListOf(Int(minimum=1)), fit_a=Positive(), fit_lr=Positive(), fit_epochs=Int(1),
    frames=Int(minimum=2), eval_every=Int(minimum=1), seeds=Seeds(), hidden=ListOf(Int(minimum=1)), lr=Positive(),
    epochs=Int(1), snake_a=Positive(), grid_a=ListOf(Positive()), grid_b=ListOf(Positive()),
    grid_hidden=ListOf(Int(minimum=1)), grid_epochs=Int(1), tsne_points=Int(minimum=20),
    tsne_perplexity=Float(minimum=1.0), torch_threads=Int(0, 64),
)


def phase(x: np.ndarray | Tensor) -> np.ndarray:
    """The phase x mod 2 pi in [0, 2 pi)."""
    x = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    return np.mod(x, 2 * np.pi)


@torch.no_grad()
def hidden_features(model: MLP, split: Split) -> np.ndarray:
    """The last hidden layer's output on every grid point, shape (L, width)."""
    model.eval()
    device = next(model.parameters()).device
    return model.features(split.x.to(device)).cpu().numpy()


def phase_agreement(features: np.ndarray, split: Split) -> float:
    """Mean cos(phase difference) between each test point and its nearest train point in feature space.

    1: every test point sits next to a training point of the same phase (x mod 2 pi);
    about 0: phases unrelated; -1: opposite phases. Distances are Euclidean on the
    features standardised per unit (so that no single large unit decides).
    """
    from sklearn.neighbors import NearestNeighbors

    features = np.asarray(features, dtype=np.float64)
    scale = features.std(axis=0)
    features = (features - features.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    train, test = split.train_index.numpy(), split.test_index.numpy()
    nn_index = NearestNeighbors(n_neighbors=1).fit(features[train]).kneighbors(features[test], return_distance=False)
    p = phase(split.x.flatten())
    return float(np.cos(p[test] - p[train][nn_index[:, 0]]).mean())


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


def subsample(split: Split, points: int) -> Split:
    """Every k-th grid point (k chosen so that about `points` remain), train/test kept."""
    if points < 4:
        raise ValueError(f"need at least 4 points, got {points}")
    step = max(1, len(split.x) // points)
    keep = torch.arange(0, len(split.x), step)
    mask = split.is_train[keep]
    return Split(split.name, split.x[keep], split.y[keep], mask.nonzero().flatten(), (~mask).nonzero().flatten())
