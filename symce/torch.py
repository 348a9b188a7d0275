r"""symce's fused kernels as differentiable torch losses, on CPU tensors, without copies.

``symce.torch.cross_entropy``, ``binary_cross_entropy_with_logits``, ``soft_margin_loss``,
``multilabel_soft_margin_loss`` and ``linear_cross_entropy`` take the arguments of their
``torch.nn.functional`` namesakes, ``sigmoid_focal_loss`` those of ``torchvision.ops.sigmoid_focal_loss``,
``focal_loss``, ``poly1_cross_entropy`` and ``sigmoid_mse_loss`` those of ``symce.functional``'s, and all
return tensors that autograd differentiates. Each runs a **torch custom operator**
(``torch.library.custom_op``, namespace ``symce``) whose forward makes **one** call to the generated fused
forward+backward kernel (``symce.functional.*_value_and_grad``); the gradient it returns is saved, and the backward
registered with ``register_autograd`` only applies the chain rule,

.. math::
    \frac{\partial (g \cdot \ell)}{\partial z} = g \cdot \frac{\partial \ell}{\partial z}
    \quad\text{(a scalar } g \text{ for 'mean'/'sum'; row by row for 'none')}.

Memory is shared both ways: a contiguous CPU tensor's ``.detach().numpy()`` is a view of its
storage, so the kernel reads the logits in place, and ``torch.from_numpy`` wraps the kernel's
loss and gradient arrays. A non-contiguous input is made contiguous first (one copy), as are
the (N, C, d1, ..., dk) layouts, whose class axis symce moves last. The saved gradient is
handed on without a copy where grad_output is exactly 1 (``loss.backward()``), and symce then stops
keeping it (any other grad_output gets a new product tensor): a second backward through a retained graph computes it again, so a hook or an
optimizer that changes the gradient in place cannot change what that backward reads.

Being operators with fake (meta) implementations, the losses compose with ``torch.compile``
(``fullgraph=True``, on the eager, aot_eager and inductor backends): Dynamo records one opaque
call instead of tracing into numba, and ``torch.library.opcheck`` passes for each operator.

What this adapter does not do, by design:

* differentiate with respect to ``target``, ``weight`` or ``pos_weight`` (torch itself refuses
  ``weight`` and ``pos_weight``; it does differentiate probability targets, which symce's kernels
  do not): a tensor among them that requires grad raises ``ValueError`` while grad is enabled;
* run on other devices (the kernels are numba CPU code) or dtypes other than float32/float64
  (float16 would need a float32 copy; bfloat16 has no NumPy view): ``ValueError`` / ``TypeError``;
* accept the deprecated ``size_average`` / ``reduce`` arguments (``TypeError``; use ``reduction``);
* differentiate twice: with ``create_graph=True`` the gradient is tied to ``input`` by a node that
  raises when a second derivative reaches it (a gradient penalty fails instead of silently getting 0).

torch is imported here and nowhere at ``import symce``: it is a comparison dependency of symce,
so this module is opt-in (``import symce.torch``).

Reference: torch.nn.functional.cross_entropy and binary_cross_entropy_with_logits,
https://pytorch.org/docs/stable/nn.functional.html#loss-functions; extending autograd,
https://pytorch.org/docs/stable/notes/extending.html; custom operators,
https://pytorch.org/tutorials/advanced/python_custom_ops.html.

>>> import torch, symce.torch
>>> logits = torch.tensor([[2.0, 0.0, -1.0]], dtype=torch.float64, requires_grad=True)
>>> loss = symce.torch.cross_entropy(logits, torch.tensor([0]))
>>> loss.backward()
>>> round(loss.item(), 12), logits.grad.shape  # log(e^2 + 1 + e^-1) - 2
(0.169846019556, torch.Size([1, 3]))
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, NoReturn, Optional, Protocol, Sequence, TypedDict, cast, overload

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from symce import functional as sf
from symce.functional import _validate
from symce.functional._types import Reduction

__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "focal_loss", "linear_cross_entropy",
           "multilabel_soft_margin_loss", "poly1_cross_entropy", "sigmoid_focal_loss", "sigmoid_mse_loss",
           "soft_margin_loss"]

#: the dtypes symce's kernels are compiled for, the only ones that reach them without a copy
DTYPES = (torch.float32, torch.float64)


# --- checks at the boundary: metadata only, so that torch.compile traces them --------------------

def _cpu(tensor: Tensor | None, name: str) -> Tensor | None:
    if tensor is None:
        return None
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise ValueError(f"symce.torch runs on CPU tensors only (symce's kernels are numba CPU code), but "
                         f"{name} is on {tensor.device}; move it with .cpu() or use torch.nn.functional")
    return tensor


def _floating(tensor: Tensor, name: str = "input") -> Tensor:
    _cpu(tensor, name)
    if tensor.dtype not in DTYPES:
        raise TypeError(f"symce.torch computes in float32 or float64, got {name} of dtype {tensor.dtype}; "
                        "convert it with .float() or .double()")
    return tensor


def _not_differentiated(**tensors: Tensor | None) -> None:
    """Only ``input`` is differentiated; a companion that wants a gradient must not get a silent None."""
    for name, tensor in tensors.items():
        if torch.is_grad_enabled() and isinstance(tensor, torch.Tensor) and tensor.requires_grad:
            raise ValueError(f"symce.torch differentiates only with respect to input, but {name} requires "
                             f"grad; pass {name}.detach() (or use torch.nn.functional to differentiate "
                             f"with respect to {name})")


def _no_legacy(size_average: bool | None, reduce: bool | None) -> None:
    if size_average is not None or reduce is not None:
        raise TypeError("size_average and reduce are deprecated in torch and not supported by symce.torch; "
                        "pass reduction='none' | 'mean' | 'sum' instead (size_average=False means 'sum', "
                        "reduce=False means 'none')")


def _wants_grad(*tensors: Tensor | None) -> bool:
    # without a gradient to save, the cheaper forward-only kernel runs
    return torch.is_grad_enabled() and any(tensor is not None and tensor.requires_grad for tensor in tensors)


# --- inside the operators: tensors to arrays and back --------------------------------------------

@overload
def _numpy(tensor: Tensor) -> np.ndarray: ...
@overload
def _numpy(tensor: None) -> None: ...
@overload
def _numpy(tensor: Tensor | None) -> np.ndarray | None: ...
def _numpy(tensor: Tensor | None) -> np.ndarray | None:
    """A CPU tensor's storage as a NumPy array: a view when the tensor is contiguous, else one copy.

    ``resolve_conj``/``resolve_neg`` are no-ops unless a lazy conjugate/negation bit is set, in which
    case ``.numpy()`` would refuse the tensor.
    """
    if tensor is None:
        return None
    return tensor.detach().resolve_conj().resolve_neg().contiguous().numpy()


def _tensor(value: ArrayLike, dtype: torch.dtype) -> Tensor:
    """A kernel result as a tensor: ``torch.from_numpy`` shares the array (a scalar is wrapped as 0-d)."""
    return torch.from_numpy(np.asarray(value)).to(dtype)


def _loss_shape(input: Tensor, reduction: str, class_axis: int | None) -> tuple[int, ...]:
    """The loss's shape: () when reduced, else the input's without its class axis (None: elementwise)."""
    if reduction != "none":
        return ()
    shape = list(input.shape)
    if class_axis is not None:
        del shape[min(class_axis, input.ndim - 1)]
    return tuple(shape)


# --- the chain rule, shared by every loss --------------------------------------------------------

#: an operator's arguments as setup_context receives them: its tensors first, then its options
OperatorInputs = tuple[Any, ...]
#: what a backward returns: a gradient (or None) for each of the operator's inputs
Gradients = tuple[Optional[Tensor], ...]


class _Context(Protocol):
    """What the operators' backward reads from its autograd context: torch's saved tensors (None
    where None was saved) and ``needs_input_grad``, and what :func:`_keeps_gradients` stores."""

    saved_tensors: tuple[Tensor, ...]
    needs_input_grad: tuple[bool, ...]
    saved_inputs: int
    options: OperatorInputs
    gradients: int
    traced: bool
    kept: Sequence[Tensor] | None

    def save_for_backward(self, *tensors: Tensor | None) -> None: ...
    def mark_non_differentiable(self, *tensors: Tensor) -> None: ...
    def set_materialize_grads(self, value: bool) -> None: ...


def _scaled(grad: Tensor, grad_output: Tensor, class_axis: int | None) -> Tensor:
    """grad_output · ∂loss/∂input, a new tensor, from the saved ∂(Σ loss)/∂input.

    A grad_output of the loss's shape for reduction='none' lacks the input's ``class_axis``: it
    gets it back as size 1 and broadcasts over the classes.
    """
    if class_axis is not None and grad_output.ndim > 0 and grad.ndim > 1:
        grad_output = grad_output.unsqueeze(class_axis)
    if not _eager(grad, grad_output) or torch.is_grad_enabled():
        # traced (the compiler writes the product) or under create_graph (autograd records it)
        return grad * grad_output
    # eagerly NumPy's product is several times faster than torch's on a large gradient: NumPy
    # allocates the result with huge pages (the README's symce.torch timings)
    array = grad.numpy()
    return torch.from_numpy(np.multiply(array, grad_output.numpy(), out=np.empty_like(array)))


class _DifferentiableOnce(torch.autograd.Function):
    """The identity on a gradient, tied to the input it is a gradient for, refusing to be differentiated.

    With ``create_graph=True`` autograd expects a gradient that is itself differentiable in the input;
    symce's comes from a kernel, a constant to autograd, so untied, a second derivative through it
    (a gradient penalty, a Hessian) would silently be zero.
    """

    @staticmethod
    def forward(ctx: object, grad: Tensor, input: Tensor) -> Tensor:
        return grad.clone()

    @staticmethod
    def backward(ctx: object, _: Tensor) -> NoReturn:
        raise RuntimeError("symce.torch's losses are differentiable once: their gradient comes from a "
                           "generated kernel, not from differentiable torch operations, so it has no "
                           "derivative (create_graph=True); use torch.nn.functional for second derivatives")


def _backward_result(grad: Tensor | None, input: Tensor) -> Tensor | None:
    # backward runs with grad mode on only under create_graph=True
    if grad is None or not torch.is_grad_enabled():
        return grad
    tied: Tensor = _DifferentiableOnce.apply(grad, input)  # type: ignore[no-untyped-call]  # unannotated in torch
    return tied


def _is_one(grad_output: Tensor) -> bool:
    """Whether every element of grad_output is exactly 1, read from one element only.

    True for the 1 that ``loss.backward()`` sends and for the ones that ``loss.sum()`` sends through
    reduction='none' (a scalar expanded to the loss's shape: every stride 0, so one element is all).
    """
    uniform = all(stride == 0 for stride in grad_output.stride()) and grad_output.numel() > 0
    return uniform and grad_output[(0,) * grad_output.ndim].item() == 1.0


def _eager(*tensors: Tensor) -> bool:
    """Whether these are real tensors of an eager call, not the fake or functional ones of a trace
    (torch.compile's, or opcheck's and AOTAutograd's, which trace without Dynamo)."""
    return not torch.compiler.is_compiling() and all(type(tensor) is torch.Tensor for tensor in tensors)


def _keeps_gradients(ctx: _Context, inputs: OperatorInputs, output: Sequence[Tensor], saved_inputs: int) -> None:
    """setup_context of a ``*_value_and_grad`` operator: the gradients it returns are what backward scales.

    Run eagerly, they are kept as ``ctx.kept``, outside autograd's saved tensors, so that backward
    can hand them on without a copy and stop keeping them (:func:`_scaled_gradients`); traced by
    torch.compile they are saved tensors, and backward multiplies. The operator's first
    ``saved_inputs`` inputs are saved, the rest (``ctx.options``) kept as they are.
    """
    _, *grads = output
    ctx.mark_non_differentiable(*grads)
    ctx.set_materialize_grads(False)  # else autograd hands backward a zero tensor as large as the gradient
    ctx.saved_inputs, ctx.options, ctx.gradients = saved_inputs, inputs[saved_inputs:], len(grads)
    ctx.traced = not _eager(*grads)
    ctx.kept = None if ctx.traced else grads
    ctx.save_for_backward(*inputs[:saved_inputs], *(grads if ctx.traced else ()))


def _scaled_gradients(ctx: _Context, grad_output: Tensor | None, operator: Callable[..., Sequence[Tensor]],
                      class_axis: int | None) -> list[Tensor | None]:
    """grad_output · each gradient of the forward, as tensors that symce does not keep.

    A grad_output of exactly 1 (``loss.backward()``) hands the forward's gradients on as they are
    and stops keeping them; a later backward through a retained graph runs ``operator`` again on
    the saved inputs for them. So a hook or an optimizer that changes a gradient in place cannot
    change what a second backward reads, and the common backward costs no pass over the gradient.
    """
    inputs = ctx.saved_tensors[:ctx.saved_inputs]
    if grad_output is None:  # the loss took no part in what is differentiated
        return [None] * ctx.gradients
    if ctx.traced:
        return [_scaled(grad, grad_output, class_axis) for grad in ctx.saved_tensors[ctx.saved_inputs:]]
    grads, ctx.kept = ctx.kept, None
    if grads is None:
        grads = operator(*inputs, *ctx.options)[1:]
    if _is_one(grad_output):
        return list(grads)
    ctx.kept = grads
    return [_scaled(grad, grad_output, class_axis) for grad in grads]


# --- cross_entropy -------------------------------------------------------------------------------
# An operator's schema is written out by loss_operators; torch's schemas have no Literal, so
# ``reduction`` reaches symce.functional as a str (validated at the boundary and again there).
# LossOperators.__call__ picks the operator and casts what it returns (Any to mypy).

def _ignored_rows_zeroed(ctx: _Context, grad_loss: Tensor | None, target: Tensor, ignore_index: int,
                         reduction: str) -> Tensor | None:
    """grad_output with 0 at the samples whose class-index target is ``ignore_index`` (reduction='none').

    torch gives ignored samples a zero gradient whatever their grad_output (inf or nan included);
    the saved rows are zero there, but 0 · nan is not.
    """
    if reduction == "none" and not target.is_floating_point() and grad_loss is not None and \
            (ctx.traced or not _is_one(grad_loss)):
        return grad_loss.masked_fill(target == ignore_index, 0)
    return grad_loss


@dataclass(frozen=True)
class LossOperators:
    """A loss's two torch operators: the loss alone, from the forward-only kernel, and (loss,
    ∂(Σ loss)/∂input) from one fused kernel call, differentiable in ``input``."""

    value: Callable[..., Any]
    value_and_grad: Callable[..., Any]

    def __call__(self, input: Tensor, *options: object) -> Tensor:
        """The loss of ``input`` (``options``: the schema's other arguments, checked): the fused operator
        where a gradient is wanted, the forward-only one where not. Calling an operator is Any to mypy
        (CustomOpDef.__call__ is unannotated in torch): the schema's tensors."""
        if _wants_grad(input):
            return cast(Tensor, self.value_and_grad(input, *options)[0])
        return cast(Tensor, self.value(input, *options))


def _to_numpy(arguments: Sequence[object]) -> list[object]:
    return [_numpy(argument) if isinstance(argument, Tensor) else argument for argument in arguments]


def loss_operators(qualified_name: str, arguments: Sequence[str], loss: Callable[..., ArrayLike],
                   loss_and_grad: Callable[..., tuple[ArrayLike, np.ndarray]],
                   class_axis: int | None) -> LossOperators:
    """The operators ``QUALIFIED_NAME`` and ``QUALIFIED_NAME_value_and_grad`` of a loss, which every
    symce loss over a tensor ``input`` uses: the built-in ones and those of ``symce.compile``.

    ``arguments``: the schema's arguments as ``"Type name"``, beginning with ``Tensor input, Tensor
    target`` and naming a ``str reduction`` (and, where samples can be skipped, an ``int ignore_index``).
    ``loss`` / ``loss_and_grad`` take those arguments, tensors as NumPy arrays, and return the
    loss (and ∂(Σ loss)/∂input). ``class_axis``: the input's class axis, or None for an elementwise loss.

    One definition for every loss, so that each gets the same fake kernels, the same chain rule and
    the same zero gradient for ignored samples.
    """
    names = [argument.split()[-1] for argument in arguments]
    reduction_at = names.index("reduction")
    ignore_at = names.index("ignore_index") if "ignore_index" in names else None
    schema = f"({', '.join(arguments)})"

    def value(*operands: object) -> Tensor:
        input = cast(Tensor, operands[0])
        return _tensor(loss(*_to_numpy(operands)), input.dtype)

    def value_and_grad(*operands: object) -> tuple[Tensor, Tensor]:
        input = cast(Tensor, operands[0])
        result, grad = loss_and_grad(*_to_numpy(operands))
        return _tensor(result, input.dtype), torch.from_numpy(grad)

    def fake_loss(input: Tensor, *operands: object) -> Tensor:
        return input.new_empty(_loss_shape(input, cast(str, operands[reduction_at - 1]), class_axis))

    value_op = torch.library.custom_op(qualified_name, value, mutates_args=(), schema=f"{schema} -> Tensor")
    both_op = torch.library.custom_op(f"{qualified_name}_value_and_grad", value_and_grad, mutates_args=(),
                                      schema=f"{schema} -> (Tensor, Tensor)")
    value_op.register_fake(fake_loss)
    both_op.register_fake(lambda input, *operands: (fake_loss(input, *operands), input.new_empty(input.shape)))

    def backward(ctx: _Context, grad_loss: Tensor | None, _: Tensor | None) -> Gradients:
        input, target = ctx.saved_tensors[:2]
        if ignore_at is not None:  # the options are the inputs after the two saved ones
            grad_loss = _ignored_rows_zeroed(ctx, grad_loss, target, cast(int, ctx.options[ignore_at - 2]),
                                             cast(str, ctx.options[reduction_at - 2]))
        (grad,) = _scaled_gradients(ctx, grad_loss, both_op, class_axis)
        return (_backward_result(grad, input), *(None,) * (len(names) - 1))

    both_op.register_autograd(backward, setup_context=lambda ctx, inputs, output: _keeps_gradients(ctx, inputs,
                                                                                                   output, 2))
    return LossOperators(value_op, both_op)


#: the schema of every built-in class-index loss: its one scalar ``option`` is label_smoothing, gamma or epsilon
CLASS_INDEX_ARGUMENTS = ("Tensor input", "Tensor target", "Tensor? weight", "int ignore_index", "str reduction",
                         "float option")


def _class_index_loss(operators: LossOperators, input: Tensor, target: Tensor,
                      weight: Tensor | None, ignore_index: int, reduction: Reduction, option: float) -> Tensor:
    """The checks at the boundary (metadata only, so torch.compile traces them), then the fused
    operator where a gradient is wanted and the forward-only one where not."""
    _not_differentiated(target=target, weight=weight)
    options = (_cpu(target, "target"), _cpu(weight, "weight"), _validate.ignore_index(ignore_index),
               _validate.reduction(reduction), option)
    return operators(_floating(input), *options)


_CROSS_ENTROPY = loss_operators(
    "symce::cross_entropy", CLASS_INDEX_ARGUMENTS, sf.cross_entropy, sf.cross_entropy_value_and_grad, class_axis=1)
# focal_loss and poly1_cross_entropy take their option after the target, as their references do
_FOCAL_LOSS = loss_operators(
    "symce::focal_loss", CLASS_INDEX_ARGUMENTS, lambda input, target, weight, ignore, reduction, gamma: sf.focal_loss(
        input, target, gamma, weight, ignore, reduction),
    lambda input, target, weight, ignore, reduction, gamma: sf.focal_loss_value_and_grad(
        input, target, gamma, weight, ignore, reduction), class_axis=1)
_POLY1_CROSS_ENTROPY = loss_operators(
    "symce::poly1_cross_entropy", CLASS_INDEX_ARGUMENTS,
    lambda input, target, weight, ignore, reduction, epsilon: sf.poly1_cross_entropy(
        input, target, epsilon, weight, ignore, reduction),
    lambda input, target, weight, ignore, reduction, epsilon: sf.poly1_cross_entropy_value_and_grad(
        input, target, epsilon, weight, ignore, reduction), class_axis=1)


def cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None, size_average: Optional[bool] = None,
                  ignore_index: int = -100, reduce: Optional[bool] = None,
                  reduction: Reduction = "mean", label_smoothing: float = 0.0) -> Tensor:
    r"""Cross-entropy between softmax(input) and ``target``, as ``torch.nn.functional.cross_entropy``.

    .. math::
        \ell_i = \mathrm{keep}_i\,[(1-\varepsilon)\,w_{t_i}\,(-\log\mathrm{softmax}(z_i)_{t_i})
                 + \tfrac{\varepsilon}{C}\textstyle\sum_k w_k\,(-\log\mathrm{softmax}(z_i)_k)]

    for class-index targets ('mean' divides by Σ keep·w[t]), and
    ℓ_i = -Σ_k w_k ((1-ε) y_ik + ε/C) log softmax(z_i)_k for probability targets ('mean' divides
    by the number of samples); the numbers are those of :func:`symce.functional.cross_entropy`.

    Args:
      input: logits, a float32/float64 CPU tensor (C,), (N, C) or (N, C, d1, ..., dk); the only
        argument that gets a gradient.
      target: class indices, an integer tensor (), (N,) or (N, d1, ..., dk), each in [0, C) or
        ``ignore_index``; or probabilities, a float tensor of the input's shape (not differentiated).
      weight: class weights (C,), or None. ignore_index: label whose samples are skipped.
      size_average, reduce: deprecated in torch; must be None.
      reduction: 'none' | 'mean' | 'sum'. label_smoothing: ε in [0, 1].
    Returns: a tensor of the input's dtype, (N, d1, ..., dk) for 'none', 0-d otherwise.

    Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html
    """
    _no_legacy(size_average, reduce)
    return _class_index_loss(_CROSS_ENTROPY, input, target, weight, ignore_index, reduction,
                             _validate.label_smoothing(label_smoothing))


def focal_loss(input: Tensor, target: Tensor, gamma: float = 2.0, weight: Optional[Tensor] = None,
               ignore_index: int = -100, reduction: Reduction = "mean") -> Tensor:
    r"""Softmax focal loss of class-index targets: the numbers of :func:`symce.functional.focal_loss`.

    .. math::
        \ell_i = -\mathrm{keep}_i\, w_{t_i}\, (1 - p_{i,t_i})^\gamma \log p_{i,t_i},
        \quad p_i = \mathrm{softmax}(z_i)

    The arguments are :func:`cross_entropy`'s for class-index targets ('mean' divides by Σ keep·w[t]),
    with the focusing parameter ``gamma`` >= 0 in place of label smoothing; ``gamma=0`` is cross_entropy.
    torch has no softmax focal loss (torchvision's sigmoid_focal_loss is the binary one).
    """
    return _class_index_loss(_FOCAL_LOSS, input, target, weight, ignore_index, reduction,
                             _validate.finite_parameter(gamma, "gamma", minimum=0.0))


def poly1_cross_entropy(input: Tensor, target: Tensor, epsilon: float = 1.0, weight: Optional[Tensor] = None,
                        ignore_index: int = -100, reduction: Reduction = "mean") -> Tensor:
    r"""Poly-1 cross-entropy of class-index targets: the numbers of :func:`symce.functional.poly1_cross_entropy`.

    .. math::
        \ell_i = \mathrm{keep}_i\, w_{t_i}\, (-\log p_{i,t_i} + \varepsilon\,(1 - p_{i,t_i}))

    The arguments are :func:`cross_entropy`'s for class-index targets ('mean' divides by Σ keep·w[t]),
    with the coefficient ``epsilon`` of (1 - p_t) in place of label smoothing; ``epsilon=0`` is cross_entropy.
    """
    return _class_index_loss(_POLY1_CROSS_ENTROPY, input, target, weight, ignore_index, reduction,
                             _validate.finite_parameter(epsilon, "epsilon"))


# --- binary_cross_entropy_with_logits ------------------------------------------------------------

_BINARY_CROSS_ENTROPY_WITH_LOGITS = loss_operators(
    "symce::binary_cross_entropy_with_logits",
    ("Tensor input", "Tensor target", "Tensor? weight", "str reduction", "Tensor? pos_weight"),
    sf.binary_cross_entropy_with_logits, sf.binary_cross_entropy_with_logits_value_and_grad, class_axis=None)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                                     size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                                     reduction: Reduction = "mean",
                                     pos_weight: Optional[Tensor] = None) -> Tensor:
    r"""Binary cross-entropy on logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    .. math::
        \ell = -w\,(p\,y\log\sigma(x) + (1-y)\log(1-\sigma(x)))

    elementwise ('mean' divides by the number of elements); the numbers are those of
    :func:`symce.functional.binary_cross_entropy_with_logits`.

    Args:
      input: logits, a float32/float64 CPU tensor of any shape; the only argument that gets a gradient.
      target: a tensor of the input's shape, usually in [0, 1] (not differentiated).
      weight: per-element weights broadcastable to the input, or None.
      size_average, reduce: deprecated in torch; must be None.
      reduction: 'none' | 'mean' | 'sum'.
      pos_weight: the positive-class weight p, broadcastable to the input (a (C,) tensor weighs
        each class of the last axis), or None.
    Returns: a tensor of the input's dtype, of the input's shape for 'none', 0-d otherwise.

    Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.binary_cross_entropy_with_logits.html
    """
    _no_legacy(size_average, reduce)
    _not_differentiated(target=target, weight=weight, pos_weight=pos_weight)
    options = (_cpu(target, "target"), _cpu(weight, "weight"), _validate.reduction(reduction),
               _cpu(pos_weight, "pos_weight"))
    return _BINARY_CROSS_ENTROPY_WITH_LOGITS(_floating(input), *options)


