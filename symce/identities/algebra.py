"""Deciding that an expression over class sums is zero: for symbolic C, for concrete C, numerically.

The symbolic decision procedure is the textbook one for linear sums. Every ``Σ_k`` is made
*linear* (its body expanded, the sum split over the terms, factors free of ``k`` pulled out)
and its bound index renamed canonically, so equal sums become the same SymPy object. The
assumptions that are sums (``Σ_k p_k = 1``) are then substituted, every remaining sum is
replaced by an opaque symbol that carries what SymPy knows about it (a sum of positive
terms is positive), and what is left is ordinary algebra on logs, exps and rationals.

A concrete class count expands every sum into ``C`` terms instead; an assumption
``Σ_k p_k = 1`` is then solved for the last entry, so every vector satisfying it is covered.
"""
from __future__ import annotations

import itertools
import random
from typing import Iterable, Mapping, Sequence

import mpmath
import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce.spec.symbols import C, j, k, t

#: a second free class index (the row of a Hessian)
i = sp.Symbol("i", integer=True, nonnegative=True)
#: the free class indices a statement may carry; each ranges over 0..C-1
FREE_INDICES = (i, j, t)

_AFTER_LAST = sp.Symbol("n_after", integer=True, nonnegative=True)


# ----- rewriting to a normal form ------------------------------------------------------------

def definitions(expr: sp.Expr) -> sp.Expr:
    """Unfold the named functions kernels use into what they mean: log1p(a) = log(1 + a)."""
    return expr.replace(lambda e: isinstance(e, log1p), lambda e: sp.log(1 + e.args[0]))


def indices_in_range(expr: sp.Expr) -> sp.Expr:
    """Resolve the Piecewise that summing a Kronecker delta leaves (``j ≤ C − 1``).

    Class indices are in range by assumption (each of ``i, j, t`` in ``0..C−1``), so a
    condition on one index is decided by writing ``C = index + 1 + n`` with ``n ≥ 0`` for that
    index alone; a condition relating two indices (``i ≤ j``) is left undecided.
    """
    def decided(condition: sp.Basic) -> sp.Basic:
        if condition in (sp.true, sp.false):
            return condition
        if isinstance(condition, (sp.And, sp.Or)):
            parts = [decided(part) for part in condition.args]
            return condition.func(*parts)
        indices = [index for index in FREE_INDICES if index in condition.free_symbols]
        if len(indices) != 1:
            return condition
        return sp.simplify(condition.subs(C, indices[0] + 1 + _AFTER_LAST))

    def resolve(piecewise: sp.Piecewise) -> sp.Expr:
        for value, condition in piecewise.args:
            verdict = decided(condition)
            if verdict == sp.true:
                return value
            if verdict != sp.false:
                return piecewise
        return piecewise

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), resolve)


def _height(expr: sp.Basic) -> int:
    """How deeply sums are nested in ``expr`` (0: no sum, 1: a sum of sum-free terms, …)."""
    if isinstance(expr, sp.Sum):
        return 1 + _height(expr.function)
    return max((_height(arg) for arg in expr.args), default=0)


def _canonical_index(height: int) -> sp.Symbol:
    # innermost sums are over k; a sum around sums of height h over k_h, so no index is captured
    return k if height == 1 else sp.Symbol(f"k_{height - 1}", integer=True, nonnegative=True)


def _linear_sum(total: sp.Sum) -> sp.Expr:
    """Σ over one index, split over the terms of its body with the index-free factors outside."""
    (index, low, high), = total.limits
    free = sp.Dummy("k", integer=True, nonnegative=True)
    body = sp.expand(total.function.subs(index, free))
    out = sp.Integer(0)
    for term in sp.Add.make_args(body):
        inside = sp.Mul(*[f for f in sp.Mul.make_args(term) if free in f.free_symbols])
        outside = sp.Mul(*[f for f in sp.Mul.make_args(term) if free not in f.free_symbols])
        if inside == 1:
            out += outside * (high - low + 1)
            continue
        canonical = _canonical_index(_height(inside) + 1)
        if canonical in inside.free_symbols | outside.free_symbols | low.free_symbols | high.free_symbols:
            canonical = free    # the canonical name is taken (free elsewhere): renaming would capture it
        out += outside * sp.Sum(inside.xreplace({free: canonical}), (canonical, low, high))
    return out


def linear_sums(expr: sp.Expr) -> sp.Expr:
    """Every sum in ``expr`` in linear, canonical form (innermost first)."""
    return expr.replace(lambda e: isinstance(e, sp.Sum) and len(e.limits) == 1, _linear_sum)


def kronecker_sifted(expr: sp.Expr) -> sp.Expr:
    """δ_ab·f(a) → δ_ab·f(b) in every term: the product vanishes unless a = b."""
    out = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(expr)):
        deltas = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.KroneckerDelta)]
        rest = sp.Mul(*[f for f in sp.Mul.make_args(term) if not isinstance(f, sp.KroneckerDelta)])
        for delta in deltas:
            first, second = delta.args
            if isinstance(first, sp.Symbol):
                rest = rest.subs(first, second)
        out += sp.Mul(*deltas) * rest
    return out


