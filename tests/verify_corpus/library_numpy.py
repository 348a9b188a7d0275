"""What real NumPy / SciPy code does around a loss, and the shape bugs that slip in.

Shape bugs (all not_equivalent — each is right only at some N or C):
  * ce_sum_over_two: a hard-coded batch size 2 (sum / 2 is the mean only at N = 2);
  * ce_first_four_classes: the normaliser sums only the first 4 classes (right for C ≤ 4);
  * ce_row_counted_twice: the first row appended again, as batch padding does (right at N = 1).
"""
import numpy as np
from scipy.special import entr, logsumexp, rel_entr


def _log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ----- integer-label cross-entropy ------------------------------------------------------
def ce_asarray_rowdot(logits, labels):
    """np.asarray / np.array conversions; row sums as exps.dot(np.ones(C)). Expected: equivalent."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.array(labels, dtype=np.int64)
    z = z - z.max(axis=1)[:, None]
    exps = np.exp(z)
    norm = exps.dot(np.ones(z.shape[1]))
    return np.mean(np.log(norm) - z[np.arange(z.shape[0]), y])


def ce_sum_over_two(logits, labels):
    """Sum divided by a hard-coded 2. Expected: not_equivalent (right only at N = 2)."""
    nll = -_log_softmax(logits)[np.arange(len(labels)), labels]
    return nll.sum() / 2


def ce_first_four_classes(logits, labels):
    """The normaliser over exps[:, :4] only. Expected: not_equivalent (right only for C ≤ 4)."""
    z = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(z)
    norm = exps[:, :4].sum(axis=1)
    return np.mean(np.log(norm) - z[np.arange(len(labels)), labels])


def ce_row_counted_twice(logits, labels):
    """The batch padded by repeating its first row. Expected: not_equivalent (right at N = 1)."""
    nll = -_log_softmax(logits)[np.arange(len(labels)), labels]
    return np.concatenate([nll, nll[:1]]).mean()


def weighted_ce(logits, labels, class_weight=(0.2, 1.0, 3.0)):
    """Class-weighted CE normalised by Σ w_t (torch's 'mean'). Expected with params
    weight=[0.2, 1.0, 3.0]: equivalent."""
    w = np.asarray(class_weight)[labels]
    nll = -_log_softmax(logits)[np.arange(len(labels)), labels]
    return (w * nll).sum() / w.sum()


def weighted_ce_mean_over_n(logits, labels, class_weight=(0.2, 1.0, 3.0)):
    """The weighted losses averaged over N instead of Σ w_t. Expected with params
    weight=[0.2, 1.0, 3.0]: not_equivalent."""
    w = np.asarray(class_weight)[labels]
    nll = -_log_softmax(logits)[np.arange(len(labels)), labels]
    return np.mean(w * nll)


# ----- softmax family (reduction none: one value / row per sample) -----------------------
def logsumexp_scipy(logits):
    """scipy.special.logsumexp per row. Expected vs logsumexp: equivalent."""
    return logsumexp(logits, axis=1)


def logsumexp_naive(logits):
    """log(sum(exp(z))): exp(1e3) is inf. Expected vs logsumexp: unstable."""
    return np.log(np.sum(np.exp(logits), axis=1))


def log_softmax_scipy(logits):
    """z − logsumexp(z, keepdims). Expected vs log_softmax: equivalent."""
    return logits - logsumexp(logits, axis=1, keepdims=True)


def softmax_shifted(logits):
    """Max-shifted softmax. Expected vs softmax: equivalent."""
    return _softmax(logits)


def softmax_unshifted(logits):
    """exp(z) / Σ exp(z): inf / inf = nan at 1e3. Expected vs softmax: unstable."""
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


# ----- distributions --------------------------------------------------------------------
def entropy_plain(p):
    """−Σ p log p, mean over the batch (the spec's p is positive). Expected vs entropy:
    equivalent."""
    return -(p * np.log(p)).sum(axis=1).mean()


def entropy_entr(p):
    """scipy.special.entr per row (reduction none). Expected vs entropy: equivalent."""
    return entr(p).sum(axis=1)


def kl_rel_entr(p, q):
    """scipy.special.rel_entr summed per row, mean over the batch. Expected vs kl_divergence:
    equivalent."""
    return rel_entr(p, q).sum(axis=1).mean()


def cross_entropy_pq_np(p, q):
    """−Σ p log q, mean over the batch. Expected vs cross_entropy: equivalent."""
    return -(p * np.log(q)).sum(axis=1).mean()


# ----- other specs ----------------------------------------------------------------------
def hinge_np(scores, labels):
    """Σ_k max(0, 1 − y_k h_k), mean. Expected vs multiclass_hinge: equivalent."""
    return np.maximum(0.0, 1.0 - labels * scores).sum(axis=1).mean()


def nll_take_along_axis(log_probs, labels):
    """−take_along_axis(log_probs, labels[:, None]).mean(). Expected vs nll_loss: equivalent."""
    return -np.take_along_axis(log_probs, labels[:, None], axis=1).mean()


def soft_targets_smoothed_np(logits, targets, smoothing=0.1):
    """Probability targets smoothed toward uniform, (1 − ε)·y + ε/C. Expected vs
    softmax_cross_entropy with params label_smoothing=0.1: equivalent."""
    classes = logits.shape[1]
    smoothed = (1.0 - smoothing) * targets + smoothing / classes
    return -(smoothed * _log_softmax(logits)).sum(axis=1).mean()


def squared_error_softmax_np(logits, targets):
    """Σ_k (softmax_k − y_k)², mean. Expected vs squared_error_softmax: equivalent."""
    return np.sum((_softmax(logits) - targets) ** 2, axis=1).mean()
