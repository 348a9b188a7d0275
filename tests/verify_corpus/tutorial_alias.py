"""Textbook code written only through the helper module ``tl`` and tensor methods; this file
never imports torch itself (the helpers do). Spec: the integer-label cross-entropy."""
from tutorlib import torch as tl


def tl_cross_entropy(y_hat, y):
    """−mean of the stable log-softmax at the labels. Expected: equivalent."""
    rows = tl.arange(y_hat.shape[0])
    return -tl.reduce_mean(tl.log_softmax(y_hat)[rows, y])


def tl_softmax_then_log(y_hat, y):
    """The book's first version: its unshifted softmax, then −log of the picked entries.
    Expected: unstable (exp overflows at 1e3; log of an underflowed probability)."""
    probs = tl.softmax(y_hat)
    return tl.reduce_mean(-tl.log(probs[tl.arange(len(probs)), y]))


def tl_one_hot_cross_entropy(y_hat, y):
    """One-hot times log-softmax, summed, divided by the batch size. Expected: equivalent."""
    targets = tl.one_hot(y, y_hat.shape[1])
    return -tl.reduce_sum(targets * tl.log_softmax(y_hat)) / y_hat.shape[0]
