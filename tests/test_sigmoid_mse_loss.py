"""sigmoid_mse_loss (spec ``squared_error_sigmoid``, the binary family of generated/): symce.functional and
symce.torch against torch.nn.functional.mse_loss(torch.sigmoid(x), y), and the spec in mpmath at the
confident predictions where torch's σ(x) − y rounds to 0.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import symce.functional as sf
import symce.torch as symce_torch
from symce.bench.accuracy import digits, torch_sigmoid_mse_loss
from symce.spec import get
from torch_operators import (
    assert_fullgraph_matches_eager, assert_gradcheck_and_reference, assert_operators_pass_opcheck,
)

REDUCTIONS = ("none", "mean", "sum")


def _torch(inputs, targets, reduction):
    """torch's (value, d value / d inputs), by its autograd."""
    x = torch.tensor(inputs, requires_grad=True)
    value = torch_sigmoid_mse_loss(x, torch.tensor(targets), reduction=reduction)
    value.sum().backward()
    return value.detach().numpy(), x.grad.numpy()


def _spec(logit, target):
    """The spec in mpmath: (value, d value / d logit) of one element."""
    spec = get("squared_error_sigmoid")
    values, dps = {"logits": logit, "labels": target}, digits(logit)
    return (float(spec.evaluate(values, dps=dps)[0]),
            float(spec.evaluate(values, dps=dps, expr=spec.gradient())[0]))


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(31)
    inputs = rng.normal(size=(6, 5)) * 4
    return inputs, (rng.uniform(size=(6, 5)) < 0.5).astype(np.float64), rng.uniform(size=(6, 5))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_and_gradients_match_torch(batch, reduction, dtype):
    """0/1 and soft targets, shapes (6, 5), (5,) and (); torch in float64 at the same inputs (in float32 its
    σ(x) − y cancels near σ(x) = y: 4e-6 off at these inputs)."""
    inputs, hard, soft = batch
    tolerance = {np.float64: 1e-13, np.float32: 1e-6}[dtype]
    for x, y in ((inputs, hard), (inputs, soft), (inputs[0], hard[0]), (inputs[2, 3], soft[2, 3])):
        x, y = np.asarray(x, dtype), np.asarray(y, dtype)
        value, grad = sf.sigmoid_mse_loss_value_and_grad(x, y, reduction)
        expected_value, expected_grad = _torch(x.astype(np.float64), y.astype(np.float64), reduction)
        assert np.asarray(value).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
        np.testing.assert_allclose(value, expected_value, rtol=tolerance, atol=tolerance * 1e-3)
        np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=tolerance * 1e-3)
        np.testing.assert_allclose(sf.sigmoid_mse_loss(x, y, reduction), value, rtol=8 * np.finfo(dtype).eps)


def test_a_confident_right_prediction_keeps_its_digits():
    """At x = 40, y = 1 the loss is σ(−40)² and the gradient −2σ(−40)²σ(40): torch's σ(40) − 1 is 0 there.
    Its mirror x = −40, y = 0 is σ(−40) − 0, accurate in both."""
    x, y = np.array([40.0, -40.0]), np.array([1.0, 0.0])
    value, grad = sf.sigmoid_mse_loss_value_and_grad(x, y, "none")
    theirs, their_grad = _torch(x, y, "none")
    assert theirs[0] == 0.0 and their_grad[0] == 0.0
    assert theirs[1] == pytest.approx(value[1], rel=1e-14)
    for i in range(2):
        expected_value, expected_grad = _spec(x[i], y[i])
        assert value[i] == pytest.approx(expected_value, rel=1e-14) and value[i] > 0
        assert grad[i] == pytest.approx(expected_grad, rel=1e-14) and grad[i] != 0


@settings(max_examples=30, deadline=None)
@given(logit=st.floats(-800, 800), target=st.sampled_from([0.0, 1.0]))
def test_random_elements_against_mpmath(logit, target):
    """0/1 targets, where (1 − y)σ(x) − yσ(−x) has no cancellation; a soft target's σ(x) − y cancels near
    σ(x) = y in every formula."""
    value, grad = sf.sigmoid_mse_loss_value_and_grad(np.array([logit]), np.array([target]), "none")
    expected_value, expected_grad = _spec(logit, target)
    assert value[0] == pytest.approx(expected_value, rel=1e-13, abs=1e-300)
    assert grad[0] == pytest.approx(expected_grad, rel=1e-13, abs=1e-300)


def test_the_gradient_vanishes_where_the_sigmoid_saturates():
    """The notebook's point, on the kernels: at a confidently wrong x = −20, y = 1, cross-entropy's gradient
    is ≈ −1 and the squared error's ≈ −2e^−20 (the identity squared_error_sigmoid_gradient)."""
    x, y = np.array([-20.0]), np.array([1.0])
    _, squared = sf.sigmoid_mse_loss_value_and_grad(x, y, "sum")
    _, cross_entropy = sf.binary_cross_entropy_with_logits_value_and_grad(x, y, reduction="sum")
    sigma = 1 / (1 + np.exp(20.0))
    assert squared[0] == pytest.approx(2 * (sigma - 1) * sigma * (1 - sigma), rel=1e-14)
    assert cross_entropy[0] == pytest.approx(sigma - 1, rel=1e-14)


def test_bad_inputs_are_named():
    for call, error, message in [
            (lambda: sf.sigmoid_mse_loss(np.zeros(3), np.ones(4)), ValueError, "must be the same as input size"),
            (lambda: sf.sigmoid_mse_loss(np.zeros(3), np.ones(3), reduction="average"), ValueError, "reduction"),
            (lambda: sf.sigmoid_mse_loss(np.zeros(3, np.int64), np.ones(3)), TypeError, "input"),
            (lambda: symce_torch.sigmoid_mse_loss(torch.zeros(3), torch.ones(3, requires_grad=True)), ValueError,
             "target")]:
        with pytest.raises(error, match=message):
            call()


class TestTorch:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_gradcheck_opcheck_and_torch(self, batch, reduction):
        inputs, _, soft = batch
        targets = torch.tensor(soft)
        x = assert_gradcheck_and_reference(lambda z: symce_torch.sigmoid_mse_loss(z, targets, reduction=reduction),
                                           inputs, _torch(inputs, soft, reduction))
        assert_operators_pass_opcheck("sigmoid_mse_loss", x, (targets, reduction))

    def test_torch_compile_fullgraph_matches_eager(self, batch):
        inputs, hard, _ = batch
        targets = torch.tensor(hard)
        assert_fullgraph_matches_eager(lambda z: symce_torch.sigmoid_mse_loss(z, targets), inputs)
