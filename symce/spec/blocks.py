"""Building blocks: the expressions specs are assembled from, each written once.

Identities compose these (e.g. ``nll(log_softmax(z, k), t)``) so that what they state is
about the same expressions the specs define.
"""
import sympy as sp

from symce.spec.core import class_sum
from symce.spec.symbols import C, k


def logsumexp(v: sp.IndexedBase) -> sp.Expr:
    """log Σ_k exp(v_k)."""
    return sp.log(class_sum(sp.exp(v[k])))


def logsumexp_shifted(v: sp.IndexedBase, shift: sp.Expr) -> sp.Expr:
    """shift + log Σ_k exp(v_k − shift): logsumexp with every exponent shifted (the max in kernels)."""
    return shift + sp.log(class_sum(sp.exp(v[k] - shift)))


def softmax(v: sp.IndexedBase, index: sp.Expr) -> sp.Expr:
    """exp(v_index) / Σ_k exp(v_k)."""
    return sp.exp(v[index]) / class_sum(sp.exp(v[k]))


def log_softmax(v: sp.IndexedBase, index: sp.Expr) -> sp.Expr:
    """log softmax(v)_index, as defined: the log of the softmax, not yet rewritten."""
    return sp.log(softmax(v, index))


def sigmoid(v: sp.Expr) -> sp.Expr:
    """σ(v) = 1 / (1 + exp(−v))."""
    return 1 / (1 + sp.exp(-v))


def softplus(v: sp.Expr) -> sp.Expr:
    """log(1 + exp(v))."""
    return sp.log(1 + sp.exp(v))


def smoothed(v: sp.IndexedBase, index: sp.Expr, epsilon: sp.Expr) -> sp.Expr:
    """Label-smoothed target (1 − ε)·v_index + ε/C, torch's smoothing of probability targets."""
    return (1 - epsilon) * v[index] + epsilon / C
