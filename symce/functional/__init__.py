"""A torch.nn.functional-compatible NumPy API whose numbers come from the generated kernels.

Same names, arguments, defaults, shapes and semantics as ``torch.nn.functional`` (torch's quirks
included), on NumPy arrays; every loss also has ``NAME_value_and_grad(..., grad_output=None)``
returning ``(loss, d loss / d input)`` from one fused forward+backward kernel.

>>> import numpy as np
>>> from symce import functional as F
>>> logits, labels = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]), np.array([0, 2])
>>> loss, grad = F.cross_entropy_value_and_grad(logits, labels)
>>> grad.shape
(2, 3)
"""
from symce.functional.activations import log_softmax, logsumexp, softmax
from symce.functional.information import entropy, perplexity
from symce.functional.linear import linear_cross_entropy, linear_cross_entropy_value_and_grad
from symce.functional.losses import (
    binary_cross_entropy,
    binary_cross_entropy_value_and_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_value_and_grad,
    cross_entropy,
    cross_entropy_value_and_grad,
    focal_loss,
    focal_loss_value_and_grad,
    kl_div,
    kl_div_value_and_grad,
    multilabel_soft_margin_loss,
    multilabel_soft_margin_loss_value_and_grad,
    nll_loss,
    nll_loss_value_and_grad,
    poly1_cross_entropy,
    poly1_cross_entropy_value_and_grad,
    sigmoid_focal_loss,
    sigmoid_focal_loss_value_and_grad,
    sigmoid_mse_loss,
    sigmoid_mse_loss_value_and_grad,
    soft_margin_loss,
    soft_margin_loss_value_and_grad,
)

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_value_and_grad",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_value_and_grad",
    "cross_entropy", "cross_entropy_value_and_grad",
    "entropy", "perplexity",
    "focal_loss", "focal_loss_value_and_grad",
    "kl_div", "kl_div_value_and_grad",
    "linear_cross_entropy", "linear_cross_entropy_value_and_grad",
    "log_softmax", "logsumexp", "softmax",
    "multilabel_soft_margin_loss", "multilabel_soft_margin_loss_value_and_grad",
    "nll_loss", "nll_loss_value_and_grad",
    "poly1_cross_entropy", "poly1_cross_entropy_value_and_grad",
    "sigmoid_focal_loss", "sigmoid_focal_loss_value_and_grad",
    "sigmoid_mse_loss", "sigmoid_mse_loss_value_and_grad",
    "soft_margin_loss", "soft_margin_loss_value_and_grad",
]
