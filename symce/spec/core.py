"""The objects a spec is made of: inputs, parameters, assumptions, and the spec itself.

A spec is one SymPy expression over indexed symbols with a *symbolic* class count ``C``
(``IndexedBase`` + ``Sum``). Everything else in symce — identities, derivations, kernels,
verification — reads these objects; nothing else defines a loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import mpmath
import sympy as sp

from symce.errors import UnknownName
from symce.spec.printing import formula
from symce.spec.symbols import C, j, k


@dataclass(frozen=True)
class Input:
    """One argument of a spec.

    ``kind`` is the shape of one sample's value: ``"vector"`` (one value per class, an
    ``IndexedBase`` indexed by a class index), ``"scalar"`` (one real number) or
    ``"label"`` (one integer class index in ``0..C-1``).
    ``domain`` says which values are meaningful: ``"real"`` (any real), ``"probability"``
    (each entry in [0, 1]), ``"simplex"`` (entries in [0, 1] that sum to 1),
    ``"positive"`` (entries > 0), ``"sign"`` (entries in {-1, +1}), ``"index"``.
    """

    name: str
    symbol: sp.Basic
    kind: str
    domain: str
    description: str


@dataclass(frozen=True)
class Param:
    """A fixed parameter of a spec (label smoothing, class weights, pos_weight, ...).

    ``default`` is the value under which the parameter has no effect (e.g. ε = 0, w = 1);
    ``Spec.at(..., params)`` substitutes it unless another value is given.
    """

    name: str
    symbol: sp.Basic
    kind: str
    default: sp.Expr
    description: str


@dataclass(frozen=True)
class Assumption:
    """A fact about the inputs that a spec, identity or derivation may rely on.

    ``relation`` is a SymPy relational over the spec's symbols (e.g. Σ_k y_k = 1); ``text``
    is how people say it.
    """

    name: str
    relation: sp.Basic
    text: str


def _exact(value: object, dps: int) -> sp.Float:
    """A float input as the exact binary number it is (a NumPy scalar or a Python float or string)."""
    return sp.Float(value.item() if hasattr(value, "item") else value, dps)


def class_sum(body: sp.Expr, index: sp.Symbol = k, count: sp.Expr = C) -> sp.Sum:
    """Σ_{index=0}^{count-1} body — the one way a sum over classes is written in a spec."""
    return sp.Sum(body, (index, 0, count - 1))


def _unweight(expr: sp.Expr, base: sp.IndexedBase, value: sp.Expr) -> sp.Expr:
    """Replace every ``base[i]`` by ``value`` (a per-class parameter at its default)."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == base, lambda e: value)


