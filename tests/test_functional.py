"""symce.functional against torch.nn.functional: values, and gradients against torch autograd.

Tolerances (stated once, used everywhere): float64 rtol 1e-10, atol 1e-12; float32 rtol 1e-4,
atol 1e-5 (float16 inputs are computed in float32: rtol 1e-2, atol 1e-3 against torch's half).
The absolute floor covers the places where the generated kernels are *more* accurate than torch
(a confident correct prediction: true loss 8.5e-18, torch 0.0).
"""
from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import symce.functional as F

TOLERANCES = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5),
              np.float16: dict(rtol=1e-2, atol=1e-3)}
FLOATS = (np.float32, np.float64)
EXAMPLES = settings(max_examples=25, deadline=None)


def _tensor(value):
    return torch.from_numpy(np.asarray(value, order="C")) if isinstance(value, (np.ndarray, np.generic)) else value


def torch_value_and_grad(fn, input, *args, grad_output=None, **kwargs):
    """torch's value and autograd gradient of ``fn(input, *args, **kwargs)`` wrt ``input``."""
    x = torch.tensor(np.asarray(input), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = fn(x, *map(_tensor, args), **{key: _tensor(value) for key, value in kwargs.items()})
    upstream = torch.ones_like(loss) if grad_output is None else torch.tensor(np.asarray(grad_output))
    loss.backward(upstream)
    return loss.detach().numpy(), x.grad.numpy()


def assert_close(ours, theirs, dtype):
    ours = np.asarray(ours)
    assert ours.dtype == np.dtype(dtype), (ours.dtype, dtype)
    assert ours.shape == np.shape(theirs), (ours.shape, np.shape(theirs))
    np.testing.assert_allclose(ours, theirs, **TOLERANCES[dtype])


def check_parity(name, input, *args, grad_output=None, **kwargs):
    """Our ``name`` and ``name_value_and_grad`` against torch's function of the same name."""
    dtype = np.asarray(input).dtype.type
    expected_value, expected_grad = torch_value_and_grad(getattr(TF, name), input, *args,
                                                         grad_output=grad_output, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = getattr(F, name)(input, *args, **kwargs)
        both = getattr(F, f"{name}_value_and_grad")(input, *args, grad_output=grad_output, **kwargs)
    assert_close(value, expected_value, dtype)
    assert_close(both[0], expected_value, dtype)
    assert_close(both[1], expected_grad, dtype)
    return value, both[1]


# --- strategies --------------------------------------------------------------------------------

def loss_shape(draw, min_classes=1):
    """(C,), (N, C), (N, C, d1) or (N, C, d1, d2) with small sizes, N possibly 0."""
    classes = draw(st.integers(min_classes, 5))
    rank = draw(st.integers(1, 4))
    if rank == 1:
        return (classes,)
    extra = tuple(draw(st.lists(st.integers(1, 3), min_size=rank - 2, max_size=rank - 2)))
    return (draw(st.integers(0, 4)), classes) + extra


def logits_for(draw, shape, dtype):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.sampled_from([1.0, 5.0, 30.0, 1e4]))
    return (rng.standard_normal(shape) * spread).astype(dtype), rng


def grad_output_for(draw, rng, reduction, shape, dtype):
    if not draw(st.booleans()):
        return None
    return rng.standard_normal(shape if reduction == "none" else ()).astype(dtype)


def class_weights(draw, rng, classes, dtype):
    return rng.uniform(0.1, 3.0, classes).astype(dtype) if draw(st.booleans()) else None


def sample_shape(shape):
    return () if len(shape) == 1 else (shape[0],) + shape[2:]


REDUCTIONS = st.sampled_from(["none", "mean", "sum"])
SMOOTHING = st.sampled_from([0.0, 0.1, 0.37, 1.0])


# --- cross_entropy -----------------------------------------------------------------------------

class TestCrossEntropy:
    @EXAMPLES
    @given(data=st.data(), dtype=st.sampled_from(FLOATS), reduction=REDUCTIONS, smoothing=SMOOTHING)
    def test_class_index_targets(self, data, dtype, reduction, smoothing):
        draw = data.draw
        shape = loss_shape(draw)
        logits, rng = logits_for(draw, shape, dtype)
        classes = shape[0] if len(shape) == 1 else shape[1]
        ignore_index = draw(st.sampled_from([-100, 0, classes - 1, 7]))
        labels = rng.integers(0, classes, sample_shape(shape))
        labels = np.where(rng.random(labels.shape) < 0.25, ignore_index, labels)
        check_parity("cross_entropy", logits, labels, weight=class_weights(draw, rng, classes, dtype),
                     ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing,
                     grad_output=grad_output_for(draw, rng, reduction, sample_shape(shape), dtype))

    @EXAMPLES
    @given(data=st.data(), dtype=st.sampled_from(FLOATS), reduction=REDUCTIONS, smoothing=SMOOTHING,
           kind=st.sampled_from(["softmax", "one-hot", "near-zero"]))
    def test_probability_targets(self, data, dtype, reduction, smoothing, kind):
        draw = data.draw
        shape = loss_shape(draw)
        logits, rng = logits_for(draw, shape, dtype)
        axis = 0 if len(shape) == 1 else 1
        classes = shape[axis]
        if kind == "one-hot":
            target = np.moveaxis(np.eye(classes)[rng.integers(0, classes, sample_shape(shape))], -1, axis)
        else:
            raw = rng.standard_normal(shape) * (40.0 if kind == "near-zero" else 1.0)
            target = np.exp(raw - raw.max(axis=axis, keepdims=True))
            target /= target.sum(axis=axis, keepdims=True)
        check_parity("cross_entropy", logits, target.astype(dtype),
                     weight=class_weights(draw, rng, classes, dtype), reduction=reduction,
                     label_smoothing=smoothing,
                     grad_output=grad_output_for(draw, rng, reduction, sample_shape(shape), dtype))

    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize("ignore_index", [-100, 2])
    def test_weighted_mean_over_several_gathers(self, dtype, ignore_index):
        """The 'mean' denominator Σ keep·w[t] gathers the weights GATHERED labels at a time: a batch
        of several such gathers, a tenth of it ignored, and its sum-reduced kernel tasks."""
        from symce.functional._reduce import GATHERED

        rng = np.random.default_rng(11)
        rows = 2 * GATHERED + 1001
        logits = (rng.standard_normal((rows, 5)) * 3).astype(dtype)
        labels = np.where(rng.random(rows) < 0.1, ignore_index, rng.integers(0, 5, rows))
        check_parity("cross_entropy", logits, labels, weight=rng.uniform(0.2, 2.0, 5).astype(dtype),
                     ignore_index=ignore_index, reduction="mean")

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_extreme_logits(self, dtype):
        logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype)
        for labels in (np.array([0, 2, 1]), np.array([1, 0, 2])):
            for reduction in ("none", "sum"):
                check_parity("cross_entropy", logits, labels, reduction=reduction, label_smoothing=0.1)

    def test_confident_prediction_is_finite_and_small(self):
        # true loss log1p(2 e^-40) = 8.5e-18; torch's float64 gives 0.0, the absolute floor covers it
        loss, grad = check_parity("cross_entropy", np.array([[40.0, 0.0, 0.0]]), np.array([0]))
        assert 0.0 <= loss < 1e-16 and np.isfinite(grad).all()

    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_all_ignored(self, reduction):
        logits = np.random.default_rng(0).standard_normal((3, 4))
        value, grad = check_parity("cross_entropy", logits, np.full(3, -100), reduction=reduction,
                                   weight=np.arange(1.0, 5.0), label_smoothing=0.2)
        assert np.isnan(value) if reduction == "mean" else np.all(value == 0)
        assert np.all(grad == 0)  # torch: ignored rows get zero gradient even when the mean is nan

    @pytest.mark.parametrize("target", [np.zeros(0, np.int64), np.zeros((0, 4))], ids=["index", "prob"])
    def test_empty_batch_mean_is_nan(self, target):
        value, grad = check_parity("cross_entropy", np.zeros((0, 4)), target)
        assert np.isnan(value) and grad.shape == (0, 4)

    def test_single_class(self):
        value, grad = check_parity("cross_entropy", np.array([[3.0], [-2.0]]), np.array([0, 0]),
                                   label_smoothing=0.3)
        assert value == 0.0 and np.all(grad == 0)

    def test_weighted_mean_divides_by_target_weights(self):
        # torch's quirk for class-index targets: 'mean' = Σ w[t_i] loss_i / Σ w[t_i] over kept rows
        logits = np.random.default_rng(1).standard_normal((4, 3))
        labels, weight = np.array([0, 2, -100, 2]), np.array([0.5, 1.0, 3.0])
        mean = F.cross_entropy(logits, labels, weight=weight)
        total = F.cross_entropy(logits, labels, weight=weight, reduction="sum")
        np.testing.assert_allclose(mean, total / (0.5 + 3.0 + 3.0), rtol=1e-12)
        check_parity("cross_entropy", logits, labels, weight=weight)

    def test_probability_targets_mean_divides_by_samples(self):
        # torch's quirk for probability targets: 'mean' divides by N, whatever the weights
        rng = np.random.default_rng(2)
        logits, target = rng.standard_normal((4, 3)), rng.dirichlet(np.ones(3), 4)
        weight = np.array([0.5, 1.0, 3.0])
        mean = F.cross_entropy(logits, target, weight=weight)
        np.testing.assert_allclose(mean, F.cross_entropy(logits, target, weight=weight, reduction="sum") / 4,
                                   rtol=1e-12)
        check_parity("cross_entropy", logits, target, weight=weight, label_smoothing=0.25)

    def test_probability_smoothing_is_mixture_with_uniform(self):
        # y(1-ε) + ε/C: smoothing probability targets equals cross-entropy against the mixture
        rng = np.random.default_rng(3)
        logits, target, eps = rng.standard_normal((5, 4)), rng.dirichlet(np.ones(4), 5), 0.3
        mixed = target * (1 - eps) + eps / 4
        np.testing.assert_allclose(F.cross_entropy(logits, target, label_smoothing=eps),
                                   F.cross_entropy(logits, mixed), rtol=1e-12)

    def test_class_smoothing_weighted_and_masked(self):
        # the smoothing term is weighted by the class weights, and ignored rows contribute nothing
        rng = np.random.default_rng(4)
        logits, labels = rng.standard_normal((4, 3)), np.array([1, -100, 0, 2])
        check_parity("cross_entropy", logits, labels, weight=np.array([2.0, 0.5, 1.0]),
                     label_smoothing=0.4, reduction="none")
        check_parity("cross_entropy", logits, labels, weight=np.array([2.0, 0.5, 1.0]), label_smoothing=0.4)

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_spatial_and_non_contiguous(self, dtype):
        rng = np.random.default_rng(5)
        logits = rng.standard_normal((3, 2, 5, 4)).astype(dtype).transpose(0, 3, 2, 1)  # (3, 4, 5, 2)
        assert not logits.flags.c_contiguous
        labels = rng.integers(0, 4, (3, 5, 2))
        check_parity("cross_entropy", logits, labels, reduction="none")
        check_parity("cross_entropy", logits[:, :, ::2], labels[:, ::2], label_smoothing=0.1)

    def test_nan_logits_propagate(self):
        value = F.cross_entropy(np.array([[np.nan, 0.0], [1.0, 0.0]]), np.array([1, 0]), reduction="none")
        assert np.isnan(value[0]) and np.isfinite(value[1])

    def test_float16_computed_like_torch(self):
        rng = np.random.default_rng(6)
        logits, labels = rng.standard_normal((6, 5)).astype(np.float16), rng.integers(0, 5, 6)
        check_parity("cross_entropy", logits, labels)

    def test_unsigned_labels(self):
        logits = np.random.default_rng(7).standard_normal((3, 4))
        check_parity("cross_entropy", logits, np.array([0, 3, 1], np.uint8))