# --- sigmoid_focal_loss --------------------------------------------------------------------------

_SIGMOID_FOCAL_LOSS = loss_operators(
    "symce::sigmoid_focal_loss", ("Tensor input", "Tensor target", "float alpha", "float gamma", "str reduction"),
    sf.sigmoid_focal_loss, sf.sigmoid_focal_loss_value_and_grad, class_axis=None)


def sigmoid_focal_loss(inputs: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: Reduction = "none") -> Tensor:
    r"""Sigmoid focal loss, as ``torchvision.ops.sigmoid_focal_loss``: the numbers of
    :func:`symce.functional.sigmoid_focal_loss`.

    .. math::
        \ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(x, y),\quad p_t = \sigma(x)\,y + (1 - \sigma(x))(1 - y)

    Args:
      inputs: logits, a float32/float64 CPU tensor of any shape; the only argument that gets a gradient.
      targets: a tensor of the inputs' shape, in [0, 1] (not differentiated).
      alpha: α_t = alpha·y + (1 − alpha)(1 − y) for alpha >= 0; alpha < 0 turns the weighting off.
      gamma: the focusing parameter γ >= 0. reduction: 'none' (torchvision's default) | 'mean' | 'sum'.
    Returns: a tensor of the inputs' dtype, of their shape for 'none', 0-d otherwise.

    Reference: https://pytorch.org/vision/stable/generated/torchvision.ops.sigmoid_focal_loss.html
    """
    _not_differentiated(targets=targets)
    options = (_cpu(targets, "targets"), _validate.finite_parameter(alpha, "alpha"),
               _validate.finite_parameter(gamma, "gamma", minimum=0.0), _validate.reduction(reduction))
    return _SIGMOID_FOCAL_LOSS(_floating(inputs), *options)


