"""Code of the chapter "The activation gallery" (book/gallery.ipynb)."""
from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation
from matplotlib.transforms import Bbox

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


def registry_rows(names: Sequence[str]) -> list[dict]:
    """The registry table as data (the download under it): one row per activation."""
    rows = []
    for name in names:
        s = activations.spec(name)
        rows.append({"name": name, "label": s.label, "family": s.family, "formula_latex": s.formula,
                     "parameters": "; ".join(f"{k}={_fmt(v)}" for k, v in s.params.items()),
                     "recovers": "; ".join(f"{target} at " + ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
                                           for target, values in s.recovers.items())})
    return rows


# Activations whose slope is not square-integrable at 0 under N(0, 1): f'(x) = z|x|^(z-1) for the signed power, so
# f'(x)^2 = z^2 |x|^(2z-2), whose integral against the normal density diverges at 0 when 2z - 2 <= -1, i.e. z <= 1/2.
SINGULAR_SLOPE = {
    "sqrt": lambda params: True,
    "tsqrt": lambda params: params["z"] <= 0.5,
}


def backward_gain_infinite(name: str, **params) -> bool:
    """Whether E[f'(x)^2] is infinite for x ~ N(0, 1) at these parameters (defaults for the rest)."""
    rule = SINGULAR_SLOPE.get(activations.spec(name).name)
    if rule is None:
        return False
    values = {k: v for k, v in activations.spec(name).params.items() if v is not inspect.Parameter.empty}
    return bool(rule({**values, **params}))


def moment_rows(names: Sequence[str], samples: int, seed: int) -> list[dict]:
    """Monte-Carlo E[f^2] and E[f'^2] under N(0,1) beside the closed form where one exists.

    Where the true E[f'^2] is infinite (`backward_gain_infinite`), ``backward_exact`` is inf and
    ``backward_infinite`` True; the Monte-Carlo value is then the moment of the capped slope as implemented.
    """
    rows = []
    for name in names:
        s = activations.spec(name)
        mc = monte_carlo_moments(activations.get(name), samples=samples, seed=seed)
        exact = s.closed_form_moments()
        row = {"name": name, "label": s.label, "forward": mc.forward, "forward_se": mc.forward_se,
               "backward": mc.backward, "backward_se": mc.backward_se,
               "forward_exact": math.nan, "backward_exact": math.nan, "backward_infinite": False}
        if exact is not None:
            row["forward_exact"], row["backward_exact"] = exact
        if backward_gain_infinite(name):
            row["backward_exact"], row["backward_infinite"] = math.inf, True
        rows.append(row)
    return rows


def moments_table(rows: list[dict]) -> str:
    """Markdown for `moment_rows`: MC ± standard error, closed form, and the gap in standard errors."""
    def cell(mc, se, exact):
        if math.isinf(exact):
            return f"{mc:.4f} ± {se:.4f} (capped slope)", "∞", "—"
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


def coincident_groups(rows: list[dict], tolerance: float = 1e-6) -> list[list[dict]]:
    """Rows whose two gains agree to `tolerance` (relative): the same function under the same draws, such as GELU and
    TGELU at its defaults. Rows with an infinite backward gain group by the forward gain alone."""
    def close(a: float, b: float) -> bool:
        return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))

    groups: list[list[dict]] = []
    for r in rows:
        for g in groups:
            first = g[0]
            if first["backward_infinite"] == r["backward_infinite"] and close(first["forward"], r["forward"]) and (
                    r["backward_infinite"] or close(first["backward"], r["backward"])):
                g.append(r)
                break
        else:
            groups.append([r])
    return groups