# --- nll_loss ----------------------------------------------------------------------------------

class TestNllLoss:
    @EXAMPLES
    @given(data=st.data(), dtype=st.sampled_from(FLOATS), reduction=REDUCTIONS)
    def test_parity(self, data, dtype, reduction):
        draw = data.draw
        shape = loss_shape(draw)
        logits, rng = logits_for(draw, shape, dtype)
        classes = shape[0] if len(shape) == 1 else shape[1]
        ignore_index = draw(st.sampled_from([-100, 0]))
        labels = rng.integers(0, classes, sample_shape(shape))
        labels = np.where(rng.random(labels.shape) < 0.25, ignore_index, labels)
        check_parity("nll_loss", logits, labels, weight=class_weights(draw, rng, classes, dtype),
                     ignore_index=ignore_index, reduction=reduction,
                     grad_output=grad_output_for(draw, rng, reduction, sample_shape(shape), dtype))

    def test_all_ignored_mean_is_nan(self):
        value, grad = check_parity("nll_loss", -np.ones((2, 3)), np.array([-100, -100]))
        assert np.isnan(value) and np.all(grad == 0)


# --- binary losses -----------------------------------------------------------------------------

def elementwise_shape(draw):
    return tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))


def broadcastable_suffix(draw, rng, shape, dtype, low=0.1):
    """None, or an array of a trailing suffix of ``shape`` (sizes possibly 1) that broadcasts to it."""
    if not draw(st.booleans()):
        return None
    keep = draw(st.integers(0, len(shape)))
    suffix = tuple(size if draw(st.booleans()) else 1 for size in shape[len(shape) - keep:])
    return rng.uniform(low, 3.0, suffix).astype(dtype)


