"""Your own loss, end to end: a SymPy definition → symce.compile → NumPy and torch functions.

Two losses on the softmax probabilities p = softmax(z) of an integer label t:

* focal loss (Lin et al., 2017, "Focal Loss for Dense Object Detection"):
  L = −(1 − p_t)^γ · log p_t
* poly-1 loss (Leng et al., 2022, "PolyLoss: A Polynomial Expansion Perspective of
  Classification Loss Functions"): L = −log p_t + ε · (1 − p_t)

Each is written once, from the same building blocks as the built-in specs; ``symce.compile``
derives the gradient (SymPy's derivative, with a checked derivation), applies the proven
stability rewrites and generates fused numba kernels — the path ``symce regen`` takes for the
built-in losses — into the user cache (``SYMCE_CACHE_DIR`` overrides it). The first run compiles
them; every later run loads them. Run it: ``python examples/custom_losses.py``.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import symce
from symce.spec import Param, Spec, blocks
from symce.spec.losses import INT_LABELS, LOGITS
from symce.spec.symbols import t, z

gamma = sp.Symbol("gamma", nonnegative=True)
poly_epsilon = sp.Symbol("poly_epsilon", real=True)
p_t = blocks.softmax(z, t)

focal_loss = Spec(
    name="focal_loss",
    expr=-(1 - p_t) ** gamma * blocks.log_softmax(z, t),
    inputs=(LOGITS, INT_LABELS),
    params=(Param("gamma", gamma, "scalar", sp.Integer(0), "focusing parameter γ ≥ 0 (0: cross-entropy)"),),
    doc="Focal loss: cross-entropy down-weighted on well-classified samples.",
    reference="Lin et al. (2017), Focal Loss for Dense Object Detection",
)

poly1_loss = Spec(
    name="poly1_loss",
    expr=-blocks.log_softmax(z, t) + poly_epsilon * (1 - p_t),
    inputs=(LOGITS, INT_LABELS),
    params=(Param("poly_epsilon", poly_epsilon, "scalar", sp.Integer(0), "weight ε of the first polynomial term"),),
    doc="Poly-1 loss: cross-entropy plus ε times the first term of its Taylor expansion in (1 - p_t).",
    reference="Leng et al. (2022), PolyLoss (ICLR)",
)


if __name__ == "__main__":
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [900.0, 0.0, 0.0]])
    labels = np.array([0, 2, -100])  # the third sample is ignored (ignore_index=-100)
    focal = symce.compile(focal_loss)
    loss, grad = focal.value_and_grad(logits, labels, reduction="mean", gamma=2.0)
    print("focal loss", loss, "\ngradient\n", grad)
    poly1 = symce.compile(poly1_loss)
    print("poly-1 loss per sample", poly1(logits, labels, reduction="none", poly_epsilon=1.0))
    print("kernels in", focal.path.parent.parent)