@dataclass(frozen=True)
class Spec:
    """One quantity, defined once.

    ``expr`` is one sample's value, over the symbols of ``inputs`` and ``params``, with a
    symbolic class count ``C``. A spec whose value is itself a vector over classes
    (softmax, log_softmax) has the free class index ``j`` in ``expr`` and ``output="vector"``.

    :attr:`formula` is ``notation = expr`` printed by :mod:`symce.spec.printing`, so the text
    people read is the expression itself.

    ``mean_weight`` is what one sample contributes to the denominator of
    ``reduction='mean'`` (torch: the target's class weight for class-index targets, 1 for
    probability targets), so that mean = Σ_i loss_i / Σ_i mean_weight_i.
    """

    name: str
    expr: sp.Expr
    inputs: tuple[Input, ...]
    doc: str
    params: tuple[Param, ...] = ()
    assumptions: tuple[Assumption, ...] = ()
    output: str = "scalar"
    mean_weight: sp.Expr = sp.Integer(1)
    family: str = "misc"
    reference: str = ""
    torch: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)
    #: the left-hand side of :attr:`formula` (``H(p)``, ``softmax(z)_j``; a loss is ``L``)
    notation: str = "L"

    # ----- structure -------------------------------------------------------------------
    def input(self, name: str) -> Input:
        for item in self.inputs:
            if item.name == name:
                return item
        raise UnknownName(f"spec {self.name!r} has no input {name!r}; inputs: {[i.name for i in self.inputs]}")

    def param(self, name: str) -> Param:
        for item in self.params:
            if item.name == name:
                return item
        raise UnknownName(f"spec {self.name!r} has no parameter {name!r}; parameters: {[p.name for p in self.params]}")

    @property
    def is_per_class(self) -> bool:
        """True when the spec sums over classes (so it has a class count C)."""
        return any(i.kind in ("vector", "label") for i in self.inputs)

    # ----- instantiation ---------------------------------------------------------------
    def with_params(self, params: Mapping[str, object] | None = None, expr: sp.Expr | None = None) -> sp.Expr:
        """``expr`` (default: the spec's) with parameters fixed: those given, the rest at default.

        A per-class parameter (class weights) may be given as a sequence of numbers; it
        is substituted once the class count is concrete (see :meth:`at`). A parameter
        given as ``None`` stays symbolic.
        """
        params = dict(params or {})
        unknown = set(params) - {p.name for p in self.params}
        if unknown:
            raise UnknownName(f"spec {self.name!r} has no parameter(s) {sorted(unknown)}")
        out = self.expr if expr is None else expr
        for param in self.params:
            value = params.get(param.name, param.default)
            if value is None:
                continue
            if param.kind == "vector":
                if isinstance(value, (list, tuple)):
                    out = out.replace(
                        lambda e, b=param.symbol: isinstance(e, sp.Indexed) and e.base == b and e.indices[0].is_Integer,
                        lambda e, v=value: sp.sympify(v[int(e.indices[0])]),
                    )
                else:
                    out = _unweight(out, param.symbol, sp.sympify(value))
            else:
                out = out.subs(param.symbol, sp.sympify(value))
        return out

    def at(self, classes: int | None = None, params: Mapping[str, object] | None = None,
           expr: sp.Expr | None = None, class_index: int | None = None) -> sp.Expr:
        """The expression for a concrete class count: sums expanded to ``z[0] + … + z[C-1]``.

        ``class_index`` fixes the free output index ``j`` of a vector-valued spec.
        Vector parameters given as sequences are substituted after expansion.
        """
        out = self.expr if expr is None else expr
        if class_index is not None:
            out = out.subs(j, class_index)
        if classes is not None:
            out = out.subs(C, classes).doit()
        return self.with_params(params, out)

    def outputs_at(self, classes: int, params: Mapping[str, object] | None = None) -> list[sp.Expr]:
        """All entries of a vector-valued spec (``[expr at j=0, …, j=C-1]``), or ``[expr]``."""
        if self.output != "vector":
            return [self.at(classes, params)]
        return [self.at(classes, params, class_index=i) for i in range(classes)]

    # ----- high-precision reference values ---------------------------------------------
    def bindings(self, values: Mapping[str, object]) -> dict[sp.Basic, object]:
        """Map input names to SymPy substitutions (vectors entry by entry)."""
        subs: dict[sp.Basic, object] = {}
        for item in self.inputs:
            if item.name not in values:
                raise UnknownName(f"spec {self.name!r} needs a value for input {item.name!r}")
            value = values[item.name]
            if item.kind == "vector":
                for i, v in enumerate(value):
                    subs[item.symbol[i]] = v
            else:
                subs[item.symbol] = value
        return subs

    def evaluate(self, values: Mapping[str, object], params: Mapping[str, object] | None = None,
                 dps: int = 50, expr: sp.Expr | None = None) -> list[mpmath.mpf]:
        """The spec's value at ``values`` in mpmath with ``dps`` decimal digits.

        ``values`` maps input names to numbers (vectors as sequences; the class count is
        the length of the vector inputs). Returns one number per output entry. ``expr``
        evaluates a derived expression (e.g. a gradient) over the same inputs instead.
        """
        classes = self.class_count(values)
        bindings = self.bindings(values)
        # labels first: w[t] and z[t] must become w[2] and z[2] before parameters and numbers go in
        labels = {key: sp.Integer(val) for key, val in bindings.items() if not isinstance(key, sp.Indexed)
                  and key.is_integer}
        numbers = {key: _exact(val, dps) for key, val in bindings.items() if key not in labels}
        base = (self.expr if expr is None else expr).subs(labels)
        entries = ([self.at(classes, params, base, class_index=i) for i in range(classes)]
                   if base.has(j) else [self.at(classes, params, base)])
        with mpmath.workdps(dps):
            return [mpmath.mpf(sp.N(entry.xreplace(numbers), dps)) for entry in entries]

    def class_count(self, values: Mapping[str, object]) -> int | None:
        for item in self.inputs:
            if item.kind == "vector" and item.name in values:
                return len(values[item.name])
        return None

    def gradient(self, wrt: str | None = None) -> sp.Expr:
        """∂ spec / ∂ input_j for a vector input (symbolic C), or d spec / d input for a scalar.

        Differentiates the definition; no gradient formula is written by hand anywhere.
        """
        item = self.input(wrt) if wrt else self.inputs[0]
        if item.kind == "vector":
            return sp.diff(self.expr, item.symbol[j])
        if item.kind == "scalar":
            return sp.diff(self.expr, item.symbol)
        raise ValueError(f"input {item.name!r} of {self.name!r} is a {item.kind}; it has no gradient")

    @property
    def formula(self) -> str:
        """One line: ``notation = expr`` in unicode maths, rendered from ``expr``."""
        return f"{self.notation} = {formula(self.expr)}"

    def summary(self) -> str:
        """One line: the name and the formula."""
        return f"{self.name}: {self.formula}"