def _sum_givens(givens: Iterable[sp.Eq]) -> dict[sp.Basic, sp.Expr]:
    """``Σ_k p_k = 1`` as a substitution of the linearised sum."""
    out = {}
    for relation in givens:
        lhs = linear_sums(relation.lhs)
        if not isinstance(lhs, sp.Sum):
            raise ValueError(f"the assumption {relation} is not of the form Σ_k (…) = value")
        out[lhs] = relation.rhs
    return out


def _opaque_sums(expr: sp.Expr) -> sp.Expr:
    """Replace each remaining sum by a symbol that knows its sign: a sum of positive terms is
    positive only over a range known to be non-empty (an empty sum is 0)."""
    replacements = {}
    for total in sorted(expr.atoms(sp.Sum), key=sp.default_sort_key):
        nonempty = all((high - low).is_nonnegative for _, low, high in total.limits)
        if total.function.is_positive and nonempty:
            replacements[total] = sp.Dummy("S", positive=True)
        elif total.function.is_nonnegative:
            replacements[total] = sp.Dummy("S", nonnegative=True)
        elif total.function.is_real:
            replacements[total] = sp.Dummy("S", real=True)
        else:
            replacements[total] = sp.Dummy("S")
    return expr.xreplace(replacements)


#: progressively stronger attempts at bringing an expression (free of sums) to zero
_SIMPLIFICATIONS = (
    lambda e: e,
    sp.expand,
    lambda e: sp.expand(sp.expand_log(e)),
    sp.simplify,
    lambda e: sp.simplify(sp.expand_log(sp.expand(e))),
    lambda e: sp.simplify(sp.powsimp(sp.expand(sp.expand_log(e)), combine="exp")),
)


def is_zero(expr: sp.Expr) -> bool:
    """True when SymPy can bring ``expr`` to 0 (never a numerical judgement).

    Besides simplification: a real ``d`` with ``exp(d) = 1`` is 0 (exp is injective on the
    reals), which settles log identities SymPy will not combine directly.
    """
    for attempt in _SIMPLIFICATIONS:
        try:
            if attempt(expr) == 0:
                return True
        except Exception:  # noqa: BLE001 -- SymPy fails on some forms; that attempt proves nothing
            continue
    if expr.is_real:
        try:
            return sp.simplify(sp.exp(expr)) == 1 or sp.simplify(sp.expand(sp.exp(sp.expand(expr)))) == 1
        except Exception:  # noqa: BLE001
            return False
    return False


def vanishes_for_symbolic_classes(expr: sp.Expr, givens: Sequence[sp.Eq] = ()) -> bool:
    """True when ``expr`` is zero for every class count C and every in-range free index."""
    sums = _sum_givens(givens)
    current = indices_in_range(definitions(expr).doit())
    for _ in range(3):  # evaluating a Kronecker sum can expose another one
        current = linear_sums(current).xreplace(sums)
        evaluated = indices_in_range(current.doit())
        if evaluated == current:
            break
        current = evaluated
    return is_zero(kronecker_sifted(_opaque_sums(current)))


# ----- concrete class counts --------------------------------------------------------------------

def solved_given(relation: sp.Eq, classes: int) -> dict:
    """``Σ_k p_k = 1`` at a concrete C, solved for its last entry: ``p_{C-1} = 1 − Σ_{k<C-1} p_k``."""
    lhs = relation.lhs.subs(C, classes).doit()
    entries = sorted(lhs.atoms(sp.Indexed), key=sp.default_sort_key)
    solution = sp.solve(sp.Eq(lhs, relation.rhs.subs(C, classes)), entries[-1], dict=True)
    if len(solution) != 1:
        raise ValueError(f"cannot solve the assumption {relation} for {entries[-1]} at C = {classes}")
    return solution[0]


def index_values(expr: sp.Expr, classes: int) -> Iterable[dict]:
    """Every assignment of the free class indices of ``expr`` to ``0..classes-1``."""
    free = [index for index in FREE_INDICES if index in expr.free_symbols]
    for values in itertools.product(range(classes), repeat=len(free)):
        yield dict(zip(free, values))


def instances(expr: sp.Expr, classes: int) -> Iterable[sp.Expr]:
    """``expr`` at a concrete class count, sums expanded, once per value of its free indices."""
    concrete = definitions(expr).subs(C, classes)
    for values in index_values(concrete, classes):
        yield concrete.subs(values).doit()


def vanishes_at(expr: sp.Expr, givens: Sequence[sp.Eq], classes: int) -> bool:
    """True when ``expr`` is exactly zero at this class count, for every in-range free index."""
    solved = {}
    for relation in givens:
        solved.update(solved_given(relation, classes))
    return all(is_zero(instance.subs(solved)) for instance in instances(expr, classes))


# ----- numerical evaluation -----------------------------------------------------------------------

#: how a point is drawn: ordinary values, a wide range (tiny and large magnitudes), or the
#: boundary cases where false claims hide (equal vectors, equal logits, parameters at 0 or 1,
#: extreme logits)
MODES = ("ordinary", "wide", "boundary")