# --- soft_margin_loss ----------------------------------------------------------------------------

_SOFT_MARGIN_LOSS = loss_operators(
    "symce::soft_margin_loss", ("Tensor input", "Tensor target", "str reduction"),
    sf.soft_margin_loss, sf.soft_margin_loss_value_and_grad, class_axis=None)


def soft_margin_loss(input: Tensor, target: Tensor, size_average: Optional[bool] = None,
                     reduce: Optional[bool] = None, reduction: Reduction = "mean") -> Tensor:
    r"""The two-class logistic loss, as ``torch.nn.functional.soft_margin_loss``: the numbers of
    :func:`symce.functional.soft_margin_loss`.

    .. math::
        \ell = \log(1 + e^{-y x})

    Args:
      input: a float32/float64 CPU tensor of any shape; the only argument that gets a gradient.
      target: y, usually −1 or +1, a tensor of the input's shape (not differentiated; torch broadcasts
        another shape, symce refuses it).
      size_average, reduce: deprecated in torch; must be None. reduction: 'none' | 'mean' | 'sum'.
    Returns: a tensor of the input's dtype, of its shape for 'none', 0-d otherwise.

    Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.soft_margin_loss.html
    """
    _no_legacy(size_average, reduce)
    _not_differentiated(target=target)
    options = (_cpu(target, "target"), _validate.reduction(reduction))
    return _SOFT_MARGIN_LOSS(_floating(input), *options)


