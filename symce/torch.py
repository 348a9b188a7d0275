r"""symce's fused kernels as differentiable torch losses, on CPU tensors, without copies.

``symce.torch.cross_entropy`` and ``symce.torch.binary_cross_entropy_with_logits`` take the
arguments of their ``torch.nn.functional`` namesakes and return tensors that autograd
differentiates. Each is a :class:`torch.autograd.Function` whose forward makes **one** call to
the generated fused forward+backward kernel (``symce.functional.*_value_and_grad``) and saves
the gradient; its backward only applies the chain rule,

.. math::
    \frac{\partial (g \cdot \ell)}{\partial z} = g \cdot \frac{\partial \ell}{\partial z}
    \quad\text{(a scalar } g \text{ for 'mean'/'sum'; row by row for 'none')}.

Memory is shared both ways: a contiguous CPU tensor's ``.detach().numpy()`` is a view of its
storage, so the kernel reads the logits in place, and ``torch.from_numpy`` wraps the kernel's
loss and gradient arrays. A non-contiguous input is made contiguous first (one copy), as are
the (N, C, d1, ..., dk) layouts, whose class axis symce moves last.

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
https://pytorch.org/docs/stable/notes/extending.html.

>>> import torch, symce.torch
>>> logits = torch.tensor([[2.0, 0.0, -1.0]], dtype=torch.float64, requires_grad=True)
>>> loss = symce.torch.cross_entropy(logits, torch.tensor([0]))
>>> loss.backward()
>>> round(loss.item(), 12), logits.grad.shape  # log(e^2 + 1 + e^-1) - 2
(0.169846019556, torch.Size([1, 3]))
"""
from __future__ import annotations

import numpy as np
import torch

from symce import functional as sf

__all__ = ["binary_cross_entropy_with_logits", "cross_entropy"]

#: the dtypes symce's kernels are compiled for, the only ones that reach them without a copy
DTYPES = (torch.float32, torch.float64)


# --- tensors in, tensors out ---------------------------------------------------------------------