class TestBinaryCrossEntropyWithLogits:
    @EXAMPLES
    @given(data=st.data(), dtype=st.sampled_from(FLOATS), reduction=REDUCTIONS)
    def test_parity(self, data, dtype, reduction):
        draw = data.draw
        shape = elementwise_shape(draw)
        logits, rng = logits_for(draw, shape, dtype)
        target = (rng.random(shape) if draw(st.booleans()) else rng.integers(0, 2, shape)).astype(dtype)
        check_parity("binary_cross_entropy_with_logits", logits, target,
                     weight=broadcastable_suffix(draw, rng, shape, dtype), reduction=reduction,
                     pos_weight=broadcastable_suffix(draw, rng, shape, dtype),
                     grad_output=grad_output_for(draw, rng, reduction, shape, dtype))

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_extreme_logits_and_per_class_pos_weight(self, dtype):
        logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 50.0]], dtype)
        target = np.array([[1.0, 0.0, 0.5], [1.0, 0.0, 0.0]], dtype)
        check_parity("binary_cross_entropy_with_logits", logits, target,
                     pos_weight=np.array([2.0, 0.5, 3.0], dtype), reduction="none")


class TestBinaryCrossEntropy:
    @EXAMPLES
    @given(data=st.data(), dtype=st.sampled_from(FLOATS), reduction=REDUCTIONS)
    def test_parity(self, data, dtype, reduction):
        draw = data.draw
        shape = elementwise_shape(draw)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        probs = rng.uniform(0.01, 0.99, shape).astype(dtype)
        target = (rng.random(shape) if draw(st.booleans()) else rng.integers(0, 2, shape)).astype(dtype)
        check_parity("binary_cross_entropy", probs, target,
                     weight=broadcastable_suffix(draw, rng, shape, dtype), reduction=reduction,
                     grad_output=grad_output_for(draw, rng, reduction, shape, dtype))

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_log_clamped_at_minus_100(self, dtype):
        # torch clamps each log at -100: r = 0 with y = 1 costs exactly 100, not inf
        probs, target = np.array([0.0, 1.0, 0.0, 1.0, 1e-30], dtype), np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype)
        value = F.binary_cross_entropy(probs, target, reduction="none")
        expected_value, expected_grad = torch_value_and_grad(TF.binary_cross_entropy, probs, target,
                                                             reduction="none")
        assert_close(value, expected_value, dtype)
        assert value[0] == 100.0 and value[1] == 100.0
        # the gradient w (r - y) / max(r (1 - r), eps) with torch's eps: torch's eps is a C float, the
        # float32 value of 1e-12 (4e-9 relative above it) even in float64, hence rtol 1e-8 here
        grad = F.binary_cross_entropy_value_and_grad(probs, target, reduction="none")[1]
        np.testing.assert_allclose(grad, expected_grad, rtol=max(TOLERANCES[dtype]["rtol"], 1e-8))
        assert np.isfinite(grad).all()


