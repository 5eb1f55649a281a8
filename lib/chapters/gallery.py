"""Code of the chapter "The activation gallery" (book/gallery.ipynb)."""
from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation

from lib import activations
from lib.moments import monte_carlo_moments, value_and_derivative
from lib.parameters import Float, Int, Parameters
from lib.plotting import animation_html, grid

PARAMETERS = Parameters(
    "gallery", mc_samples=Int(minimum=1000), grid_points=Int(minimum=11), x_max=Float(minimum=0.5),
    sweep_frames=Int(minimum=2), seed=Int(0, 2**32 - 1),
)


def curves(name: str, x: np.ndarray, **params) -> tuple[np.ndarray, np.ndarray]:
    """f(x) and f'(x) (autograd) of the activation `name` on the points `x`."""
    act = activations.get(name, **params).double()
    y, dy = value_and_derivative(act, torch.as_tensor(x, dtype=torch.float64))
    return y.numpy(), dy.numpy()


def plot_gallery(names: Sequence[str], x_min: float = -4.0, x_max: float = 4.0, points: int = 801,
                 ncols: int = 4):
    """Small multiples on one shared grid: each activation (solid) and its derivative (dashed)."""
    x = np.linspace(x_min, x_max, points)
    fig, axes = grid(len(names), ncols, sharex=True, sharey=True)
    for ax, name in zip(axes, names):
        y, dy = curves(name, x)
        ax.axhline(0, color="0.85", lw=0.8)
        ax.axvline(0, color="0.85", lw=0.8)
        ax.plot(x, y, color="C0", lw=1.6, label="f(x)")
        ax.plot(x, dy, color="C3", lw=1.2, ls="--", label="f'(x)")
        ax.set_title(activations.spec(name).label, fontsize=10)
        ax.set_ylim(-2.5, 4.0)
    axes[0].legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _fmt(value) -> str:
    if value is inspect.Parameter.empty:
        return "(required)"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _escape(text: str) -> str:
    return text.replace("|", r"\|")


def registry_table(names: Sequence[str]) -> str:
    """A Markdown table: name, formula, parameters (defaults) and the values that recover a classical function."""
    rows = ["| name | family | $f(x)$ | parameters (default) | recovers |", "|---|---|---|---|---|"]
    for name in names:
        s = activations.spec(name)
        params = ", ".join(f"`{k}={_fmt(v)}`" for k, v in s.params.items()) or "—"
        recovers = "; ".join(
            f"{target} at " + ", ".join(f"`{k}={_fmt(v)}`" for k, v in values.items())
            for target, values in s.recovers.items()
        ) or "—"
        rows.append(f"| `{name}` | {s.family} | ${_escape(s.formula)}$ | {params} | {_escape(recovers)} |")
    return "\n".join(rows)


def moment_rows(names: Sequence[str], samples: int, seed: int) -> list[dict]:
    """Monte-Carlo E[f^2] and E[f'^2] under N(0,1) beside the closed form where one exists."""
    rows = []
    for name in names:
        s = activations.spec(name)
        mc = monte_carlo_moments(activations.get(name), samples=samples, seed=seed)
        exact = s.closed_form_moments()
        row = {"name": name, "label": s.label, "forward": mc.forward, "forward_se": mc.forward_se,
               "backward": mc.backward, "backward_se": mc.backward_se,
               "forward_exact": math.nan, "backward_exact": math.nan}
        if exact is not None:
            row["forward_exact"], row["backward_exact"] = exact
        rows.append(row)
    return rows


