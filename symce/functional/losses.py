"""torch.nn.functional's losses on NumPy arrays, each with a fused ``*_value_and_grad``.

Every loss is built the same way: validate, lay the input out as rows (:mod:`._layout`),
bind the generated kernels of its spec, and hand the result to :class:`._reduce.RowLoss`,
which applies ``reduction`` and ``grad_output``. The loss itself is only ever computed by the
kernels generated from ``symce.spec``; this module adds torch's conventions around them.
"""
from __future__ import annotations

from typing import Sequence, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from symce.functional import _validate
from symce.generated import kernels
from symce.functional._kernels import LossKernels, bind
from symce.functional._layout import Rows, class_rows, flat
from symce.functional._reduce import Forward, ForwardBackward, RowLoss, mean_denominator
from symce.functional._types import Divisor, FloatArray, FloatDType, KLReduction, Loss, Reduction

KL_MEAN_WARNING = ("reduction: 'mean' divides the total loss by both the batch size and the support "
                   "size. 'batchmean' divides only by the batch size, and aligns with the KL div math "
                   "definition (as in torch.nn.functional.kl_div).")


class _Bound(TypedDict):
    """A :class:`RowLoss`'s kernels, bound to its operands."""

    forward: Forward
    forward_backward: ForwardBackward
    forward_sum: Forward | None
    forward_backward_sum: ForwardBackward | None


def _bound(loss: LossKernels, *args: object, summed: bool = True) -> _Bound:
    """The forward and forward+backward kernels of a :class:`RowLoss` from ``loss``, the record of
    its spec in :mod:`symce.generated.kernels`, bound to ``args``, and (``summed``) their ``_sum``
    variants, which return the loss summed per task of rows or chunk of elements: what 'mean' and
    'sum' run, without a loss array as long as the batch."""
    return {"forward": bind(lambda: loss.forward, *args),
            "forward_backward": bind(lambda: loss.forward_backward, *args,
                                     in_place=lambda: loss.forward_backward_in_place),
            "forward_sum": bind(lambda: loss.forward_sum, *args) if summed else None,
            "forward_backward_sum": bind(lambda: loss.forward_backward_sum, *args,
                                         in_place=lambda: loss.forward_backward_sum_in_place) if summed else None}


def _row_loss(bound: _Bound, layout: Rows, input: FloatArray, out_dtype: FloatDType, mean: Divisor) -> RowLoss:
    """A loss over ``layout``'s rows of ``input``, its kernels ``bound``: 'mean' divides by ``mean``."""
    return RowLoss(**bound, loss_shape=layout.batch_shape, divisors={"mean": mean, "sum": 1},
                   to_input=layout.from_rows, rows_view=layout.rows_view, input_shape=input.shape,
                   dtype=input.dtype, out_dtype=out_dtype)


def _integer_label_rows(loss: LossKernels, name: str, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None,
                        ignore_index: int, *options: float, weighted: bool = True) -> RowLoss:
    """Class-index targets: one row per sample, ignored rows kept out of the 'mean' denominator.

    torch's 'mean' is Σ_i loss_i / Σ_i keep_i · w[t_i] (``Spec.mean_weight``), so an all-ignored
    batch gives 0/0 = nan. ``weighted``: the kernels take class weights (after the labels); a
    loss without them (a user's, see symce.compile) gets none passed and must be given none.
    """
    input, out_dtype = _validate.floating(input, "input")
    ignore = _validate.ignore_index(ignore_index)
    classes = _validate.class_count(input, name)
    weight = _validate.class_weight(weight, classes, input.dtype)
    labels = _validate.class_targets(_validate.plain_array(target, "target"), input, ignore).reshape(-1)
    layout = class_rows(input.shape)
    rows = layout.to_rows(input)
    return _row_loss(_bound(loss, rows, labels, *((weight,) if weighted else ()), *options, ignore), layout, input,
                     out_dtype, mean_denominator(labels, ignore, weight, input.dtype))


