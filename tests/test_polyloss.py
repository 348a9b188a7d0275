"""focal_loss and poly1_cross_entropy (the polyloss family of generated/): symce.functional and symce.torch.

References are never the code under test: the losses written in torch operations (float64, torch's
autograd for the gradient), torch's own cross_entropy where γ = 0 or ε = 0, and the spec in mpmath.
"""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import symce.functional as sf
import symce.torch as symce_torch
from symce.spec import get

REDUCTIONS = ("none", "mean", "sum")
IGNORE = -100


def _torch_formula(name, logits, labels, option, weight=None, ignore_index=IGNORE, reduction="mean"):
    """The loss in torch operations, float64: (value, d value / d logits) by torch's autograd."""
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    target = torch.tensor(labels)
    classes = z.shape[0] if z.ndim == 1 else z.shape[1]
    log_p = torch.log_softmax(z, dim=0 if z.ndim == 1 else 1)
    kept = target != ignore_index
    index = torch.where(kept, target, 0)
    log_pt = log_p.gather(0 if z.ndim == 1 else 1, index.unsqueeze(0 if z.ndim == 1 else 1)).squeeze(
        0 if z.ndim == 1 else 1)
    w = torch.ones(classes, dtype=torch.float64) if weight is None else torch.tensor(weight, dtype=torch.float64)
    w_t = w[index] * kept
    p_t = log_pt.exp()
    per_sample = (-(1 - p_t) ** option * log_pt if name == "focal_loss" else -log_pt + option * (1 - p_t)) * w_t
    value = {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.sum() / w_t.sum()}[reduction]
    value.sum().backward()
    return value.detach().numpy(), z.grad.numpy()


def _symce(name, logits, labels, option, **kwargs):
    return getattr(sf, f"{name}_value_and_grad")(logits, labels, option, **kwargs)


def _spec(name, row, label, option):
    """The spec in mpmath: (value, gradient) of one row."""
    spec = get(name)
    values, params = {"logits": list(row), "labels": label}, {spec.params[1].name: option}
    return (float(spec.evaluate(values, params)[0]),
            np.array([float(v) for v in spec.evaluate(values, params, expr=spec.gradient())]))


CASES = [("focal_loss", 0.0), ("focal_loss", 0.5), ("focal_loss", 2.0),
         ("poly1_cross_entropy", 0.0), ("poly1_cross_entropy", 1.0), ("poly1_cross_entropy", -0.5)]


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(27)
    logits = rng.normal(size=(6, 4, 3)) * 3
    labels = rng.integers(0, 4, size=(6, 3))
    labels[1, 2] = labels[4, 0] = IGNORE
    return logits, labels, rng.uniform(0.3, 2.0, size=4)


