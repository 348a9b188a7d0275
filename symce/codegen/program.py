"""From a spec to a *row program*: the few numbers a kernel computes per row, derived.

A loss over C classes is, once its sums are named, a function of a handful of row
reductions (each a Σ_k over a per-class expression) and of per-class values. A
:class:`RowProgram` is exactly that:

* ``reductions`` — Σ_k body_k, computed in one pass over the row;
* ``scalars`` — per-row outputs (a loss) in terms of the reductions;
* ``vectors`` — per-class outputs (a gradient, a softmax) with the free class index j;

each as cases on which of j, the label t and the argmax a coincide.

The program is obtained from the spec's own expression (forward) and from SymPy's
derivative of it (:meth:`Spec.gradient`, backward) by the same steps for every loss:

1. the pipeline ``before_naming`` of :mod:`symce.codegen.rewrites` (log-softmax as a
   difference, logits shifted by the row max m);
2. sums split into sums of single terms, constant factors taken out, and
   Σ_k f_k δ(j, k) = f_j (the classes j and t are in 0..C-1);
3. every sum named: with a shift, Σ_k f_k = f_a + Σ_{k≠a} f_k where a = argmax, so the
   largest term exp(z_a − m) = 1 is exact and the pipeline ``after_naming``
   (``log1p_definition``) turns log Σ into log1p of the other classes
   (``cross_entropy_log1p_others``);
4. outputs split into cases (j = a, t = a, j = t, other) so that at the argmax the
   pipeline ``at_the_argmax`` (``softmax_target_complement``) cancels the 1s exactly.

The pipelines are :data:`~symce.codegen.rewrites.SHIFTED_ROW` and, for the second, *plain*
program (no shift), :data:`~symce.codegen.rewrites.PLAIN_ROW`: what the kernels evaluate on
a row whose max is not finite (±inf or nan), the formula as written, which is what torch
does there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import sympy as sp

from symce.codegen.rewrites import PLAIN_ROW, SHIFTED_ROW, RowPipelines, optimize, zs
from symce.spec.symbols import j, k, z

#: the argmax class of a row (the pinned class of a shifted program)
argmax = sp.Symbol("a", integer=True, nonnegative=True)


@dataclass(frozen=True)
class Reduction:
    """Σ_{k} ``body`` over the row's classes (k ≠ a when ``excludes_argmax``), named ``symbol``."""

    symbol: sp.Symbol
    body: sp.Expr
    excludes_argmax: bool


@dataclass(frozen=True)
class Case:
    """A per-class output where ``condition`` holds (None: every other class)."""

    condition: sp.Basic | None
    expr: sp.Expr


@dataclass(frozen=True)
class RowProgram:
    """What a kernel computes per row; see the module docstring."""

    reductions: tuple[Reduction, ...]
    scalars: tuple[tuple[str, tuple[Case, ...]], ...]
    vectors: tuple[tuple[str, tuple[Case, ...]], ...]
    shifted: bool


def _has_logits(expr: sp.Expr, logits: sp.IndexedBase) -> bool:
    return any(isinstance(atom, sp.Indexed) and atom.base in (logits, zs) for atom in expr.atoms(sp.Indexed))


def sift_sums(expr: sp.Expr, logits: sp.IndexedBase = z) -> sp.Expr:
    """Split every Σ into single terms, take out what does not depend on the index, sift δ.

    Σ_k (c·f_k + g_k) = c·Σ_k f_k + Σ_k g_k;  Σ_k f_k δ(i, k) = f_i for i in 0..C-1;
    Σ_k c = C·c. Inner sums are handled first.

    Terms that multiply the same function of the ``logits`` keep one coefficient, summed per class:
    Σ_k (c·y_k + d)·z_k stays one sum, not c·Σ_k y_k z_k + d·Σ_k z_k. Where z_k = −inf and y_k = 0
    the split form is 0·(−inf) = nan; the coefficient first is (c·0 + d)·(−inf), the −inf that
    torch gets by weighting log softmax (its smoothed probability targets give +inf there). Over a
    row of independent logits h_k it keeps max(h_k, 0) − y_k·max(h_k, 0) as one sum of
    (1 − y_k)·max(h_k, 0) ≥ 0, not two large sums whose difference cancels.
    """
    def split(total: sp.Sum) -> sp.Expr:
        (index, low, high), = total.limits
        out = sp.S.Zero
        coefficients: dict[sp.Expr, list[tuple[sp.Expr, sp.Expr]]] = {}
        for term in sp.Add.make_args(sp.expand(total.function, log=False, power_exp=False)):
            factors = sp.Mul.make_args(term)
            constant = sp.Mul(*[f for f in factors if index not in f.free_symbols])
            varying = [f for f in factors if index in f.free_symbols]
            delta = next((f for f in varying if isinstance(f, sp.KroneckerDelta)), None)
            body = sp.Mul(*varying)
            if delta is not None:
                other = delta.args[0] if delta.args[1] == index else delta.args[1]
                out += constant * (body / delta).subs(index, other)
            elif body == 1:
                out += constant * (high - low + 1)
            else:
                of_logits = sp.Mul(*[f for f in varying if _has_logits(f, logits)])
                coefficients.setdefault(of_logits, []).append((constant, body / of_logits))
        for of_logits, terms in coefficients.items():
            if len(terms) == 1 or of_logits == 1:
                out += sum(constant * sp.Sum(weight * of_logits, (index, low, high)) for constant, weight in terms)
            else:
                out += sp.Sum(sp.Add(*(constant * weight for constant, weight in terms)) * of_logits, (index, low, high))
        return out

    return expr.replace(lambda e: isinstance(e, sp.Sum), split)


