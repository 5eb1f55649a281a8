"""One training run of an image classifier from a JSON configuration: the sweep function of the SQRT-family
chapter (book/sqrt_family.ipynb), kept apart from the chapter's analysis so that editing a figure or a verdict
does not invalidate the stored runs (`lib.sweep` keys runs on the sources their function's module imports).

A configuration (every key is checked by `check_config` before any run starts)::

    {"model": "cnn" | "linear" | "mlp", "dataset": "fashion_mnist", "train_limit": 10000, "test_limit": 5000,
     "data_seed": 0, "epochs": 10, "batch_size": 128, "schedule": "cosine" | "constant", "lr": 1e-3, "seed": 0,
     # "cnn" (the report's network, lib.models.sqrt_cnn):
     "activation": "tsqrt", "learnable": True, "batch_norm": False, "bn_affine": True,
     "activation_lr": None | 1e-5,      # None: one rate for everything; else the activations' own rate
     "channels": 16, "hidden": 256, "kernel_size": 3, "dropout": 0.0, "granularity": "element",
     "slices": None | {"examples": 500, "points_1d": 25, "points_2d": 9, "span": 1.0},
     # "mlp": "hidden" is the width of its two ReLU layers; "linear" is softmax regression on the pixels
    }

Other keys (labels such as the chapter's "strategy") are carried along and ignored. The data are loaded once per
process (`functools.lru_cache`): a sweep worker reads them for its first run only.
"""
from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from lib import activations
from lib.activations.sqrt_family import TrainableActivation
from lib.data.images import DATASETS, ImageData, load_images
from lib.models.mlp import MLP
from lib.models.sqrt_cnn import SqrtCNN, parameter_counts
from lib.run_config import check_keys
from lib.seeding import seed_everything
from lib.train import evaluate, make_optimizer, train

IMAGE_SIZE = 16                 # the SQRT report's 16x16 inputs
TRAIN_EVAL = 2000               # training images scored after every epoch (train accuracy)
EVAL_BATCH = 1024               # forward batch of the evaluations (faster on a CPU than one huge batch)
SCHEDULES = ("cosine", "constant")
MODELS = ("cnn", "linear", "mlp")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)   # of a parameter over units, recorded every epoch
COMMON_KEYS = ("model", "dataset", "train_limit", "test_limit", "data_seed", "epochs", "batch_size", "schedule",
               "lr", "seed")
CNN_KEYS = ("activation", "learnable", "batch_norm", "bn_affine", "activation_lr", "channels", "hidden",
            "kernel_size", "dropout", "granularity", "slices")


def _positive_int(config: Mapping, key: str, minimum: int = 1) -> None:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an int >= {minimum}, got {value!r}")


def check_config(config: Mapping) -> None:
    """Impossible configurations fail here, before any run starts."""
    check_keys(config, (*COMMON_KEYS, *(CNN_KEYS if config.get("model") == "cnn" else ("hidden",))), "image run")
    if config["model"] not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {config['model']!r}")
    if config["dataset"] not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {config['dataset']!r}")
    if config["schedule"] not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {config['schedule']!r}")
    for key in ("epochs", "batch_size", "hidden"):
        _positive_int(config, key)
    for key in ("train_limit", "test_limit", "data_seed", "seed"):
        _positive_int(config, key, minimum=0)
    if not config["lr"] > 0:
        raise ValueError(f"lr must be positive, got {config['lr']!r}")
    if config["model"] != "cnn":
        return
    _positive_int(config, "channels")
    if not isinstance(config["kernel_size"], int) or config["kernel_size"] < 1 or config["kernel_size"] % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int, got {config['kernel_size']!r}")
    if not 0.0 <= config["dropout"] < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config['dropout']!r}")
    if config["activation_lr"] is not None and not config["activation_lr"] > 0:
        raise ValueError(f"activation_lr must be None or positive, got {config['activation_lr']!r}")
    if not config["bn_affine"] and not config["batch_norm"]:
        raise ValueError("bn_affine=False (BatchNorm's scale and shift frozen) needs batch_norm=True")
    activations.factory(config["activation"], granularity=config["granularity"], learnable=config["learnable"])
    slices = config["slices"]
    if slices is not None:
        if not isinstance(slices, Mapping) or set(slices) != {"examples", "points_1d", "points_2d", "span"}:
            raise ValueError(f"slices must give examples, points_1d, points_2d and span, got {slices!r}")
        if slices["examples"] < 1 or not slices["span"] > 0 or \
                any(slices[k] < 3 or slices[k] % 2 == 0 for k in ("points_1d", "points_2d")):
            raise ValueError(f"slices need examples >= 1, span > 0 and odd point counts >= 3, got {slices!r}")


def load_data(dataset: str = "fashion_mnist", *, train_limit: int | None = None, test_limit: int | None = None,
              seed: int = 0) -> ImageData:
    """`IMAGE_SIZE` x `IMAGE_SIZE` images (bilinear, antialiased), standardised with the training split's statistics."""
    return load_images(dataset, size=IMAGE_SIZE, standardize=True, train_limit=train_limit, test_limit=test_limit,
                       seed=seed)


