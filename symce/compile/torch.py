"""A compiled loss on CPU tensors: two torch custom operators per loss, with symce.torch's chain rule.

Each compiled loss gets, once per process, the operators ``symce_compiled::<name>_<key16>`` (the
loss, from the forward-only kernel) and ``symce_compiled::<name>_<key16>_value_and_grad`` (the loss
and ∂(Σ loss)/∂input from one fused kernel call), ``<key16>`` the first 16 hex digits of the spec's
cache key, so a changed spec never meets an operator of the old one. Each has a fake (meta)
implementation, and the second the autograd formula of ``symce.torch``'s built-in losses (the same
``setup_context`` and backward helpers): ``torch.compile(fullgraph=True)`` records one opaque call
instead of tracing into numba, and ``torch.library.opcheck`` passes.

Every kind of loss shares one schema, the arguments its kind does not use left at None / -100::

    (Tensor input, Tensor target, Tensor? weight, Tensor? pos_weight, int ignore_index, str reduction,
     float[] params)

``params`` are the spec's scalar parameters in the kernels' order. The boundary checks, the
tensor/array views and the chain rule are symce.torch's.

Dynamo cannot trace a registration, so the operators are registered when the loss is compiled in
a process that has imported torch, else at the first eager ``.torch`` call; a loss whose first
``.torch`` call is inside ``torch.compile`` without either raises, saying so.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from symce import torch as symce_torch
from symce.compile import cache
from symce.functional import _validate
from symce.functional._reduce import RowLoss
from symce.functional._types import Reduction

if TYPE_CHECKING:
    from symce.compile.loss import CompiledLoss

#: the operators' namespace: torch.ops.symce_compiled.<name>_<key16>
NAMESPACE = "symce_compiled"
ARGUMENTS = ("Tensor input", "Tensor target", "Tensor? weight", "Tensor? pos_weight", "int ignore_index",
             "str reduction", "float[] params")

#: operator name → the operators registered in this process
_REGISTERED: dict[str, symce_torch.LossOperators] = {}


def operator_name(loss: CompiledLoss) -> str:
    """``<name>_<key16>``: the operator of ``loss``'s spec, the same in every process."""
    return f"{loss.spec.name}_{loss.key[:cache.KEY_LENGTH]}"


def operators(loss: CompiledLoss) -> symce_torch.LossOperators:
    """``loss``'s operators, registered the first time they are asked for in this process."""
    name = operator_name(loss)
    if name not in _REGISTERED:
        _REGISTERED[name] = _register(loss, name)
    return _REGISTERED[name]


def _register(loss: CompiledLoss, name: str) -> symce_torch.LossOperators:
    def rows(input: np.ndarray, target: np.ndarray, weight: np.ndarray | None, pos_weight: np.ndarray | None,
             ignore_index: int, params: Sequence[float]) -> RowLoss:
        return loss._rows(input, target, {"weight": weight, "pos_weight": pos_weight}, ignore_index, tuple(params))

    def value(input: np.ndarray, target: np.ndarray, weight: np.ndarray | None, pos_weight: np.ndarray | None,
              ignore_index: int, reduction: Reduction, params: Sequence[float]) -> ArrayLike:
        return rows(input, target, weight, pos_weight, ignore_index, params).value(reduction)

    def value_and_grad(input: np.ndarray, target: np.ndarray, weight: np.ndarray | None,
                       pos_weight: np.ndarray | None, ignore_index: int, reduction: Reduction,
                       params: Sequence[float]) -> tuple[ArrayLike, np.ndarray]:
        return rows(input, target, weight, pos_weight, ignore_index, params).value_and_grad(reduction)

    return symce_torch.loss_operators(f"{NAMESPACE}::{name}", ARGUMENTS, value, value_and_grad,
                                      loss.kind.class_axis)


def _registered(loss: CompiledLoss) -> symce_torch.LossOperators:
    name = operator_name(loss)
    if name in _REGISTERED:
        return _REGISTERED[name]
    if torch.compiler.is_compiling():
        raise RuntimeError(f"the torch operators of {loss.spec.name} are registered outside torch.compile: "
                           "compile the loss (symce.compile) after importing torch, or call its .torch once "
                           "eagerly before torch.compile traces it")
    return operators(loss)


def apply(loss: CompiledLoss, input: Tensor, target: Tensor, arrays: Mapping[str, Tensor | None], ignore_index: int,
          reduction: Reduction, options: tuple[float, ...]) -> Tensor:
    """``loss`` on tensors: the value as a tensor of the input's dtype, differentiable in ``input``.

    ``arrays``: the ``weight`` / ``pos_weight`` tensors (or None) as the loss's signature took them;
    ``options``: the scalar parameters, checked, in the kernels' order.
    """
    symce_torch._not_differentiated(target=target, **arrays)
    symce_torch._floating(input)
    symce_torch._cpu(target, "target")
    for name, tensor in arrays.items():
        symce_torch._cpu(tensor, name)
    return _registered(loss)(input, target, arrays.get("weight"), arrays.get("pos_weight"),
                             _validate.ignore_index(ignore_index), _validate.reduction(reduction), list(options))
