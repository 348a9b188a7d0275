"""sigmoid_focal_loss (spec ``sigmoid_focal_loss``, the binary family of generated/): symce.functional and
symce.torch against torchvision's formula.

References are never the code under test: torchvision.ops.sigmoid_focal_loss as it computes it, written in
torch operations (``symce.bench.accuracy.torchvision_sigmoid_focal_loss``: torchvision's wheels do not load
against torch's CPU build), differentiated by torch's autograd in float64; torch's own
binary_cross_entropy_with_logits where γ = 0 and alpha < 0; and the spec in mpmath.
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
from symce.bench.accuracy import digits, torchvision_sigmoid_focal_loss
from symce.spec import get
from torch_operators import assert_fullgraph_matches_eager, assert_gradcheck_and_reference

REDUCTIONS = ("none", "mean", "sum")
#: (alpha, gamma): torchvision's defaults, weighting off (alpha < 0), the α₁ = 1 and α₀ = 1 ends, γ = 0 and γ < 1
PARAMETERS = [(0.25, 2.0), (-1.0, 2.0), (1.0, 1.5), (0.0, 3.0), (0.6, 0.0), (-1.0, 0.0), (0.25, 0.5)]


def _torchvision(inputs, targets, alpha, gamma, reduction):
    """torchvision's (value, d value / d inputs) in float64, by torch's autograd."""
    x = torch.tensor(inputs, dtype=torch.float64, requires_grad=True)
    value = torchvision_sigmoid_focal_loss(x, torch.tensor(targets, dtype=torch.float64), alpha, gamma, reduction)
    value.sum().backward()
    return value.detach().numpy(), x.grad.numpy()


def _spec(logit, target, alpha, gamma):
    """The spec in mpmath at torchvision's alpha: (value, d value / d logit) of one element."""
    spec = get("sigmoid_focal_loss")
    weights = (1.0, 1.0) if alpha < 0 else (alpha, 1.0 - alpha)
    params = {"alpha_positive": weights[0], "alpha_negative": weights[1], "gamma": gamma}
    values, dps = {"logits": logit, "labels": target}, digits(logit)  # enough for 1 − σ(x) at large x
    return (float(spec.evaluate(values, params, dps=dps)[0]),
            float(spec.evaluate(values, params, dps=dps, expr=spec.gradient())[0]))


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(27)
    inputs = rng.normal(size=(5, 4)) * 4
    soft = rng.uniform(size=(5, 4))
    return inputs, soft, np.round(soft)


@pytest.mark.parametrize("alpha, gamma", PARAMETERS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_and_gradients_match_torchvision(batch, alpha, gamma, reduction, dtype):
    """Hard and soft targets, shapes (5, 4), (4,) and (); float32 against float64's reference, to 1e-5."""
    inputs, soft, hard = batch
    tolerance = {np.float64: 1e-12, np.float32: 1e-5}[dtype]
    for x, y in ((inputs, soft), (inputs, hard), (inputs[0], hard[0]), (inputs[1, 2], soft[1, 2])):
        x, y = np.asarray(x, dtype), np.asarray(y, dtype)
        value, grad = sf.sigmoid_focal_loss_value_and_grad(x, y, alpha, gamma, reduction)
        expected_value, expected_grad = _torchvision(x, y, alpha, gamma, reduction)
        assert np.asarray(value).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
        np.testing.assert_allclose(value, expected_value, rtol=tolerance, atol=tolerance * 1e-3)
        np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=tolerance * 1e-3)
        np.testing.assert_allclose(sf.sigmoid_focal_loss(x, y, alpha, gamma, reduction), value,
                                   rtol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_without_focus_or_weighting_it_is_torch_binary_cross_entropy_with_logits(batch, reduction):
    """γ = 0 and alpha < 0 (the identity sigmoid_focal_at_gamma_zero): torch's own loss, not a formula."""
    inputs, soft, _ = batch
    x = torch.tensor(inputs, requires_grad=True)
    expected = F.binary_cross_entropy_with_logits(x, torch.tensor(soft), reduction=reduction)
    expected.sum().backward()
    value, grad = sf.sigmoid_focal_loss_value_and_grad(inputs, soft, alpha=-1.0, gamma=0.0, reduction=reduction)
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-12, atol=1e-16)