# --- multilabel_soft_margin_loss -----------------------------------------------------------------

_MULTILABEL_SOFT_MARGIN_LOSS = loss_operators(
    "symce::multilabel_soft_margin_loss", ("Tensor input", "Tensor target", "Tensor? weight", "str reduction"),
    sf.multilabel_soft_margin_loss, sf.multilabel_soft_margin_loss_value_and_grad, class_axis=-1)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                                size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                                reduction: Reduction = "mean") -> Tensor:
    r"""Multi-label one-versus-all logistic loss, as ``torch.nn.functional.multilabel_soft_margin_loss``: the
    numbers of :func:`symce.functional.multilabel_soft_margin_loss`.

    .. math::
        \ell_i = -\frac{1}{C}\sum_k w_k\,\big(y_{ik}\log\sigma(x_{ik}) + (1 - y_{ik})\log\sigma(-x_{ik})\big)

    Args:
      input: logits, a float32/float64 CPU tensor, (C,) or (N, C) (classes last); the only argument that
        gets a gradient.
      target: a tensor of the input's shape, in [0, 1] (not differentiated).
      weight: C class weights, or None (torch also broadcasts other shapes; symce takes (C,) only).
      size_average, reduce: deprecated in torch; must be None. reduction: 'none' | 'mean' | 'sum'.
    Returns: a tensor of the input's dtype, one loss per sample for 'none', 0-d otherwise.

    Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.multilabel_soft_margin_loss.html
    """
    _no_legacy(size_average, reduce)
    _not_differentiated(target=target, weight=weight)
    options = (_cpu(target, "target"), _cpu(weight, "weight"), _validate.reduction(reduction))
    return _MULTILABEL_SOFT_MARGIN_LOSS(_floating(input), *options)