# --- kl_div --------------------------------------------------------------------------------------

class TestKlDiv:
    @EXAMPLES
    @given(data=st.data(), dtype=st.sampled_from(FLOATS), log_target=st.booleans(),
           reduction=st.sampled_from(["none", "mean", "sum", "batchmean"]))
    def test_parity(self, data, dtype, log_target, reduction):
        draw = data.draw
        shape = elementwise_shape(draw)
        logits, rng = logits_for(draw, shape, dtype)
        target = rng.random(shape) * (rng.random(shape) > 0.2)  # some exact zeros: 0·log 0 = 0
        target = np.log(rng.random(shape) + 1e-3) if log_target else target
        check_parity("kl_div", np.minimum(logits, 0), target.astype(dtype), reduction=reduction,
                     log_target=log_target, grad_output=grad_output_for(draw, rng, reduction, shape, dtype))

    def test_batchmean_is_the_kl_and_mean_warns(self):
        rng = np.random.default_rng(8)
        q, p = rng.dirichlet(np.ones(4), 3), rng.dirichlet(np.ones(4), 3)
        kl = np.sum(p * (np.log(p) - np.log(q))) / 3
        np.testing.assert_allclose(F.kl_div(np.log(q), p, reduction="batchmean"), kl, rtol=1e-12)
        with pytest.warns(UserWarning, match="batchmean"):
            mean = F.kl_div(np.log(q), p, reduction="mean")
        np.testing.assert_allclose(mean, kl / 4, rtol=1e-12)  # divided by N·C, not N


