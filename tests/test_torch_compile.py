"""symce.torch's losses as torch custom operators: ``torch.library.opcheck`` on every operator, and
``torch.compile(fullgraph=True)`` of a model with symce's loss training to eager's losses on the
eager, aot_eager and inductor backends.

The reference for the compiled runs is the same model run eagerly (itself checked against
torch.nn.functional in test_torch_adapter.py), and for the operators torch's own opcheck.
"""
from __future__ import annotations

import pytest
import torch
from torch.library import opcheck

import symce.torch as S

REDUCTIONS = ("none", "mean", "sum")


def tensors(*shape, seed=0, grad=True):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x.requires_grad_(grad)


def labels(classes, *shape, seed=1):
    return torch.randint(0, classes, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_opcheck_cross_entropy(reduction):
    target = labels(4, 6)
    target[2] = -100
    weight = torch.rand(4, dtype=torch.float64) + 0.5
    opcheck(torch.ops.symce.cross_entropy_value_and_grad.default, (tensors(6, 4), target, weight, -100, reduction, 0.1))
    opcheck(torch.ops.symce.cross_entropy_value_and_grad.default,
            (tensors(3, 4, 2), torch.softmax(tensors(3, 4, 2, seed=5, grad=False), 1), None, -100, reduction, 0.0))
    opcheck(torch.ops.symce.cross_entropy.default, (tensors(6, 4, grad=False), target, None, -100, reduction, 0.0))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_opcheck_binary_cross_entropy_with_logits(reduction):
    target = torch.rand(5, 3, dtype=torch.float64)
    pos_weight = torch.rand(3, dtype=torch.float64) + 0.5
    opcheck(torch.ops.symce.binary_cross_entropy_with_logits_value_and_grad.default,
            (tensors(5, 3), target, None, reduction, pos_weight))
    opcheck(torch.ops.symce.binary_cross_entropy_with_logits.default,
            (tensors(5, 3, grad=False), target, torch.rand(5, 3, dtype=torch.float64), reduction, None))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_opcheck_linear_cross_entropy(reduction):
    hidden, weight, bias = tensors(6, 3), tensors(5, 3, seed=2), tensors(5, seed=3)
    options = (labels(5, 6), None, reduction, None, 0.1, 4)
    opcheck(torch.ops.symce.linear_cross_entropy.default, (hidden, weight, bias, *options))
    if reduction != "none":
        opcheck(torch.ops.symce.linear_cross_entropy_value_and_grad.default, (hidden, weight, None, *options, None))


class Classifier(torch.nn.Module):
    """A two-layer classifier whose loss heads are all three of symce.torch's losses."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.hidden = torch.nn.Linear(8, 6)
        self.out = torch.nn.Linear(6, 5)

    def forward(self, x, target, flags):
        h = torch.tanh(self.hidden(x))
        logits = self.out(h)
        return (S.cross_entropy(logits, target, label_smoothing=0.1)
                + S.binary_cross_entropy_with_logits(logits, flags, reduction="sum") / 10
                + S.linear_cross_entropy(h, self.out.weight, target, linear_bias=self.out.bias, reduction="mean"))


def train(model, step, batches):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for x, target, flags in batches:
        optimizer.zero_grad()
        loss = step(x, target, flags)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"])
def test_a_compiled_model_trains_to_the_eager_losses(backend):
    generator = torch.Generator().manual_seed(7)
    batch = (torch.randn(16, 8, generator=generator), torch.randint(0, 5, (16,), generator=generator),
             torch.rand(16, 5, generator=generator))
    batches = [batch] * 5  # one batch, so that training must lower its loss
    eager = Classifier()
    expected = train(eager, eager, batches)
    compiled = Classifier()
    losses = train(compiled, torch.compile(compiled, backend=backend, fullgraph=True), batches)
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(expected), rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(compiled.parameters(), eager.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]


def test_compiled_per_sample_losses_and_their_gradient():
    """reduction='none' under compile: the backward of the 'none' operators with a per-sample grad_output."""
    x, target, scale = tensors(7, 4), labels(4, 7), torch.rand(7, dtype=torch.float64)

    def weighted(x):
        return (S.cross_entropy(x, target, reduction="none") * scale).sum()

    (expected,) = torch.autograd.grad(weighted(x), x)
    (got,) = torch.autograd.grad(torch.compile(weighted, backend="aot_eager", fullgraph=True)(x), x)
    torch.testing.assert_close(got, expected)
