"""Plotting helpers shared by the chapters: one style, offline animations."""
from __future__ import annotations

import math
import re

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import animation

# Figures carry their data; an animation of 50 frames at 100 dpi is ~10-40 MB of PNGs
# in the HTML. matplotlib's default limit (20 MB) silently drops frames.
EMBED_LIMIT_MB = 200

# matplotlib's player draws its buttons with Font Awesome 4 from a CDN: offline the
# buttons are blank. Plain Unicode symbols work everywhere.
_BUTTON_SYMBOLS = {
    "fa fa-minus": "\u2212", "fa fa-fast-backward": "\u21e4", "fa fa-step-backward": "\u25c2\u2759",
    "fa fa-play fa-flip-horizontal": "\u25c0", "fa fa-pause": "\u2759\u2759", "fa fa-play": "\u25b6",
    "fa fa-step-forward": "\u2759\u25b8", "fa fa-fast-forward": "\u21e5", "fa fa-plus": "+",
}
_CDN_STYLESHEET = re.compile(r"<link[^>]*font-awesome[^>]*>\s*", re.S)


def offline_player(html: str) -> str:
    """`to_jshtml` output with no external stylesheet: icons become Unicode symbols."""
    html = _CDN_STYLESHEET.sub("", html)
    for css_class, symbol in _BUTTON_SYMBOLS.items():
        html = html.replace(f'<i class="{css_class}"></i>', symbol)
    return html


def animation_html(anim: animation.Animation, fps: int = 10):
    """The animation as self-contained HTML (`to_jshtml`, playable offline, no CDN).

    Closes the animation's figure so the notebook shows no static duplicate.
    """
    from IPython.display import HTML

    matplotlib.rcParams["animation.embed_limit"] = EMBED_LIMIT_MB
    try:
        html = anim.to_jshtml(fps=fps, default_mode="once")
    finally:
        plt.close(anim._fig)
    return HTML(offline_player(html))


def grid(n: int, ncols: int, panel: tuple[float, float] = (2.6, 2.0), **kwargs):
    """A figure of `n` small multiples in `ncols` columns; unused axes are hidden."""
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows),
                             squeeze=False, **kwargs)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]