# --- sigmoid_mse_loss ----------------------------------------------------------------------------

_SIGMOID_MSE_LOSS = loss_operators(
    "symce::sigmoid_mse_loss", ("Tensor input", "Tensor target", "str reduction"),
    sf.sigmoid_mse_loss, sf.sigmoid_mse_loss_value_and_grad, class_axis=None)


def sigmoid_mse_loss(input: Tensor, target: Tensor, reduction: Reduction = "mean") -> Tensor:
    r"""Squared error on sigmoid(input), ``torch.nn.functional.mse_loss(torch.sigmoid(input), target)`` in
    one fused operator: the numbers of :func:`symce.functional.sigmoid_mse_loss`.

    .. math::
        \ell = (\sigma(x) - y)^2

    Args:
      input: logits, a float32/float64 CPU tensor of any shape; the only argument that gets a gradient.
      target: y, a tensor of the input's shape (not differentiated; torch's mse_loss broadcasts another
        shape with a warning, symce refuses it).
      reduction: 'none' | 'mean' | 'sum'.
    Returns: a tensor of the input's dtype, of its shape for 'none', 0-d otherwise.

    Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.mse_loss.html
    """
    _not_differentiated(target=target)
    options = (_cpu(target, "target"), _validate.reduction(reduction))
    return _SIGMOID_MSE_LOSS(_floating(input), *options)