@pytest.mark.parametrize("name, option", CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_values_and_gradients_match_the_torch_formula(batch, name, option, reduction):
    logits, labels, weight = batch
    for x, t, w in ((logits, labels, weight), (logits[..., 0], labels[:, 0], None), (logits[0, :, 0], labels[0, 0], weight)):
        value, grad = _symce(name, x, t, option, weight=w, reduction=reduction)
        expected_value, expected_grad = _torch_formula(name, x, t, option, w, reduction=reduction)
        np.testing.assert_allclose(value, expected_value, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)
        assert getattr(sf, name)(x, t, option, weight=w, reduction=reduction) == pytest.approx(value, rel=1e-14)


@pytest.mark.parametrize("name", ["focal_loss", "poly1_cross_entropy"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_at_zero_each_is_torch_cross_entropy(batch, name, reduction):
    logits, labels, weight = batch
    z = torch.tensor(logits, requires_grad=True)
    expected = F.cross_entropy(z, torch.tensor(labels), torch.tensor(weight), reduction=reduction)
    expected.sum().backward()
    value, grad = _symce(name, logits, labels, 0.0, weight=weight, reduction=reduction)
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, option", [("focal_loss", 2.0), ("focal_loss", 0.5), ("focal_loss", 1.0),
                                          ("poly1_cross_entropy", 1.0)])
def test_a_confident_row_is_finite_and_accurate(name, option):
    """At [40, 0, 0] with label 0, 1 − p_t = 2e^-40/(1 + 2e^-40): written as 1 − p_t it rounds to 0."""
    row = np.array([[40.0, 0.0, 0.0], [12.0, 3.0, -5.0]])
    value, grad = _symce(name, row, np.array([0, 0]), option, reduction="none")
    for i in range(2):
        expected_value, expected_grad = _spec(name, row[i], 0, option)
        assert value[i] == pytest.approx(expected_value, rel=1e-13) and expected_value > 0
        np.testing.assert_allclose(grad[i], expected_grad, rtol=1e-13, atol=0)
    naive, _ = _torch_formula(name, row, np.array([0, 0]), option, reduction="none")
    if name == "focal_loss":
        assert naive[0] == 0.0  # torch's (1 − exp(log p_t))^γ: what symce keeps


def _mpmath(name, row, label, option):
    """(value, gradient) of one row in mpmath at 50 digits: the definition, and the closed form of its
    gradient that `symce derive` checks, (1 − p)^γ − γ·p·(1 − p)^(γ−1)·log p resp. 1 + ε·p times s_j − δ_jt."""
    with mpmath.workdps(50):
        z = [mpmath.mpf(float(v)) for v in row]
        top = max(z)
        total = mpmath.fsum(mpmath.exp(v - top) for v in z)
        s = [mpmath.exp(v - top) / total for v in z]
        # log p_t = −log1p(Σ_{k≠t} exp(z_k − z_t)): 50 digits of log(1 + 1e-109) would be none of its own
        p, log_p = s[label], -mpmath.log1p(mpmath.fsum(mpmath.exp(v - z[label]) for k, v in enumerate(z) if k != label))
        rest = mpmath.fsum(s[k] for k in range(len(z)) if k != label)  # 1 − p without its cancellation
        if name == "focal_loss":
            value, factor = -rest ** option * log_p, rest ** option - option * p * rest ** (option - 1) * log_p
        else:
            value, factor = -log_p + option * rest, 1 + option * p
        gradient = [factor * (-rest if k == label else s[k]) for k in range(len(z))]  # s_t − 1 = −rest
        return float(value), np.array([float(g) for g in gradient])


@settings(max_examples=25, deadline=None)
@given(data=st.data(), name=st.sampled_from(["focal_loss", "poly1_cross_entropy"]),
       scale=st.sampled_from([1.0, 30.0, 1e3]), classes=st.integers(2, 5), rows=st.integers(1, 3))
def test_random_rows_against_mpmath(data, name, scale, classes, rows):
    """Over shapes and logits up to ±1e3. γ ≥ 1 (γ < 1: see the accuracy table's note) and ε ≥ −0.5
    (at ε = −1 the loss log1p(r) − r/(1 + r) ≈ r²/2 cancels: relative error ~1e-3 at r = 1e-13)."""
    option = data.draw(st.sampled_from([1.0, 2.0, 3.5] if name == "focal_loss" else [-0.5, 0.5, 2.0]))
    logits = np.array(data.draw(st.lists(st.lists(st.floats(-1, 1), min_size=classes, max_size=classes),
                                         min_size=rows, max_size=rows))) * scale
    labels = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=rows, max_size=rows)))
    value, grad = _symce(name, logits, labels, option, reduction="none")
    for i in range(rows):
        expected_value, expected_grad = _mpmath(name, logits[i], int(labels[i]), option)
        assert value[i] == pytest.approx(expected_value, rel=1e-12, abs=1e-300)
        np.testing.assert_allclose(grad[i], expected_grad, rtol=1e-11, atol=1e-300)


@pytest.mark.parametrize("name, option", [("focal_loss", 2.0), ("poly1_cross_entropy", 1.0)])
def test_bad_inputs_raise_what_cross_entropy_raises(name, option):
    logits, labels = np.zeros((2, 3)), np.array([0, 1])
    bad = [dict(target=np.array([0, 3])), dict(target=np.array([0.0, 1.0])), dict(target=np.array([[0, 1]])),
           dict(weight=np.ones(4)), dict(reduction="average"), dict(ignore_index=1.5), dict(input=np.zeros(()))]
    for change in bad:
        arguments = {"input": logits, "target": labels, **change}
        rest = {key: value for key, value in change.items() if key not in ("input", "target")}
        with pytest.raises(Exception) as expected:
            sf.cross_entropy(arguments["input"], arguments["target"], **rest)
        with pytest.raises(type(expected.value)) as got:
            getattr(sf, name)(arguments["input"], arguments["target"], option, **rest)
        assert str(got.value) == str(expected.value).replace("cross_entropy", name)


@pytest.mark.parametrize("name, parameter", [("focal_loss", "gamma"), ("poly1_cross_entropy", "epsilon")])
def test_a_bad_parameter_is_named(name, parameter):
    logits, labels = np.zeros((2, 3)), np.array([0, 1])
    for value, error in [(float("nan"), ValueError), (float("inf"), ValueError), (True, TypeError), ("2", TypeError)]:
        with pytest.raises(error, match=parameter):
            getattr(sf, name)(logits, labels, value)
    if name == "focal_loss":
        with pytest.raises(ValueError, match="gamma must be a finite number >= 0.0"):
            sf.focal_loss(logits, labels, -1.0)