@functools.lru_cache(maxsize=2)
def cached_data(dataset: str, train_limit: int, test_limit: int, data_seed: int) -> ImageData:
    """`load_data` once per process for each (data set, limits, seed); a limit of 0 means all."""
    return load_data(dataset, train_limit=train_limit or None, test_limit=test_limit or None, seed=data_seed)


def build_model(config: Mapping, data: ImageData) -> nn.Module:
    """The network of a configuration: the report's CNN, a linear classifier or a ReLU MLP."""
    channels, size = data.shape[0], data.shape[-1]
    classes = data.num_classes
    if config["model"] == "linear":
        return nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, classes))
    if config["model"] == "mlp":
        width = config["hidden"]
        return nn.Sequential(nn.Flatten(), MLP(channels * size * size, [width, width], classes, "relu"))
    model = SqrtCNN(config["activation"], learnable=config["learnable"], granularity=config["granularity"],
                    batch_norm=config["batch_norm"], dropout=config["dropout"], in_channels=channels,
                    image_size=size, channels=config["channels"], hidden=config["hidden"],
                    kernel_size=config["kernel_size"], classes=classes)
    if not config["bn_affine"]:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.requires_grad_(False)
                module.bias.requires_grad_(False)
    return model


def parameter_snapshot(model: nn.Module) -> dict[str, dict[str, np.ndarray]]:
    """Each activation site's parameters in their own domain (flattened), e.g. {"before FC1": {"z": ...}}."""
    out = {}
    for site, act in getattr(model, "activation_sites", {}).items():
        if isinstance(act, TrainableActivation):
            out[site] = {n: v.flatten().cpu().numpy().astype(np.float32) for n, v in act.parameter_values().items()}
    return out


def summarise_parameters(snapshots: list[dict[str, dict[str, np.ndarray]]]) -> dict:
    """Per site and parameter: every unit's initial and final value, and per snapshot the mean and the
    `QUANTILES` over units (``path``, shape (snapshots, 1 + len(QUANTILES)))."""
    out = {}
    for site, params in snapshots[0].items():
        out[site] = {}
        for name in params:
            values = np.stack([snap[site][name] for snap in snapshots])
            path = np.column_stack([values.mean(axis=1), np.quantile(values, QUANTILES, axis=1).T])
            out[site][name] = {"initial": values[0], "final": values[-1], "path": path}
    return out


def train_run(config: dict) -> dict:
    """Train one configuration (deterministic given ``config["seed"]``) and return plain numbers:
    per-epoch curves (``test_acc``, ``test_loss``, ``train_eval_acc``, ``train_eval_loss``, ``train_loss``),
    ``parameters`` (`summarise_parameters`, snapshots before training and after every epoch), ``counts``
    (`lib.models.sqrt_cnn.parameter_counts`), wall and CPU seconds, and ``slices`` (`lib.landscape.loss_slices`
    around the trained weights on the first training images; `lib.slice_measures` reads them) when asked for."""
    check_config(config)
    seed_everything(config["seed"])
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    data = cached_data(config["dataset"], config["train_limit"], config["test_limit"], config["data_seed"])
    model = build_model(config, data)
    optimizer = make_optimizer(model, "adam", config["lr"], activation_lr=config.get("activation_lr"))
    steps = config["epochs"] * math.ceil(len(data.train[0]) / config["batch_size"])
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
                 if config["schedule"] == "cosine" else None)
    n_eval = min(TRAIN_EVAL, len(data.train[0]))
    train_eval = (data.train[0][:n_eval], data.train[1][:n_eval])
    eval_data = {"test": lambda m: evaluate(m, *data.test, "cross_entropy", batch_size=EVAL_BATCH),
                 "train_eval": lambda m: evaluate(m, *train_eval, "cross_entropy", batch_size=EVAL_BATCH)}
    snapshots = [parameter_snapshot(model)]
    history = train(model, data.train, epochs=config["epochs"], optimizer=optimizer, loss="cross_entropy",
                    batch_size=config["batch_size"], eval_data=eval_data, scheduler=scheduler, seed=config["seed"],
                    progress=False, callback=lambda epoch, m, h: snapshots.append(parameter_snapshot(m)))
    result = {name: history[name].astype(np.float64) for name in
              ("test_acc", "test_loss", "train_eval_acc", "train_eval_loss", "train_loss")}
    result.update(epochs=np.asarray(history.epochs), steps=len(history.step_seconds),
                  parameters=summarise_parameters(snapshots), counts=parameter_counts(model),
                  train_seconds=history.seconds)
    if config["model"] == "cnn" and config["slices"] is not None:
        from lib import landscape

        s = config["slices"]
        model.cpu()
        x, y = data.train[0][:s["examples"]], data.train[1][:s["examples"]]
        result["slices"] = landscape.loss_slices(model, x, y, span=s["span"], points_1d=s["points_1d"],
                                                 points_2d=s["points_2d"], seed=config["seed"])
    result["seconds"] = time.perf_counter() - wall_start
    result["cpu_seconds"] = time.process_time() - cpu_start
    return result