def _probability_label_rows(loss: LossKernels, name: str, input: ArrayLike, target: ArrayLike,
                            weight: ArrayLike | None, ignore_index: int, *options: float,
                            weighted: bool = True) -> RowLoss:
    """Probability targets: torch's 'mean' divides by the number of samples, whatever the weights.

    ``weighted``: the kernels take class weights (after the targets); a loss without them (a
    user's, see symce.compile) gets none passed and must be given none.
    """
    input, out_dtype = _validate.floating(input, "input")
    _validate.probability_targets_allowed(_validate.ignore_index(ignore_index))
    weight = _validate.class_weight(weight, _validate.class_count(input, name), input.dtype)
    _validate.probability_targets(_validate.plain_array(target, "target"), input)
    layout = class_rows(input.shape)
    rows = layout.to_rows(input)
    labels = layout.to_rows(_validate.as_dtype(target, input.dtype, "target"))
    return _row_loss(_bound(loss, rows, labels, *((weight,) if weighted else ()), *options), layout, input,
                     out_dtype, layout.count)


def _by_target(integer_labels: LossKernels, probability_labels: LossKernels, name: str, input: ArrayLike,
               target: ArrayLike, weight: ArrayLike | None, ignore_index: int, option: float) -> RowLoss:
    """torch's rule for a loss of either target: a float target of the input's shape holds class
    probabilities (``probability_labels``' kernels), any other class indices (``integer_labels``')."""
    input, target = _validate.plain_array(input, "input"), _validate.plain_array(target, "target")
    if _validate.is_probability_target(input, target):
        return _probability_label_rows(probability_labels, name, input, target, weight, ignore_index, option)
    return _integer_label_rows(integer_labels, name, input, target, weight, ignore_index, option)


def _cross_entropy(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int,
                   label_smoothing: float) -> RowLoss:
    return _by_target(kernels.softmax_cross_entropy_with_integer_labels, kernels.softmax_cross_entropy,
                      "cross_entropy", input, target, weight, ignore_index, _validate.label_smoothing(label_smoothing))


def _focal_loss(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int,
                gamma: float) -> RowLoss:
    return _integer_label_rows(kernels.focal_loss, "focal_loss", input, target, weight, ignore_index,
                               _validate.finite_parameter(gamma, "gamma", minimum=0.0))


def _poly1_cross_entropy(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int,
                         epsilon: float) -> RowLoss:
    return _by_target(kernels.poly1_cross_entropy, kernels.poly1_cross_entropy_with_probability_labels,
                      "poly1_cross_entropy", input, target, weight, ignore_index,
                      _validate.finite_parameter(epsilon, "epsilon"))


def _nll_loss(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int) -> RowLoss:
    return _integer_label_rows(kernels.nll_loss, "nll", input, target, weight, ignore_index)


def _elementwise(loss: LossKernels, input: FloatArray, out_dtype: FloatDType, operands: Sequence[np.ndarray | None],
                 options: tuple[object, ...] = (), divisors: dict[str, Divisor] | None = None,
                 warnings: dict[str, str] | None = None, summed: bool = False) -> RowLoss:
    """An elementwise loss: every element is a row of the flat kernels; 'mean' divides by numel.

    ``summed``: the kernels have ``_sum`` variants (a loss per chunk), used for 'mean' and 'sum'.
    """
    shape = input.shape
    flats = [None if operand is None else flat(operand) for operand in (input, *operands)]
    return RowLoss(
        **_bound(loss, *flats, *options, summed=summed),
        loss_shape=shape,
        divisors={"mean": input.size, "sum": 1, **(divisors or {})},
        to_input=lambda grad: grad.reshape(shape),
        rows_view=lambda array: array.reshape(-1) if array.flags.c_contiguous else None,
        input_shape=shape, dtype=input.dtype, out_dtype=out_dtype, warnings=warnings or {})


def _elementwise_weight(weight: ArrayLike | None, input: FloatArray, name: str) -> np.ndarray | None:
    """A per-element weight broadcast to the input's shape; None stays None (the kernels'
    unweighted path, which reads nothing)."""
    if weight is None:
        return None
    return _validate.broadcast_to(_validate.as_dtype(weight, input.dtype, name), input.shape, name)


