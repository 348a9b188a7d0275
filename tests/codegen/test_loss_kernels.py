"""symce.codegen.kernels: the elementwise losses' expressions written in sigmoids of the right argument."""
from __future__ import annotations

import sympy as sp

from symce.codegen.kernels import fold_sigmoid, loss_kernels, sigmoid_argument
from symce.codegen.printer import Sigmoid
from symce.spec import get
from symce.spec.symbols import b, x, y_sign


def test_the_sigmoid_argument_is_the_one_multiple_of_the_variable_in_the_exponentials():
    bce = get("sigmoid_binary_cross_entropy")
    soft_margin = get("soft_margin_loss")
    assert sigmoid_argument([bce.gradient()], x) == x
    assert sigmoid_argument([soft_margin.gradient()], x) == x * y_sign
    # no single multiple of x: the variable itself
    assert sigmoid_argument([sp.exp(x) + sp.exp(-x)], x) == x
    assert sigmoid_argument([sp.exp(-x ** 2)], x) == x
    assert sigmoid_argument([sp.exp(-sp.Abs(x * b))], x) == x  # the stable softplus's exp(−|v|) is no argument


def test_the_soft_margin_gradient_folds_to_one_sigmoid_that_cannot_overflow():
    """−y·exp(−y·x)/(1 + exp(−y·x)) is −y·σ(−y·x): finite where exp(−y·x) overflows."""
    gradient = get("soft_margin_loss").gradient()
    folded = fold_sigmoid(gradient, x * y_sign)
    assert folded == -y_sign * Sigmoid(-x * y_sign)
    kernels = loss_kernels(get("soft_margin_loss"), "soft_margin_loss")
    assert kernels[1].elementwise["grad"] == folded
    assert not kernels[1].elementwise["loss"].has(sp.exp(-x * y_sign))  # the loss in its softplus form
