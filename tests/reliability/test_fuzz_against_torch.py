"""Adversarial differential fuzzing of every symce.functional function against torch.nn.functional.

Where tests/test_functional.py draws well-behaved inputs, these draw the ones that break losses:
logits of ±1e4, ties, ±inf and nan mixed into rows, probabilities of exactly 0 and 1, zero
weights, ignored samples, empty batches, 0-d and (N, C, d) layouts, and every option. Each value
and gradient must be torch's (same nans and infinities), except where the README's table of
deliberate differences says otherwise:

* where torch's result is nan at an element whose row (or element) holds a non-finite input,
  symce may return a number (the limit, or the finite part of a partly infinite row);
* an ignored sample's gradient is exactly 0 (torch gives it nan when its logits hold one);
* a class-index 'mean' whose denominator Σ keep·w[t] is 0 is not a number in both, but where
  torch's is nan (0/0 in its first term), symce's may be ±inf (a non-zero total over 0).

``SYMCE_FUZZ_EXAMPLES`` sets the examples per test (default 30, about a minute for the suite on
two cores; the long profile: ``SYMCE_FUZZ_EXAMPLES=2000``).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symce.functional as F

EXAMPLES = settings(max_examples=int(os.environ.get("SYMCE_FUZZ_EXAMPLES", "30")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TOLERANCES = {np.float64: dict(rtol=1e-9, atol=1e-12), np.float32: dict(rtol=2e-4, atol=1e-5)}
SPECIAL = np.array([np.inf, -np.inf, np.nan, 1e4, -1e4, 0.0, 88.0, -104.0])
DTYPES = st.sampled_from([np.float32, np.float64])
REDUCTIONS = st.sampled_from(["none", "mean", "sum"])


def adversarial(draw, shape, dtype, finite_only=False):
    """Normal logits at a drawn scale, with some elements replaced by special values."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = np.asarray(rng.standard_normal(shape) * draw(st.sampled_from([1.0, 30.0, 1e4])))
    if draw(st.booleans()):
        values = np.asarray(np.round(values))  # ties
    rate = draw(st.sampled_from([0.0, 0.05, 0.3]))
    special = SPECIAL[3:] if finite_only else SPECIAL
    mask = rng.random(shape) < rate
    values[mask] = rng.choice(special, size=int(mask.sum()))
    return values.astype(dtype), rng


def layout(draw, classes_min=1):
    classes = draw(st.integers(classes_min, 6))
    kind = draw(st.sampled_from(["vector", "matrix", "matrix", "spatial"]))
    if kind == "vector":
        return (classes,)
    rows = draw(st.integers(0, 5))
    return (rows, classes) if kind == "matrix" else (rows, classes, draw(st.integers(1, 3)))


def as_tensor(value):
    # a copy, not np.ascontiguousarray, which makes a 0-d array 1-d
    return torch.from_numpy(value.copy(order="C")) if isinstance(value, np.ndarray) else value