def _binary_cross_entropy(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None) -> RowLoss:
    input, out_dtype = _validate.floating(input, "input")
    target = _validate.as_dtype(target, input.dtype, "target")
    _validate.same_shape(target, input)
    _validate.unit_interval(input, "input")
    _validate.unit_interval(target, "target")
    return _elementwise(kernels.binary_cross_entropy, input, out_dtype,
                        (target, _elementwise_weight(weight, input, "weight")), summed=True)


def _logit_elementwise_rows(loss: LossKernels, input: ArrayLike, target: ArrayLike,
                            arrays: dict[str, ArrayLike | None], options: tuple[float, ...] = ()) -> RowLoss:
    """A loss of each logit and its target (binary_cross_entropy_with_logits, a user's elementwise loss
    compiled by symce.compile): ``arrays`` (name → array or None, in the kernels' order: weight,
    pos_weight) broadcast to the input; ``options``, numbers, follow them."""
    input, out_dtype = _validate.floating(input, "input")
    target = _validate.as_dtype(target, input.dtype, "target")
    _validate.same_shape(target, input)
    operands = (target, *(_elementwise_weight(value, input, name) for name, value in arrays.items()))
    return _elementwise(loss, input, out_dtype, operands, options=options, summed=True)


def _binary_cross_entropy_with_logits(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None,
                                      pos_weight: ArrayLike | None) -> RowLoss:
    return _logit_elementwise_rows(kernels.sigmoid_binary_cross_entropy, input, target,
                                   {"weight": weight, "pos_weight": pos_weight})


def _focal_weights(alpha: float) -> tuple[float, float]:
    """torchvision's ``alpha`` as the spec's (α₁, α₀): alpha ≥ 0 weighs a positive target by alpha and a
    negative one by 1 − alpha; alpha < 0 weighs neither (α₁ = α₀ = 1)."""
    alpha = _validate.finite_parameter(alpha, "alpha")
    return (1.0, 1.0) if alpha < 0 else (alpha, 1.0 - alpha)


def _sigmoid_focal_loss(inputs: ArrayLike, targets: ArrayLike, alpha: float, gamma: float) -> RowLoss:
    return _logit_elementwise_rows(kernels.sigmoid_focal_loss, inputs, targets, {},
                                   (*_focal_weights(alpha), _validate.finite_parameter(gamma, "gamma", minimum=0.0)))


def _soft_margin_loss(input: ArrayLike, target: ArrayLike) -> RowLoss:
    return _logit_elementwise_rows(kernels.soft_margin_loss, input, target, {})


def _multilabel_soft_margin_loss(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None) -> RowLoss:
    """torch's layout for this loss: the classes on the last axis, every other axis a sample."""
    input, out_dtype = _validate.floating(input, "input")
    if input.ndim == 0:
        raise ValueError("multilabel_soft_margin_loss input must have shape (C,) or (N, C) (classes last), "
                         "got a 0-dimensional array")
    target = _validate.as_dtype(target, input.dtype, "target")
    _validate.same_shape(target, input)
    weight = _validate.class_weight(weight, input.shape[-1], input.dtype)
    layout = Rows(input.shape, (input.ndim - 1,))
    bound = _bound(kernels.multilabel_soft_margin_loss, layout.to_rows(input), layout.to_rows(target), weight)
    return _row_loss(bound, layout, input, out_dtype, layout.count)


def _sigmoid_mse_loss(input: ArrayLike, target: ArrayLike) -> RowLoss:
    return _logit_elementwise_rows(kernels.squared_error_sigmoid, input, target, {})


