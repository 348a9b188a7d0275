"""Focal losses in NumPy with a ``gamma`` argument; at γ = 0 they are the plain losses."""
import numpy as np


def binary_focal_np(logits, labels, gamma=0.0):
    """Stable log σ(±x) via logaddexp, p_t = y·σ + (1 − y)(1 − σ), factor (1 − p_t)**γ.
    Expected vs sigmoid_binary_cross_entropy: equivalent."""
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    log_p = -np.logaddexp(0.0, -x)
    log_q = -np.logaddexp(0.0, x)
    p = np.exp(log_p)
    pt = y * p + (1 - y) * (1 - p)
    ce = -(y * log_p + (1 - y) * log_q)
    return np.mean((1 - pt) ** gamma * ce)


def multiclass_focal_np(logits, labels, gamma=0.0):
    """Max-shifted log-softmax, −(1 − p_t)**γ · log p_t. Expected vs the integer-label
    cross-entropy: equivalent."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    log_pt = log_p[np.arange(logits.shape[0]), labels]
    pt = np.exp(log_pt)
    return np.mean(-(1 - pt) ** gamma * log_pt)


def multiclass_focal_np_gamma2(logits, labels, gamma=2.0):
    """Expected: not_equivalent (γ = 2)."""
    return multiclass_focal_np(logits, labels, gamma)