def place_labels(ax, points: Sequence[tuple[float, float]], labels: Sequence[str], fontsize: float = 8,
                 gap: float = 5, pad: float = 2.5, marker: float = 4) -> list:
    """Annotate each point with its label so that no two labels overlap and no label covers a point.

    Labels sit to the right of their points (to the left in the right quarter of the axes); taken from the lowest
    point up, each is moved up until it is clear of the labels placed before it and of every point's marker (a
    square of `marker` pixels around it). A label moved away from its point is tied to it by a thin line.
    Deterministic. Call it once the axes' limits are final: the layout is computed in display coordinates.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    points_per_pixel = 72 / fig.dpi
    pixels = [ax.transData.transform(xy) for xy in points]
    right_edge = ax.transAxes.transform((0.75, 0))[0]
    markers = [Bbox.from_extents(px - marker, py - marker, px + marker, py + marker) for px, py in pixels]
    order = sorted(range(len(points)), key=lambda i: (pixels[i][1], pixels[i][0]))
    placed: list = []
    layout = {}
    for i in order:
        left = pixels[i][0] > right_edge
        offset = (-gap, 0.0) if left else (gap, 0.0)
        probe = ax.annotate(labels[i], points[i], xytext=offset, textcoords="offset points", fontsize=fontsize,
                            va="center", ha="right" if left else "left")
        box = probe.get_window_extent(renderer)
        probe.remove()
        obstacles = placed + [m for j, m in enumerate(markers) if j != i]
        shift, moved = 0.0, True
        while moved:
            moved = False
            for other in obstacles:
                if (box.x0 - pad < other.x1 and other.x0 < box.x1 + pad and box.y0 - pad < other.y1
                        and other.y0 < box.y1 + pad):
                    step = other.y1 - box.y0 + pad
                    box = box.translated(0, step)
                    shift += step
                    moved = True
        placed.append(box)
        layout[i] = (offset[0], shift * points_per_pixel, left)
    texts = []
    for i, (xy, text) in enumerate(zip(points, labels)):
        dx, dy, left = layout[i]
        line = {"arrowstyle": "-", "color": "0.55", "lw": 0.6, "shrinkA": 0, "shrinkB": 3,
                "relpos": (1, 0.5) if left else (0, 0.5)}
        texts.append(ax.annotate(text, xy, xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                                 va="center", ha="right" if left else "left", annotation_clip=False,
                                 arrowprops=line if dy > 3 else None))
    return texts


def _draw_gains(ax, finite: list[tuple[list[dict], str]], infinite: list[list[dict]], top: float, shown):
    """The points of `plot_moments` on one axes (each finite group with its colour); `shown(forward, backward)` says
    which get a label there. Returns the labelled points and their labels."""
    points, labels = [], []
    for g, colour in finite:
        r = g[0]
        ax.errorbar(r["forward"], r["backward"], xerr=2 * r["forward_se"], yerr=2 * r["backward_se"], fmt="o", ms=4,
                    capsize=2, color=colour)
        if shown(r["forward"], r["backward"]):
            points.append((r["forward"], r["backward"]))
            labels.append(" = ".join(x["label"] for x in g))
    for g in infinite:
        x = g[0]["forward"]
        ax.annotate("", (x, top), xytext=(x, 0.88 * top), arrowprops={"arrowstyle": "-|>", "color": "C3"},
                    annotation_clip=False)
        ax.plot([x], [top], marker="^", color="C3", ms=7, clip_on=False)
        points.append((x, 0.94 * top))
        labels.append(" = ".join(r["label"] for r in g) + ": $E[f'^2] = \\infty$, off the scale")
    ax.axvline(1, color="0.7", lw=0.8, ls=":")
    ax.axhline(1, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel(r"forward gain $E[f(x)^2]$, $x\sim N(0,1)$")
    return points, labels


def plot_moments(rows: list[dict], crowded: float = 0.8):
    """Forward gain E[f^2] against backward gain E[f'^2]: (1, 1) preserves both variances.

    Two panels: every activation (left) and, enlarged, those with both gains below `crowded` (right), where most
    classical activations sit. Activations that compute the same function share one point and one label
    ("GELU = TGELU"); an infinite backward gain is an arrow at the top edge, labelled, without an error bar.
    """
    groups = coincident_groups(rows)
    finite = [(g, f"C{i % 10}") for i, g in enumerate(g for g in groups if not g[0]["backward_infinite"])]
    infinite = [g for g in groups if g[0]["backward_infinite"]]
    top = 1.12 * max(g[0]["backward"] + 2 * g[0]["backward_se"] for g, _ in finite)
    inside = [g[0] for g, _ in finite if g[0]["forward"] < crowded and g[0]["backward"] < crowded]
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1.15, 1]})
    layouts = []
    in_zoom = lambda f, b: f < crowded and b < crowded
    layouts.append((ax, *_draw_gains(ax, finite, infinite, top, lambda f, b: not (inside and in_zoom(f, b)))))
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), top)
    ax.set_ylabel(r"backward gain $E[f'(x)^2]$")
    ax.set_title("every activation", fontsize=10)
    if inside:
        lo_f, hi_f = min(r["forward"] for r in inside), max(r["forward"] for r in inside)
        lo_b, hi_b = min(r["backward"] for r in inside), max(r["backward"] for r in inside)
        pad_f, pad_b = 0.08 * (hi_f - lo_f or 1), 0.08 * (hi_b - lo_b or 1)
        box = (lo_f - pad_f, hi_f + 2.5 * pad_f, lo_b - pad_b, hi_b + pad_b)
        enlarged = [(g, c) for g, c in finite if in_zoom(g[0]["forward"], g[0]["backward"])]
        layouts.append((zoom, *_draw_gains(zoom, enlarged, [], top, lambda f, b: True)))
        zoom.set(xlim=box[:2], ylim=box[2:])
        zoom.set_title(f"enlarged: both gains below {crowded:g}", fontsize=10)
        ax.add_patch(plt.Rectangle((box[0], box[2]), box[1] - box[0], box[3] - box[2], fill=False, ec="0.5",
                                   lw=0.8, ls="--"))
    else:
        zoom.set_visible(False)
    fig.tight_layout()
    for axes, points, labels in layouts:
        place_labels(axes, points, labels)
    return fig


def snake_sweep_animation(a_values: Sequence[float], x_min: float = -6.0, x_max: float = 6.0,
                          points: int = 601, fps: int = 8, dpi: int = 72):
    """A `to_jshtml` animation of Snake and its derivative as `a` sweeps `a_values` (offline HTML).

    The first frame is the first value of `a` (a finished curve, not a training state); the frame's title sits in
    room kept for it above the panels, so it is never clipped.
    """
    x = np.linspace(x_min, x_max, points)
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(10, 3.2), dpi=dpi)
    y0, dy0 = curves("snake", x, a=float(a_values[0]))
    (line_f,) = ax_f.plot(x, y0, color="C0", lw=1.6)
    (line_d,) = ax_d.plot(x, dy0, color="C3", lw=1.2)
    ax_f.plot(x, x, color="0.75", lw=0.8, ls=":", label="identity")
    ax_f.set(xlim=(x_min, x_max), ylim=(x_min, x_max + 2), title="Snake $f(x)$", xlabel="$x$")
    ax_d.set(xlim=(x_min, x_max), ylim=(-0.1, 2.1), title="$f'(x) = 1 + \\sin 2ax$", xlabel="$x$")
    ax_f.legend(loc="upper left", frameon=False, fontsize=8)
    title = fig.suptitle(_sweep_title(a_values[0]), fontsize=10)
    fig.tight_layout()  # it keeps room for the suptitle (matplotlib >= 3.3)

    def draw(i):
        y, dy = curves("snake", x, a=float(a_values[i]))
        line_f.set_data(x, y)
        line_d.set_data(x, dy)
        title.set_text(_sweep_title(a_values[i]))
        return line_f, line_d

    anim = animation.FuncAnimation(fig, draw, frames=len(a_values), blit=False)
    return animation_html(anim, fps=fps)


def _sweep_title(a: float) -> str:
    return f"a = {a:.3g}   (period π/a = {math.pi / a:.3g})"


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


# ----------------------------------------------------------------------------- the explorer without a kernel

EXPLORER_SCALE = 4096           # curves are stored as int16 = round(value * scale): steps of 2.4e-4, range ±8
EXPLORER_GAP = -32768           # int16 code of a point not drawn (non-finite or beyond ±8)
EXPLORER_Y = (-2.5, 4.0)        # the y range drawn, as in the gallery's small multiples


def slider_values(default: float | int, steps: int = 17) -> list:
    """The values the static explorer offers for a parameter with this default: the live explorer's range (a log scale
    from 0.01 to max(10, 3·default) for a positive default, −3 to 3 otherwise; integers 1 to max(8, 2·default) for
    an integer), `steps` values of it, always including the default itself."""
    if isinstance(default, int) and not isinstance(default, bool):
        return list(range(1, max(8, 2 * default) + 1))
    if default > 0:
        values = np.geomspace(0.01, max(10.0, 3 * default), steps)
    else:
        values = np.linspace(-3.0, 3.0, steps)
    return sorted({*[float(f"{v:.3g}") for v in values], float(default)})


def _encode(curves_: np.ndarray) -> str:
    import base64

    q = np.round(np.clip(curves_, -7.99, 7.99) * EXPLORER_SCALE)
    q[~np.isfinite(curves_) | (np.abs(curves_) > 7.99)] = EXPLORER_GAP
    return base64.b64encode(q.astype("<i2").tobytes()).decode("ascii")


def explorer_data(names: Sequence[str], points: int = 161, x_max: float = 5.0, steps: int = 17) -> dict:
    """Everything the static explorer draws, precomputed: for each activation f and f' at its defaults and, for each
    numeric parameter, at every value of `slider_values` with the other parameters at their defaults.

    Curves are int16-coded (`EXPLORER_SCALE`) and base64-encoded, one block of (2, points) per value.
    """
    x = np.linspace(-x_max, x_max, points)
    acts = []
    for name in names:
        spec = activations.spec(name)
        params = []
        for key, default in spec.params.items():
            if not isinstance(default, (int, float)) or isinstance(default, bool):
                continue
            values, blocks = [], []
            for v in slider_values(default, steps):
                try:
                    y, dy = curves(name, x, **{key: v})
                except ValueError:        # a value outside the parameter's domain: not offered
                    continue
                values.append(v)
                blocks.append(np.stack([y, dy]))
            params.append({"name": key, "values": values, "default": values.index(default),
                           "curves": _encode(np.stack(blocks))})
        y, dy = curves(name, x)
        acts.append({"name": name, "label": spec.label, "params": params, "curves": _encode(np.stack([y, dy]))})
    return {"x": [float(x[0]), float(x[-1]), points], "scale": EXPLORER_SCALE, "gap": EXPLORER_GAP,
            "y": list(EXPLORER_Y), "acts": acts}


_EXPLORER_HTML = """<div class="activation-explorer" id="{uid}"
style="font-family:sans-serif;font-size:14px;max-width:680px">
<label>activation <select class="ae-activation"></select></label>
<div class="ae-sliders" style="margin:6px 0"></div>
<svg class="ae-plot" viewBox="0 0 640 300" width="100%" role="img" aria-label="the activation and its derivative">
<defs><clipPath id="{uid}-clip"><rect x="50" y="10" width="570" height="250"/></clipPath></defs>
<g class="ae-grid" stroke="#ddd" stroke-width="1"></g>
<g clip-path="url(#{uid}-clip)">
<path class="ae-f" fill="none" stroke="#1f77b4" stroke-width="2"/>
<path class="ae-df" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="6 4"/>
</g>
<g class="ae-labels" font-size="11" fill="#444"></g>
<g font-size="12"><line x1="470" y1="22" x2="500" y2="22" stroke="#1f77b4" stroke-width="2"/>
<text x="505" y="26">f(x)</text><line x1="550" y1="22" x2="580" y2="22" stroke="#d62728" stroke-width="1.5"
stroke-dasharray="6 4"/><text x="585" y="26">f\u2032(x)</text></g>
</svg>
<div class="ae-note" style="color:#555;font-size:12px">Precomputed curves: one parameter moves at a time, the
others stay at their defaults. Works without a kernel and offline.</div>
<script type="application/json" class="ae-data">{data}</script>
<script>
(function () {{
  var root = document.getElementById("{uid}");
  var data = JSON.parse(root.querySelector(".ae-data").textContent);
  var svgNS = "http://www.w3.org/2000/svg";
  var X0 = 50, X1 = 620, Y0 = 260, Y1 = 10;
  var n = data.x[2], xs = [];
  for (var i = 0; i < n; i++) xs.push(data.x[0] + (data.x[1] - data.x[0]) * i / (n - 1));
  function px(x) {{ return X0 + (x - data.x[0]) / (data.x[1] - data.x[0]) * (X1 - X0); }}
  function py(y) {{ return Y0 - (y - data.y[0]) / (data.y[1] - data.y[0]) * (Y0 - Y1); }}
  function decode(b64) {{
    var bin = atob(b64), out = new Float64Array(bin.length / 2);
    for (var i = 0; i < out.length; i++) {{
      var v = bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8);
      if (v >= 32768) v -= 65536;
      out[i] = v === data.gap ? NaN : v / data.scale;
    }}
    return out;
  }}
  function path(values, offset) {{
    var d = "", pen = false;
    for (var i = 0; i < n; i++) {{
      var v = values[offset + i];
      if (isNaN(v)) {{ pen = false; continue; }}
      d += (pen ? "L" : "M") + px(xs[i]).toFixed(2) + " " + py(v).toFixed(2);
      pen = true;
    }}
    return d;
  }}
  var grid = root.querySelector(".ae-grid"), labels = root.querySelector(".ae-labels");
  function line(x1, y1, x2, y2, colour) {{
    var l = document.createElementNS(svgNS, "line");
    l.setAttribute("x1", x1); l.setAttribute("y1", y1); l.setAttribute("x2", x2); l.setAttribute("y2", y2);
    if (colour) l.setAttribute("stroke", colour);
    grid.appendChild(l);
  }}
  function label(x, y, text, anchor) {{
    var t = document.createElementNS(svgNS, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("text-anchor", anchor); t.textContent = text;
    labels.appendChild(t);
  }}
  for (var gx = Math.ceil(data.x[0]); gx <= data.x[1]; gx++) {{
    line(px(gx), Y0, px(gx), Y1, gx === 0 ? "#999" : null);
    label(px(gx), Y0 + 16, String(gx), "middle");
  }}
  for (var gy = Math.ceil(data.y[0]); gy <= data.y[1]; gy++) {{
    line(X0, py(gy), X1, py(gy), gy === 0 ? "#999" : null);
    label(X0 - 6, py(gy) + 4, String(gy), "end");
  }}
  var select = root.querySelector(".ae-activation"), sliders = root.querySelector(".ae-sliders");
  var fPath = root.querySelector(".ae-f"), dfPath = root.querySelector(".ae-df");
  data.acts.forEach(function (act, i) {{
    var o = document.createElement("option"); o.value = i; o.textContent = act.label; select.appendChild(o);
    act.decoded = decode(act.curves);
    act.params.forEach(function (p) {{ p.decoded = decode(p.curves); }});
  }});
  function draw(values, offset) {{
    fPath.setAttribute("d", path(values, offset));
    dfPath.setAttribute("d", path(values, offset + n));
  }}
  function format(v) {{ return Number(v.toPrecision(3)).toString(); }}
  function build() {{
    var act = data.acts[select.value], controls = [];
    sliders.innerHTML = "";
    act.params.forEach(function (p) {{
      var row = document.createElement("div");
      var name = document.createElement("label");
      name.textContent = p.name + " ";
      var input = document.createElement("input");
      input.type = "range"; input.min = 0; input.max = p.values.length - 1; input.step = 1; input.value = p.default;
      input.className = "ae-slider";
      var shown = document.createElement("span");
      shown.className = "ae-value"; shown.textContent = " " + format(p.values[p.default]);
      var control = {{param: p, input: input, shown: shown}};
      controls.push(control);
      input.addEventListener("input", function () {{
        controls.forEach(function (other) {{
          if (other !== control) {{
            other.input.value = other.param.default;
            other.shown.textContent = " " + format(other.param.values[other.param.default]);
          }}
        }});
        shown.textContent = " " + format(p.values[input.value]);
        draw(p.decoded, 2 * n * Number(input.value));
      }});
      name.appendChild(input); row.appendChild(name); row.appendChild(shown); sliders.appendChild(row);
    }});
    if (!act.params.length) sliders.textContent = "no numeric parameter";
    draw(act.decoded, 0);
  }}
  select.addEventListener("change", build);
  select.value = String({first});
  build();
}})();
</script>
</div>"""


def static_explorer(names: Sequence[str], first: str = "snake", points: int = 161, steps: int = 17):
    """The explorer's twin for a page without a kernel: a self-contained HTML/JS widget (no CDN, works offline) that
    draws precomputed curves (`explorer_data`) as the reader picks an activation and moves a slider."""
    import hashlib
    import json

    from IPython.display import HTML

    names = list(names)
    data = json.dumps(explorer_data(names, points=points, steps=steps), separators=(",", ":"))
    uid = "activation-explorer-" + hashlib.sha256(data.encode()).hexdigest()[:10]
    start = names.index(first) if first in names else 0
    return HTML(_EXPLORER_HTML.format(uid=uid, data=data, first=start))