def _kl_div(input: ArrayLike, target: ArrayLike, log_target: bool) -> RowLoss:
    input, out_dtype = _validate.floating(input, "input")
    target = _validate.broadcast_to(_validate.as_dtype(target, input.dtype, "target"), input.shape, "target")
    return _elementwise(kernels.kl_divergence, input, out_dtype, (target,),
                        options=(_validate.flag(log_target, "log_target"),),
                        divisors={"batchmean": input.shape[0] if input.ndim else 1},
                        warnings={"mean": KL_MEAN_WARNING})


# --- the public API: one value function and one value_and_grad function per loss -----------------

def cross_entropy(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, ignore_index: int = -100,
                  reduction: Reduction = "mean", label_smoothing: float = 0.0) -> Loss:
    r"""Cross-entropy between softmax(input) and ``target``, as ``torch.nn.functional.cross_entropy``.

    .. math::
        \ell_i = \mathrm{keep}_i\,[(1-\varepsilon)\,w_{t_i}\,(-\log\mathrm{softmax}(z_i)_{t_i})
                 + \tfrac{\varepsilon}{C}\textstyle\sum_k w_k\,(-\log\mathrm{softmax}(z_i)_k)]

    for class-index targets (spec ``softmax_cross_entropy_with_integer_labels``; 'mean' divides by
    Σ keep·w[t]), and ℓ_i = -Σ_k w_k ((1-ε) y_ik + ε/C) log softmax(z_i)_k for probability targets
    (spec ``softmax_cross_entropy``; 'mean' divides by the number of samples).

    Args:
      input: logits, (C,), (N, C) or (N, C, d1, ..., dk); float16/32/64.
      target: class indices, integer array of shape (), (N,) or (N, d1, ..., dk), each in [0, C) or
        ``ignore_index``; or probabilities, a float array of the input's shape.
      weight: class weights (C,). ignore_index: label whose samples are skipped (class-index targets
        only; probability targets require it negative). reduction: 'none' | 'mean' | 'sum'.
      label_smoothing: ε in [0, 1].
    Returns: the loss, of shape (), (N,) or (N, d1, ..., dk) for 'none', a scalar otherwise.

    >>> round(float(cross_entropy(np.array([[2.0, 0.0, -1.0]]), np.array([0]))), 12)  # log(e^2 + 1 + e^-1) - 2
    0.169846019556
    """
    return _cross_entropy(input, target, weight, ignore_index, label_smoothing).value(reduction)