class TestTorch:
    @pytest.mark.parametrize("name, option", [("focal_loss", 2.0), ("poly1_cross_entropy", 1.0)])
    def test_operators_pass_opcheck(self, name, option):
        x = torch.randn(5, 4, 2, dtype=torch.float64, requires_grad=True)
        target = torch.tensor([[0, 1], [2, IGNORE], [3, 0], [1, 1], [2, 3]])
        weight = torch.rand(4, dtype=torch.float64) + 0.5
        for reduction in REDUCTIONS:
            torch.library.opcheck(getattr(torch.ops.symce, f"{name}_value_and_grad").default,
                                  (x, target, weight, IGNORE, reduction, option))
        torch.library.opcheck(getattr(torch.ops.symce, name).default, (x.detach(), target, None, IGNORE, "mean", option))

    @pytest.mark.parametrize("name, option", [("focal_loss", 2.0), ("focal_loss", 0.5), ("poly1_cross_entropy", -0.5)])
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_gradcheck_and_the_torch_formula(self, batch, name, option, reduction):
        logits, labels, weight = batch
        x = torch.tensor(logits[:3], requires_grad=True)
        target, w = torch.tensor(labels[:3]), torch.tensor(weight)
        loss = getattr(symce_torch, name)

        def run(z):
            return loss(z, target, option, weight=w, reduction=reduction)

        assert torch.autograd.gradcheck(run, (x,))
        value = run(x)
        value.sum().backward()
        expected_value, expected_grad = _torch_formula(name, logits[:3], labels[:3], option, weight, reduction=reduction)
        np.testing.assert_allclose(value.detach().numpy(), expected_value, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(x.grad.numpy(), expected_grad, rtol=1e-12, atol=1e-15)

    def test_ignored_samples_get_zero_gradient_whatever_their_grad_output(self):
        x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
        loss = symce_torch.focal_loss(x, torch.tensor([0, IGNORE, 2]), reduction="none")
        loss.backward(torch.tensor([1.0, float("nan"), 2.0], dtype=torch.float64))
        assert torch.all(x.grad[1] == 0) and torch.isfinite(x.grad).all()

    def test_a_bad_parameter_is_named_before_any_kernel(self):
        with pytest.raises(ValueError, match="gamma"):
            symce_torch.focal_loss(torch.zeros(2, 3), torch.tensor([0, 1]), gamma=-1.0)


def _torch_poly1_probabilities(logits, targets, epsilon, weight=None, reduction="mean"):
    """optax.losses.poly_loss_cross_entropy in torch operations, float64, classes on axis 1 as torch's
    cross_entropy has them (w_k weighing each class's term): (value, d value / d logits) by torch's autograd."""
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    axis = 0 if z.ndim == 1 else 1
    y = torch.tensor(targets, dtype=torch.float64)
    shape = [1] * z.ndim
    shape[axis] = -1
    w = 1.0 if weight is None else torch.tensor(weight, dtype=torch.float64).reshape(shape)
    log_p = torch.log_softmax(z, dim=axis)
    per_sample = (w * y * (-log_p + epsilon * (1 - log_p.exp()))).sum(axis)
    value = {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}[reduction]
    value.sum().backward()
    return value.detach().numpy(), z.grad.numpy()


class TestProbabilityTargets:
    """poly1_cross_entropy with a float target of the input's shape: spec poly1_cross_entropy_with_probability_labels."""

    @pytest.fixture(scope="class")
    def soft(self, batch):
        logits, _, weight = batch
        rng = np.random.default_rng(28)
        targets = rng.uniform(size=logits.shape)
        return logits, targets / targets.sum(axis=1, keepdims=True), weight

    @pytest.mark.parametrize("epsilon", [0.0, 1.0, -0.5, 2.0])
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_values_and_gradients_match_the_torch_formula(self, soft, epsilon, reduction):
        logits, targets, weight = soft
        for x, y, w in ((logits, targets, weight), (logits[..., 0], targets[..., 0], None),
                        (logits[0, :, 0], targets[0, :, 0], weight), (logits[..., 1], 2 * targets[..., 1], weight)):
            value, grad = sf.poly1_cross_entropy_value_and_grad(x, y, epsilon, weight=w, reduction=reduction)
            expected_value, expected_grad = _torch_poly1_probabilities(x, y, epsilon, w, reduction)
            np.testing.assert_allclose(value, expected_value, rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)
            again = sf.poly1_cross_entropy(x, y, epsilon, weight=w, reduction=reduction)
            assert again == pytest.approx(value, rel=1e-14)

    def test_at_epsilon_zero_it_is_torch_cross_entropy(self, soft):
        logits, targets, weight = soft
        z = torch.tensor(logits, requires_grad=True)
        expected = F.cross_entropy(z, torch.tensor(targets), torch.tensor(weight))
        expected.backward()
        value, grad = sf.poly1_cross_entropy_value_and_grad(logits, targets, 0.0, weight=weight)
        assert value == pytest.approx(expected.item(), rel=1e-13)
        np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-12, atol=1e-15)

    @pytest.mark.parametrize("epsilon", [1.0, -0.5])
    def test_a_one_hot_target_gives_the_class_index_loss(self, batch, epsilon):
        """The identity poly1_probability_labels_one_hot, numerically: the two kernels agree to rounding."""
        logits, labels, weight = batch
        labels = np.where(labels == IGNORE, 0, labels)
        one_hot = np.moveaxis(np.eye(logits.shape[1])[labels], -1, 1)
        value, grad = sf.poly1_cross_entropy_value_and_grad(logits, one_hot, epsilon, weight=weight, reduction="none")
        expected_value, expected_grad = sf.poly1_cross_entropy_value_and_grad(logits, labels, epsilon, weight=weight,
                                                                              reduction="none")
        np.testing.assert_allclose(value, expected_value, rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-13, atol=1e-16)

    @settings(max_examples=15, deadline=None)
    @given(data=st.data(), scale=st.sampled_from([1.0, 30.0, 1e3]), classes=st.integers(2, 5),
           epsilon=st.sampled_from([-0.5, 1.0, 2.0]))
    def test_random_rows_against_mpmath(self, data, scale, classes, epsilon):
        """One-hot targets (where the optax formula's 1 − p cancels at a confident row) and soft ones."""
        logits = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=classes, max_size=classes))) * scale
        label = data.draw(st.integers(0, classes - 1))
        one_hot = data.draw(st.booleans())
        targets = np.eye(classes)[label] if one_hot else np.full(classes, 1 / classes)
        spec = get("poly1_cross_entropy_with_probability_labels")
        values, params = {"logits": list(logits), "labels": list(targets)}, {"epsilon": epsilon}
        value, grad = sf.poly1_cross_entropy_value_and_grad(logits[None], targets[None], epsilon, reduction="none")
        dps = 60 + int(scale / 2.3)
        # a gradient entry that is 0 is judged absolutely: below the reference's own residual (1e-62 at 60
        # digits) for one-hot targets; for uniform ones, at equal logits softmax = y and p_j − y_j cancels
        resolution = max(10.0 ** (5 - dps), 1e-300) if one_hot else 1e-15
        assert value[0] == pytest.approx(float(spec.evaluate(values, params, dps=dps)[0]), rel=1e-12, abs=resolution)
        expected_grad = [float(g) for g in spec.evaluate(values, params, dps=dps, expr=spec.gradient())]
        np.testing.assert_allclose(grad[0], expected_grad, rtol=1e-11, atol=resolution)

    def test_a_confident_row_keeps_its_digits(self):
        """At [40, 0, 0] and the target (1, 0, 0): CE + ε(1 − p_0), both ≈ 2e^-40; the formula in torch ops is 0."""
        row, target = np.array([[40.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 0.0]])
        value, _ = sf.poly1_cross_entropy_value_and_grad(row, target, 1.0, reduction="none")
        expected = float(mpmath.log1p(2 * mpmath.exp(-40)) + 2 * mpmath.exp(-40) / (1 + 2 * mpmath.exp(-40)))
        assert value[0] == pytest.approx(expected, rel=1e-14)
        # in torch ops log_softmax(z)_0 rounds to 0, and so do the cross-entropy and 1 − exp(0)
        assert _torch_poly1_probabilities(row, target, 1.0, reduction="none")[0][0] == 0.0

    def test_a_non_negative_ignore_index_is_refused(self, soft):
        logits, targets, _ = soft
        with pytest.raises(ValueError, match="ignore_index is not supported for floating point target"):
            sf.poly1_cross_entropy(logits, targets, 1.0, ignore_index=0)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_symce_torch_gradcheck(self, soft, reduction):
        logits, targets, weight = soft
        x, y, w = torch.tensor(logits[:3], requires_grad=True), torch.tensor(targets[:3]), torch.tensor(weight)

        def run(z):
            return symce_torch.poly1_cross_entropy(z, y, 1.0, weight=w, reduction=reduction)

        assert torch.autograd.gradcheck(run, (x,))
        torch.library.opcheck(torch.ops.symce.poly1_cross_entropy_value_and_grad.default,
                              (x, y, w, IGNORE, reduction, 1.0))