def _normal_form(expr: sp.Expr, pipelines: RowPipelines, expand: bool, logits: sp.IndexedBase) -> sp.Expr:
    expr = sift_sums(optimize(expr, pipelines.before_naming), logits)
    # a derivative by the chain rule carries factors like exp(−z_t)·Σ that cancel only once expanded
    return sp.expand(expr, log=False, power_exp=False) if expand else expr


def _name_sums(exprs: Sequence[sp.Expr], shift: bool):
    """Replace each distinct Σ_k body by a symbol; with a shift, by body_a + Σ_{k≠a} body_k."""
    sums = sorted({s for e in exprs for s in e.atoms(sp.Sum)}, key=sp.default_sort_key)
    reductions, names = [], {}
    for number, total in enumerate(sums):
        (index, _, _), = total.limits
        body = total.function.subs(index, k)
        symbol = sp.Symbol(f"_r{number}", real=True)
        reductions.append(Reduction(symbol, body, excludes_argmax=shift))
        names[total] = (body.subs(k, argmax).subs(zs[argmax], 0) + symbol) if shift else symbol
    return tuple(reductions), [e.xreplace(names) for e in exprs]


def _zero_deltas(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, sp.KroneckerDelta), lambda e: sp.S.Zero)


def _cases(expr: sp.Expr, shift: bool, label: sp.Symbol | None, at_the_argmax,
           every_row_rewrites=()) -> tuple[Case, ...]:
    """``expr`` split on which of j (the output class), t (the label) and a (the argmax) coincide.

    Where j or t is the argmax, exp(z_a − m) = 1 exactly and the rewrites ``at_the_argmax``
    (softmax_target_complement) cancel the 1s symbolically (softmax_a − 1 = −Σ_{k≠a} e_k / Σ_k e_k); a δ(j, t) is 1
    where j = t and 0 in every other case. Conditions are tested in order. A per-row value without a
    label has its sums split at the argmax in every row: ``every_row_rewrites``
    (softmax_targets_complement) cancel its 1s there.
    """
    per_class = expr.has(j)
    pins = []  # (condition, substitutions in order)
    if shift and per_class and label is not None:
        pins.append((sp.And(sp.Eq(j, argmax), sp.Eq(label, argmax)), ((j, argmax), (label, argmax))))
    if shift and per_class:
        pins.append((sp.Eq(j, argmax), ((j, argmax),)))
    if shift and label is not None:
        pins.append((sp.Eq(label, argmax), ((label, argmax),)))
    cases = []
    for condition, substitutions in pins:
        pinned = expr
        for symbol, value in substitutions:
            pinned = pinned.subs(symbol, value)
        pinned = _zero_deltas(pinned.subs(zs[argmax], 0))
        cases.append(Case(condition, optimize(pinned, at_the_argmax)))
    if per_class and label is not None:
        cases.append(Case(sp.Eq(j, label), _zero_deltas(expr.subs(j, label))))
    every_row = _zero_deltas(expr)
    if not per_class and label is None:  # no label to pin: the naming split each sum at a in every row
        every_row = optimize(every_row, every_row_rewrites)
    cases.append(Case(None, every_row))
    return tuple(cases)


def row_program(scalars: Mapping[str, sp.Expr], vectors: Mapping[str, sp.Expr], shift: bool,
                label: sp.Symbol | None = None, logits: sp.IndexedBase = z, expand: bool = True) -> RowProgram:
    """The row program of per-row outputs ``scalars`` and per-class outputs ``vectors`` (free index j).

    ``shift``: the expressions exponentiate the logits ``z``, so shift them by the row max
    and pin the argmax (see the module docstring). ``label``: the integer-label symbol whose
    δ(j, t) splits the per-class outputs into cases. ``logits``: the row's input, whose functions
    keep one coefficient per sum (:func:`sift_sums`). ``expand``: the per-class outputs are expanded
    before their sums are named, which a softmax's chain rule needs (its factors cancel only then); a
    row of independent logits keeps its gradient's product w_j·((1 − y_j)σ(h_j) − y_jσ(−h_j)), whose
    expanded terms would round apart where they cancel.
    """
    pipelines = SHIFTED_ROW if shift else PLAIN_ROW
    scalar_exprs = [_normal_form(e, pipelines, False, logits) for e in scalars.values()]
    vector_exprs = [_normal_form(e, pipelines, expand, logits) for e in vectors.values()]
    reductions, named = _name_sums(scalar_exprs + vector_exprs, shift)
    named = [optimize(e, pipelines.after_naming) for e in named]
    cases = [_cases(e, shift, label, pipelines.at_the_argmax, pipelines.every_row) for e in named]
    scalar_part = tuple(zip(scalars, cases[:len(scalar_exprs)]))
    vector_part = tuple(zip(vectors, cases[len(scalar_exprs):]))
    return RowProgram(reductions, scalar_part, vector_part, shift)