def moments_table(rows: list[dict]) -> str:
    """Markdown for `moment_rows`: MC ± standard error, closed form, and the gap in standard errors."""
    def cell(mc, se, exact):
        if math.isnan(exact):
            return f"{mc:.4f} ± {se:.4f}", "—", "—"
        return f"{mc:.4f} ± {se:.4f}", f"{exact:.4f}", f"{abs(mc - exact) / se:.1f}"

    lines = ["| activation | $E[f^2]$ (MC) | closed form | gap (SE) | $E[f'^2]$ (MC) | closed form | gap (SE) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        fwd = cell(r["forward"], r["forward_se"], r["forward_exact"])
        bwd = cell(r["backward"], r["backward_se"], r["backward_exact"])
        lines.append(f"| {r['label']} | " + " | ".join(fwd + bwd) + " |")
    return "\n".join(lines)


def plot_moments(rows: list[dict]):
    """Forward gain E[f^2] against backward gain E[f'^2]: (1, 1) preserves both variances."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for r in rows:
        ax.errorbar(r["forward"], r["backward"], xerr=2 * r["forward_se"], yerr=2 * r["backward_se"],
                    fmt="o", ms=4, capsize=2)
        ax.annotate(r["label"], (r["forward"], r["backward"]), fontsize=8,
                    xytext=(4, 3), textcoords="offset points")
    ax.axvline(1, color="0.7", lw=0.8, ls=":")
    ax.axhline(1, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel(r"forward gain $E[f(x)^2]$, $x\sim N(0,1)$")
    ax.set_ylabel(r"backward gain $E[f'(x)^2]$")
    fig.tight_layout()
    return fig


def snake_sweep_animation(a_values: Sequence[float], x_min: float = -6.0, x_max: float = 6.0,
                          points: int = 601, fps: int = 8):
    """A `to_jshtml` animation of Snake and its derivative as `a` sweeps `a_values` (offline HTML)."""
    x = np.linspace(x_min, x_max, points)
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(10, 3))
    (line_f,) = ax_f.plot([], [], color="C0", lw=1.6)
    (line_d,) = ax_d.plot([], [], color="C3", lw=1.2)
    ax_f.plot(x, x, color="0.75", lw=0.8, ls=":", label="identity")
    ax_f.set(xlim=(x_min, x_max), ylim=(x_min, x_max + 2), title="Snake $f(x)$")
    ax_d.set(xlim=(x_min, x_max), ylim=(-0.1, 2.1), title="$f'(x) = 1 + \\sin 2ax$")
    ax_f.legend(loc="upper left", frameon=False, fontsize=8)
    fig.tight_layout()

    def draw(i):
        y, dy = curves("snake", x, a=float(a_values[i]))
        line_f.set_data(x, y)
        line_d.set_data(x, dy)
        fig.suptitle(f"a = {a_values[i]:.3g}   (period π/a = {math.pi / a_values[i]:.3g})", fontsize=10)
        return line_f, line_d

    fig.subplots_adjust(top=0.8)
    anim = animation.FuncAnimation(fig, draw, frames=len(a_values), blit=False)
    return animation_html(anim, fps=fps)


def explorer(names: Sequence[str] | None = None):
    """An ipywidgets explorer: pick an activation and move its numeric parameters (live notebooks only)."""
    import ipywidgets as widgets
    from IPython.display import display

    names = list(names or activations.names())
    x = np.linspace(-5, 5, 501)
    choose = widgets.Dropdown(options=names, value=names[0], description="activation")
    sliders = widgets.VBox()
    out = widgets.Output()

    def numeric_params(name):
        return {k: v for k, v in activations.spec(name).params.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def redraw(*_):
        params = {w.description: w.value for w in sliders.children}
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6, 3.2))
            try:
                y, dy = curves(choose.value, x, **params)
            except ValueError as err:  # e.g. a parameter outside its domain
                ax.text(0.5, 0.5, str(err), ha="center", va="center", transform=ax.transAxes, wrap=True)
            else:
                ax.plot(x, y, label="f(x)")
                ax.plot(x, dy, ls="--", label="f'(x)")
                ax.legend(frameon=False)
            ax.set_title(activations.spec(choose.value).label)
            plt.show()

    def rebuild(*_):
        new = []
        for k, v in numeric_params(choose.value).items():
            lo, hi = (0.01, max(10.0, 3 * abs(v))) if v > 0 else (-3.0, 3.0)
            slider = widgets.FloatLogSlider(value=v, base=10, min=math.log10(lo), max=math.log10(hi),
                                            description=k) if v > 0 else \
                widgets.FloatSlider(value=v, min=lo, max=hi, step=0.01, description=k)
            slider.observe(redraw, names="value")
            new.append(slider)
        sliders.children = new
        redraw()

    choose.observe(rebuild, names="value")
    rebuild()
    box = widgets.VBox([choose, sliders, out])
    display(box)
    return box
