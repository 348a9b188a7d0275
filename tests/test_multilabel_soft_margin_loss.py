"""multilabel_soft_margin_loss (spec ``multilabel_soft_margin_loss``, generated/multilabel.py): symce.functional
and symce.torch against torch.nn.functional.multilabel_soft_margin_loss, and the spec in mpmath.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import symce.functional as sf
import symce.torch as symce_torch
from symce.bench.accuracy import digits
from symce.spec import get
from torch_operators import (
    assert_fullgraph_matches_eager, assert_gradcheck_and_reference, assert_operators_pass_opcheck,
)

REDUCTIONS = ("none", "mean", "sum")


def _torch(inputs, targets, reduction, weight=None):
    """torch's (value, d Σ value / d inputs), by its autograd."""
    x = torch.tensor(inputs, requires_grad=True)
    weight = None if weight is None else torch.tensor(weight)
    value = F.multilabel_soft_margin_loss(x, torch.tensor(targets), weight=weight, reduction=reduction)
    value.sum().backward()
    return value.detach().numpy(), x.grad.numpy()


def _spec(logits, targets):
    """The spec in mpmath: (value, gradient) of one row."""
    spec = get("multilabel_soft_margin_loss")
    values, dps = {"logits": list(logits), "labels": list(targets)}, digits(logits)
    grad = [float(g) for g in spec.evaluate(values, dps=dps, expr=spec.gradient())]
    return float(spec.evaluate(values, dps=dps)[0]), grad


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(32)
    inputs = rng.normal(size=(6, 5)) * 4
    hard = (rng.uniform(size=(6, 5)) < 0.4).astype(np.float64)
    return inputs, hard, rng.uniform(size=(6, 5)), rng.uniform(0.5, 2.0, size=5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_and_gradients_match_torch(batch, reduction, dtype):
    """0/1 and soft targets, with and without class weights; shapes (6, 5), (5,) and (2, 3, 5) (classes last)."""
    inputs, hard, soft, weight = batch
    tolerance = {np.float64: 1e-13, np.float32: 2e-6}[dtype]
    cases = ((inputs, hard, None), (inputs, soft, weight), (inputs[0], hard[0], weight),
             (inputs.reshape(2, 3, 5), soft.reshape(2, 3, 5), None))
    for x, y, w in cases:
        x, y, w = np.asarray(x, dtype), np.asarray(y, dtype), None if w is None else np.asarray(w, dtype)
        value, grad = sf.multilabel_soft_margin_loss_value_and_grad(x, y, w, reduction)
        expected_value, expected_grad = _torch(x, y, reduction, w)
        assert np.asarray(value).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
        assert np.shape(value) == np.shape(expected_value)
        np.testing.assert_allclose(value, expected_value, rtol=tolerance, atol=tolerance * 1e-3)
        np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=tolerance * 1e-3)
        np.testing.assert_allclose(sf.multilabel_soft_margin_loss(x, y, w, reduction), value,
                                   rtol=8 * np.finfo(dtype).eps)


def test_one_class_is_binary_cross_entropy_with_logits(batch):
    """The identity multilabel_soft_margin_of_one_class, numerically: C = 1 against symce's BCE-with-logits."""
    inputs, hard, _, weight = batch
    x, y, w = inputs[:, :1], hard[:, :1], weight[:1]
    value, grad = sf.multilabel_soft_margin_loss_value_and_grad(x, y, w, "none")
    bce, bce_grad = sf.binary_cross_entropy_with_logits_value_and_grad(x, y, w, reduction="none")
    np.testing.assert_allclose(value, bce[:, 0], rtol=1e-15)
    np.testing.assert_allclose(grad, bce_grad, rtol=1e-13)  # σ(h) − y expanded as σ(h) − yσ(h) − yσ(−h)


@settings(max_examples=25, deadline=None)
@given(logits=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=6), data=st.data())
def test_random_rows_against_mpmath(logits, data):
    """Logits up to ±1e3 (σ saturated far past float64's range) and 0/1 targets."""
    targets = data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=len(logits), max_size=len(logits)))
    value, grad = sf.multilabel_soft_margin_loss_value_and_grad(np.array([logits]), np.array([targets]),
                                                                reduction="none")
    expected_value, expected_grad = _spec(logits, targets)
    assert value[0] == pytest.approx(expected_value, rel=1e-13, abs=1e-300)
    np.testing.assert_allclose(grad[0], expected_grad, rtol=1e-13, atol=1e-300)


def test_bad_inputs_are_named():
    for call, error, message in [
            (lambda: sf.multilabel_soft_margin_loss(np.zeros((2, 3)), np.ones((2, 4))), ValueError,
             "must be the same as input size"),
            (lambda: sf.multilabel_soft_margin_loss(np.zeros((2, 3)), np.ones((2, 3)), np.ones(4)), ValueError,
             r"weight must have shape \(3,\)"),
            (lambda: sf.multilabel_soft_margin_loss(np.zeros(()), np.ones(())), ValueError, "0-dimensional"),
            (lambda: sf.multilabel_soft_margin_loss(np.zeros(3), np.ones(3), reduction="average"), ValueError,
             "reduction"),
            (lambda: sf.multilabel_soft_margin_loss(np.zeros(3, np.int64), np.ones(3)), TypeError, "input"),
            (lambda: symce_torch.multilabel_soft_margin_loss(torch.zeros(3), torch.ones(3), reduce=True), TypeError,
             "reduce")]:
        with pytest.raises(error, match=message):
            call()


class TestTorch:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_gradcheck_opcheck_and_torch(self, batch, reduction):
        inputs, _, soft, weight = batch
        targets, weights = torch.tensor(soft), torch.tensor(weight)
        x = assert_gradcheck_and_reference(
            lambda z: symce_torch.multilabel_soft_margin_loss(z, targets, weights, reduction=reduction),
            inputs, _torch(inputs, soft, reduction, weight))
        assert_operators_pass_opcheck("multilabel_soft_margin_loss", x, (targets, weights, reduction))

    def test_torch_compile_fullgraph_matches_eager(self, batch):
        inputs, hard, _, _ = batch
        targets = torch.tensor(hard)
        assert_fullgraph_matches_eager(lambda z: symce_torch.multilabel_soft_margin_loss(z, targets), inputs)