# --- softmax, log_softmax, logsumexp, entropy, perplexity ----------------------------------------

def array_and_dim(draw, dtype):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    logits, _ = logits_for(draw, shape, dtype)
    return logits, draw(st.integers(-len(shape), len(shape) - 1))


class TestSoftmaxFamily:
    @EXAMPLES
    @given(data=st.data(), dtype=st.sampled_from(FLOATS), name=st.sampled_from(["softmax", "log_softmax"]))
    def test_parity(self, data, dtype, name):
        logits, dim = array_and_dim(data.draw, dtype)
        assert_close(getattr(F, name)(logits, dim), getattr(TF, name)(torch.from_numpy(logits), dim).numpy(), dtype)

    @EXAMPLES
    @given(data=st.data(), dtype=st.sampled_from(FLOATS), keepdim=st.booleans())
    def test_logsumexp(self, data, dtype, keepdim):
        logits, dim = array_and_dim(data.draw, dtype)
        dims = data.draw(st.sampled_from([dim, (dim,), tuple(range(logits.ndim))[::-1][:2]]))
        expected = torch.logsumexp(torch.from_numpy(logits), dims, keepdim=keepdim).numpy()
        assert_close(F.logsumexp(logits, dims, keepdim=keepdim), expected, dtype)

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_extreme_and_infinite(self, dtype):
        logits = np.array([[1e4, -1e4, 0.0], [-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf]], dtype)
        for name in ("softmax", "log_softmax"):
            assert_close(getattr(F, name)(logits, 1), getattr(TF, name)(torch.from_numpy(logits), 1).numpy(), dtype)
        assert_close(F.logsumexp(logits, 1), torch.logsumexp(torch.from_numpy(logits), 1).numpy(), dtype)

    @pytest.mark.parametrize("value", [2.5, -1e4, np.inf, -np.inf, np.nan])
    @pytest.mark.parametrize("dim", [0, -1])
    def test_a_0d_input_is_one_row_of_one_element_as_in_torch(self, value, dim):
        x = np.float64(value)
        for ours, theirs in ((F.softmax(x, dim), torch.softmax(torch.tensor(value), dim)),
                             (F.log_softmax(x, dim), torch.log_softmax(torch.tensor(value), dim)),
                             (F.logsumexp(x, dim), torch.logsumexp(torch.tensor(value), dim)),
                             (F.logsumexp(x, (dim,), keepdim=True), torch.logsumexp(torch.tensor(value), (dim,), True))):
            assert np.shape(ours) == () and ours.dtype == np.float64
            np.testing.assert_array_equal(ours, theirs.numpy())

    def test_implicit_dim_warns_like_torch(self):
        logits = np.random.default_rng(9).standard_normal((2, 3))
        with pytest.warns(UserWarning, match="Implicit dimension"):
            np.testing.assert_allclose(F.softmax(logits), TF.softmax(torch.from_numpy(logits), dim=1).numpy(),
                                       rtol=1e-12)

    def test_dtype_argument_casts_first(self):
        logits = np.arange(6).reshape(2, 3)
        expected = TF.log_softmax(torch.from_numpy(logits), 1, dtype=torch.float64).numpy()
        assert_close(F.log_softmax(logits, 1, dtype=np.float64), expected, np.float64)


class TestNonFinitePolicy:
    """Where torch's number is the right one at a non-finite input, symce gives it."""

    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize("weight", [None, np.array([1.0, 2.0, 3.0])])
    def test_smoothed_probability_targets_at_a_minus_inf_logit_are_inf_as_in_torch(self, dtype, weight):
        """ε/C · (−inf) weighs every class: the loss is +inf, not the nan of 0 · (−inf) at a y_k = 0."""
        logits = np.array([[1.0, 0.0, -np.inf], [0.5, -np.inf, 2.0]], dtype)
        target = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype)
        weight = None if weight is None else weight.astype(dtype)
        for reduction in ("none", "mean"):
            value, grad = check_parity("cross_entropy", logits, target, weight=weight, label_smoothing=0.1,
                                       reduction=reduction)
            assert np.isposinf(value).all()

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_nll_gradient_off_the_target_is_zero_even_under_an_infinite_mean_scale(self, dtype):
        """Every kept weight 0 makes 'mean' divide by 0: torch's gradient is nan at the targets, 0 elsewhere."""
        log_probs = np.array([[-0.3, -1.2, -2.0], [-1.0, -0.5, -0.9]], dtype)
        _, grad = F.nll_loss_value_and_grad(log_probs, np.array([0, 0]), weight=np.array([0.0, 2.0, 1.0], dtype))
        expected = torch_value_and_grad(TF.nll_loss, log_probs, np.array([0, 0]), weight=np.array([0.0, 2.0, 1.0], dtype))[1]
        np.testing.assert_array_equal(grad, expected)
        assert np.isnan(grad[:, 0]).all() and (grad[:, 1:] == 0).all()


