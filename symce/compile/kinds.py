"""The kinds of spec symce.compile takes, each given the boundary of the built-in loss of its kind.

A spec's inputs decide its kind:

========================  ===============================  =============================================
inputs (kinds)            built-in loss of the same kind   the boundary a compiled loss gets
========================  ===============================  =============================================
(logits, integer label)   ``cross_entropy``, class index   labels checked, ``ignore_index`` (``keep``),
                                                           class weights, 'mean' = Σ ℓ / Σ keep·w_t
(logits, probabilities)   ``cross_entropy``, probability   targets of the input's shape, class weights,
                                                           'mean' = Σ ℓ / N (the samples)
(logit, target) scalars   ``binary_cross_entropy_with_     same shapes, ``weight`` and ``pos_weight``
                          logits``                         broadcast, 'mean' = Σ ℓ / numel
========================  ===============================  =============================================

Each :class:`Kind` prepares a spec for its kernels (:meth:`Kind.prepare`: the parameters in the
order the built-in loss passes them to its kernels) and lays a call out as rows through the
built-in loss's own function (:meth:`Kind.rows`, via :mod:`symce.compile._interfaces`): the
validation, messages and reductions are symce.functional's, not copies of them.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import sympy as sp

from symce.compile import _interfaces
from symce.spec import Param, Spec
from symce.spec.losses import KEEP
from symce.spec.symbols import keep, pos_weight, t, weight

if TYPE_CHECKING:
    from types import ModuleType

    from numpy.typing import ArrayLike

    from symce.functional._reduce import RowLoss

    #: the array arguments a loss was called with, by keyword (None: not given)
    Arrays = dict[str, ArrayLike | None]

#: an elementwise spec's parameters that are arrays, by symbol → the keyword the loss takes them as
#: (torch's tensors, broadcast to the input); its other parameters are numbers
ELEMENT_ARRAYS = {weight: "weight", pos_weight: "pos_weight"}


class UnsupportedSpec(ValueError):
    """A spec that symce.compile cannot give the built-in losses' boundary (yet)."""


def _identifier(spec: Spec) -> None:
    if not spec.name.isidentifier():
        raise UnsupportedSpec(f"the spec's name {spec.name!r} must be a Python identifier (it names the kernels)")


def _class_weight(spec: Spec) -> Param | None:
    vectors = [param for param in spec.params if param.kind == "vector"]
    if len(vectors) > 1:
        raise UnsupportedSpec(f"spec {spec.name!r} has {len(vectors)} per-class parameters "
                              f"({', '.join(p.name for p in vectors)}); symce.compile takes one, the class weights")
    return vectors[0] if vectors else None


class Kind:
    """How specs with these ``inputs`` (their kinds) are compiled and called."""

    #: the kinds of the spec's inputs, in order
    inputs: tuple[str, ...]
    #: the input's class axis in torch's layout (None: an elementwise loss)
    class_axis: int | None
    #: what the inputs are, for messages
    described: str

    def prepare(self, spec: Spec) -> Spec:
        """``spec`` as its kernels are generated (parameters reordered, ``keep`` added where it applies)."""
        raise NotImplementedError

    def arrays(self, spec: Spec) -> dict[str, Param]:
        """The prepared spec's array parameters, by the keyword the loss takes them as."""
        raise NotImplementedError

    def rows(self, module: ModuleType, name: str, input: ArrayLike, target: ArrayLike, arrays: Arrays,
             options: tuple[float, ...], ignore_index: int) -> RowLoss:
        """The built-in loss's :class:`~symce.functional._reduce.RowLoss` over ``module``'s kernels."""
        raise NotImplementedError

    def scalars(self, spec: Spec) -> tuple[Param, ...]:
        """The prepared spec's numeric parameters, in the kernels' order (after the arrays)."""
        arrays = set(self.arrays(spec).values())
        return tuple(param for param in spec.params if param not in arrays and param.symbol != keep)


class _PerClass(Kind):
    """A spec over a row of logits: its one per-class parameter, if any, is the class weights."""

    def arrays(self, spec: Spec) -> dict[str, Param]:
        weight = _class_weight(spec)
        return {"weight": weight} if weight is not None else {}


