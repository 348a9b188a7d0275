"""Saying *how* a function differs from its spec, when SymPy can find it.

Each diagnosis is a small function of the traced shape that returns a sentence or None:
a constant factor (a flipped sign, a missing or extra 1/N), a constant offset, an epsilon
(small constants whose removal makes the function equal to the spec), or the same spec at
another value of one of its parameters (e.g. label smoothing ε·C/(C−1)). All are decided
by evaluating both expressions exactly (mpmath, 60 digits) at random points.
"""
from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp

from symce.verify import compare
from symce.verify.compare import PROBE_DPS, ShapeResult, Traced
from symce.verify.problem import Problem

POINTS = 4
SAME = mpmath.mpf("1e-20")


def _values(traced: Traced, exprs, seed=1):
    symbols = sorted({v.symbol for v in traced.variables}, key=str)
    rng = np.random.default_rng(seed)
    function = compare.evaluator(list(exprs), symbols)
    with mpmath.workdps(PROBE_DPS):
        return [function(compare.draw_point(traced.variables, rng, extreme=False)) for _ in range(POINTS)]


def _constant(values) -> mpmath.mpf | None:
    flat = [v for row in values for v in row]
    first = flat[0]
    if all(abs(v - first) <= SAME * max(1, abs(first)) for v in flat):
        return first
    return None


def _nice(value) -> str:
    fraction = Fraction(float(value)).limit_denominator(1000)
    return str(fraction) if abs(float(fraction) - float(value)) < 1e-12 * max(1, abs(float(value))) else f"{float(value):.6g}"


def _ratio(traced: Traced):
    got, expected = traced.got.ravel(), traced.expected.ravel()
    pairs = [(g, e) for g, e in zip(_values(traced, got), _values(traced, expected))]
    ratios = [[gi / ei for gi, ei in zip(g, e) if abs(ei) > mpmath.mpf("1e-30")] for g, e in pairs]
    return _constant(ratios) if all(ratios) else None


def constant_factor(problem: Problem, result: ShapeResult) -> str | None:
    """got = c · spec for a constant c; c = N (checked again at another N) is a missing 1/N."""
    traced = result.traced
    ratio = _ratio(traced)
    if ratio is None or abs(ratio - 1) <= SAME:
        return None
    if abs(ratio + 1) <= SAME:
        return "the sign is flipped: the function returns −1 × the spec"
    samples = traced.samples
    if abs(ratio - samples) <= SAME or abs(ratio - mpmath.mpf(1) / samples) <= SAME:
        other = compare.trace(problem, samples + 1, traced.classes,
                              tuple((traced.labels * 2)[:samples + 1]) if traced.labels else ())
        again = _ratio(other)
        if again is not None and abs(ratio - samples) <= SAME and abs(again - (samples + 1)) <= SAME:
            return (f"a missing factor 1/N: the function returns N × the spec (×{samples} at N={samples}, "
                    f"×{samples + 1} at N={samples + 1}) — a sum over the batch where the spec divides by N")
        if again is not None and abs(again - mpmath.mpf(1) / (samples + 1)) <= SAME:
            return (f"an extra factor 1/N: the function returns the spec / N (checked at N={samples} "
                    f"and N={samples + 1})")
    return f"a constant factor: the function returns {_nice(ratio)} × the spec"


def constant_offset(problem: Problem, result: ShapeResult) -> str | None:
    traced = result.traced
    differences = [[g - e for g, e in zip(gs, es)] for gs, es in
                   zip(_values(traced, traced.got.ravel()), _values(traced, traced.expected.ravel()))]
    offset = _constant(differences)
    if offset is None or abs(offset) <= SAME:
        return None
    return f"a constant offset: the function returns the spec + {_nice(offset)}"


def _small_constants(exprs) -> dict:
    numbers = set().union(*(sp.sympify(e).atoms(sp.Number) for e in exprs))
    replace = {}
    for n in numbers:
        value = abs(float(n))
        if 0 < value < 1e-3:
            replace[n] = sp.Integer(0)
        elif 0 < abs(1 - float(n)) < 1e-3:
            replace[n] = sp.Integer(1)
    return replace


def _role(constant: sp.Number, exprs) -> str:
    """How the code uses a small constant: "a clip at c" (a bound of max/min), "an epsilon of c
    inside the log", or "the constant c"."""
    # just below 1 is an upper bound 1 − c; just above, 1 + c, an eps added to 1 − p inside a log
    offset = float(constant - 1)      # exactly: 0.999999999999999 − 1 in floats is −9.99e-16
    shown = f"1 − {-offset:.3g}" if -1e-3 < offset < 0 else f"{abs(offset) if offset > 0 else float(constant):.3g}"
    atoms = set().union(*(sp.sympify(e).atoms(sp.Max, sp.Min, sp.log) for e in exprs))
    if any(constant in a.args for a in atoms if isinstance(a, (sp.Max, sp.Min))):
        return f"a clip at {shown}"
    if any(constant in sp.Add.make_args(sp.expand(a.args[0])) for a in atoms if isinstance(a, sp.log)):
        return f"an epsilon of {shown} inside the log"
    return f"the constant {shown}"


