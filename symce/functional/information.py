"""Entropy and perplexity of categorical distributions, along any dim."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from symce.functional._kernels import bind
from symce.functional._types import FloatArray
from symce.functional.activations import _rows_along, _shaped
from symce.generated import kernels


def entropy(p: ArrayLike, dim: int = -1) -> FloatArray:
    r"""H(p) = -Σ_k p_k log p_k in nats along ``dim``, with 0 · log 0 = 0 (spec ``entropy``).

    The same as ``torch.distributions.Categorical(probs=p).entropy()`` for normalised ``p``;
    ``p`` is not renormalised here.
    """
    layout, rows, out_dtype = _rows_along(p, (dim,))
    return _shaped(layout.per_row(bind(lambda: kernels.entropy.forward, rows)()), p, out_dtype)


def perplexity(p: ArrayLike, dim: int = -1) -> FloatArray:
    r"""exp(H(p)): the effective number of equally likely classes (spec ``perplexity`` = exp ∘ entropy)."""
    return np.exp(entropy(p, dim))