class IntegerLabels(_PerClass):
    inputs, class_axis, described = ("vector", "label"), 1, "(logits, integer label)"

    def prepare(self, spec: Spec) -> Spec:
        """``keep · expr`` (ignore_index), the parameters as the built-in integer-label losses pass them
        (class weights, the scalars, keep).

        The 'mean' denominator Σ keep·w_t (or Σ keep without weights) is the one torch's
        cross_entropy uses; a spec that declares another ``mean_weight`` is refused.
        """
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

    def rows(self, module: ModuleType, name: str, input: ArrayLike, target: ArrayLike, arrays: Arrays,
             options: tuple[float, ...], ignore_index: int) -> RowLoss:
        return _interfaces.integer_label_rows(module, name, input, target, arrays.get("weight"), ignore_index,
                                              *options, weighted="weight" in arrays)


class ProbabilityTargets(_PerClass):
    inputs, class_axis, described = ("vector", "vector"), 1, "(logits, target probabilities)"

    def prepare(self, spec: Spec) -> Spec:
        """The parameters as ``softmax_cross_entropy``'s kernels take them (class weights, the scalars);
        'mean' divides by the number of samples, as torch's cross_entropy does for probability targets."""
        if spec.expr.has(keep):
            raise UnsupportedSpec(f"spec {spec.name!r} uses keep; probability targets have no ignore_index")
        if spec.mean_weight != 1:
            raise UnsupportedSpec(f"spec {spec.name!r} declares mean_weight {spec.mean_weight}; with probability "
                                  "targets symce.compile's 'mean' divides by the number of samples, as torch does")
        weight = _class_weight(spec)
        scalars = tuple(param for param in spec.params if param.kind != "vector")
        return dataclasses.replace(spec, params=((weight,) if weight is not None else ()) + scalars)

    def rows(self, module: ModuleType, name: str, input: ArrayLike, target: ArrayLike, arrays: Arrays,
             options: tuple[float, ...], ignore_index: int) -> RowLoss:
        return _interfaces.probability_label_rows(module, name, input, target, arrays.get("weight"), ignore_index,
                                                  *options, weighted="weight" in arrays)


class Elementwise(Kind):
    inputs, class_axis, described = ("scalar", "scalar"), None, "(logit, target), one number each"

    def prepare(self, spec: Spec) -> Spec:
        """The array parameters first (``weight``, ``pos_weight``, as binary_cross_entropy_with_logits's
        kernels take them), then the numbers; 'mean' divides by the number of elements."""
        if spec.expr.has(keep) or spec.mean_weight != 1:
            raise UnsupportedSpec(f"spec {spec.name!r}: an elementwise loss has no ignore_index and its 'mean' "
                                  "divides by the number of elements, as torch's binary_cross_entropy_with_logits")
        if any(param.kind == "vector" for param in spec.params):
            raise UnsupportedSpec(f"spec {spec.name!r} is elementwise: it has no per-class parameters")
        arrays = sorted((p for p in spec.params if p.symbol in ELEMENT_ARRAYS), key=lambda p: p.symbol != weight)
        return dataclasses.replace(spec, params=tuple(arrays) + tuple(p for p in spec.params if p not in arrays))

    def arrays(self, spec: Spec) -> dict[str, Param]:
        return {ELEMENT_ARRAYS[p.symbol]: p for p in spec.params if p.symbol in ELEMENT_ARRAYS}

    def rows(self, module: ModuleType, name: str, input: ArrayLike, target: ArrayLike, arrays: Arrays,
             options: tuple[float, ...], ignore_index: int) -> RowLoss:
        return _interfaces.logit_elementwise_rows(module, name, input, target, arrays, options)


KINDS = (IntegerLabels(), ProbabilityTargets(), Elementwise())


def of(spec: Spec) -> Kind:
    """The kind of ``spec``, by its inputs; :class:`UnsupportedSpec` names the kinds that compile."""
    _identifier(spec)
    found = tuple(item.kind for item in spec.inputs)
    for kind in KINDS:
        if kind.inputs == found:
            return kind
    accepted = "; ".join(f"{kind.described}: inputs of kinds {kind.inputs}" for kind in KINDS)
    raise UnsupportedSpec(f"symce.compile takes a spec over {accepted}. {spec.name!r} has {found}")
