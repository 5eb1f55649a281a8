"""Pictures of a hive (results of `lib.swarm.hive_trainer`): the grid of swarms, its animation, summaries.

`hive_plot(results, facx, facy, epoch)` draws one panel per swarm (columns: values of
`facx`, rows: values of `facy`), the truth as silver dots and one line per bee, as the
original `swarm.animator.hive_plot`; `hive_animate` animates the same grid over epochs
as offline HTML (`lib.plotting.animation_html`), and writes an mp4 only where ffmpeg exists.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation

from lib.plotting import animation_html
from lib.swarm import value_label

__all__ = ["hive_grid", "hive_plot", "hive_animation", "hive_animate", "frame_epochs", "animation_epochs",
           "ffmpeg_available", "strip_plot", "shared_norm", "heat_map"]


def _values(results: Sequence[Mapping[str, Any]], key: str) -> list:
    if not results:
        raise ValueError("no results to plot")
    if key not in results[0]:
        scalars = [k for k, v in results[0].items() if np.ndim(v) == 0 and not isinstance(v, (list, dict))]
        raise KeyError(f"results have no parameter {key!r}; parameters: {', '.join(scalars)}")
    seen: dict = {}
    for r in results:
        seen.setdefault(_key(r[key]), r[key])
    return list(seen.values())


def _key(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type)) or value is None else repr(value)


def hive_grid(results: Sequence[Mapping[str, Any]], facx: str, facy: str) -> tuple[list, list, dict]:
    """Column values, row values and {(column value, row value): swarm} of a hive."""
    xs, ys = _values(results, facx), _values(results, facy)
    cells = {}
    for r in results:
        k = (_key(r[facx]), _key(r[facy]))
        if k in cells:
            raise ValueError(f"two swarms share {facx}={value_label(r[facx])}, {facy}={value_label(r[facy])}: "
                             "pick the parameters that tell the swarms apart")
        cells[k] = r
    return xs, ys, cells


def _limits(results: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    y = np.concatenate([np.asarray(r["y"], dtype=float).ravel() for r in results])
    lo, hi = float(y.min()), float(y.max())
    pad = 0.5 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def _draw_grid(results, facx, facy, panel, sharey=True):
    xs, ys, cells = hive_grid(results, facx, facy)
    fig, axes = plt.subplots(len(ys), len(xs), figsize=(panel[0] * len(xs), panel[1] * len(ys)),
                             squeeze=False, sharex=True, sharey=sharey)
    for iy, yv in enumerate(ys):
        for ix, xv in enumerate(xs):
            ax = axes[iy, ix]
            if iy == 0:
                ax.set_title(f"{facx} = {value_label(xv)}", fontsize=10)
            if ix == 0:
                ax.set_ylabel(f"{facy} = {value_label(yv)}")
            if (_key(xv), _key(yv)) not in cells:
                ax.set_visible(False)
    return fig, axes, xs, ys, cells


def _check_epoch(r: Mapping[str, Any], epoch: int) -> int:
    n_epochs = np.shape(r["ypred"])[1]
    if not -n_epochs <= epoch < n_epochs:
        raise IndexError(f"epoch {epoch} outside the {n_epochs} recorded epochs")
    return epoch % n_epochs


def hive_plot(results: Sequence[Mapping[str, Any]], facx: str, facy: str, epoch: int = -1,
              panel: tuple[float, float] = (3.0, 2.2), lw: float = 1.0, alpha: float = 0.8,
              ylim: tuple[float, float] | None = None):
    """The hive at `epoch` (record 0 is the untrained swarm; -1 the last): one panel per swarm.

    Needs ``x``, ``y`` and ``ypred`` in every result. Lines of bees that diverged are not drawn.
    """
    for r in results:
        for k in ("x", "y", "ypred"):
            if k not in r:
                raise KeyError(f"results need {k!r} (train with fields including 'ypred')")
        _check_epoch(r, epoch)
    fig, axes, xs, ys, cells = _draw_grid(results, facx, facy, panel)
    for ax, r, x in _panels_with_truth(axes, xs, ys, cells, ylim or _limits(results)):
        ax.plot(x, np.asarray(r["ypred"])[:, _check_epoch(r, epoch)].T, lw=lw, alpha=alpha)
    fig.tight_layout()
    return fig


def _panels_with_truth(axes, xs, ys, cells, ylim):
    """Yield (axes, swarm, x) for every filled cell of the grid, after drawing the truth as silver dots."""
    for iy, yv in enumerate(ys):
        for ix, xv in enumerate(xs):
            r = cells.get((_key(xv), _key(yv)))
            if r is None:
                continue
            ax = axes[iy, ix]
            x = np.asarray(r["x"], dtype=float).ravel()
            ax.plot(x, np.asarray(r["y"], dtype=float).ravel(), ".", color="silver", ms=4, zorder=0)
            ax.set_ylim(*ylim)
            yield ax, r, x


def frame_epochs(n_epochs: int, frames: int) -> np.ndarray:
    """`frames` epochs spread evenly over 0..n_epochs-1, always including the first and the last."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    return np.unique(np.linspace(0, n_epochs - 1, min(frames, n_epochs)).round().astype(int))