def extra_epsilon(problem: Problem, result: ShapeResult) -> str | None:
    """Small constants (1e-7 inside a log, clip bounds) whose removal makes it equal to the spec."""
    traced = result.traced
    got = list(traced.got.ravel())
    replace = _small_constants(got)
    if not replace:
        return None
    cleaned = [sp.sympify(g).xreplace(replace) for g in got]
    check = compare.probe(cleaned, list(traced.expected.ravel()), traced.variables, seed=2)
    if not check.equal:
        return None
    order = sorted(replace, key=lambda n: (min(abs(n), abs(1 - n)), n))
    roles = list(dict.fromkeys(_role(n, got) for n in order))
    shown = ", ".join(repr(float(n)) for n in sorted(replace, key=float))
    how = f"at {check.points} exact probe points" if check.points else "identical expressions"
    return (f"an extra epsilon term: {' and '.join(roles)} — with the constant(s) {shown} replaced by "
            f"{', '.join(sorted({str(v) for v in replace.values()}))} the function equals the spec "
            f"({how}), so they are the whole difference; they matter where a probability is within them of 0 (or 1)")


def log_floor(problem: Problem, result: ShapeResult) -> str | None:
    """A log clamped from below (max(log x, −100)) whose removal makes it equal to the spec."""
    traced = result.traced
    got = [sp.sympify(g) for g in traced.got.ravel()]
    floors = compare.log_floors(got)
    if not floors:
        return None
    unclamped = {clamp: next(a for a in clamp.args if isinstance(a, sp.log)) for _, clamp in floors}
    check = compare.probe([g.xreplace(unclamped) for g in got], list(traced.expected.ravel()), traced.variables,
                          seed=2)
    if not check.equal:
        return None
    floor = floors[0][0]
    return (f"a floor on the log: log is clamped at {float(floor):g} (as torch's binary_cross_entropy documents), "
            f"so where a probability is below e^{float(floor):g} ≈ {float(sp.exp(floor)):.3g} the loss is capped; "
            "without the clamp the function equals the spec")


CANDIDATE_RELATIONS = (
    ("ε·C/(C−1)", lambda e, c: e * c / (c - 1)), ("ε·(C−1)/C", lambda e, c: e * (c - 1) / c),
    ("ε/C", lambda e, c: e / c), ("ε·C", lambda e, c: e * c), ("ε/(C−1)", lambda e, c: e / (c - 1)),
    ("2ε", lambda e, c: 2 * e), ("ε/2", lambda e, c: e / 2),
    ("ε/(1+ε)", lambda e, c: e / (1 + e)), ("ε/(1−ε)", lambda e, c: e / (1 - e)), ("1−ε", lambda e, c: 1 - e),
)


def _solve_parameter(problem: Problem, traced: Traced, name: str):
    spec = problem.spec
    symbol = spec.param(name).symbol
    free = problem.expected_symbolic(traced.sample_values, {**problem.params, name: None})
    symbols = sorted({v.symbol for v in traced.variables}, key=str)
    expected = sp.lambdify([symbol] + symbols, list(free.ravel()), modules="mpmath")
    got = compare.evaluator(list(traced.got.ravel()), symbols)
    rng = np.random.default_rng(3)
    with mpmath.workdps(PROBE_DPS):
        points = [compare.draw_point(traced.variables, rng, extreme=False) for _ in range(POINTS)]
        start = mpmath.mpf(float(problem.params.get(name, 0) or 0.1))
        point = points[0]
        args = [point[s] for s in symbols]
        g0 = got(point)
        index = 0
        try:
            value = mpmath.findroot(lambda v: expected(v, *args)[index] - g0[index], start)
        except (ValueError, ZeroDivisionError):
            return None
        for point in points:
            args = [point[s] for s in symbols]
            if any(abs(e - g) > SAME * max(1, abs(g)) for e, g in zip(expected(value, *args), got(point))):
                return None
    return value


def other_parameter(problem: Problem, result: ShapeResult) -> str | None:
    """The same spec at another value of a scalar parameter, and how it relates to the given one."""
    traced = result.traced
    for param in problem.spec.params:
        if param.kind != "scalar" or param.name == "keep":
            continue
        value = _solve_parameter(problem, traced, param.name)
        if value is None:
            continue
        found = {traced.classes: value}
        for classes in (3, 4):
            if traced.classes and classes != traced.classes:
                other = compare.trace(problem, traced.samples, classes, tuple(i % classes for i in range(traced.samples)))
                solved = _solve_parameter(problem, other, param.name)
                if solved is not None:
                    found[classes] = solved
        given = float(problem.params.get(param.name, param.default))
        if len({round(float(v), 12) for v in found.values()}) == 1:   # the same value at every class count
            classes = ", ".join(str(c) for c in sorted(found) if c)
            where = f" (at C={classes})" if classes else ""
            return f"equals the spec with {param.name} = {float(value):.6g}{where} instead of {given:g}"
        values = ", ".join(f"{float(v):.6g} at C={c}" if c else f"{float(v):.6g}" for c, v in sorted(found.items()))
        text = f"equals the spec with {param.name} = {values} instead of {given:g}"
        if given and all(c for c in found):
            for label, relation in CANDIDATE_RELATIONS:
                if all(abs(float(v) - relation(given, c)) <= 1e-12 for c, v in found.items()):
                    return text + f": {param.name} = {label} with ε = {given:g}"
        return text
    return None


DIAGNOSES = (constant_factor, constant_offset, extra_epsilon, log_floor, other_parameter)


def diagnose(problem: Problem, result: ShapeResult) -> list[str]:
    found = []
    for diagnosis in DIAGNOSES:
        try:
            text = diagnosis(problem, result)
        except Exception:  # a diagnosis that cannot be computed for this function says nothing
            text = None
        if text:
            found.append(text)
            break
    return found
