"""Your own loss as a SymPy expression, compiled to fused numba kernels by symce.

Two losses on the softmax probabilities p = softmax(z) of an integer label t:

* focal loss (Lin et al., 2017, "Focal Loss for Dense Object Detection"):
  L = −(1 − p_t)^γ · log p_t
* poly-1 loss (Leng et al., 2022, "PolyLoss: A Polynomial Expansion Perspective of
  Classification Loss Functions"): L = −log p_t + ε · (1 − p_t)

Each is written once, from the same building blocks as the built-in specs; symce derives
the gradient (SymPy's derivative), applies the proven stability rewrites, and prints
forward and fused forward+backward numba kernels — the path ``symce regen`` takes for the
built-in losses. Run it: ``python examples/custom_losses.py``.
"""
from __future__ import annotations

import tempfile

import numpy as np
import sympy as sp

from symce.codegen import generate_kernel
from symce.spec import Input, Param, Spec, blocks
from symce.spec.symbols import t, z

LOGITS = Input("logits", z, "vector", "real", "unnormalised scores, one per class")
LABELS = Input("labels", t, "label", "index", "the target class index, 0 <= t < C")

gamma = sp.Symbol("gamma", nonnegative=True)
poly_epsilon = sp.Symbol("poly_epsilon", real=True)
p_t = blocks.softmax(z, t)

focal_loss = Spec(
    name="focal_loss",
    expr=-(1 - p_t) ** gamma * blocks.log_softmax(z, t),
    inputs=(LOGITS, LABELS),
    params=(Param("gamma", gamma, "scalar", sp.Integer(2), "focusing parameter γ ≥ 0"),),
    doc="Focal loss: cross-entropy down-weighted on well-classified samples.",
    reference="Lin et al. (2017), Focal Loss for Dense Object Detection",
)

poly1_loss = Spec(
    name="poly1_loss",
    expr=-blocks.log_softmax(z, t) + poly_epsilon * (1 - p_t),
    inputs=(LOGITS, LABELS),
    params=(Param("poly_epsilon", poly_epsilon, "scalar", sp.Integer(1), "weight ε of the first polynomial term"),),
    doc="Poly-1 loss: cross-entropy plus ε times the first term of its Taylor expansion in (1 - p_t).",
    reference="Leng et al. (2022), PolyLoss (ICLR)",
)


def build(out: str) -> dict:
    """Generate and import the kernels of both losses into the folder ``out``."""
    return {spec.name: generate_kernel(spec, out) for spec in (focal_loss, poly1_loss)}


if __name__ == "__main__":
    kernels = build(tempfile.mkdtemp(prefix="symce_custom_"))
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    labels = np.array([0, 2])
    loss, grad = kernels["focal_loss"].focal_loss_forward_backward(logits, labels, 2.0, np.ones(2))
    print("focal loss", loss, "\ngradient\n", grad)
    loss, grad = kernels["poly1_loss"].poly1_loss_forward_backward(logits, labels, 1.0, np.ones(2))
    print("poly-1 loss", loss, "\ngradient\n", grad)
