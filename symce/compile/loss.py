"""A compiled loss: a user's spec with the built-in losses' boundary, reductions, kernels and torch adapter.

:func:`compiled` picks, by the spec's inputs (:mod:`symce.compile.kinds`), one of three classes,
each with the signature of the built-in loss of its kind:

* :class:`IntegerLabelLoss`, (logits, integer label): ``symce.functional.cross_entropy`` with
  class-index targets: labels checked (an out-of-range label is an ``IndexError`` naming it and its
  position), ``ignore_index``, class weights, 'mean' dividing by Σ keep·w_t. ``ignore_index`` needs
  the spec to be multiplied by ``keep`` (:data:`symce.spec.symbols.keep`); a user's spec without it
  gets it (``keep · expr``), so no generated kernel ever reads a label that is ignored or out of range;
* :class:`ProbabilityTargetLoss`, (logits, target probabilities): ``cross_entropy`` with probability
  targets: targets of the input's shape, class weights, 'mean' dividing by the number of samples;
* :class:`ElementwiseLoss`, (logit, target): ``binary_cross_entropy_with_logits``: one loss per
  element, ``weight`` and ``pos_weight`` (where the spec has them) broadcast, 'mean' over the elements.

What the built-in losses do around their kernels these do through the same code
(``symce.functional``'s validation and ``RowLoss`` reductions), so a spec that *is* a built-in loss
gives its numbers.
"""
from __future__ import annotations

import functools
import numbers
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike

from symce.compile import cache, kinds
from symce.compile.kinds import UnsupportedSpec
from symce.functional._reduce import RowLoss
from symce.functional._types import FloatArray, Loss, Reduction
from symce.spec import Spec

if TYPE_CHECKING:  # imported when first used: torch is optional, the others cost import time
    from torch import Tensor

    from symce.derivations import Derivation
    from symce.verify import Report, VerifyOptions
    from typing_extensions import Unpack

__all__ = ["CompiledLoss", "ElementwiseLoss", "IntegerLabelLoss", "ProbabilityTargetLoss", "UnsupportedSpec",
           "compiled"]


