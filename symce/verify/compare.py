"""The symbolic check: trace the function on small shapes and decide equality with the spec.

For each shape (N = 2 samples, C = 2..4 classes; integer labels concrete, every class used
as a label) the function runs on arrays of SymPy symbols and the result is compared entry by
entry with the spec's expression. A difference is first *probed* at random points in mpmath
(60 digits, 3000 where a value cancels; extreme points such as logits ~ ±1e3, probabilities
within 1e-14 of 0 or 1, and a decade beyond each small constant of the code — exact arithmetic,
so a difference found there is a different function, not rounding); if no point separates
them, SymPy tries to *prove* the difference is zero (see ``REWRITES``).
While the function runs, conditions on the inputs are decided at sample points of their domain
(``ops.decide``) and library functions that do not dispatch are swapped (``patches``).
A proof is claimed only when one was made; otherwise the report says "checked numerically".
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import mpmath
import numpy as np
import sympy as sp

from symce.verify import ops
from symce.verify.problem import Problem

PROBE_DPS = 60
#: |traced − spec| below this (relative to the values) counts as equal at a probe point: far
#: below any real difference, above the rounding of constants the code computed in floats
PROBE_TOLERANCE = mpmath.mpf("1e-15")
#: values are compared relative to their size down to here: an entropy of 1e-15 near a one-hot
#: row still shows a clip at 2.2e-16 (the smallest normal float64 is 2.2e-308)
SMALLEST_SCALE = mpmath.mpf("1e-300")
PROOF_SECONDS = 4.0


# ----- symbolic inputs -------------------------------------------------------------------
@dataclass
class Variable:
    """A free symbol of a traced input and how to draw values for it."""

    symbol: sp.Symbol
    domain: str            # real, positive, probability, simplex
    group: tuple = ()      # the other free entries of the same simplex row


@dataclass
class Traced:
    """One traced shape: the function's expressions, the spec's, and the symbols they use."""

    samples: int
    classes: int | None
    labels: tuple
    got: np.ndarray
    expected: np.ndarray
    variables: list[Variable]
    sample_values: list[dict]
    notes: ops.Notes = field(default_factory=ops.Notes)

    @property
    def constants(self) -> list[sp.Number]:
        """The small constants in the traced expressions — eps terms and clip bounds — at
        which the probes look (see ``draw_point``)."""
        return small_constants(self.got.ravel())

    @property
    def shape_text(self) -> str:
        return f"N={self.samples}" + (f", C={self.classes}" if self.classes else "")


def symbolic_inputs(problem: Problem, samples: int, classes: int | None, labels: tuple):
    """Arrays of symbols per spec input (a simplex row's last entry is 1 − Σ of the others)."""
    arrays, variables = {}, []
    per_sample = [dict() for _ in range(samples)]
    for item in problem.spec.inputs:
        name = item.symbol.name if hasattr(item.symbol, "name") else str(item.symbol)
        if item.kind == "label":
            values = np.asarray(labels, dtype=np.int64)
            for i in range(samples):
                per_sample[i][item.name] = int(values[i])
            arrays[item.name] = values
            continue
        shape = (samples, classes) if item.kind == "vector" else (samples,)
        table = np.empty(shape, dtype=object)
        if item.domain == "sign":
            table[...] = np.where(np.indices(shape).sum(axis=0) % 2 == 0, 1, -1)
        else:
            assumptions = {"real": True} if item.domain == "real" else {"positive": True}
            for index in np.ndindex(shape):
                table[index] = sp.Symbol(name + "".join(f"_{v}" for v in index), **assumptions)
            if item.domain == "simplex":
                for i in range(samples):
                    free = tuple(table[i, :-1])
                    table[i, -1] = 1 - sum(free)
                    variables += [Variable(s, "simplex", free) for s in free]
            else:
                variables += [Variable(table[index], item.domain) for index in np.ndindex(shape)]
        for i in range(samples):
            per_sample[i][item.name] = list(table[i]) if item.kind == "vector" else table[i]
        arrays[item.name] = table
    return arrays, variables, per_sample


def label_patterns(problem: Problem, classes: int | None, samples: int) -> list[tuple]:
    """Integer labels to trace with: every class appears as the first sample's label."""
    if not any(item.kind == "label" for item in problem.spec.inputs):
        return [()]
    return [tuple((c + i) % classes for i in range(samples)) for c in range(classes)]


#: sample points at which a condition on the inputs (an input check) is decided during a trace
DECIDING_POINTS = 12


def trace(problem: Problem, samples: int, classes: int | None, labels: tuple,
          params: dict | None = None) -> Traced:
    arrays, variables, per_sample = symbolic_inputs(problem, samples, classes, labels)
    if problem.framework == "torch":
        from symce.verify import trace_torch as tracer
        library = contextlib.nullcontext()
    else:
        from symce.verify import patches, trace_numpy as tracer
        library = patches.symbolic_library(problem.reached.namespaces)
    rng = np.random.default_rng(5)
    points = [draw_point(variables, rng, extreme=n % 2 == 1) for n in range(DECIDING_POINTS)]
    with np.errstate(all="ignore"), ops.noting(points) as notes, library:
        result = problem.call({name: tracer.symbolic(value) if value.dtype == object else tracer.concrete(value)
                               for name, value in arrays.items()})
        got = tracer.expressions(result)
    expected = problem.expected_symbolic(per_sample, params)
    if got.shape != expected.shape:
        if got.size != expected.size:
            raise ShapeMismatch(f"the function returns shape {got.shape}; the spec (reduction "
                                f"{problem.reduction!r}) gives shape {expected.shape}")
        got = got.reshape(expected.shape)
    return Traced(samples, classes, labels, got, expected, variables, per_sample, notes)


class ShapeMismatch(Exception):
    """The function's output has a different number of entries than the spec's."""


# ----- probing ---------------------------------------------------------------------------
def small_constants(exprs) -> list[sp.Number]:
    """Constants c with 0 < |c| < 1e-3 (an eps, a clip's lower bound) in ``exprs``, and 1 − c for
    constants just below 1 (a clip's upper bound), smallest first."""
    exprs = [sp.sympify(e) for e in exprs]
    numbers = set().union(*(e.atoms(sp.Number) for e in exprs)) if exprs else set()
    found = {abs(n) for n in numbers if 0 < abs(n) < sp.Rational(1, 1000)}
    found |= {1 - n for n in numbers if 0 < 1 - n < sp.Rational(1, 1000)}
    return sorted(found | {sp.exp(floor) for floor, _ in log_floors(exprs)})


def log_floors(exprs) -> list[tuple[sp.Number, sp.Expr]]:
    """(c, max(log x, c)) for each log the code clamps from below at a constant c (torch's
    binary_cross_entropy clamps at −100): it changes the value where x < e^c. Floors below
    −700 (``finfo.min``) are left out: no float gets there."""
    found = []
    for e in exprs:
        for m in sp.sympify(e).atoms(sp.Max):
            floors = [a for a in m.args if a.is_Number and -700 < a < 0]
            if floors and any(isinstance(a, sp.log) for a in m.args):
                found.append((floors[0], m))
    return found


def draw_point(variables: list[Variable], rng: np.random.Generator, extreme: bool,
               scale: sp.Number | None = None) -> dict:
    """Values for every free symbol, as exact mpmath numbers; extreme points stress the domain.
    With ``scale`` (a small constant of the code), probabilities lie a decade beyond it: c/10
    from 0 or 1, where a clip at c or an eps of c changes the value."""
    point: dict = {}
    tiny_at = None if scale is None else mpmath.mpf(str(sp.N(scale, 30))) / 10
    for var in variables:
        if var.symbol in point:
            continue
        if var.domain == "real":
            point[var.symbol] = (rng.choice([-1, 1]) * rng.uniform(300, 2000) if extreme and rng.random() < 0.7
                                 else rng.normal(0, 2))
        elif var.domain == "simplex":
            weights = [mpmath.mpf(w) for w in rng.dirichlet(np.ones(len(var.group) + 1))]
            if extreme:
                small = tiny_at if tiny_at is not None else mpmath.mpf("1e-12")
                weights = [small] * len(weights)
                weights[rng.integers(len(weights))] = 1 - small * (len(weights) - 1)
            point.update(zip(var.group, weights[:-1]))
        else:
            tiny = tiny_at if tiny_at is not None else mpmath.mpf(10.0 ** -rng.uniform(6, 14))
            point[var.symbol] = (rng.choice([tiny, 1 - tiny]) if extreme else rng.uniform(0.05, 0.95))
    return {s: mpmath.mpf(v) for s, v in point.items()}


def evaluator(exprs: list[sp.Expr], symbols: list[sp.Symbol]) -> Callable:
    function = sp.lambdify(symbols, exprs, modules=[ops.NUMERIC_FUNCTIONS, "mpmath"])
    return lambda point: function(*[point[s] for s in symbols])


@dataclass
class Probe:
    """The result of comparing two lists of expressions at random points in exact arithmetic."""

    equal: bool
    points: int
    point: dict | None = None          # a separating point
    expected: list | None = None
    got: list | None = None


def probe(got: list[sp.Expr], expected: list[sp.Expr], variables: list[Variable],
          seed: int = 0, count: int = 6, constants: list = ()) -> Probe:
    """Compare at ``count`` ordinary and ``count`` extreme points, and at two points a decade
    beyond each small constant of the code. Values are compared relative to their size; where
    they differ at 60 digits the point is redone at 3000, since a value that is itself a
    cancellation (z_max − logsumexp z ≈ −e^−1000) has no correct digit at 60. A point where a
    value is inf/nan at both (1 − σ(1000) at 60 digits is 0) is skipped."""
    pairs = [(g, e) for g, e in zip(got, expected) if sp.sympify(g - e) != 0]
    if not pairs:
        return Probe(True, 0)
    got, expected = [g for g, _ in pairs], [e for _, e in pairs]
    symbols = sorted({v.symbol for v in variables}, key=str)
    rng = np.random.default_rng(seed)
    f_got, f_expected = evaluator(got, symbols), evaluator(expected, symbols)
    checked = 0
    scales = [None] * (2 * count) + [c for c in constants for _ in range(2)]
    for n, scale in enumerate(scales):
        with mpmath.workdps(PROBE_DPS):
            point = draw_point(variables, rng, extreme=n >= count, scale=scale)
        verdict = None
        for digits in (PROBE_DPS, 50 * PROBE_DPS):
            with mpmath.workdps(digits):
                try:
                    g, e = f_got(point), f_expected(point)
                except (ZeroDivisionError, ValueError, OverflowError):
                    break
                if not all(mpmath.isfinite(v) for v in list(g) + list(e)):
                    continue
                verdict = _same(g, e)
                if verdict:
                    break
        if verdict is None:
            continue
        checked += 1
        if not verdict:
            return Probe(False, checked, point, e, g)
    return Probe(True, checked)


def _same(got: list, expected: list) -> bool:
    return all(abs(g - e) <= PROBE_TOLERANCE * max(abs(g), abs(e), SMALLEST_SCALE) for g, e in zip(got, expected))


# ----- proving ---------------------------------------------------------------------------
@contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError after ``seconds`` (only in the main thread; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def exponentials_as_products(d: sp.Expr) -> sp.Expr:
    """Write every real symbol s as log(S), S > 0, so exp(·) becomes a product of powers and
    each log(·) a sum of logs of factors; sums of logs and rational functions then cancel."""
    reals = [s for s in d.free_symbols if s.is_real and not s.is_positive]
    d = d.xreplace({s: sp.log(sp.Symbol(f"E_{s.name}", positive=True)) for s in reals})
    d = sp.expand(d, power_exp=True, log=False, mul=False, multinomial=False, basic=False)
    d = d.replace(lambda e: isinstance(e, sp.log),
                  lambda e: sp.expand_log(sp.log(sp.factor(sp.cancel(sp.together(e.args[0])))), force=True))
    return sp.cancel(sp.together(sp.expand(d)))


def extrema_as_symbols(d: sp.Expr) -> sp.Expr:
    """Replace each max/min by a free real symbol: a difference that vanishes for *any* shift
    vanishes for the max (the max-shift of logsumexp is exactly such an identity)."""
    extrema = sorted(d.atoms(sp.Max, sp.Min), key=sp.default_sort_key)
    return d.xreplace({e: sp.Symbol(f"m_{i}", real=True) for i, e in enumerate(extrema)})


def sign_cases(d: sp.Expr):
    """d with each real symbol inside |·|, max, min or sign replaced by ±(a positive symbol)."""
    kinks = [s for e in d.atoms(sp.Abs, sp.Max, sp.Min, sp.sign) for s in e.free_symbols if not s.is_positive]
    kinks = sorted(set(kinks), key=str)[:4]
    for signs in np.ndindex(*(2,) * len(kinks)):
        yield d.xreplace({s: (1 - 2 * sign) * sp.Symbol(f"{s.name}_abs", positive=True)
                          for s, sign in zip(kinks, signs)})


#: ways to show a difference is zero, tried in order
REWRITES: tuple[tuple[str, Callable[[sp.Expr], list[sp.Expr]]], ...] = (
    ("exp/log normal form", lambda d: [exponentials_as_products(d)]),
    ("max as a free shift", lambda d: [exponentials_as_products(extrema_as_symbols(d))]),
    ("sign cases of |x|, max(x, 0)", lambda d: [exponentials_as_products(case) for case in sign_cases(d)]),
    ("sympy.simplify", lambda d: [sp.simplify(d)]),
)


def prove_zero(d: sp.Expr, seconds: float = PROOF_SECONDS) -> str | None:
    """The name of the rewrite that reduces ``d`` to 0, or None (no proof found in time)."""
    if d == 0:
        return "identical expressions"
    if seconds <= 0:
        return None
    if sp.expand(d) == 0:
        return "expansion"
    deadline = time.monotonic() + seconds
    for name, rewrite in REWRITES:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            with time_limit(left):
                if all(result == 0 for result in rewrite(d)):
                    return name
        except TimeoutError:
            return None
        except (TypeError, ValueError, NotImplementedError, RecursionError, sp.PolynomialError):
            continue
    return None


# ----- one shape -------------------------------------------------------------------------
@dataclass
class ShapeResult:
    traced: Traced
    probe: Probe
    proofs: list[str | None] = field(default_factory=list)

    @property
    def proven(self) -> bool:
        return self.probe.equal and all(self.proofs)


def compare(traced: Traced, prove: bool = True, deadline: float | None = None) -> ShapeResult:
    """Probe, then (if equal at every point) prove each entry; proofs share the time until
    ``deadline`` (time.monotonic), and an entry left without time is unproven."""
    got, expected = list(traced.got.ravel()), list(traced.expected.ravel())
    result = ShapeResult(traced, probe(got, expected, traced.variables, constants=traced.constants))
    if result.probe.equal and prove:
        for g, e in zip(got, expected):
            left = PROOF_SECONDS if deadline is None else min(PROOF_SECONDS, deadline - time.monotonic())
            result.proofs.append(prove_zero(g - e, left) if left > 0 else None)
    return result
