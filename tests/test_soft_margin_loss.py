"""soft_margin_loss (spec ``soft_margin_loss``, the binary family of generated/): symce.functional and
symce.torch against torch.nn.functional.soft_margin_loss, and the spec in mpmath where torch overflows.
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


def _torch(inputs, targets, reduction):
    """torch's (value, d value / d inputs), by its autograd."""
    x = torch.tensor(inputs, requires_grad=True)
    value = F.soft_margin_loss(x, torch.tensor(targets), reduction=reduction)
    value.sum().backward()
    return value.detach().numpy(), x.grad.numpy()


def _spec(logit, target):
    """The spec in mpmath: (value, d value / d logit) of one element."""
    spec = get("soft_margin_loss")
    values, dps = {"logits": logit, "labels": target}, digits(logit * target)
    return (float(spec.evaluate(values, dps=dps)[0]),
            float(spec.evaluate(values, dps=dps, expr=spec.gradient())[0]))


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(30)
    inputs = rng.normal(size=(6, 5)) * 5
    signs = np.where(rng.uniform(size=(6, 5)) < 0.5, -1.0, 1.0)
    return inputs, signs, rng.uniform(-2, 2, size=(6, 5))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_and_gradients_match_torch(batch, reduction, dtype):
    """±1 and real targets, shapes (6, 5), (5,) and (); inside the range where torch's log1p(exp) is finite."""
    inputs, signs, real = batch
    tolerance = {np.float64: 1e-13, np.float32: 2e-6}[dtype]
    for x, y in ((inputs, signs), (inputs, real), (inputs[0], signs[0]), (inputs[2, 3], real[2, 3])):
        x, y = np.asarray(x, dtype), np.asarray(y, dtype)
        value, grad = sf.soft_margin_loss_value_and_grad(x, y, reduction)
        expected_value, expected_grad = _torch(x, y, reduction)
        assert np.asarray(value).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
        np.testing.assert_allclose(value, expected_value, rtol=tolerance, atol=tolerance * 1e-3)
        np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=tolerance * 1e-3)
        np.testing.assert_allclose(sf.soft_margin_loss(x, y, reduction), value, rtol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_at_plus_minus_one_targets_it_is_binary_cross_entropy_with_logits(batch, reduction):
    """The identity soft_margin_is_sigmoid_bce, numerically: y = 2b − 1, against torch's own BCE-with-logits."""
    inputs, signs, _ = batch
    x = torch.tensor(inputs, requires_grad=True)
    expected = F.binary_cross_entropy_with_logits(x, torch.tensor((signs + 1) / 2), reduction=reduction)
    expected.sum().backward()
    value, grad = sf.soft_margin_loss_value_and_grad(inputs, signs, reduction)
    # torch's BCE takes a log where symce takes a log1p: small losses differ by ~1e-12 relative, 5e-16 absolute
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-12, atol=1e-16)


@settings(max_examples=30, deadline=None)
@given(logit=st.floats(-1e4, 1e4), target=st.sampled_from([-1.0, 1.0, 0.5, -3.0]))
def test_random_elements_against_mpmath(logit, target):
    """Logits up to ±1e4, where torch's loss is inf and its gradient nan past −y·x ≈ 709."""
    value, grad = sf.soft_margin_loss_value_and_grad(np.array([logit]), np.array([target]), "none")
    expected_value, expected_grad = _spec(logit, target)
    assert value[0] == pytest.approx(expected_value, rel=1e-13, abs=1e-300)
    assert grad[0] == pytest.approx(expected_grad, rel=1e-13, abs=1e-300)


def test_bad_inputs_are_named():
    for call, error, message in [
            (lambda: sf.soft_margin_loss(np.zeros(3), np.ones(4)), ValueError, "must be the same as input size"),
            (lambda: sf.soft_margin_loss(np.zeros(3), np.ones(3), reduction="average"), ValueError, "reduction"),
            (lambda: sf.soft_margin_loss(np.zeros(3, np.int64), np.ones(3)), TypeError, "input"),
            (lambda: symce_torch.soft_margin_loss(torch.zeros(3), torch.ones(3), size_average=True), TypeError,
             "size_average")]:
        with pytest.raises(error, match=message):
            call()


class TestTorch:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_gradcheck_opcheck_and_torch(self, batch, reduction):
        inputs, _, real = batch
        targets = torch.tensor(real)
        x = assert_gradcheck_and_reference(lambda z: symce_torch.soft_margin_loss(z, targets, reduction=reduction),
                                           inputs, _torch(inputs, real, reduction))
        assert_operators_pass_opcheck("soft_margin_loss", x, (targets, reduction))

    def test_torch_compile_fullgraph_matches_eager(self, batch):
        inputs, signs, _ = batch
        targets = torch.tensor(signs)
        assert_fullgraph_matches_eager(lambda z: symce_torch.soft_margin_loss(z, targets), inputs)
