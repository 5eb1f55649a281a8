"""Code of the chapter "Swarms: width and activation" (book/swarm_width.ipynb; Morrison, 2020).

A sine on x = linspace(-5, 5, 61), one hidden layer, full-batch SGD with momentum
(`lib.swarm.default_train`), every swarm seeded alike.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lib import swarm
from lib.data.signals import sine_data
from lib.parameters import Float, Int, ListOf, Parameters
from lib.report import markdown_table
from lib.swarm import final_loss, find, fraction

PARAMETERS = Parameters(
    "swarm_width",
    num_bees=Int(minimum=1), num_epochs=Int(minimum=2), seed=Int(0, 2**32 - 1),
    widths=ListOf(Int(minimum=1), distinct=True), many_bees=Int(minimum=1), frames=Int(minimum=2),
    threshold=Float(minimum=0.0, exclusive_minimum=True),
)


def width_activation_hive(widths: Sequence[int], activations: Sequence[Any], num_bees: int, num_epochs: int,
                          seed: int = 10, lr: float = 0.01, momentum: float = 0.9,
                          fields: str = "ypred,loss") -> list[dict[str, Any]]:
    """The first post's hive: widths x activations, hidden 1 (width varies slowest, as in the post)."""
    x, y = sine_data()
    static = {"x": x, "y": y, "hidden": 1, "momentum": momentum, "lr": lr, "num_epochs": num_epochs}
    params = swarm.make_combo_paramsets(static, width=list(widths), activation=list(activations))
    return swarm.hive_trainer(swarm.default_train, params, num_bees=num_bees, seed=seed, fields=fields)


def region_loss(r: Mapping[str, Any], epoch: int, inner: bool, edge: float = np.pi / 2) -> np.ndarray:
    """Each bee's MSE at `epoch` on the central slope |x| <= edge (inner) or outside it (the arches)."""
    x = np.asarray(r["x"]).ravel()
    mask = np.abs(x) <= edge if inner else np.abs(x) > edge
    err = (np.asarray(r["ypred"])[:, epoch, :] - np.asarray(r["y"]).ravel()) ** 2
    return err[:, mask].mean(axis=1)


def verdict(holds: bool) -> str:
    return "confirmed" if holds else "not confirmed"


def post_observations(hive: Sequence[Mapping[str, Any]], widths: Sequence[int], activations: Sequence[str],
                      early: int) -> tuple[str, dict[str, Any]]:
    """The first post's two readings, measured: median (over bees) error on the central slope at
    epoch `early`, and off it (the arches) at the end, per width and activation.

    Returns a markdown table and the values to glue: which widths above one have Tanh first on
    the central slope, and Tanhshrink against Tanh on the arches at the largest width.
    """
    central = {(w, a): float(np.nanmedian(region_loss(find(hive, width=w, activation=a), early, inner=True)))
               for w in widths for a in activations}
    arches = {(w, a): float(np.nanmedian(region_loss(find(hive, width=w, activation=a), -1, inner=False)))
              for w in widths for a in activations}
    label = swarm.value_label
    table = markdown_table(["width", *[f"{label(a)}: centre at {early}" for a in activations],
                       *[f"{label(a)}: arches at end" for a in activations]],
                      [[str(w), *[f"{central[w, a]:.3g}" for a in activations],
                        *[f"{arches[w, a]:.3g}" for a in activations]] for w in widths])
    wide = [w for w in widths if w > 1] or list(widths)
    tanh_first = [w for w in wide if min(activations, key=lambda a: central[w, a]) == "tanh"]
    wmax = max(widths)
    values = {
        "early_epoch": early, "n_wide": len(wide), "n_tanh_first": len(tanh_first),
        "tanh_first_widths": ", ".join(map(str, tanh_first)) or "none",
        "verdict_tanh_centre": verdict(len(tanh_first) == len(wide)),
        "wmax": wmax, "arch_tanhshrink": arches[wmax, "tanhshrink"], "arch_tanh": arches[wmax, "tanh"],
        "verdict_arches": verdict(arches[wmax, "tanhshrink"] < arches[wmax, "tanh"]),
    }
    return table, values


def final_loss_summary(big: Sequence[Mapping[str, Any]], widths: Sequence[int], post: Sequence[str],
                       more: Sequence[str], threshold: float) -> tuple[str, dict[str, Any]]:
    """Share of bees at or below `threshold` per swarm, and the median final loss at the largest width."""
    acts = [*post, *more]
    share = {(w, a): fraction(final_loss(find(big, width=w, activation=a)) <= threshold) for w in widths for a in acts}
    median = {(w, a): float(np.nanmedian(final_loss(find(big, width=w, activation=a)))) for w in widths for a in acts}
    wmax = max(widths)
    label = swarm.value_label
    table = markdown_table(["activation", *[f"width {w}: share ≤ threshold" for w in widths],
                       f"median final loss at width {wmax}"],
                      [[label(a), *[f"{share[w, a]:.0%}" for w in widths], f"{median[wmax, a]:.3g}"] for a in acts])
    best = min(acts, key=lambda a: median[wmax, a])
    post_share = float(np.mean([share[wmax, a] for a in post]))
    beats = all(median[wmax, m] < min(median[wmax, a] for a in post) for m in more)
    grows = all(share[widths[i], a] <= share[widths[i + 1], a] for a in acts for i in range(len(widths) - 1))
    values = {
        "best_wide": label(best), "best_wide_median": median[wmax, best], "best_wide_share": 100 * share[wmax, best],
        "post_wide_share": 100 * post_share,
        "verdict_periodic": ("lower than every activation of the post" if beats
                             else "not lower than every activation of the post"),
        "verdict_width": "for every activation" if grows else "not for every activation",
        "verdict_almost_all": verdict(post_share >= 0.9),
    }
    return table, values