# --- linear_cross_entropy: the chunked linear layer + cross-entropy ------------------------------

class _LinearOptions(TypedDict):
    """The keyword arguments of symce.functional.linear_cross_entropy(_value_and_grad)."""

    linear_bias: np.ndarray | None
    weight: np.ndarray | None
    reduction: Reduction
    ignore_index: int | None
    label_smoothing: float
    chunk_size: int | None


def _linear_arrays(input: Tensor, linear_weight: Tensor, linear_bias: Tensor | None, target: Tensor,
                   weight: Tensor | None, reduction: str, ignore_index: int | None, label_smoothing: float,
                   chunk_size: int | None) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], _LinearOptions]:
    arrays = (_numpy(input), _numpy(linear_weight), _numpy(target))
    options = _LinearOptions(linear_bias=_numpy(linear_bias), weight=_numpy(weight),
                             reduction=_validate.reduction(reduction), ignore_index=ignore_index,
                             label_smoothing=label_smoothing, chunk_size=chunk_size)
    return arrays, options


def _bias_gradient(grad: np.ndarray | None, input: Tensor) -> Tensor:
    """An operator returns tensors only: no bias, no gradient, is an empty one."""
    return input.new_empty(0) if grad is None else torch.from_numpy(grad)


@torch.library.custom_op("symce::linear_cross_entropy", mutates_args=())
def _linear_cross_entropy(input: Tensor, linear_weight: Tensor, linear_bias: Optional[Tensor], target: Tensor,
                          weight: Optional[Tensor], reduction: str, ignore_index: Optional[int],
                          label_smoothing: float, chunk_size: Optional[int]) -> Tensor:
    """The loss alone (reduction='none' differentiates through :func:`_linear_cross_entropy_backward`)."""
    arrays, options = _linear_arrays(input, linear_weight, linear_bias, target, weight, reduction, ignore_index,
                                     label_smoothing, chunk_size)
    return _tensor(sf.linear_cross_entropy(*arrays, **options), input.dtype)