def torch_result(name, input, *args, grad_output=None, **kwargs):
    leaf = torch.tensor(input, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = getattr(TF, name)(leaf, *map(as_tensor, args), **{k: as_tensor(v) for k, v in kwargs.items()})
    loss.backward(torch.ones_like(loss) if grad_output is None else torch.from_numpy(grad_output))
    return loss.detach().numpy(), leaf.grad.numpy()


def non_finite_rows(input: np.ndarray, row_axis: int | None) -> np.ndarray:
    """Per element of the input: whether its row (class axis ``row_axis``; None: itself) holds ±inf or nan."""
    bad = ~np.isfinite(input)
    return bad if row_axis is None else np.broadcast_to(bad.any(axis=row_axis, keepdims=True), input.shape)


def assert_like_torch(ours, theirs, dtype, allowed: np.ndarray):
    """Equal to torch (nan for nan, ±inf for ±inf) wherever torch is not nan at an ``allowed`` element."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape and ours.dtype == np.dtype(dtype), (ours.shape, theirs.shape, ours.dtype)
    compared = ~(np.isnan(theirs) & np.broadcast_to(allowed, theirs.shape))
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(ours[compared], theirs[compared], equal_nan=True, **TOLERANCES[dtype])


def check(name, input, *args, grad_output=None, row_axis=1, grad_fixed=None,
          empty_mean=False, **kwargs):
    """Value, and the fused value and gradient, of symce's ``name`` against torch's.

    ``empty_mean``: the 'mean' divides by 0; then only non-finiteness is compared.
    """
    dtype = input.dtype.type
    value, grad = torch_result(name, input, *args, grad_output=grad_output, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = getattr(F, name)(input, *args, **kwargs)
        our_loss, our_grad = getattr(F, f"{name}_value_and_grad")(input, *args, grad_output=grad_output, **kwargs)
    if empty_mean:
        assert np.isnan(value) and not np.isfinite(ours) and not np.isfinite(our_loss), (value, ours, our_loss)
        return
    grad_allowed = non_finite_rows(input, row_axis if input.ndim > 1 else 0)
    loss_allowed = np.asarray(grad_allowed.any()) if np.ndim(value) == 0 else \
        grad_allowed.any(axis=row_axis if input.ndim > 1 else 0)
    for result in (ours, our_loss):
        assert_like_torch(result, value, dtype, loss_allowed)
    if grad_fixed is not None:  # elements whose gradient symce fixes, whatever torch gives
        where, fixed = grad_fixed
        assert (our_grad[where] == fixed).all(), our_grad[where]
        grad_allowed = grad_allowed | where
    assert_like_torch(our_grad, grad, dtype, grad_allowed)


def class_axis(shape) -> int:
    return 0 if len(shape) == 1 else 1


def samples(shape) -> tuple[int, ...]:
    return () if len(shape) == 1 else (shape[0],) + shape[2:]


@EXAMPLES
@given(data=st.data(), dtype=DTYPES, reduction=REDUCTIONS, smoothing=st.sampled_from([0.0, 0.1, 1.0]))
def test_cross_entropy_with_class_indices(data, dtype, reduction, smoothing):
    shape = layout(data.draw)
    x, rng = adversarial(data.draw, shape, dtype)
    classes = shape[class_axis(shape)]
    target = rng.integers(0, classes, samples(shape))
    ignored = rng.random(samples(shape)) < data.draw(st.sampled_from([0.0, 0.3, 1.0]))
    target = np.where(ignored, -100, target)
    weight = rng.choice([0.0, 0.5, 2.0], classes).astype(dtype) if data.draw(st.booleans()) else None
    grad_output = rng.standard_normal(samples(shape) if reduction == "none" else ()).astype(dtype) \
        if data.draw(st.booleans()) else None
    ignored_elements = np.expand_dims(target == -100, class_axis(shape)) if shape != (classes,) else np.asarray(target == -100)
    kept_weight = np.where(target == -100, 0, 1 if weight is None else weight[np.where(target == -100, 0, target)])
    check("cross_entropy", x, target, weight=weight, reduction=reduction, label_smoothing=smoothing,
          grad_output=grad_output, row_axis=class_axis(shape), empty_mean=reduction == "mean" and kept_weight.sum() == 0,
          grad_fixed=(np.broadcast_to(ignored_elements, shape), 0))


@EXAMPLES
@given(data=st.data(), dtype=DTYPES, reduction=REDUCTIONS, smoothing=st.sampled_from([0.0, 0.1, 1.0]))
def test_cross_entropy_with_probabilities(data, dtype, reduction, smoothing):
    shape = layout(data.draw)
    x, rng = adversarial(data.draw, shape, dtype)
    y = rng.random(shape) * (rng.random(shape) < 0.6)  # zeros among them
    y = (y / np.maximum(y.sum(axis=class_axis(shape), keepdims=True), 1e-30)).astype(dtype)
    weight = rng.choice([0.0, 0.5, 2.0], shape[class_axis(shape)]).astype(dtype) if data.draw(st.booleans()) else None
    check("cross_entropy", x, y, weight=weight, reduction=reduction, label_smoothing=smoothing,
          row_axis=class_axis(shape))


@EXAMPLES
@given(data=st.data(), dtype=DTYPES, reduction=REDUCTIONS)
def test_nll_loss(data, dtype, reduction):
    shape = layout(data.draw)
    x, rng = adversarial(data.draw, shape, dtype)
    x = -np.abs(x)  # log-probabilities, −inf included
    target = rng.integers(0, shape[class_axis(shape)], samples(shape))
    target = np.where(rng.random(target.shape) < 0.2, 1, target)
    weight = rng.choice([0.0, 1.0, 3.0], shape[class_axis(shape)]).astype(dtype) if data.draw(st.booleans()) else None
    check("nll_loss", x, target, weight=weight, ignore_index=1, reduction=reduction, row_axis=class_axis(shape))


@EXAMPLES
@given(data=st.data(), dtype=DTYPES, reduction=REDUCTIONS)
def test_binary_cross_entropy(data, dtype, reduction):
    shape = data.draw(st.sampled_from([(0,), (7,), (3, 4), (2, 3, 2)]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    p = rng.choice([0.0, 1.0, 1e-30, 1 - 1e-7, 0.5, 0.3], shape).astype(dtype)
    y = rng.choice([0.0, 1.0, 0.25], shape).astype(dtype)
    weight = rng.choice([0.0, 2.0], shape[-1:]).astype(dtype) if data.draw(st.booleans()) else None
    check("binary_cross_entropy", p, y, weight=weight, reduction=reduction, row_axis=None)


@EXAMPLES
@given(data=st.data(), dtype=DTYPES, reduction=REDUCTIONS)
def test_binary_cross_entropy_with_logits(data, dtype, reduction):
    shape = data.draw(st.sampled_from([(0,), (7,), (3, 4), (2, 3, 2)]))
    x, rng = adversarial(data.draw, shape, dtype)
    y = rng.choice([0.0, 1.0, 0.3], shape).astype(dtype)
    weight = rng.choice([0.0, 2.0], shape).astype(dtype) if data.draw(st.booleans()) else None
    pos_weight = rng.choice([0.5, 3.0], shape[-1:]).astype(dtype) if data.draw(st.booleans()) else None
    check("binary_cross_entropy_with_logits", x, y, weight=weight, pos_weight=pos_weight, reduction=reduction,
          row_axis=None)


@EXAMPLES
@given(data=st.data(), dtype=DTYPES, reduction=st.sampled_from(["none", "mean", "sum", "batchmean"]),
       log_target=st.booleans())
def test_kl_div(data, dtype, reduction, log_target):
    shape = data.draw(st.sampled_from([(5,), (3, 4), (2, 3, 2)]))
    x, rng = adversarial(data.draw, shape, dtype)
    target = rng.choice([0.0, 0.2, 1.0], shape)
    target = (np.log(np.maximum(target, 1e-30)) if log_target else target).astype(dtype)
    check("kl_div", -np.abs(x), target, reduction=reduction, log_target=log_target, row_axis=None)


@EXAMPLES
@given(data=st.data(), dtype=DTYPES, name=st.sampled_from(["softmax", "log_softmax"]))
def test_softmax_and_log_softmax(data, dtype, name):
    shape = data.draw(st.sampled_from([(), (4,), (3, 5), (2, 3, 4)]))
    x, _ = adversarial(data.draw, shape, dtype)
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    ours = getattr(F, name)(x, dim=dim)
    theirs = getattr(torch, name)(torch.from_numpy(np.asarray(x)), dim=dim).numpy()
    assert_like_torch(ours, theirs, dtype, non_finite_rows(x, dim if x.ndim else None))


@EXAMPLES
@given(data=st.data(), dtype=DTYPES, keepdim=st.booleans())
def test_logsumexp(data, dtype, keepdim):
    shape = data.draw(st.sampled_from([(), (4,), (3, 5), (2, 3, 4)]))
    x, _ = adversarial(data.draw, shape, dtype)
    dims = data.draw(st.sampled_from([(0,), (-1,)] + ([(0, -1)] if len(shape) > 1 else [])))
    ours = F.logsumexp(x, dim=dims, keepdim=keepdim)
    theirs = torch.logsumexp(torch.from_numpy(np.asarray(x)), dim=dims, keepdim=keepdim).numpy()
    bad = ~np.isfinite(x)
    assert_like_torch(ours, theirs, dtype, bad.any(axis=dims, keepdims=keepdim) if x.ndim else bad)
