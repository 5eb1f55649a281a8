"""Numbers and figures from loss slices (`lib.landscape.loss_slices`): how far the slices are from straight lines
relative to their depth (`second_difference`), how far the loss rises close to the trained weights
(`sharpness`), whether a slice has more than one basin (`excess_variation`), all three at once (`roughness`), and
the slices drawn on one colour scale (`plot_slices`).
"""
from __future__ import annotations

import numpy as np


def excess_variation(curve: np.ndarray) -> float:
    """Total variation of a 1-D curve beyond what a single basin needs, relative to it.

    For a curve that falls to its minimum and then rises (unimodal), the total variation is
    (L(left) - min) + (L(right) - min) and the result is 0; each extra bump adds twice its
    height. A constant curve gives 0. Coarse slices of trained networks are usually unimodal, so
    this is 0 for most of them: it detects extra basins, not how smooth one basin is.
    """
    curve = _line(curve, "excess_variation", 2)
    if not np.all(np.isfinite(curve)):
        return float("inf")
    tv = np.abs(np.diff(curve)).sum()
    basin = (curve[0] - curve.min()) + (curve[-1] - curve.min())
    return float(tv / basin - 1.0) if basin > 0 else 0.0


def _line(curve, what: str, minimum: int) -> np.ndarray:
    curve = np.asarray(curve, dtype=float)
    if curve.ndim != 1 or curve.size < minimum:
        raise ValueError(f"{what} needs a 1-D curve of at least {minimum} points, got shape {curve.shape}")
    return curve


def second_difference(curve: np.ndarray) -> float:
    """The normalised mean absolute second difference of a curve on an even grid:
    mean |L[i-1] - 2 L[i] + L[i+1]| / (max L - min L).

    0 for a straight line (and for a constant curve); 2 (2 / (n - 1))^2 for a parabola centred on a grid of n
    points. For a convex curve it is the change of slope across the grid per point, relative to the depth (a
    V-shaped kink scores below a parabola of the same depth); wiggles, whose second differences change sign,
    add to it. Independent of the loss's units and offset, so slices of different depths compare. Infinite when
    the curve holds a non-finite value.
    """
    curve = _line(curve, "second_difference", 3)
    if not np.all(np.isfinite(curve)):
        return float("inf")
    depth = np.ptp(curve)
    return float(np.abs(np.diff(curve, 2)).mean() / depth) if depth > 0 else 0.0


def sharpness(slices: dict[str, np.ndarray], radius: float | None = None) -> float:
    """How much the loss can rise within `radius` of the trained weights along the slices, relative to it:
    (max L over the slice points with |α|, |β| <= radius, minus L(0)) / (1 + L(0)).

    The ε-sharpness of Keskar et al. (2017) restricted to the slices' directions; `radius` defaults to a
    quarter of the slices' span. Never negative (the trained weights are among the points), and 0 only if
    no point nearby is higher. Along filter-normalised directions α = 1 changes every filter by its own
    norm (Li et al. 2018), so sharpness compares across networks whatever the scale of their weights.
    """
    alphas, loss_1d = np.asarray(slices["alphas"], float), np.asarray(slices["loss_1d"], float)
    grid, loss_2d = np.asarray(slices["grid"], float), np.asarray(slices["loss_2d"], float)
    centre = int(np.argmin(np.abs(alphas)))
    if alphas[centre] != 0:
        raise ValueError("sharpness needs a 1-D grid that holds α = 0 (an odd number of points)")
    radius = float(alphas.max()) / 4 if radius is None else float(radius)
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    near = np.abs(alphas) <= radius + 1e-12
    near_2d = (np.abs(grid)[:, None] <= radius + 1e-12) & (np.abs(grid)[None, :] <= radius + 1e-12)
    nearby = np.concatenate([loss_1d[near], loss_2d[near_2d]])
    if not np.all(np.isfinite(nearby)):
        return float("inf")
    centre_loss = loss_1d[centre]
    return float((nearby.max() - centre_loss) / (1 + centre_loss))


def roughness(slices: dict[str, np.ndarray]) -> dict[str, float]:
    """Scalar summaries of one model's slices (from `loss_slices`):

    - ``second_difference``: `second_difference` averaged over the 1-D slice and every row and column
      of the 2-D slice (how far the slices are from straight, relative to their depth);
    - ``sharpness``: `sharpness` within a quarter of the span of the trained weights;
    - ``excess_1d``, ``excess_2d``: `excess_variation` of the 1-D slice, and its mean over the rows and
      columns of the 2-D slice (0 unless a slice has more than one basin).
    """
    loss_1d, loss_2d = np.asarray(slices["loss_1d"]), np.asarray(slices["loss_2d"])
    lines = [loss_1d, *loss_2d, *loss_2d.T]
    return {"second_difference": float(np.mean([second_difference(line) for line in lines])),
            "sharpness": sharpness(slices),
            "excess_1d": excess_variation(loss_1d),
            "excess_2d": float(np.mean([excess_variation(line) for line in [*loss_2d, *loss_2d.T]]))}


def plot_slices(slices: dict[str, dict[str, np.ndarray]], ncols: int = 4):
    """The 1-D slices of several models in one panel, then one 2-D panel per model.

    Every 2-D panel uses the same logarithmic colour scale (from the lowest to the highest loss over all
    panels, clipped at 20 times the lowest) with one colour bar, so that colours compare across models.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    if not slices:
        raise ValueError("plot_slices needs at least one model's slices")
    n = len(slices)
    ncols = min(ncols, n + 1)
    nrows = -(-(n + 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols + 0.8, 2.9 * nrows), squeeze=False,
                             layout="constrained")
    axes = axes.ravel()
    low = min(float(np.min(s["loss_2d"])) for s in slices.values())
    high = max(float(np.max(s["loss_2d"])) for s in slices.values())
    low = max(low, 1e-6)
    high = min(max(high, low * 1.01), 20 * low)
    levels = np.geomspace(low, high, 16)
    norm = LogNorm(vmin=low, vmax=high)
    contour = None
    for i, (label, s) in enumerate(slices.items()):
        axes[0].plot(s["alphas"], s["loss_1d"], color=f"C{i}", label=label)
        ax = axes[i + 1]
        clipped = np.clip(s["loss_2d"], low, high)
        contour = ax.contourf(s["grid"], s["grid"], clipped, levels=levels, norm=norm, cmap="viridis")
        ax.plot(0, 0, "w+", markersize=8)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("α (direction d)")
        ax.set_ylabel("β (direction e)")
    for ax in axes[n + 1:]:
        ax.set_visible(False)
    axes[0].set_xlabel("α (direction d)")
    axes[0].set_ylabel("training loss (nats)")
    axes[0].set_yscale("log")
    axes[0].yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    axes[0].yaxis.set_minor_formatter(NullFormatter())
    axes[0].set_title("1-D slices", fontsize=10)
    axes[0].legend(fontsize=7)
    bar = fig.colorbar(contour, ax=list(axes[1:n + 1]), shrink=0.9, pad=0.02, ticks=levels[::3], format="%.3g")
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    bar.set_label("training loss (nats, log scale)")
    return fig