@torch.library.custom_op("symce::linear_cross_entropy_value_and_grad", mutates_args=())
def _linear_cross_entropy_value_and_grad(input: Tensor, linear_weight: Tensor, linear_bias: Optional[Tensor],
                                         target: Tensor, weight: Optional[Tensor], reduction: str,
                                         ignore_index: Optional[int], label_smoothing: float,
                                         chunk_size: Optional[int], grad_output: Optional[Tensor]
                                         ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(loss, ∂/∂input, ∂/∂linear_weight, ∂/∂linear_bias) times ``grad_output``, from one pass over the chunks."""
    arrays, options = _linear_arrays(input, linear_weight, linear_bias, target, weight, reduction, ignore_index,
                                     label_smoothing, chunk_size)
    loss, grad_input, grad_weight, grad_bias = sf.linear_cross_entropy_value_and_grad(
        *arrays, grad_output=_numpy(grad_output), **options)
    return (_tensor(loss, input.dtype), torch.from_numpy(grad_input), torch.from_numpy(grad_weight),
            _bias_gradient(grad_bias, input))


@_linear_cross_entropy.register_fake
def _(input: Tensor, linear_weight: Tensor, linear_bias: Tensor | None, target: Tensor, weight: Tensor | None,
      reduction: str, ignore_index: int | None, label_smoothing: float, chunk_size: int | None) -> Tensor:
    return input.new_empty(_loss_shape(input, reduction, 1))


@_linear_cross_entropy_value_and_grad.register_fake
def _(input: Tensor, linear_weight: Tensor, linear_bias: Tensor | None, target: Tensor, weight: Tensor | None,
      reduction: str, ignore_index: int | None, label_smoothing: float, chunk_size: int | None,
      grad_output: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    bias = input.new_empty(0) if linear_bias is None else linear_bias.new_empty(linear_bias.shape)
    return (input.new_empty(_loss_shape(input, reduction, 1)), input.new_empty(input.shape),
            linear_weight.new_empty(linear_weight.shape), bias)


def _linear_grads(ctx: _Context, grads: Sequence[Tensor | None]) -> Gradients:
    """The three gradients as autograd wants them: None where not needed, tied once under create_graph."""
    tensors = ctx.saved_tensors[:3]
    return tuple(_backward_result(grad if needed and grad is not None and grad.numel() == tensor.numel() else None,
                                  tensor)
                 for grad, tensor, needed in zip(grads, tensors, ctx.needs_input_grad))


def _linear_scaled_backward(ctx: _Context, grad_loss: Tensor | None, *_: Tensor | None) -> Gradients:
    """'mean' / 'sum': the gradients of the one pass, scaled by the scalar grad_output."""
    grads = _scaled_gradients(ctx, grad_loss, _linear_cross_entropy_value_and_grad, class_axis=None)
    return (*_linear_grads(ctx, grads), *(None,) * 7)


def _linear_saves_inputs(ctx: _Context, inputs: OperatorInputs, output: Tensor) -> None:
    """'none': the gradient of Σ_i g_i ℓ_i is no rescaling of anything forward could compute, so
    backward makes the pass again with grad_output as the rows' scales."""
    ctx.save_for_backward(*inputs[:5])
    ctx.options = inputs[5:]


def _linear_rerun_backward(ctx: _Context, grad_loss: Tensor) -> Gradients:
    input, linear_weight, linear_bias, target, weight = ctx.saved_tensors
    _, *grads = _linear_cross_entropy_value_and_grad(input, linear_weight, linear_bias, target, weight, *ctx.options,
                                                     grad_output=grad_loss)
    return (*_linear_grads(ctx, grads), *(None,) * 6)


_linear_cross_entropy_value_and_grad.register_autograd(
    _linear_scaled_backward, setup_context=lambda ctx, inputs, output: _keeps_gradients(ctx, inputs, output, 5))
_linear_cross_entropy.register_autograd(_linear_rerun_backward, setup_context=_linear_saves_inputs)


def linear_cross_entropy(input: Tensor, linear_weight: Tensor, target: Tensor, *, linear_bias: Optional[Tensor] = None,
                         weight: Optional[Tensor] = None, reduction: Reduction = "mean",
                         ignore_index: Optional[int] = None, label_smoothing: float = 0.0, options: object = None,
                         chunk_size: Optional[int] = None) -> Tensor:
    r"""Cross-entropy of a linear layer's output, as ``torch.nn.functional.linear_cross_entropy``,
    without the (N, V) logits: the numbers of :func:`symce.functional.linear_cross_entropy`.

    .. math::
        L = \mathrm{cross\_entropy}(h W^\top + b,\; t)

    Args:
      input: hidden states h, a float32/float64 CPU tensor (N, H).
      linear_weight: W (V, H), and linear_bias: b (V,) or None, of the input's dtype.
      target: class indices (N,), each in [0, V) or ``ignore_index`` (not differentiated).
      weight: class weights (V,) or None (not differentiated). reduction: 'none' | 'mean' | 'sum'.
      ignore_index: label whose rows are skipped (None: -100). label_smoothing: ε in [0, 1].
      options: must be None (torch's chunking options; symce always chunks, by ``chunk_size``).
      chunk_size: rows per chunk (None: 64 MiB of logits, see symce.functional.linear).
    Returns: a tensor of the input's dtype, (N,) for 'none', 0-d otherwise; differentiable in
    input, linear_weight and linear_bias.

    Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.linear_cross_entropy.html
    """
    if options is not None:
        raise TypeError("symce.torch.linear_cross_entropy always chunks: pass chunk_size=<rows per chunk> "
                        "instead of torch's options (LinearCrossEntropyOptions)")
    _not_differentiated(target=target, weight=weight)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral)):
        raise TypeError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    for name, tensor in (("linear_weight", linear_weight), ("linear_bias", linear_bias)):
        if tensor is not None and _floating(tensor, name).dtype != _floating(input).dtype:
            raise TypeError(f"{name} has dtype {tensor.dtype} but input has dtype {input.dtype}: they must match")
    arguments = (_floating(input), linear_weight, linear_bias, _cpu(target, "target"), _cpu(weight, "weight"),
                 _validate.reduction(reduction), None if ignore_index is None else _validate.ignore_index(ignore_index),
                 _validate.label_smoothing(label_smoothing), chunk_size)
    if _wants_grad(input, linear_weight, linear_bias) and reduction != "none":
        return cast(Tensor, _linear_cross_entropy_value_and_grad(*arguments, grad_output=None)[0])
    return cast(Tensor, _linear_cross_entropy(*arguments))