class TestDeliberateDifferences:
    """The README's table of the places where symce's number is not torch's, each with torch's beside it."""

    def test_an_ignored_sample_with_nan_logits_gets_gradient_0(self):
        logits, target = np.array([[np.nan, 0.0, 1.0], [1.0, 2.0, 0.0]]), np.array([-100, 1])
        _, theirs = torch_value_and_grad(TF.cross_entropy, logits, target)
        _, ours = F.cross_entropy_value_and_grad(logits, target)
        assert np.isnan(theirs[0]).all() and (ours[0] == 0).all()
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)

    def test_binary_cross_entropy_with_logits_at_infinities_takes_the_limit_where_torch_has_nan(self):
        x, y = np.array([np.inf, -np.inf, np.inf, -np.inf]), np.array([1.0, 0.0, 0.0, 1.0])
        theirs, their_grad = torch_value_and_grad(TF.binary_cross_entropy_with_logits, x, y, reduction="none")
        ours, grad = F.binary_cross_entropy_with_logits_value_and_grad(x, y, reduction="none")
        np.testing.assert_array_equal(theirs, [np.nan, np.nan, np.inf, np.nan])
        # the loss's limit at (−inf, 1) is +inf; at (±inf, y = sign) it is 0, where both give nan
        np.testing.assert_array_equal(ours, [np.nan, np.nan, np.inf, np.inf])
        np.testing.assert_array_equal(grad, [0.0, 0.0, 1.0, -1.0])  # σ(x) − y at the limits, as torch's
        np.testing.assert_array_equal(their_grad, grad)

    def test_a_plus_inf_logit_leaves_the_rest_of_its_row_finite(self):
        logits, target = np.array([[1.0, np.inf, 0.0]]), np.array([1])
        theirs, their_grad = torch_value_and_grad(TF.cross_entropy, logits, target)
        ours, grad = F.cross_entropy_value_and_grad(logits, target)
        assert np.isnan(theirs) and np.isnan(ours) and np.isnan(their_grad).all()
        np.testing.assert_array_equal(grad, [[0.0, np.nan, 0.0]])  # softmax's limit off the +inf class
        np.testing.assert_array_equal(F.softmax(logits, 1), [[0.0, np.nan, 0.0]])
        assert np.isnan(TF.softmax(torch.from_numpy(logits), 1).numpy()).all()

    def test_a_smoothed_mean_over_zero_weight_is_inf_where_torchs_is_nan(self):
        """Σ_i ℓ_i / Σ_i w[t_i] with a positive smoothing total over 0: +inf; torch's first term is 0/0."""
        logits, target, weight = np.array([[0.3, -1.2], [1.0, 0.0]]), np.array([0, 0]), np.array([0.0, 2.0])
        theirs, _ = torch_value_and_grad(TF.cross_entropy, logits, target, weight=weight, label_smoothing=0.1)
        assert np.isnan(theirs) and np.isposinf(F.cross_entropy(logits, target, weight=weight, label_smoothing=0.1))

    def test_soft_margin_loss_stays_finite_where_torchs_overflows(self):
        """torch's log1p(exp(−y·x)) is inf (gradient nan) past −y·x ≈ 709 in float64; the softplus form is not."""
        x, y = np.array([-1000.0, 800.0, 2.0]), np.array([1.0, -1.0, 1.0])
        theirs, their_grad = torch_value_and_grad(TF.soft_margin_loss, x, y, reduction="none")
        ours, grad = F.soft_margin_loss_value_and_grad(x, y, reduction="none")
        np.testing.assert_array_equal(theirs[:2], [np.inf, np.inf])
        assert np.isnan(their_grad[:2]).all()
        np.testing.assert_allclose(ours, [1000.0, 800.0, theirs[2]], rtol=1e-15)
        np.testing.assert_allclose(grad, [-1.0, 1.0, their_grad[2]], rtol=1e-15)

    @pytest.mark.parametrize("ours, theirs, value", [
        (F.soft_margin_loss, TF.soft_margin_loss, np.log(2.0)),
        (F.sigmoid_mse_loss, lambda x, y: TF.mse_loss(torch.sigmoid(x), y), 0.25)])
    def test_a_logit_loss_refuses_a_target_that_torch_broadcasts(self, ours, theirs, value):
        x, y = np.zeros((2, 3)), np.ones(3)
        broadcast, _ = torch_value_and_grad(theirs, x, y)  # mse_loss warns that it broadcasts, and does
        assert broadcast == pytest.approx(value)
        with pytest.raises(ValueError, match=r"target size \(3,\) must be the same as input size \(2, 3\)"):
            ours(x, y)

    def test_multilabel_soft_margin_loss_takes_one_weight_per_class_only(self):
        """torch multiplies the (N, C) losses by any broadcastable weight; the spec's weight is w_k, one per class."""
        x, y, per_sample = np.zeros((2, 3)), np.ones((2, 3)), np.array([[1.0], [3.0]])
        theirs, _ = torch_value_and_grad(TF.multilabel_soft_margin_loss, x, y, weight=per_sample)
        assert theirs == pytest.approx(2 * np.log(2.0))
        with pytest.raises(ValueError, match=r"weight must have shape \(3,\), one weight per class"):
            F.multilabel_soft_margin_loss(x, y, per_sample)


