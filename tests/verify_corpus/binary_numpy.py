"""Binary cross-entropy / log-loss in NumPy and SciPy, as libraries and notebooks write it.

Specs: binary_cross_entropy (probs in (0, 1), labels in [0, 1]) and
sigmoid_binary_cross_entropy (logits, labels; params weight, pos_weight).

A note on "accurate": a loss of 1e-13 computed with an absolute error of ~1e-16 (log(1 − p)
for p ≈ 1e-13, or log(1 + tiny) inside any log-softmax) counts as accurate: torch's own
cross-entropy has that error too. An inf, a nan, or an error at the scale of the loss does not.
"""
import numpy as np
from scipy.special import expit, xlog1py, xlogy


def log_loss_clip_1e15(probs, labels, eps=1e-15):
    """The old log-loss default: clip to [1e-15, 1 − 1e-15]. Expected: not_equivalent —
    for p < 1e-15 (or > 1 − 1e-15) the clip changes the value in exact arithmetic."""
    p = np.clip(probs, eps, 1 - eps)
    return -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))


def log_loss_two_column(probs, labels):
    """A library-style log-loss: asarray, clip at the dtype's machine epsilon (2.2e-16),
    stack the two class columns, renormalise, xlogy. Expected: not_equivalent (the clip)."""
    y_prob = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(labels, dtype=np.float64)
    eps = np.finfo(y_prob.dtype).eps
    y_prob = np.clip(y_prob, eps, 1 - eps)
    columns = np.column_stack([1 - y_prob, y_prob])
    columns /= columns.sum(axis=1, keepdims=True)
    targets = np.column_stack([1 - y_true, y_true])
    return -xlogy(targets, columns).sum(axis=1).mean()


def bce_keras_backend(target, output):
    """A framework backend's NumPy reference: clip at 1e-7 *and* add 1e-7 inside both logs.
    Expected: not_equivalent (epsilon 1e-7)."""
    epsilon = 1e-7
    output = np.clip(output, epsilon, 1.0 - epsilon)
    bce = target * np.log(output + epsilon)
    bce += (1 - target) * np.log(1 - output + epsilon)
    return -np.mean(bce)


def bce_eps_in_log(probs, labels):
    """"Avoid log(0)": + 1e-8 inside both logs. Expected: not_equivalent (epsilon 1e-8)."""
    return -np.mean(labels * np.log(probs + 1e-8) + (1 - labels) * np.log(1 - probs + 1e-8))


def bce_xlogy(probs, labels):
    """xlogy(y, p) + xlogy(1 − y, 1 − p): 0·log 0 = 0 handled, no clip. Expected: equivalent
    (1 − p is exact for p near 1; for p near 0 its rounding is an absolute 1e-16, see above)."""
    return -np.mean(xlogy(labels, probs) + xlogy(1 - labels, 1 - probs))


def bce_xlog1py(probs, labels):
    """xlogy(y, p) + xlog1py(1 − y, −p): log1p for the negative class. Expected: equivalent."""
    return -(xlogy(labels, probs) + xlog1py(1 - labels, -probs)).mean()


def bce_checked_inputs(probs, labels):
    """Input validation first (copies, shape and range checks that raise), then BCE with
    log1p. None of the checks fire on valid inputs. Expected: equivalent."""
    probs = np.array(probs, dtype=float, copy=True)
    labels = np.asarray(labels, dtype=float)
    if probs.shape != labels.shape:
        raise ValueError(f"shape mismatch: {probs.shape} vs {labels.shape}")
    if (probs < 0).any() or (probs > 1).any():
        raise ValueError("probabilities must lie in [0, 1]")
    if len(labels[labels < 0]) > 0:
        raise ValueError("labels must be non-negative")
    per_sample = -(labels * np.log(probs) + (1.0 - labels) * np.log1p(-probs))
    return per_sample.sum() / probs.shape[0]


def bce_logits_pos_weight(logits, labels, pos_weight=3.0):
    """Logit BCE with a positive-class weight, log σ(x) = −logaddexp(0, −x).
    Expected with params pos_weight=3.0: equivalent."""
    log_sig = -np.logaddexp(0.0, -logits)
    log_one_minus_sig = -np.logaddexp(0.0, logits)
    return -np.mean(pos_weight * labels * log_sig + (1 - labels) * log_one_minus_sig)


def bce_logits_pos_weight_on_negatives(logits, labels, pos_weight=3.0):
    """The weight put on the wrong term (the negatives). Expected with params pos_weight=3.0:
    not_equivalent."""
    log_sig = -np.logaddexp(0.0, -logits)
    log_one_minus_sig = -np.logaddexp(0.0, logits)
    return -np.mean(labels * log_sig + pos_weight * (1 - labels) * log_one_minus_sig)


def bce_log_of_expit(logits, labels):
    """log(expit(x)) and log(expit(−x)): expit(−1e3) is 0 and its log −inf.
    Expected: unstable."""
    return -np.mean(labels * np.log(expit(logits)) + (1 - labels) * np.log(expit(-logits)))


def bce_logits_grad(logits, labels):
    """d(mean logit-BCE)/dx = (σ(x) − y) / N with SciPy's expit. Expected (wrt logits):
    equivalent."""
    return (expit(logits) - labels) / logits.shape[0]