def test_a_confident_prediction_keeps_its_digits_where_torchvision_rounds_to_zero():
    """At x = ±40 (and ±100) on the right side, torchvision's 1 − p_t is 1 − σ(x) = 0: its loss and
    gradient are 0; symce writes 1 − p_t as σ(−x) and keeps them to 1e-13 of the spec in mpmath."""
    x, y = np.array([40.0, -40.0, 100.0, -100.0, 3.0]), np.array([1.0, 0.0, 1.0, 0.0, 0.5])
    value, grad = sf.sigmoid_focal_loss_value_and_grad(x, y)
    for i in range(len(x)):
        expected_value, expected_grad = _spec(x[i], y[i], 0.25, 2.0)
        assert expected_value > 0 and value[i] == pytest.approx(expected_value, rel=1e-13)
        assert grad[i] == pytest.approx(expected_grad, rel=1e-13)
    naive_value, naive_grad = _torchvision(x, y, 0.25, 2.0, "none")
    assert naive_value[0] == naive_grad[0] == 0.0


@settings(max_examples=30, deadline=None)
@given(logit=st.floats(-700, 700), target=st.sampled_from([0.0, 1.0, 0.3]),
       parameters=st.sampled_from([(0.25, 2.0), (-1.0, 1.0), (0.8, 3.0)]))
def test_random_elements_against_mpmath(logit, target, parameters):
    """Logits up to ±700, γ ≥ 1 (γ < 1: the gradient's (1 − p_t)^(γ−1) is inf where 1 − p_t underflows)."""
    alpha, gamma = parameters
    value, grad = sf.sigmoid_focal_loss_value_and_grad(np.array([logit]), np.array([target]), alpha, gamma)
    expected_value, expected_grad = _spec(logit, target, alpha, gamma)
    assert value[0] == pytest.approx(expected_value, rel=1e-12, abs=1e-300)
    assert grad[0] == pytest.approx(expected_grad, rel=1e-11, abs=1e-300)


def test_bad_parameters_and_inputs_are_named():
    x, y = np.zeros(3), np.ones(3)
    for call, error, message in [
            (lambda: sf.sigmoid_focal_loss(x, y, gamma=-1.0), ValueError, "gamma must be a finite number >= 0.0"),
            (lambda: sf.sigmoid_focal_loss(x, y, alpha=float("nan")), ValueError, "alpha must be a finite number"),
            (lambda: sf.sigmoid_focal_loss(x, y, alpha="0.25"), TypeError, "alpha"),
            (lambda: sf.sigmoid_focal_loss(x, y, reduction="average"), ValueError, "reduction"),
            (lambda: sf.sigmoid_focal_loss(x, np.ones(4)), ValueError, "must be the same as input size"),
            (lambda: symce_torch.sigmoid_focal_loss(torch.zeros(3), torch.ones(3), gamma=-0.5), ValueError, "gamma")]:
        with pytest.raises(error, match=message):
            call()


class TestTorch:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_gradcheck_opcheck_and_torchvision(self, batch, reduction):
        inputs, soft, _ = batch
        targets = torch.tensor(soft)
        x = assert_gradcheck_and_reference(
            lambda z: symce_torch.sigmoid_focal_loss(z, targets, alpha=0.3, gamma=1.5, reduction=reduction),
            inputs, _torchvision(inputs, soft, 0.3, 1.5, reduction))
        torch.library.opcheck(torch.ops.symce.sigmoid_focal_loss_value_and_grad.default,
                              (x, targets, 0.25, 2.0, reduction))
        torch.library.opcheck(torch.ops.symce.sigmoid_focal_loss.default, (x.detach(), targets, -1.0, 2.0, reduction))

    def test_torch_compile_fullgraph_matches_eager(self, batch):
        inputs, soft, _ = batch
        targets = torch.tensor(soft)
        assert_fullgraph_matches_eager(lambda z: symce_torch.sigmoid_focal_loss(z, targets, reduction="mean"), inputs)