class CompiledLoss:
    """A loss compiled by :func:`symce.compile`: NumPy and torch functions, its gradient and derivation.

    ``loss(input, target, ...)`` and ``value_and_grad`` (loss, d loss / d input from one fused kernel
    call) take the arguments of the built-in loss of the spec's kind (see the subclasses); the spec's
    scalar parameters are keywords with the spec's defaults. ``torch`` is the same loss on CPU
    tensors, a torch custom operator differentiable by autograd (:mod:`symce.compile.torch`).
    """

    def __init__(self, spec: Spec, origin: Callable[..., object] | None = None) -> None:
        self.spec = spec
        self.kind = kinds.of(spec)
        self.kernel_spec = self.kind.prepare(spec)
        self.key = cache.key(self.kernel_spec)
        self.origin = origin
        self._arrays = self.kind.arrays(self.kernel_spec)
        self._scalars = self.kind.scalars(self.kernel_spec)
        if "torch" in sys.modules:
            # registered now, outside any torch.compile trace (Dynamo cannot trace a registration)
            from symce.compile.torch import operators

            operators(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.name} {self.key[:cache.KEY_LENGTH]}>"

    # ----- kernels -----------------------------------------------------------------------------
    @functools.cached_property
    def _loaded(self) -> tuple[ModuleType, bool]:
        return cache.load(self.kernel_spec)

    @property
    def kernels(self) -> ModuleType:
        """The generated module (``<name>_forward``, ``<name>_forward_backward`` and their variants)."""
        return self._loaded[0]

    @property
    def path(self) -> Path:
        """The generated module's file, in the kernel cache."""
        return cache.folder(self.kernel_spec, self.key) / "kernels.py"

    # ----- mathematics -------------------------------------------------------------------------
    @functools.cached_property
    def _derivation(self) -> Derivation:
        from symce.derivations import generic_gradient

        return generic_gradient(self.spec)

    @functools.cached_property
    def gradient(self) -> sp.Expr:
        """∂L/∂z_j in closed form (Kronecker deltas summed, simplified where that helps): what
        :meth:`derivation` arrives at."""
        from symce.derivations.catalog import gradient_closed_form

        return gradient_closed_form(self.spec)

    def derivation(self, format: str = "text") -> str:
        """The checked derivation of the gradient, as ``symce derive`` prints it (text, markdown, latex)."""
        from symce.derivations import render

        return render(self._derivation, format)

    @functools.cached_property
    def rewrites(self) -> tuple[str, ...]:
        """The stability rewrites that change the loss or its gradient on the way to the kernel."""
        return cache.rewrites_applied(self.kernel_spec)

    # ----- NumPy -------------------------------------------------------------------------------
    def _options(self, params: Mapping[str, object]) -> tuple[float, ...]:
        """The scalar parameters' values, in the kernels' order (the spec's defaults where not given)."""
        unknown = set(params) - {p.name for p in self._scalars}
        if unknown:
            raise TypeError(f"{self.spec.name} got unexpected keyword argument(s) {sorted(unknown)}; its "
                            f"parameters are {[p.name for p in self._scalars]}")
        values = []
        for param in self._scalars:
            value = params.get(param.name, param.default)
            if value is None:
                raise TypeError(f"{self.spec.name} needs a value for its parameter {param.name!r}")
            if isinstance(value, bool) or not isinstance(value, (numbers.Real, sp.Number)):
                raise TypeError(f"parameter {param.name} must be a real number, got {value!r}")
            values.append(float(value))
        return tuple(values)

    def _given(self, arrays: Mapping[str, ArrayLike | None]) -> dict[str, ArrayLike | None]:
        """The array arguments the spec has (``weight``, ``pos_weight``), refusing one it has not."""
        for name, value in arrays.items():
            if value is not None and name not in self._arrays:
                what = "class weights (no per-class parameter)" if self.kind.class_axis else f"parameter {name}"
                raise TypeError(f"{self.spec.name} has no {what}: pass {name}=None")
        return {name: arrays.get(name) for name in self._arrays}

    def _rows(self, input: ArrayLike, target: ArrayLike, arrays: Mapping[str, ArrayLike | None], ignore_index: int,
              options: tuple[float, ...]) -> RowLoss:
        """The call laid out by the built-in loss of this kind: a ``RowLoss`` over the cached kernels."""
        return self.kind.rows(self.kernels, self.kernel_spec.name, input, target, self._given(arrays), options,
                              ignore_index)

    def _value(self, input: ArrayLike, target: ArrayLike, arrays: Mapping[str, ArrayLike | None], ignore_index: int,
               reduction: Reduction, params: Mapping[str, object]) -> Loss:
        return self._rows(input, target, arrays, ignore_index, self._options(params)).value(reduction)

    def _value_and_grad(self, input: ArrayLike, target: ArrayLike, arrays: Mapping[str, ArrayLike | None],
                        ignore_index: int, reduction: Reduction, grad_output: ArrayLike | None,
                        out: np.ndarray | None, params: Mapping[str, object]) -> tuple[Loss, FloatArray]:
        rows = self._rows(input, target, arrays, ignore_index, self._options(params))
        return rows.value_and_grad(reduction, grad_output, out)

    def _torch(self, input: Tensor, target: Tensor, arrays: Mapping[str, Tensor | None], ignore_index: int,
               reduction: Reduction, params: Mapping[str, object]) -> Tensor:
        from symce.compile.torch import apply

        return apply(self, input, target, arrays, ignore_index, reduction, self._options(params))

    # ----- the original code -------------------------------------------------------------------
    def verify_original(self, **options: Unpack[VerifyOptions]) -> Report:
        """``symce.verify`` of the function this loss was traced from against the compiled spec (its
        parameters at their defaults): the report says where the original breaks (inf, nan, lost digits)."""
        if self.origin is None:
            raise ValueError(f"{self.spec.name} was compiled from a spec, not traced from a function")
        from symce.verify import verify

        options["params"] = {**{p.name: p.default for p in self.spec.params}, **(options.get("params") or {})}
        return verify(self.origin, spec=self.spec, **options)