def _cpu(tensor: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise ValueError(f"symce.torch runs on CPU tensors only (symce's kernels are numba CPU code), but "
                         f"{name} is on {tensor.device}; move it with .cpu() or use torch.nn.functional")
    return tensor


def _numpy(tensor: torch.Tensor | None, name: str) -> np.ndarray | None:
    """A CPU tensor's storage as a NumPy array: a view when the tensor is contiguous, else one copy.

    ``resolve_conj``/``resolve_neg`` are no-ops unless a lazy conjugate/negation bit is set, in which
    case ``.numpy()`` would refuse the tensor.
    """
    if tensor is None:
        return None
    return _cpu(tensor, name).detach().resolve_conj().resolve_neg().contiguous().numpy()


def _logits(input: torch.Tensor) -> np.ndarray:
    _cpu(input, "input")
    if input.dtype not in DTYPES:
        raise TypeError(f"symce.torch computes in float32 or float64, got input of dtype {input.dtype}; "
                        "convert it with .float() or .double()")
    return _numpy(input, "input")


def _tensor(value, dtype: torch.dtype) -> torch.Tensor:
    """A kernel result as a tensor: ``torch.from_numpy`` shares the array (a scalar is wrapped as 0-d)."""
    return torch.from_numpy(np.asarray(value)).to(dtype)


def _not_differentiated(**tensors) -> None:
    """Only ``input`` is differentiated; a companion that wants a gradient must not get a silent None."""
    for name, tensor in tensors.items():
        if torch.is_grad_enabled() and isinstance(tensor, torch.Tensor) and tensor.requires_grad:
            raise ValueError(f"symce.torch differentiates only with respect to input, but {name} requires "
                             f"grad; pass {name}.detach() (or use torch.nn.functional to differentiate "
                             f"with respect to {name})")


def _no_legacy(size_average, reduce) -> None:
    if size_average is not None or reduce is not None:
        raise TypeError("size_average and reduce are deprecated in torch and not supported by symce.torch; "
                        "pass reduction='none' | 'mean' | 'sum' instead (size_average=False means 'sum', "
                        "reduce=False means 'none')")


def _wants_grad(input: torch.Tensor) -> bool:
    # inside Function.forward grad mode is always off, so the caller's mode is read before apply;
    # without a gradient to save, the cheaper forward-only kernel runs
    return torch.is_grad_enabled() and input.requires_grad


# --- the chain rule, shared by both losses ------------------------------------------------------

def _is_one(grad_output: torch.Tensor) -> bool:
    """Whether every element of grad_output is exactly 1, read from one element only.

    True for the 1 that ``loss.backward()`` sends and for the ones that ``loss.sum()`` sends through
    reduction='none' (a scalar expanded to the loss's shape: every stride 0, so one element is all).
    """
    uniform = all(stride == 0 for stride in grad_output.stride()) and grad_output.numel() > 0
    return uniform and grad_output[(0,) * grad_output.ndim].item() == 1.0


def _chain(grad: torch.Tensor, grad_output: torch.Tensor, class_axis: int | None) -> torch.Tensor:
    """grad_output · ∂loss/∂input, from the saved ∂(Σ loss)/∂input (∂loss/∂input for a scalar loss).

    A grad_output of exactly 1 returns the saved gradient itself, skipping a pass over the input
    (autograd accumulates in place only into a gradient nothing else references, so a retained
    graph's saved gradient stays intact: tests/test_torch_adapter.py backpropagates one three times).
    A grad_output of the loss's shape for reduction='none' lacks the input's ``class_axis``: it gets
    it back as size 1 and broadcasts over the classes.
    """
    if _is_one(grad_output):
        return grad
    if class_axis is not None and grad_output.ndim > 0 and grad.ndim > 1:
        grad_output = grad_output.unsqueeze(class_axis)
    return grad * grad_output


class _DifferentiableOnce(torch.autograd.Function):
    """The identity on a gradient, tied to the input it is a gradient for, refusing to be differentiated.

    With ``create_graph=True`` autograd expects a gradient that is itself differentiable in the input;
    symce's comes from a kernel, a constant to autograd, so untied, a second derivative through it
    (a gradient penalty, a Hessian) would silently be zero.
    """

    @staticmethod
    def forward(ctx, grad, input):
        return grad.clone()

    @staticmethod
    def backward(ctx, _):
        raise RuntimeError("symce.torch's losses are differentiable once: their gradient comes from a "
                           "generated kernel, not from differentiable torch operations, so it has no "
                           "derivative (create_graph=True); use torch.nn.functional for second derivatives")


def _backward_result(grad: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
    # backward runs with grad mode on only under create_graph=True
    return _DifferentiableOnce.apply(grad, input) if torch.is_grad_enabled() else grad


# --- cross_entropy -------------------------------------------------------------------------------

class _CrossEntropy(torch.autograd.Function):
    """One fused kernel call forward, a scaling backward; differentiable in ``input`` only."""

    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, reduction, label_smoothing, wants_grad):
        args = (_logits(input), _numpy(target, "target"), _numpy(weight, "weight"), ignore_index, reduction,
                label_smoothing)
        if not wants_grad:
            return _tensor(sf.cross_entropy(*args), input.dtype)
        loss, grad = sf.cross_entropy_value_and_grad(*args)
        ctx.reduction, ctx.ignore_index = reduction, ignore_index
        ctx.save_for_backward(torch.from_numpy(grad), target, input)
        return _tensor(loss, input.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        grad, target, input = ctx.saved_tensors
        if ctx.reduction == "none" and not target.is_floating_point() and not _is_one(grad_output):
            # torch gives ignored samples a zero gradient whatever their grad_output (inf or nan
            # included); the saved rows are zero there, but 0 · nan is not
            grad_output = grad_output.masked_fill(target == ctx.ignore_index, 0)
        grad = _backward_result(_chain(grad, grad_output, class_axis=1), input)
        return grad, None, None, None, None, None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
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
    _not_differentiated(target=target, weight=weight)
    return _CrossEntropy.apply(input, target, weight, ignore_index, reduction, label_smoothing, _wants_grad(input))


# --- binary_cross_entropy_with_logits ------------------------------------------------------------

class _BinaryCrossEntropyWithLogits(torch.autograd.Function):
    """One fused kernel call forward, a scaling backward; differentiable in ``input`` only."""

    @staticmethod
    def forward(ctx, input, target, weight, reduction, pos_weight, wants_grad):
        args = (_logits(input), _numpy(target, "target"), _numpy(weight, "weight"), reduction,
                _numpy(pos_weight, "pos_weight"))
        if not wants_grad:
            return _tensor(sf.binary_cross_entropy_with_logits(*args), input.dtype)
        loss, grad = sf.binary_cross_entropy_with_logits_value_and_grad(*args)
        ctx.save_for_backward(torch.from_numpy(grad), input)
        return _tensor(loss, input.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        grad, input = ctx.saved_tensors
        return _backward_result(_chain(grad, grad_output, class_axis=None), input), None, None, None, None, None


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
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
    return _BinaryCrossEntropyWithLogits.apply(input, target, weight, reduction, pos_weight, _wants_grad(input))


# --- linear_cross_entropy (appended: the chunked linear layer + cross-entropy) ---------------------

__all__ += ["linear_cross_entropy"]


def _matching(tensor: torch.Tensor | None, name: str, dtype: torch.dtype) -> np.ndarray | None:
    """A companion of ``input`` in the linear layer: its dtype, as a NumPy view where contiguous."""
    if tensor is not None and isinstance(tensor, torch.Tensor) and tensor.dtype != dtype:
        raise TypeError(f"{name} has dtype {tensor.dtype} but input has dtype {dtype}: they must match")
    return _numpy(tensor, name)


class _LinearCrossEntropy(torch.autograd.Function):
    """Differentiable in input, linear_weight and linear_bias.

    'mean' and 'sum': forward makes the one pass over the chunks that yields the loss and all three
    gradients, and backward scales them by the scalar grad_output. 'none': forward computes the
    losses only and backward makes the pass with grad_output as the rows' scales, because
    ∂(Σ_i g_i ℓ_i)/∂W = Σ_i g_i ∂ℓ_i/∂W is no rescaling of anything forward could save.
    """

    @staticmethod
    def forward(ctx, input, linear_weight, linear_bias, target, options, wants_grad):
        arrays = (_logits(input), _matching(linear_weight, "linear_weight", input.dtype), _numpy(target, "target"))
        bias = _matching(linear_bias, "linear_bias", input.dtype)
        if not wants_grad or options["reduction"] == "none":
            ctx.options = options
            ctx.save_for_backward(input, linear_weight, linear_bias, target)
            return _tensor(sf.linear_cross_entropy(*arrays, linear_bias=bias, **options), input.dtype)
        loss, *grads = sf.linear_cross_entropy_value_and_grad(*arrays, linear_bias=bias, **options)
        ctx.options = None
        ctx.save_for_backward(*(None if grad is None else torch.from_numpy(grad) for grad in grads),
                              input, linear_weight, linear_bias)
        return _tensor(loss, input.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        if ctx.options is None:  # a scalar loss: the saved gradients times grad_output
            *grads, input, linear_weight, linear_bias = ctx.saved_tensors
            grads = [None if grad is None else _chain(grad, grad_output, class_axis=None) for grad in grads]
        else:
            input, linear_weight, linear_bias, target = ctx.saved_tensors
            _, *arrays = sf.linear_cross_entropy_value_and_grad(
                _logits(input), _numpy(linear_weight, "linear_weight"), _numpy(target, "target"),
                linear_bias=_numpy(linear_bias, "linear_bias"), grad_output=_numpy(grad_output, "grad_output"),
                **ctx.options)
            grads = [None if array is None else torch.from_numpy(array) for array in arrays]
        results = [None if grad is None or not needed else _backward_result(grad, tensor)
                   for grad, tensor, needed in zip(grads, (input, linear_weight, linear_bias), ctx.needs_input_grad)]
        return (*results, None, None, None)


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None, reduction="mean",
                         ignore_index=None, label_smoothing=0.0, options=None, chunk_size=None):
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
    numpy_options = dict(weight=_numpy(weight, "weight"), reduction=reduction, ignore_index=ignore_index,
                         label_smoothing=label_smoothing, chunk_size=chunk_size)
    wants_grad = torch.is_grad_enabled() and any(
        isinstance(tensor, torch.Tensor) and tensor.requires_grad for tensor in (input, linear_weight, linear_bias))
    return _LinearCrossEntropy.apply(input, linear_weight, linear_bias, target, numpy_options, wants_grad)
