"""What is being verified: a spec, its parameters, a reduction, and how the function's arguments map to it.

Both the symbolic and the numeric check build their expected values here, from the spec
alone: the per-sample expressions are ``Spec.at`` (symbolic) or ``Spec.evaluate`` (mpmath)
of the definition — or of ``Spec.gradient`` for ``wrt`` — combined over the batch the way
torch reduces: 'sum' adds, 'mean' divides by Σ_i ``mean_weight``_i.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Mapping

import mpmath
import numpy as np
import sympy as sp

from symce.spec import Spec
from symce.verify import ops
from symce.verify.framework import Reach, reach
from symce.spec.symbols import j

REDUCTIONS = ("none", "mean", "sum")


@dataclass
class Problem:
    """A function to check against ``spec`` under ``params``, reduced by ``reduction``."""

    fn: Callable
    spec: Spec
    binding: dict[str, str]                 # spec input name -> the function's parameter name
    reduction: str
    params: dict[str, object] = field(default_factory=dict)
    wrt: str | None = None
    framework: str = "numpy"

    @cached_property
    def reached(self) -> Reach:
        """What the function reaches (its framework, its globals, its literals), found once."""
        return reach(self.fn)

    @property
    def fixed_classes(self) -> int | None:
        """The class count a per-class parameter given as a list (class weights) fixes."""
        lengths = {len(v) for v in self.params.values() if isinstance(v, (list, tuple))}
        if len(lengths) > 1:
            raise ValueError(f"per-class parameters of different lengths: {sorted(lengths)}")
        return lengths.pop() if lengths else None

    @property
    def expr(self) -> sp.Expr:
        """One sample's value: the spec, or its gradient with respect to ``wrt``."""
        return self.spec.gradient(self.wrt) if self.wrt else self.spec.expr

    def call(self, arrays: Mapping[str, object]) -> object:
        """Call the function with each spec input passed as the parameter bound to it. Of a
        tuple it returns (``loss, grad``, as course code does) the part checked is the first
        element, or with ``wrt`` the first shaped like that input."""
        result = self.fn(**{self.binding[name]: value for name, value in arrays.items()})
        if not isinstance(result, tuple):
            return result
        if self.wrt is None:
            ops.note("the function returns a tuple; its first element is checked as the loss")
            return result[0]
        shape = np.shape(arrays[self.wrt])
        for part in result:
            if np.shape(part) == shape:
                ops.note(f"the function returns a tuple; its element shaped like {self.wrt} is checked "
                         "as the gradient")
                return part
        raise ValueError(f"the function returns a tuple, and none of its elements has the shape of {self.wrt}, "
                         f"{shape}")

    # ----- expected values ------------------------------------------------------------
    def sample_entries(self, values: Mapping[str, object], params: Mapping[str, object] | None = None,
                       expr: sp.Expr | None = None) -> list[sp.Expr]:
        """One sample's value(s) as SymPy expressions of ``values`` (symbols or numbers), as
        ``Spec.evaluate`` instantiates it: labels first, then the class count, then parameters."""
        spec = self.spec
        params = self.params if params is None else params
        expr = self.expr if expr is None else expr
        bindings = spec.bindings(values)
        labels = {key: sp.Integer(val) for key, val in bindings.items()
                  if not isinstance(key, sp.Indexed) and key.is_integer}
        others = {key: sp.sympify(val) for key, val in bindings.items() if key not in labels}
        base = expr.subs(labels)
        classes = spec.class_count(values)
        entries = ([spec.at(classes, params, base, class_index=i) for i in range(classes)]
                   if base.has(j) else [spec.at(classes, params, base)])
        return [entry.xreplace(others) for entry in entries]

    def combine(self, rows: list[list], weights: list) -> np.ndarray:
        """Per-sample values (``rows``) reduced over the batch; works for SymPy and mpmath numbers."""
        table = np.empty((len(rows), len(rows[0])), dtype=object)
        for i, row in enumerate(rows):
            table[i, :] = row
        if table.shape[1] == 1 and (self.wrt is None or self.spec.input(self.wrt).kind == "scalar"):
            table = table[:, 0]
        if self.wrt is not None:
            # a hand-written gradient of the reduced loss: 'mean' scales every sample's gradient
            return table / sum(weights) if self.reduction == "mean" else table
        if self.reduction == "none":
            return table
        total = np.sum(table, axis=0)
        return np.asarray(total / sum(weights) if self.reduction == "mean" else total, dtype=object)

    def expected_symbolic(self, samples: list[Mapping[str, object]],
                          params: Mapping[str, object] | None = None) -> np.ndarray:
        rows = [self.sample_entries(values, params) for values in samples]
        weights = [self.sample_entries(values, params, self.spec.mean_weight)[0] for values in samples]
        return self.combine(rows, weights)

    def expected_numeric(self, samples: list[Mapping[str, object]], dps: int = 50) -> np.ndarray:
        """The reference at high precision: ``Spec.evaluate`` per sample, reduced in mpmath."""
        with mpmath.workdps(dps):
            rows = [self._evaluate(values, self.expr, dps) for values in samples]
            weights = [self._evaluate(values, self.spec.mean_weight, dps)[0] for values in samples]
            return self.combine(rows, weights)

    def _evaluate(self, values, expr, dps):
        """``Spec.evaluate``, with more digits where 50 are not enough: SymPy rounds each
        subexpression to ``dps`` digits, so 1 − σ(10⁴) needs thousands of digits to stay > 0."""
        for digits in (dps, 10 * dps, 100 * dps):
            try:
                entries = self.spec.evaluate(values, self.params, dps=digits, expr=expr)
            except TypeError:           # SymPy's zoo/nan (log 0) cannot become an mpf
                continue
            if all(mpmath.isfinite(e) for e in entries):
                return entries
        return [mpmath.nan] * len(entries) if "entries" in locals() else [mpmath.nan]


def parse_assignments(text: str | None, what: str) -> dict[str, str]:
    """``"a=1,b=2"`` → ``{"a": "1", "b": "2"}``; a clear error for anything else."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{what}: expected NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out
