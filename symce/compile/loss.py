"""A compiled loss: a user's spec with the built-in losses' boundary, reductions, kernels and torch adapter.

:class:`CompiledLoss` wraps a spec over (logits, integer label). What the built-in losses do
around their kernels it does through the same code: labels, class weights and ``ignore_index``
are checked by ``symce.functional._validate`` (an out-of-range label is an ``IndexError`` naming it
and its position), rows and reductions come from ``symce.functional._reduce.RowLoss`` (torch's
'none' / 'mean' / 'sum', 'mean' dividing by Σ keep·w_t), so a spec that *is* cross-entropy gives
``symce.functional.cross_entropy``'s numbers.

``ignore_index`` needs the spec to be multiplied by ``keep`` (:data:`symce.spec.symbols.keep`):
the kernel generator turns that factor into an ``ignore_index`` argument and skips the row. A
user's spec without it gets it (``keep · expr``), so no generated kernel ever reads a label that
is ignored or out of range: both are settled before the kernel runs.
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike

from symce.compile import _interfaces, cache
from symce.functional._reduce import RowLoss
from symce.functional._types import FloatArray, Loss, Reduction
from symce.spec import Param, Spec
from symce.spec.losses import KEEP
from symce.spec.symbols import keep, t

if TYPE_CHECKING:  # imported when first used: torch is optional, the others cost import time
    from torch import Tensor

    from symce.derivations import Derivation
    from symce.verify import Report, VerifyOptions
    from typing_extensions import Unpack


class UnsupportedSpec(ValueError):
    """A spec that symce.compile cannot give the built-in losses' boundary (yet)."""


def _class_weight(spec: Spec) -> Param | None:
    vectors = [param for param in spec.params if param.kind == "vector"]
    if len(vectors) > 1:
        raise UnsupportedSpec(f"spec {spec.name!r} has {len(vectors)} per-class parameters "
                              f"({', '.join(p.name for p in vectors)}); symce.compile takes one, the class weights")
    return vectors[0] if vectors else None


def boundary_spec(spec: Spec) -> Spec:
    """``spec`` as its kernels are generated: ``keep · expr`` (ignore_index), and parameters in the
    order the built-in integer-label losses pass them (class weights, the scalars, keep).

    The 'mean' denominator Σ keep·w_t (or Σ keep without weights) is the one torch's
    cross_entropy uses; a spec that declares another ``mean_weight`` is refused.
    """
    if [item.kind for item in spec.inputs] != ["vector", "label"]:
        raise UnsupportedSpec(f"symce.compile takes a spec over (logits, integer label): inputs of kinds "
                              f"('vector', 'label'); {spec.name!r} has {tuple(i.kind for i in spec.inputs)}")
    if not spec.name.isidentifier():
        raise UnsupportedSpec(f"the spec's name {spec.name!r} must be a Python identifier (it names the kernels)")
    weight = _class_weight(spec)
    scalars = tuple(param for param in spec.params if param.kind != "vector" and param.symbol != keep)
    expr = spec.expr if spec.expr.has(keep) else keep * spec.expr
    counted = keep * weight.symbol[t] if weight is not None else keep
    mean_weight = spec.mean_weight if spec.mean_weight.has(keep) else keep * spec.mean_weight
    if spec.mean_weight in (1, keep):  # the default: torch's cross_entropy convention
        mean_weight = counted
    if sp.simplify(mean_weight - counted) != 0:
        raise UnsupportedSpec(f"spec {spec.name!r} declares mean_weight {spec.mean_weight}; symce.compile's "
                              f"'mean' divides by Σ {counted} (torch's cross_entropy convention)")
    params = ((weight,) if weight is not None else ()) + scalars + (KEEP,)
    return dataclasses.replace(spec, expr=expr, params=params, mean_weight=mean_weight)


class CompiledLoss:
    """A loss compiled by :func:`symce.compile`: NumPy and torch functions, its gradient and derivation.

    ``loss(logits, labels, weight=None, ignore_index=-100, reduction="mean", **params)`` follows
    ``symce.functional.cross_entropy``: logits (C,), (N, C) or (N, C, d1, ..., dk), labels of the
    same shape without the class axis; the spec's scalar parameters are keywords with the spec's
    defaults. ``value_and_grad`` returns (loss, d loss / d logits) from one fused kernel call;
    ``torch`` is the same loss on CPU tensors, differentiable by autograd.
    """

    def __init__(self, spec: Spec, origin: Callable[..., object] | None = None) -> None:
        self.spec = spec
        self.kernel_spec = boundary_spec(spec)
        self.key = cache.key(self.kernel_spec)
        self.origin = origin
        self._weight = _class_weight(self.kernel_spec)
        self._scalars = tuple(p for p in self.kernel_spec.params if p.kind != "vector" and p.symbol != keep)

    def __repr__(self) -> str:
        return f"<CompiledLoss {self.spec.name} {self.key[:cache.KEY_LENGTH]}>"

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

    def _rows(self, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int,
              params: Mapping[str, object]) -> RowLoss:
        if weight is not None and self._weight is None:
            raise TypeError(f"{self.spec.name} has no class weights (no per-class parameter): pass weight=None")
        return _interfaces.integer_label_rows(self.kernels, self.kernel_spec.name, input, target, weight,
                                              ignore_index, *self._options(params), weighted=self._weight is not None)

    def __call__(self, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, ignore_index: int = -100,
                 reduction: Reduction = "mean", **params: float) -> Loss:
        return self._rows(input, target, weight, ignore_index, params).value(reduction)

    def value_and_grad(self, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                       ignore_index: int = -100, reduction: Reduction = "mean", grad_output: ArrayLike | None = None,
                       out: np.ndarray | None = None, **params: float) -> tuple[Loss, FloatArray]:
        """(loss, grad_output · d loss / d input) from one fused kernel call; ``out`` receives the gradient
        (it may be ``input`` itself), as in ``symce.functional.cross_entropy_value_and_grad``."""
        return self._rows(input, target, weight, ignore_index, params).value_and_grad(reduction, grad_output, out)

    # ----- torch -------------------------------------------------------------------------------
    def torch(self, input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
              reduction: Reduction = "mean", **params: float) -> Tensor:
        """The loss on CPU tensors, differentiable with respect to ``input`` (see :mod:`symce.compile.torch`)."""
        from symce.compile.torch import apply

        return apply(self, input, target, weight, ignore_index, reduction, params)

    # ----- the original code -------------------------------------------------------------------
    def verify_original(self, **options: Unpack[VerifyOptions]) -> Report:
        """``symce.verify`` of the function this loss was traced from against the compiled spec (its
        parameters at their defaults): the report says where the original breaks (inf, nan, lost digits)."""
        if self.origin is None:
            raise ValueError(f"{self.spec.name} was compiled from a spec, not traced from a function")
        from symce.verify import verify

        options["params"] = {**{p.name: p.default for p in self.spec.params}, **(options.get("params") or {})}
        return verify(self.origin, spec=self.spec, **options)
