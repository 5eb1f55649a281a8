"""The original swarm package's way of training a bee, kept as a reference for the tests (and the
benchmark's baseline): one network at a time, torch.optim.SGD, the prediction, the loss and the first
layer's kinks recorded *before* each update."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from lib import swarm
from lib.seeding import torch_threads


def one_bee_of(regime: swarm.DefaultTrain = swarm.default_train) -> Callable[..., Iterator[tuple[Tensor, ...]]]:
    """A bee generator for `swarm.hive_trainer`: train one network of `regime`, yield
    (ypred (N,), loss (), kinks (width,)) per epoch; a non-finite loss ends the run, as the original raised."""

    def one_bee(**params) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        p = regime.resolve(params)
        net = regime.make_net(p)
        opt = torch.optim.SGD(net.parameters(), lr=p["lr"], momentum=p["momentum"])
        x, y = p["x"], p["y"]
        with torch_threads(regime.threads):
            for _ in range(int(p["num_epochs"])):
                opt.zero_grad()
                ypred = net(x)
                loss = nn.functional.mse_loss(ypred, y)
                first = net.hidden_layers[0]
                yield ypred.detach()[:, 0], loss.detach(), swarm.kink_positions(first.weight[:, 0], first.bias).detach()
                if not torch.isfinite(loss):
                    return
                loss.backward()
                opt.step()

    return one_bee
