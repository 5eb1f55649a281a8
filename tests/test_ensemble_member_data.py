"""lib.ensemble.MemberData: each member trains on its own data, exactly as it would alone (both backends)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.ensemble import BatchedMLP, Ensemble, MemberData, evaluate_ensemble, train_ensemble
from lib.models.mlp import MLP
from lib.seeding import seed_everything, torch_threads


def member_data(n: int, points: int = 20) -> MemberData:
    generator = torch.Generator().manual_seed(7)
    x = torch.rand(n, points, 1, generator=generator) * 4 - 2
    return MemberData(x, torch.sin(3 * x) + 0.1 * torch.arange(n).reshape(n, 1, 1))


def make(activation: str = "tanh"):
    return lambda: MLP(1, [6, 5], 1, activation=activation)


@pytest.mark.parametrize("backend", ["vmap", "batched"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_member_data_training_equals_separate_runs(backend, optimizer):
    torch.set_default_dtype(torch.float64)
    try:
        with torch_threads(1):
            seeds, data = [0, 1, 2], member_data(3)
            members = Ensemble.from_seeds(make(), seeds)
            members = BatchedMLP(members) if backend == "batched" else members
            test = MemberData(data.x.flip(1), data.y.flip(1))
            history = train_ensemble(members, data, epochs=25, optimizer=optimizer, lr=1e-2, momentum=0.9,
                                     eval_data={"test": test, "shared": (data.x[0], data.y[0])}, progress=False)
            for i, seed in enumerate(seeds):
                seed_everything(seed)
                alone = Ensemble([make()()])
                solo = train_ensemble(alone, (data.x[i], data.y[i]), epochs=25, optimizer=optimizer, lr=1e-2,
                                      momentum=0.9, eval_data={"test": (test.x[i], test.y[i]),
                                                               "shared": (data.x[0], data.y[0])}, progress=False)
                np.testing.assert_allclose(history["train_loss"][i], solo["train_loss"][0], rtol=1e-10)
                np.testing.assert_allclose(history["test_loss"][i], solo["test_loss"][0], rtol=1e-10)
                np.testing.assert_allclose(history["shared_loss"][i], solo["shared_loss"][0], rtol=1e-10)
                with torch.no_grad():
                    mine = members(data.x, per_member=True)[i]
                    torch.testing.assert_close(mine, alone(data.x[i])[0], rtol=1e-10, atol=1e-12)
            scores = evaluate_ensemble(members, test.x, test.y, per_member=True)["loss"]
            np.testing.assert_allclose(scores, history["test_loss"][:, -1], rtol=1e-10)
    finally:
        torch.set_default_dtype(torch.float32)


def test_member_data_needs_one_block_per_member():
    members = Ensemble.from_seeds(make(), [0, 1])
    x = torch.zeros(3, 4, 1)
    with pytest.raises(ValueError, match="members=2"):
        train_ensemble(members, MemberData(x, x), epochs=1, progress=False)
    with pytest.raises(ValueError, match="eval_data\\['test'\\]"):
        train_ensemble(members, MemberData(x[:2], x[:2]), epochs=1, eval_data={"test": MemberData(x, x)},
                       progress=False)