class TestInformation:
    @EXAMPLES
    @given(data=st.data(), dtype=st.sampled_from(FLOATS))
    def test_entropy_and_perplexity(self, data, dtype):
        logits, dim = array_and_dim(data.draw, dtype)
        p = TF.softmax(torch.from_numpy(logits), dim)
        p = torch.where(p < 1e-3, torch.zeros_like(p), p)  # exact zeros: 0·log 0 = 0
        expected = -torch.special.xlogy(p, p).sum(dim)
        assert_close(F.entropy(p.numpy(), dim), expected.numpy(), dtype)
        assert_close(F.perplexity(p.numpy(), dim), torch.exp(expected).numpy(), dtype)

    def test_uniform_perplexity_is_class_count(self):
        np.testing.assert_allclose(F.perplexity(np.full((2, 7), 1 / 7)), [7.0, 7.0], rtol=1e-12)


# --- layout: non-contiguous operands of the elementwise losses, and the docstring examples ------

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"])
def test_elementwise_non_contiguous(name, dtype):
    rng = np.random.default_rng(10)
    first = rng.uniform(0.05, 0.95, (4, 6)).astype(dtype).T  # (6, 4), Fortran-ordered
    second = rng.uniform(0.0, 1.0, (6, 8)).astype(dtype)[:, ::2]
    first = np.log(first) if name == "kl_div" else first
    assert not first.flags.c_contiguous and not second.flags.c_contiguous
    check_parity(name, first, second, reduction="none", grad_output=rng.standard_normal((6, 4)).astype(dtype))
    check_parity(name, first, second, reduction="sum")


def test_read_only_operands_reuse_the_writeable_ones_compilation():
    """A broadcast weight or a frozen target is the same kernel call as a writeable copy: numba
    would otherwise compile (and cache) every kernel it reaches a second time, once per flag."""
    from symce.generated import binary

    rng = np.random.default_rng(13)
    logits, target = rng.standard_normal((5, 3)), rng.uniform(size=(5, 3))
    weight, pos_weight = rng.uniform(0.5, 2.0, 3), rng.uniform(0.5, 2.0, 3)
    writeable = F.binary_cross_entropy_with_logits_value_and_grad(logits, target, weight=weight, pos_weight=pos_weight)
    compiled = {name: len(getattr(binary, name).signatures) for name in dir(binary)
                if hasattr(getattr(binary, name), "signatures")}
    for array in (logits, target, weight, pos_weight):
        array.flags.writeable = False
    read_only = F.binary_cross_entropy_with_logits_value_and_grad(
        logits, target, weight=np.broadcast_to(weight, (5, 3)), pos_weight=pos_weight)
    assert {name: len(getattr(binary, name).signatures) for name in compiled} == compiled
    np.testing.assert_allclose(read_only[0], writeable[0], rtol=1e-15)
    np.testing.assert_allclose(read_only[1], writeable[1], rtol=1e-15)


def test_docstring_examples():
    import symce.functional.losses as losses
    for module in (F, losses):
        assert doctest.testmod(module, raise_on_error=False).failed == 0