def ffmpeg_available() -> bool:
    return animation.writers.is_available("ffmpeg")


def hive_animation(results: Sequence[Mapping[str, Any]], facx: str, facy: str, frames: int = 30, fps: int = 8,
                   panel: tuple[float, float] = (3.0, 2.2), lw: float = 1.0, ylim: tuple[float, float] | None = None,
                   dpi: int = 72, open_on_last: bool = True):
    """The figure and the matplotlib animation behind `hive_animate` (the figure stays open)."""
    for r in results:
        if "ypred" not in r:
            raise KeyError("results need 'ypred' (train with fields including 'ypred')")
    n_epochs = {np.shape(r["ypred"])[1] for r in results}
    if len(n_epochs) != 1:
        raise ValueError(f"swarms recorded different numbers of epochs: {sorted(n_epochs)}")
    epochs = animation_epochs(n_epochs.pop(), frames, open_on_last)
    fig, axes, xs, ys, cells = _draw_grid(results, facx, facy, panel)
    fig.set_dpi(dpi)
    lines = []
    for ax, r, x in _panels_with_truth(axes, xs, ys, cells, ylim or _limits(results)):
        pred = np.asarray(r["ypred"])
        lines.append((pred, ax.plot(x, pred[:, epochs[0]].T, lw=lw, alpha=0.8)))
    label = fig.suptitle(f"epoch {int(epochs[0])}", fontsize=11)
    fig.tight_layout()  # it keeps room for the suptitle (matplotlib >= 3.3), so the frame's title is never clipped

    def draw(i: int):
        e = int(epochs[i])
        for pred, bee_lines in lines:
            for b, line in enumerate(bee_lines):
                line.set_ydata(pred[b, e])
        label.set_text(f"epoch {e}")
        return []

    return fig, animation.FuncAnimation(fig, draw, frames=len(epochs), interval=1000 / fps, blit=False)


def hive_animate(results: Sequence[Mapping[str, Any]], facx: str, facy: str, frames: int = 30, fps: int = 8,
                 panel: tuple[float, float] = (3.0, 2.2), mp4: str | None = None, lw: float = 1.0,
                 ylim: tuple[float, float] | None = None, dpi: int = 72, open_on_last: bool = True,
                 frame_format: str = "jpeg"):
    """The hive grid animated over epochs, as offline HTML (to_jshtml, no CDN).

    `frames` epochs are shown, evenly spread from the first record to the last. With `open_on_last`
    the player opens on the last epoch (the fit the training reached; the untrained swarm says little) and
    playing it replays the training from epoch 0. The title of each frame (its epoch) sits in room kept for it
    above the panels. Frames are embedded as `frame_format` images: JPEG keeps a grid of thin lines legible at
    about half the bytes of PNG, so that a page with several animations stays small. With `mp4` a path, the
    animation is also written there through ffmpeg, where ffmpeg exists (a warning says so where it does not).
    """
    if frame_format not in ("jpeg", "png"):
        raise ValueError(f"frame_format must be 'jpeg' or 'png', got {frame_format!r}")
    fig, anim = hive_animation(results, facx, facy, frames, fps, panel, lw, ylim, dpi, open_on_last)
    if mp4 is not None:
        if ffmpeg_available():
            anim.save(mp4, writer=animation.FFMpegWriter(fps=fps))
        else:
            warnings.warn("ffmpeg not found: no mp4 written (the HTML animation needs no ffmpeg)", stacklevel=2)
    with matplotlib.rc_context({"animation.frame_format": frame_format}):
        return animation_html(anim, fps=fps)