def cross_entropy_value_and_grad(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                                 ignore_index: int = -100, reduction: Reduction = "mean", label_smoothing: float = 0.0,
                                 grad_output: ArrayLike | None = None,
                                 out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(cross_entropy(...), grad_output · d loss / d input) from one fused kernel call.

    ``grad_output`` defaults to ones of the loss's shape (with reduction='none': the gradient of the sum).
    ``out``: an array of the input's shape and dtype that receives the gradient (and is returned
    as it), so a training loop reuses one buffer; ``out=input`` overwrites the logits with their
    gradient, needing no memory beyond the loss. Every ``*_value_and_grad`` takes it.
    """
    return _cross_entropy(input, target, weight, ignore_index, label_smoothing).value_and_grad(
        reduction, grad_output, out)


def focal_loss(input: ArrayLike, target: ArrayLike, gamma: float = 2.0, weight: ArrayLike | None = None,
               ignore_index: int = -100, reduction: Reduction = "mean") -> Loss:
    r"""Softmax focal loss of class-index targets (Lin et al., 2017; spec ``focal_loss``).

    .. math::
        \ell_i = -\mathrm{keep}_i\, w_{t_i}\, (1 - p_{i,t_i})^\gamma \log p_{i,t_i},
        \quad p_i = \mathrm{softmax}(z_i)

    The arguments, shapes and conventions are :func:`cross_entropy`'s for class-index targets
    (``weight`` is the paper's α_t; 'mean' divides by Σ keep·w[t]), so ``gamma=0`` is cross_entropy.
    ``gamma``: the focusing parameter γ >= 0. A confident correct row keeps its digits: at
    [40, 0, 0] with label 0 the loss is (2e^-40)^γ · 8.5e-18, not 0.
    """
    return _focal_loss(input, target, weight, ignore_index, gamma).value(reduction)


def focal_loss_value_and_grad(input: ArrayLike, target: ArrayLike, gamma: float = 2.0,
                              weight: ArrayLike | None = None, ignore_index: int = -100,
                              reduction: Reduction = "mean", grad_output: ArrayLike | None = None,
                              out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(focal_loss(...), grad_output · d loss / d input) from one fused kernel call (``out``: see cross_entropy)."""
    return _focal_loss(input, target, weight, ignore_index, gamma).value_and_grad(reduction, grad_output, out)


def poly1_cross_entropy(input: ArrayLike, target: ArrayLike, epsilon: float = 1.0, weight: ArrayLike | None = None,
                        ignore_index: int = -100, reduction: Reduction = "mean") -> Loss:
    r"""Poly-1 cross-entropy (Leng et al., 2022) of class-index targets (spec ``poly1_cross_entropy``)
    or probability targets (spec ``poly1_cross_entropy_with_probability_labels``).

    .. math::
        \ell_i = \mathrm{keep}_i\, w_{t_i}\, (-\log p_{i,t_i} + \varepsilon\,(1 - p_{i,t_i})),
        \quad p_i = \mathrm{softmax}(z_i)

    for class-index targets, and ℓ_i = Σ_k w_k y_ik (−log p_ik + ε(1 − p_ik)) for probability targets,
    which is optax.losses.poly_loss_cross_entropy (at w = 1) and, at a one-hot y, the class-index loss. The
    arguments, shapes and conventions are :func:`cross_entropy`'s: a float target of the input's shape
    holds probabilities ('mean' divides by the number of samples), else class indices ('mean' divides by
    Σ keep·w[t]); ``epsilon=0`` is cross_entropy. ``epsilon``: the coefficient ε of (1 - p), any finite
    real (optax's default is 2.0; Leng et al. recommend tuning it, ε = 1 a common start). A confident
    right prediction keeps its digits with either target: at [40, 0, 0] and the target 0 (or (1, 0, 0))
    the loss is ≈ (1 + ε)·2e^-40, not 0.
    """
    return _poly1_cross_entropy(input, target, weight, ignore_index, epsilon).value(reduction)


def poly1_cross_entropy_value_and_grad(input: ArrayLike, target: ArrayLike, epsilon: float = 1.0,
                                       weight: ArrayLike | None = None, ignore_index: int = -100,
                                       reduction: Reduction = "mean", grad_output: ArrayLike | None = None,
                                       out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(poly1_cross_entropy(...), grad_output · d loss / d input) from one fused kernel call (``out``: see
    cross_entropy)."""
    return _poly1_cross_entropy(input, target, weight, ignore_index, epsilon).value_and_grad(
        reduction, grad_output, out)


def nll_loss(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, ignore_index: int = -100,
             reduction: Reduction = "mean") -> Loss:
    r"""Negative log-likelihood, as ``torch.nn.functional.nll_loss``: ℓ_i = -keep_i · w_{t_i} · a_{i,t_i}.

    ``input`` holds log-probabilities (C,), (N, C) or (N, C, d1, ..., dk); 'mean' divides by Σ keep·w[t]
    (spec ``nll_loss``).
    """
    return _nll_loss(input, target, weight, ignore_index).value(reduction)


def nll_loss_value_and_grad(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                            ignore_index: int = -100, reduction: Reduction = "mean",
                            grad_output: ArrayLike | None = None,
                            out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(nll_loss(...), grad_output · d loss / d input) from one fused kernel call (``out``: see cross_entropy)."""
    return _nll_loss(input, target, weight, ignore_index).value_and_grad(reduction, grad_output, out)


def binary_cross_entropy(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                         reduction: Reduction = "mean") -> Loss:
    r"""Binary cross-entropy on probabilities, as ``torch.nn.functional.binary_cross_entropy``.

    ℓ = -w (y log r + (1-y) log(1-r)), each log clamped at -100 as torch does (spec
    ``binary_cross_entropy``). ``input`` and ``target`` must lie in [0, 1]; ``weight`` broadcasts to
    the input's shape.
    """
    return _binary_cross_entropy(input, target, weight).value(reduction)


def binary_cross_entropy_value_and_grad(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                                        reduction: Reduction = "mean", grad_output: ArrayLike | None = None,
                                        out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(binary_cross_entropy(...), grad_output · d loss / d input) from one fused kernel call (``out``: see
    cross_entropy)."""
    return _binary_cross_entropy(input, target, weight).value_and_grad(reduction, grad_output, out)


def binary_cross_entropy_with_logits(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                                     reduction: Reduction = "mean", pos_weight: ArrayLike | None = None) -> Loss:
    r"""Binary cross-entropy on logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    ℓ = -w (p·y log σ(x) + (1-y) log(1-σ(x))) (spec ``sigmoid_binary_cross_entropy``); ``weight``
    and ``pos_weight`` broadcast to the input's shape (a (C,) pos_weight weighs each class of the
    last axis, as in torch).
    """
    return _binary_cross_entropy_with_logits(input, target, weight, pos_weight).value(reduction)


def binary_cross_entropy_with_logits_value_and_grad(input: ArrayLike, target: ArrayLike,
                                                    weight: ArrayLike | None = None, reduction: Reduction = "mean",
                                                    pos_weight: ArrayLike | None = None,
                                                    grad_output: ArrayLike | None = None,
                                                    out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(binary_cross_entropy_with_logits(...), grad_output · d loss / d input) from one fused kernel call
    (``out``: see cross_entropy)."""
    return _binary_cross_entropy_with_logits(input, target, weight, pos_weight).value_and_grad(
        reduction, grad_output, out)


def sigmoid_focal_loss(inputs: ArrayLike, targets: ArrayLike, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: Reduction = "none") -> Loss:
    r"""Sigmoid focal loss, as ``torchvision.ops.sigmoid_focal_loss`` (Lin et al., 2017; spec ``sigmoid_focal_loss``).

    .. math::
        \ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(x, y),\quad p_t = \sigma(x)\,y + (1 - \sigma(x))(1 - y),
        \quad \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    elementwise, with torchvision's names, defaults and conventions: ``alpha`` < 0 turns the weighting off
    (α_t = 1), targets may be soft (in [0, 1]), and the default reduction is 'none' ('mean' divides by the
    number of elements). ``gamma``: the focusing parameter γ >= 0; ``gamma=0`` with ``alpha=-1`` is
    binary_cross_entropy_with_logits. A confident prediction keeps its digits: at x = 40, y = 1 the loss
    is σ(−40)^γ · 4.2e-18 where torchvision's 1 − σ(40) rounds to 0.
    """
    return _sigmoid_focal_loss(inputs, targets, alpha, gamma).value(reduction)


def sigmoid_focal_loss_value_and_grad(inputs: ArrayLike, targets: ArrayLike, alpha: float = 0.25,
                                      gamma: float = 2.0, reduction: Reduction = "none",
                                      grad_output: ArrayLike | None = None,
                                      out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(sigmoid_focal_loss(...), grad_output · d loss / d inputs) from one fused kernel call (``out``: see
    cross_entropy)."""
    return _sigmoid_focal_loss(inputs, targets, alpha, gamma).value_and_grad(reduction, grad_output, out)


def soft_margin_loss(input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean") -> Loss:
    r"""The two-class logistic loss, as ``torch.nn.functional.soft_margin_loss`` (spec ``soft_margin_loss``).

    .. math::
        \ell = \log(1 + e^{-y x})

    elementwise, ``target`` y usually −1 or +1 and of the input's shape ('mean' divides by the number of
    elements). Where torch's log1p(exp(−y·x)) overflows (−y·x above ~88 in float32, ~709 in float64: loss
    inf, gradient nan), the kernels' softplus form gives the finite loss and gradient −y·σ(−y·x).
    """
    return _soft_margin_loss(input, target).value(reduction)


def soft_margin_loss_value_and_grad(input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean",
                                    grad_output: ArrayLike | None = None,
                                    out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(soft_margin_loss(...), grad_output · d loss / d input) from one fused kernel call (``out``: see
    cross_entropy)."""
    return _soft_margin_loss(input, target).value_and_grad(reduction, grad_output, out)


def multilabel_soft_margin_loss(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                                reduction: Reduction = "mean") -> Loss:
    r"""Multi-label one-versus-all logistic loss, as ``torch.nn.functional.multilabel_soft_margin_loss``
    (spec ``multilabel_soft_margin_loss``).

    .. math::
        \ell_i = -\frac{1}{C}\sum_k w_k\,\big(y_{ik}\log\sigma(x_{ik}) + (1 - y_{ik})\log\sigma(-x_{ik})\big)

    one loss per sample: the sigmoid binary cross-entropy of each class's logit against its own target,
    averaged over the C classes, which lie on the last axis ((C,) or (N, C); 'mean' then divides by the
    number of samples). ``target`` has the input's shape, entries in [0, 1] (1: the class applies);
    ``weight`` holds C class weights (torch also broadcasts other shapes; symce takes (C,) only). The
    logs are softplus forms, finite at any logit where torch's log-sigmoid is too, and a confident
    right prediction keeps its digits.
    """
    return _multilabel_soft_margin_loss(input, target, weight).value(reduction)


def multilabel_soft_margin_loss_value_and_grad(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                                               reduction: Reduction = "mean", grad_output: ArrayLike | None = None,
                                               out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(multilabel_soft_margin_loss(...), grad_output · d loss / d input) from one fused kernel call (``out``:
    see cross_entropy)."""
    return _multilabel_soft_margin_loss(input, target, weight).value_and_grad(reduction, grad_output, out)


def sigmoid_mse_loss(input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean") -> Loss:
    r"""Squared error on sigmoid(input), as ``torch.nn.functional.mse_loss(torch.sigmoid(input), target)``
    (spec ``squared_error_sigmoid``).

    .. math::
        \ell = (\sigma(x) - y)^2

    elementwise, ``target`` of the input's shape ('mean' divides by the number of elements). The loss of
    the "why not MSE" comparison: its gradient 2(σ(x) − y)σ(x)σ(−x) vanishes where σ saturates, even
    at a confidently wrong prediction. σ(x) − y is computed as (1 − y)σ(x) − yσ(−x), so a confident
    right prediction keeps its digits: at x = 40, y = 1 the loss is σ(−40)² = 1.8e-35, where torch's
    σ(40) − 1 rounds to 0.
    """
    return _sigmoid_mse_loss(input, target).value(reduction)


def sigmoid_mse_loss_value_and_grad(input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean",
                                    grad_output: ArrayLike | None = None,
                                    out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(sigmoid_mse_loss(...), grad_output · d loss / d input) from one fused kernel call (``out``: see
    cross_entropy)."""
    return _sigmoid_mse_loss(input, target).value_and_grad(reduction, grad_output, out)


def kl_div(input: ArrayLike, target: ArrayLike, reduction: KLReduction = "mean", log_target: bool = False) -> Loss:
    r"""KL divergence pointwise terms, as ``torch.nn.functional.kl_div``: ``input`` is log q.

    Pointwise y (log y - log q) (or e^t (t - log q) with ``log_target``), 0 where y = 0.
    'batchmean' divides the sum by the batch size and is the KL divergence per sample; 'mean'
    divides by the number of elements, which is not the KL (torch warns, and so do we).
    """
    return _kl_div(input, target, log_target).value(reduction)


def kl_div_value_and_grad(input: ArrayLike, target: ArrayLike, reduction: KLReduction = "mean",
                          log_target: bool = False, grad_output: ArrayLike | None = None,
                          out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
    """(kl_div(...), grad_output · d loss / d input) from one fused kernel call (``out``: see cross_entropy)."""
    return _kl_div(input, target, log_target).value_and_grad(reduction, grad_output, out)