class IntegerLabelLoss(CompiledLoss):
    """A spec over (logits, integer label), called as ``symce.functional.cross_entropy`` with class-index
    targets: logits (C,), (N, C) or (N, C, d1, ..., dk), labels of that shape without the class axis,
    each in [0, C) or ``ignore_index``; 'mean' divides by Σ keep·w_t."""

    def __call__(self, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, ignore_index: int = -100,
                 reduction: Reduction = "mean", **params: float) -> Loss:
        return self._value(input, target, {"weight": weight}, ignore_index, reduction, params)

    def value_and_grad(self, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                       ignore_index: int = -100, reduction: Reduction = "mean", grad_output: ArrayLike | None = None,
                       out: np.ndarray | None = None, **params: float) -> tuple[Loss, FloatArray]:
        """(loss, grad_output · d loss / d input) from one fused kernel call; ``out`` receives the gradient
        (it may be ``input`` itself), as in ``symce.functional.cross_entropy_value_and_grad``."""
        return self._value_and_grad(input, target, {"weight": weight}, ignore_index, reduction, grad_output, out,
                                    params)

    def torch(self, input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
              reduction: Reduction = "mean", **params: float) -> Tensor:
        """The loss on CPU tensors, differentiable with respect to ``input``."""
        return self._torch(input, target, {"weight": weight}, ignore_index, reduction, params)


class ProbabilityTargetLoss(CompiledLoss):
    """A spec over (logits, target probabilities), called as ``symce.functional.cross_entropy`` with
    probability targets: logits and targets of one shape, (C,), (N, C) or (N, C, d1, ..., dk), classes
    on axis 1; 'mean' divides by the number of samples, whatever the class weights (torch's rule)."""

    def __call__(self, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                 reduction: Reduction = "mean", **params: float) -> Loss:
        return self._value(input, target, {"weight": weight}, -100, reduction, params)

    def value_and_grad(self, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                       reduction: Reduction = "mean", grad_output: ArrayLike | None = None,
                       out: np.ndarray | None = None, **params: float) -> tuple[Loss, FloatArray]:
        """(loss, grad_output · d loss / d input) from one fused kernel call (``out``: see IntegerLabelLoss)."""
        return self._value_and_grad(input, target, {"weight": weight}, -100, reduction, grad_output, out, params)

    def torch(self, input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: Reduction = "mean",
              **params: float) -> Tensor:
        """The loss on CPU tensors, differentiable with respect to ``input`` (not the targets)."""
        return self._torch(input, target, {"weight": weight}, -100, reduction, params)


class ElementwiseLoss(CompiledLoss):
    """A spec over one logit and its target, called as ``symce.functional.binary_cross_entropy_with_logits``:
    input and target of one shape; ``weight`` and ``pos_weight`` (where the spec has them: parameters
    of the symbols ``weight`` and ``pos_weight``) broadcast to it; 'mean' divides by the number of elements."""

    def __call__(self, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                 reduction: Reduction = "mean", pos_weight: ArrayLike | None = None, **params: float) -> Loss:
        return self._value(input, target, {"weight": weight, "pos_weight": pos_weight}, -100, reduction, params)

    def value_and_grad(self, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                       reduction: Reduction = "mean", pos_weight: ArrayLike | None = None,
                       grad_output: ArrayLike | None = None, out: np.ndarray | None = None,
                       **params: float) -> tuple[Loss, FloatArray]:
        """(loss, grad_output · d loss / d input) from one fused kernel call (``out``: see IntegerLabelLoss)."""
        return self._value_and_grad(input, target, {"weight": weight, "pos_weight": pos_weight}, -100, reduction,
                                    grad_output, out, params)

    def torch(self, input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: Reduction = "mean",
              pos_weight: Tensor | None = None, **params: float) -> Tensor:
        """The loss on CPU tensors, differentiable with respect to ``input``."""
        return self._torch(input, target, {"weight": weight, "pos_weight": pos_weight}, -100, reduction, params)


LOSSES: dict[type[kinds.Kind], type[CompiledLoss]] = {
    kinds.IntegerLabels: IntegerLabelLoss, kinds.ProbabilityTargets: ProbabilityTargetLoss,
    kinds.Elementwise: ElementwiseLoss}


def compiled(spec: Spec, origin: Callable[..., object] | None = None) -> CompiledLoss:
    """The compiled loss of ``spec``, of the class its inputs' kind calls for."""
    return LOSSES[type(kinds.of(spec))](spec, origin)
