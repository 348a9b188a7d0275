"""Hand-written NumPy losses as people write them — some right, some subtly wrong.

Run this file to see every verdict (``python examples/losses_numpy.py [NAME ...]``), or check one with::

    symce verify examples/losses_numpy.py:cross_entropy_naive_softmax \
        --spec softmax_cross_entropy_with_integer_labels

Shapes: ``logits`` [N, C], integer ``labels`` [N]; binary losses take [N] arrays.
The expected verdict of each is in its docstring (and asserted in tests/test_verify.py).
"""
import numpy as np


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax(logits):
    exps = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exps / exps.sum(axis=1, keepdims=True)


def cross_entropy(logits, labels):
    """Max-shifted log-softmax, then the mean NLL. Verdict: equivalent."""
    return -_log_softmax(logits)[np.arange(len(labels)), labels].mean()


def cross_entropy_naive_softmax(logits, labels):
    """Softmax without the max shift: exp overflows. Verdict: unstable."""
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.log(probs[np.arange(len(labels)), labels]).mean()


def cross_entropy_eps_in_log(logits, labels):
    """"Avoid log(0)" with an epsilon. Verdict: not_equivalent (an extra epsilon term)."""
    probs = _softmax(logits)
    return -np.log(probs[np.arange(len(labels)), labels] + 1e-7).mean()


def nll_of_log_softmax(logits, labels):
    """log of a (stable) softmax: the softmax underflows to 0 first. Verdict: unstable."""
    return -np.log(_softmax(logits))[np.arange(len(labels)), labels].mean()


def cross_entropy_on_probabilities(logits, labels):
    """A cross-entropy that expects logits, given probabilities. Verdict: not_equivalent."""
    return cross_entropy(_softmax(logits), labels)


def cross_entropy_one_hot(logits, labels):
    """One-hot targets times log-softmax, via take_along_axis-free broadcasting. Verdict: equivalent."""
    one_hot = np.eye(logits.shape[1])[labels]
    return -(one_hot * _log_softmax(logits)).sum(axis=1).mean()


def label_smoothing(logits, labels, smoothing=0.1):
    """torch's smoothing: (1 − ε)·one_hot + ε/C. Verdict with --param label_smoothing=0.1: equivalent."""
    classes = logits.shape[1]
    targets = (1 - smoothing) * np.eye(classes)[labels] + smoothing / classes
    return -(targets * _log_softmax(logits)).sum(axis=1).mean()


def label_smoothing_other_classes(logits, labels, smoothing=0.1):
    """1 − ε on the label, ε spread over the C − 1 *other* classes. Verdict with
    --param label_smoothing=0.1: not_equivalent, = torch's at ε·C/(C−1)."""
    classes = logits.shape[1]
    one_hot = np.eye(classes)[labels]
    targets = (1 - smoothing) * one_hot + smoothing / (classes - 1) * (1 - one_hot)
    return -(targets * _log_softmax(logits)).sum(axis=1).mean()


def bce_clipped(probs, labels):
    """Clip the probabilities "for safety". Verdict: not_equivalent — below 1e-7 (or above
    1 − 1e-7) the clip changes the value itself, in exact arithmetic, not just its rounding."""
    probs = np.clip(probs, 1e-7, 1 - 1e-7)
    return -(labels * np.log(probs) + (1 - labels) * np.log(1 - probs)).mean()


def bce(probs, labels):
    """Binary cross-entropy on probabilities, as written in textbooks. Verdict: equivalent."""
    return -(labels * np.log(probs) + (1 - labels) * np.log1p(-probs)).mean()


def bce_through_sigmoid(logits, labels):
    """sigmoid, then log: σ(x) rounds to 1 for x > 37. Verdict: unstable."""
    probs = 1 / (1 + np.exp(-logits))
    return -(labels * np.log(probs) + (1 - labels) * np.log(1 - probs)).mean()


def bce_with_logits(logits, labels):
    """The stable form max(x, 0) − x·y + log1p(exp(−|x|)). Verdict: equivalent."""
    return (np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))).mean()


def cross_entropy_grad(logits, labels):
    """d mean-CE / d logits = (softmax − one_hot) / N. Verdict with --wrt logits: equivalent."""
    return (_softmax(logits) - np.eye(logits.shape[1])[labels]) / len(labels)


def cross_entropy_grad_missing_mean(logits, labels):
    """The per-sample gradient, used for a mean loss. Verdict with --wrt logits: not_equivalent (1/N)."""
    return _softmax(logits) - np.eye(logits.shape[1])[labels]


def cross_entropy_grad_flipped_sign(logits, labels):
    """one_hot − softmax: the gradient of the log-likelihood, not of the loss. Verdict: not_equivalent (sign)."""
    return (np.eye(logits.shape[1])[labels] - _softmax(logits)) / len(labels)


CE = "softmax_cross_entropy_with_integer_labels"
#: the spec each example claims to compute, and the options of its check (its verdict is in its docstring)
CHECKS = {
    "cross_entropy": (CE, {}), "cross_entropy_one_hot": (CE, {}), "cross_entropy_naive_softmax": (CE, {}),
    "nll_of_log_softmax": (CE, {}), "cross_entropy_eps_in_log": (CE, {}), "cross_entropy_on_probabilities": (CE, {}),
    "label_smoothing": (CE, {"params": {"label_smoothing": 0.1}}),
    "label_smoothing_other_classes": (CE, {"params": {"label_smoothing": 0.1}}),
    "bce": ("binary_cross_entropy", {}), "bce_clipped": ("binary_cross_entropy", {}),
    "bce_through_sigmoid": ("sigmoid_binary_cross_entropy", {}), "bce_with_logits": ("sigmoid_binary_cross_entropy", {}),
    "cross_entropy_grad": (CE, {"wrt": "logits"}), "cross_entropy_grad_missing_mean": (CE, {"wrt": "logits"}),
    "cross_entropy_grad_flipped_sign": (CE, {"wrt": "logits"}),
}

if __name__ == "__main__":  # python examples/losses_numpy.py [NAME ...]: each example's verdict
    import sys

    import symce

    for name in sys.argv[1:] or CHECKS:
        spec, options = CHECKS[name]
        print(f"{name}: {symce.verify(globals()[name], spec, **options).verdict}")