def animation_epochs(n_epochs: int, frames: int, open_on_last: bool = True) -> np.ndarray:
    """The epochs an animation shows: `frame_epochs`, with the last epoch put first too when `open_on_last`."""
    epochs = frame_epochs(n_epochs, frames)
    return np.concatenate([epochs[-1:], epochs]) if open_on_last and len(epochs) > 1 else epochs


def strip_plot(ax, groups: Sequence[np.ndarray], labels: Sequence[str], log: bool = True, seed: int = 0,
               threshold: float | None = None):
    """Box plot with every bee as a jittered dot; NaN (diverged) values are left out and counted in the label."""
    rng = np.random.default_rng(seed)
    clean = [np.asarray(g, dtype=float)[np.isfinite(g)] for g in groups]
    ax.boxplot([c if len(c) else [np.nan] for c in clean], showfliers=False, widths=0.6)
    for i, c in enumerate(clean):
        ax.plot(i + 1 + rng.uniform(-0.18, 0.18, len(c)), c, ".", ms=3, alpha=0.6, color="C0")
    ax.set_xticks(range(1, len(labels) + 1),
                  [lab if len(c) == len(g) else f"{lab}\n({len(g) - len(c)} diverged)"
                   for lab, c, g in zip(labels, clean, groups)], rotation=0, fontsize=8)
    if log:
        ax.set_yscale("log")
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls="--", lw=1)
    return ax


def shared_norm(*arrays: np.ndarray, vmin: float | None = None, vmax: float | None = None):
    """One colour scale for several heat-map panels: the range of every finite value (or the given bounds)."""
    from matplotlib.colors import Normalize

    finite = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    finite = finite[np.isfinite(finite)]
    low = vmin if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    high = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if high <= low:
        high = low + 1.0
    return Normalize(vmin=low, vmax=high)


def heat_map(ax, values: np.ndarray, xlabels: Sequence[str], ylabels: Sequence[str],
             fmt: Callable[[float], str] = lambda v: f"{v:.0f}", cmap: str = "viridis_r",
             note: np.ndarray | None = None, norm=None):
    """Values (rows, cols) as coloured cells with their numbers written in; NaN cells are grey.

    Pass the same `norm` (`shared_norm`) to every panel of a figure so that one colour means one value, and give
    the figure one colour bar (``fig.colorbar(image, ax=axes)``).
    """
    values = np.asarray(values, dtype=float)
    masked = np.ma.masked_invalid(values)
    cm = plt.get_cmap(cmap).with_extremes(bad="lightgrey")
    im = ax.imshow(masked, cmap=cm, aspect="auto", norm=norm or shared_norm(values))
    ax.set_xticks(range(len(xlabels)), xlabels)
    ax.set_yticks(range(len(ylabels)), ylabels)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            finite = np.isfinite(values[i, j])
            text = fmt(values[i, j]) if finite else "never"
            if note is not None:
                text += f"\n{note[i, j]}"
            # dark text on light cells, light text on dark ones
            r, g, b, _ = cm(im.norm(values[i, j])) if finite else (0.83, 0.83, 0.83, 1)
            light = 0.299 * r + 0.587 * g + 0.114 * b > 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if light else "white")
    return im