class TestGradientBuffer:
    """``out=``: the gradient written into a given array (reused across steps, or the input itself)."""

    CALLS = {
        "cross_entropy": (F.cross_entropy_value_and_grad, TF.cross_entropy, lambda rng, x: rng.integers(0, x.shape[1], x.shape[0])),
        "cross_entropy (N, C, d)": (F.cross_entropy_value_and_grad, TF.cross_entropy,
                                    lambda rng, x: rng.integers(0, x.shape[1], (x.shape[0],) + x.shape[2:])),
        "nll_loss": (F.nll_loss_value_and_grad, TF.nll_loss, lambda rng, x: rng.integers(0, x.shape[1], x.shape[0])),
        "bce_with_logits": (F.binary_cross_entropy_with_logits_value_and_grad, TF.binary_cross_entropy_with_logits,
                            lambda rng, x: (rng.uniform(size=x.shape) > 0.5).astype(x.dtype)),
    }

    @pytest.mark.parametrize("name", list(CALLS))
    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize("where", ["buffer", "in place"])
    def test_out_receives_the_gradient_torch_computes(self, name, dtype, where):
        ours, theirs, make_target = self.CALLS[name]
        rng = np.random.default_rng(11)
        shape = (6, 5, 3) if "(N, C, d)" in name else (16, 10)
        x = (rng.normal(size=shape) * 5).astype(dtype)
        target = make_target(rng, x)
        expected_loss, expected_grad = torch_value_and_grad(theirs, x, target, reduction="sum")
        out = x.copy() if where == "in place" else np.full_like(x, np.nan)
        logits = out if where == "in place" else x
        loss, grad = ours(logits, target, reduction="sum", out=out)
        assert grad is out
        np.testing.assert_allclose(loss, expected_loss, **TOLERANCES[dtype])
        np.testing.assert_allclose(grad, expected_grad, **TOLERANCES[dtype])

    def test_a_float16_input_gets_its_gradient_copied_into_a_float16_out(self):
        x = np.random.default_rng(12).normal(size=(4, 6)).astype(np.float16)
        target = np.array([0, 5, 2, 3])
        out = np.empty_like(x)
        loss, grad = F.cross_entropy_value_and_grad(x, target, out=out)
        _, expected = F.cross_entropy_value_and_grad(x, target)
        assert grad is out and grad.dtype == np.float16
        np.testing.assert_array_equal(grad, expected)

    @pytest.mark.parametrize("out, error, message", [
        (np.empty((4, 5)), ValueError, "shape"),
        (np.empty((4, 6), np.float32), TypeError, "dtype"),
        ([[0.0] * 6] * 4, TypeError, "NumPy array"),
    ])
    def test_a_wrong_out_is_refused(self, out, error, message):
        with pytest.raises(error, match=message):
            F.cross_entropy_value_and_grad(np.zeros((4, 6)), np.array([0, 1, 2, 3]), out=out)

    def test_an_out_sharing_memory_with_the_input_or_the_target_is_refused(self):
        """Only the input itself may be the buffer: a kernel writing into a shifted view of its
        input, or into its target, would read values it has already overwritten."""
        memory = np.zeros(5 * 6)
        x, shifted = memory[:24].reshape(4, 6), memory[6:].reshape(4, 6)
        with pytest.raises(ValueError, match="shares memory"):
            F.cross_entropy_value_and_grad(x, np.array([0, 1, 2, 3]), out=shifted)
        probabilities = np.full((4, 6), 1 / 6)
        with pytest.raises(ValueError, match="shares memory"):
            F.cross_entropy_value_and_grad(np.zeros((4, 6)), probabilities, out=probabilities)
        target = np.ones(8)
        with pytest.raises(ValueError, match="shares memory"):
            F.binary_cross_entropy_with_logits_value_and_grad(np.zeros(8), target, out=target)

    def test_a_read_only_out_is_refused(self):
        out = np.empty((4, 6))
        out.flags.writeable = False
        with pytest.raises(ValueError, match="writeable"):
            F.cross_entropy_value_and_grad(np.zeros((4, 6)), np.array([0, 1, 2, 3]), out=out)


def test_numba_finding_no_folder_to_cache_the_kernels_in_is_told_how_to_give_it_one():
    """An installed symce with an unwritable HOME: numba's own message names neither cause nor fix."""
    from symce.functional import _kernels

    def uncachable():
        raise RuntimeError("cannot cache function 'fast_exp': no locator available for file '/site/fitted.py'")
    with pytest.raises(RuntimeError, match="NUMBA_CACHE_DIR") as raised:
        _kernels.kernel(uncachable)
    assert "no locator available for file '/site/fitted.py'" in str(raised.value)

    def failing():
        raise RuntimeError("another failure")
    with pytest.raises(RuntimeError, match="^another failure$"):
        _kernels.kernel(failing)
