"""A plain NumPy implementation of the benchmarked losses, for context: what one writes by hand.

Stable forms, nothing clever: logsumexp with the max shift for the cross-entropies, the softplus
form ``max(x, 0) − x·y + log1p(exp(−|x|))`` for binary cross-entropy with logits, computed in the
input's dtype with NumPy's own single-threaded ufuncs and einsum (not ``@``: OpenBLAS's threads spin
for a while after each product, on the cores the next timings need). Same arguments and semantics as
``torch.nn.functional`` for the cases the benchmark times (reduction 'mean' or 'sum', (N, C)
logits); tests/test_bench.py checks values and gradients against torch.
"""
from __future__ import annotations

import numpy as np


def _shifted_and_logsumexp(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z − max(z) and logsumexp(z − max(z)) per row (N, 1): log_softmax(z) = shifted − lse."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted, np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _check(reduction: str) -> None:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"the reference implements reduction 'mean' and 'sum', got {reduction!r}")


def _class_index_rows(logits, target, weight, ignore_index, label_smoothing):
    """Per-row losses of class-index targets, with what the gradient needs."""
    n, c = logits.shape
    dtype = logits.dtype.type
    w = np.ones(c, logits.dtype) if weight is None else np.asarray(weight, logits.dtype)
    keep = target != ignore_index
    t = np.where(keep, target, 0)
    w_t = np.where(keep, w[t], dtype(0))
    shifted, lse = _shifted_and_logsumexp(logits)
    eps = dtype(label_smoothing)
    rows = (dtype(1) - eps) * w_t * (lse[:, 0] - shifted[np.arange(n), t])
    if label_smoothing:  # ε/C Σ_k w_k (−log softmax(z)_k) = ε/C (lse Σ_k w_k − Σ_k w_k shifted_k)
        rows += np.where(keep, eps / dtype(c) * (lse[:, 0] * w.sum() - np.einsum("ij,j->i", shifted, w)), dtype(0))
    return rows, shifted, lse, w, keep, t, w_t


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """torch.nn.functional.cross_entropy for (N, C) logits: class indices (N,) or probabilities (N, C)."""
    return cross_entropy_value_and_grad(input, target, weight, ignore_index, reduction, label_smoothing,
                                        gradient=False)[0]


def cross_entropy_value_and_grad(input, target, weight=None, ignore_index=-100, reduction="mean",
                                 label_smoothing=0.0, gradient=True):
    """(cross_entropy(...), d loss / d input); the gradient is None when ``gradient`` is false."""
    _check(reduction)
    target = np.asarray(target)
    if target.dtype.kind == "f":
        return _probability_targets(input, target, weight, reduction, label_smoothing, gradient)
    dtype = input.dtype.type
    rows, shifted, lse, w, keep, t, w_t = _class_index_rows(input, target, weight, ignore_index, label_smoothing)
    divisor = w_t.sum() if reduction == "mean" else dtype(1)  # torch: 'mean' divides by Σ keep·w[t]
    value = rows.sum() / divisor
    if not gradient:
        return value, None
    n, c = input.shape
    eps = dtype(label_smoothing)
    # ∂ℓ_i/∂z_ij = (1−ε) w_t (p_ij − δ_jt) + ε/C (p_ij Σ_k w_k − w_j), p = softmax(z_i)
    grad = shifted
    grad -= lse
    np.exp(grad, out=grad)
    grad *= (((dtype(1) - eps) * w_t + np.where(keep, eps / dtype(c) * w.sum(), dtype(0))) / divisor)[:, None]
    grad[np.arange(n), t] -= (dtype(1) - eps) * w_t / divisor
    if label_smoothing:
        grad -= np.outer(np.where(keep, eps / dtype(c) / divisor, dtype(0)), w).astype(input.dtype, copy=False)
    return value, grad


def _probability_targets(logits, target, weight, reduction, label_smoothing, gradient):
    """ℓ_i = −Σ_k w_k y_ik log softmax(z_i)_k with y = (1−ε) target + ε/C; 'mean' divides by N."""
    n, c = logits.shape
    dtype = logits.dtype.type
    y = target.astype(logits.dtype, copy=False)
    if label_smoothing:
        y = (dtype(1) - dtype(label_smoothing)) * y + dtype(label_smoothing) / dtype(c)
    wy = y if weight is None else y * np.asarray(weight, logits.dtype)
    shifted, lse = _shifted_and_logsumexp(logits)
    total = wy.sum(axis=1)
    rows = lse[:, 0] * total - np.einsum("ij,ij->i", wy, shifted)
    divisor = dtype(n) if reduction == "mean" else dtype(1)
    value = rows.sum() / divisor
    if not gradient:
        return value, None
    # ∂ℓ_i/∂z_ij = p_ij Σ_k w_k y_ik − w_j y_ij
    grad = shifted
    grad -= lse
    np.exp(grad, out=grad)
    grad *= total[:, None]
    grad -= wy
    grad /= divisor
    return value, grad


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """torch.nn.functional.binary_cross_entropy_with_logits."""
    return binary_cross_entropy_with_logits_value_and_grad(input, target, weight, reduction, pos_weight,
                                                           gradient=False)[0]


def binary_cross_entropy_with_logits_value_and_grad(input, target, weight=None, reduction="mean",
                                                    pos_weight=None, gradient=True):
    """(binary_cross_entropy_with_logits(...), d loss / d input), by the softplus form.

    ℓ = (1 − y) x + (1 + (pw − 1) y) softplus(−x), softplus(−x) = max(−x, 0) + log1p(exp(−|x|)),
    ∂ℓ/∂x = (1 − y) − (1 + (pw − 1) y) (1 − σ(x)); with pw = 1: ℓ = max(x, 0) − x y + log1p(exp(−|x|)).
    """
    _check(reduction)
    x = input
    dtype = x.dtype.type
    y = np.asarray(target, x.dtype)
    e = np.exp(-np.abs(x))
    softplus_neg = np.maximum(-x, dtype(0)) + np.log1p(e)
    factor = None if pos_weight is None else dtype(1) + (np.asarray(pos_weight, x.dtype) - dtype(1)) * y
    rows = (dtype(1) - y) * x + (softplus_neg if factor is None else factor * softplus_neg)
    if weight is not None:
        rows *= np.asarray(weight, x.dtype)
    divisor = dtype(x.size) if reduction == "mean" else dtype(1)
    value = rows.sum() / divisor
    if not gradient:
        return value, None
    one_minus_sigmoid = np.where(x >= 0, e, dtype(1)) / (dtype(1) + e)  # 1 − σ(x) without cancellation
    grad = (dtype(1) - y) - (one_minus_sigmoid if factor is None else factor * one_minus_sigmoid)
    if weight is not None:
        grad *= np.asarray(weight, x.dtype)
    grad /= divisor
    return value, grad
