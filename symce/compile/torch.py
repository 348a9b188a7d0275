"""A compiled loss on CPU tensors: one autograd function, the chain rule of symce.torch.

The forward makes one fused kernel call (``CompiledLoss.value_and_grad``) when a gradient is
wanted, and keeps the gradient; backward multiplies it by grad_output. The checks at the boundary,
the tensor/array views and the chain rule are symce.torch's own, so a compiled loss behaves as
``symce.torch.cross_entropy`` does (a plain ``autograd.Function``, not a torch custom operator:
it runs eagerly, and ``torch.compile`` graph-breaks around it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Protocol

import torch
from torch import Tensor

from symce import torch as symce_torch
from symce.functional import _validate
from symce.functional._types import Reduction

if TYPE_CHECKING:
    from symce.compile.loss import CompiledLoss


class _Context(Protocol):
    """What forward keeps for backward: the input and labels, the gradient, the options backward reads."""

    saved_tensors: tuple[Tensor, ...]
    grad: Tensor
    ignore_index: int
    reduction: Reduction

    def save_for_backward(self, *tensors: Tensor) -> None: ...


class _CompiledLossFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: _Context, input: Tensor, target: Tensor, weight: Tensor | None, loss: CompiledLoss,
                ignore_index: int, reduction: Reduction, params: Mapping[str, float]) -> Tensor:
        arrays = (symce_torch._numpy(input), symce_torch._numpy(target), symce_torch._numpy(weight))
        value, grad = loss.value_and_grad(*arrays, ignore_index, reduction, grad_output=None, out=None, **params)
        ctx.save_for_backward(input, target)
        ctx.grad, ctx.ignore_index, ctx.reduction = torch.from_numpy(grad), ignore_index, reduction
        return symce_torch._tensor(value, input.dtype)

    @staticmethod
    def backward(ctx: _Context, grad_loss: Tensor) -> symce_torch.Gradients:
        input, target = ctx.saved_tensors
        if ctx.reduction == "none":
            # ignored samples get a zero gradient whatever their grad_output (inf and nan included), as in torch
            grad_loss = grad_loss.masked_fill(target == ctx.ignore_index, 0)
        grad = symce_torch._scaled(ctx.grad, grad_loss, class_axis=1)
        return symce_torch._backward_result(grad, input), None, None, None, None, None, None


def apply(loss: CompiledLoss, input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
          reduction: Reduction, params: Mapping[str, float]) -> Tensor:
    """``loss`` on tensors: the value as a tensor of the input's dtype, differentiable in ``input``."""
    symce_torch._not_differentiated(target=target, weight=weight)
    symce_torch._floating(input)
    symce_torch._cpu(target, "target")
    symce_torch._cpu(weight, "weight")
    ignore_index, reduction = _validate.ignore_index(ignore_index), _validate.reduction(reduction)
    if symce_torch._wants_grad(input):
        value: Tensor = _CompiledLossFunction.apply(  # type: ignore[no-untyped-call]  # unannotated in torch
            input, target, weight, loss, ignore_index, reduction, params)
        return value
    arrays = (symce_torch._numpy(input), symce_torch._numpy(target), symce_torch._numpy(weight))
    return symce_torch._tensor(loss(*arrays, ignore_index, reduction, **params), input.dtype)