def _sample(atom: sp.Basic, rng: random.Random, mode: str = "ordinary") -> sp.Rational:
    """A random exact value in the atom's domain (positive, nonnegative or real)."""
    if mode == "wide":
        magnitude = sp.Rational(10) ** rng.randint(-8, 2) * sp.Rational(rng.randint(1, 99), 10)
        if atom.is_positive or atom.is_nonnegative:
            return magnitude
        return magnitude * rng.choice((-1, 1))
    if mode == "boundary":
        if atom.is_positive:
            return rng.choice((sp.Integer(1), sp.Rational(1, 2), sp.Rational(1, 10 ** 6)))
        if atom.is_nonnegative:
            return rng.choice((sp.Integer(0), sp.Integer(1)))
        return rng.choice((sp.Integer(0), sp.Integer(1), sp.Integer(-1), sp.Integer(1000), sp.Integer(-1000)))
    if atom.is_positive:
        return sp.Rational(rng.randint(5, 100), 100)
    if atom.is_nonnegative:
        return sp.Rational(rng.randint(0, 100), 100)
    return sp.Rational(rng.randint(-400, 400), 100)


def random_point(exprs: Sequence[sp.Expr], givens: Sequence[sp.Eq], classes: int,
                 rng: random.Random, mode: str = "ordinary") -> dict[sp.Basic, sp.Expr]:
    """Random exact values for every free symbol of ``exprs`` (at this class count).

    A vector constrained by ``Σ_k v_k = 1`` is drawn positive and normalised; free class
    indices are drawn from ``0..classes-1``. At a ``boundary`` point the entries of each
    vector are equal (equal logits, a uniform distribution) or the vectors of the same kind
    are equal to each other (p = q).
    """
    point: dict[sp.Basic, sp.Expr] = {index: rng.randrange(classes) for index in FREE_INDICES
                                      if any(index in e.free_symbols for e in exprs)}
    concrete = [definitions(e).subs(C, classes).subs(point).doit() for e in exprs]
    entries = set().union(*(e.atoms(sp.Indexed) for e in concrete))
    labels = {entry.base.label for entry in entries}  # an entry's free symbols include its base's name
    atoms = (entries | set().union(*(e.free_symbols for e in concrete))) - labels - set(point)
    for atom in sorted(atoms, key=sp.default_sort_key):
        point[atom] = _sample(atom, rng, mode)
    if mode == "boundary":
        _equalised(point, rng)
    for relation in givens:
        entries = sorted(relation.lhs.subs(C, classes).doit().atoms(sp.Indexed), key=sp.default_sort_key)
        total = sum(point.setdefault(entry, _sample(entry, rng)) for entry in entries)
        target = relation.rhs.subs(C, classes)
        if total == 0:
            for entry in entries:
                point[entry] = target / len(entries)
            continue
        for entry in entries:
            point[entry] = point[entry] * target / total
    return point


def _equalised(point: dict, rng: random.Random) -> None:
    """Make every vector constant (equal logits), or every vector a copy of the first of the
    same domain (p = q), half the time each."""
    vectors: dict[sp.IndexedBase, list[sp.Indexed]] = {}
    for key in point:
        if isinstance(key, sp.Indexed):
            vectors.setdefault(key.base, []).append(key)
    if rng.random() < 0.5:
        for entries in vectors.values():
            for entry in entries:
                point[entry] = point[entries[0]]
        return
    groups: dict[frozenset, list[sp.IndexedBase]] = {}
    for base in sorted(vectors, key=str):
        groups.setdefault(frozenset(base.assumptions0.items()), []).append(base)
    for first, *others in groups.values():
        for base in others:
            for entry in vectors[base]:
                twin = first[entry.indices]
                if twin in point:
                    point[entry] = point[twin]


def value_at(expr: sp.Expr, point: Mapping[sp.Basic, sp.Expr], classes: int, dps: int = 60) -> mpmath.mpf:
    """``expr`` at a point, with ``dps`` digits (free indices first, then the numbers)."""
    indices = {key: value for key, value in point.items() if key in FREE_INDICES}
    numbers = {key: value for key, value in point.items() if key not in FREE_INDICES}
    concrete = definitions(expr).subs(C, classes).subs(indices).doit().xreplace(numbers)
    with mpmath.workdps(dps):
        return sp.N(concrete.doit(), dps)


def describe(point: Mapping[sp.Basic, sp.Expr]) -> str:
    """A point as people write it: ``p = (1/4, 3/4), x = -2``."""
    vectors: dict[sp.IndexedBase, dict[int, sp.Expr]] = {}
    scalars = []
    for key, value in sorted(point.items(), key=lambda item: sp.default_sort_key(item[0])):
        if isinstance(key, sp.Indexed):
            vectors.setdefault(key.base, {})[int(key.indices[0])] = value
        else:
            scalars.append(f"{key} = {value}")
    parts = [f"{base} = ({', '.join(str(entries[n]) for n in sorted(entries))})" for base, entries in vectors.items()]
    return ", ".join(parts + scalars)
