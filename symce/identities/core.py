"""Named identities and the strategies that establish them, with honest statuses.

An :class:`Identity` states one or more claims (SymPy relations: ``Eq``, ``Ge``/``Le``,
``Ne``) about the specs' own expressions, under :class:`~symce.spec.core.Assumption`
objects. :meth:`Identity.establish` first looks for a counterexample at random points (a
false identity is reported FAILED with the numbers), then tries its strategies strongest
first and reports the first that succeeds:

* ``proven for symbolic C`` — SymPy shows it for every class count (:class:`Symbolic`);
* ``proven for C = 2..K`` — exact simplification at each concrete class count (:class:`Concrete`);
* ``proven (no class count)`` — exact, for a statement about scalars (:class:`Symbolic`, :class:`Cases`);
* ``checked numerically at N points`` — mpmath at random points, *not a proof* (:class:`Numeric`).

Inequalities are proven with a certificate (:class:`NonnegativeSum`): the gap equals a sum
of terms each of which a :class:`Lemma` shows nonnegative.

Each strategy checks what it is given and declines what it cannot justify: a sum of
nonnegative terms proves ≥, never >; a lemma applies only to arguments with its variable's
assumptions; cases must cover the variable's domain; a witness must lie in the domain and
satisfy the assumptions; a limit must agree numerically far out, boundary parameters included;
``prepare`` must apply a stated assumption; a claim's free indices must be i, j or t. The
counterexample search (:func:`find_counterexample`) tries every claim kind at C = 2..6, at
ordinary, wide-ranging and boundary points (p = q, equal logits, parameters at 0 and 1), and
judges relative to the sides at 60 digits (1000 before it reports a point).
"""
from __future__ import annotations

import enum
import itertools
import random
import time
import weakref
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import mpmath
import sympy as sp

from symce.identities import algebra
from symce.spec.core import Assumption, class_sum
from symce.spec.symbols import C

#: class counts tried when SymPy cannot decide a statement for symbolic C
DEFAULT_CLASSES = (2, 3, 4)
#: class counts the counterexample search tries a statement about every C at (the large ones at
#: a few points: a bound such as H(p) ≤ 2 is first false at C = 8)
SEARCH_CLASSES = (2, 3, 4, 5, 6)
LARGE_CLASSES = (8, 16)
#: random points of the falsification search (per class count) and of the numeric fallback
DEFAULT_POINTS = 20
#: a difference larger than this relative to the sides (at 60 digits) is a counterexample, not
#: rounding: a false claim scaled by e^-60 still shows
TOLERANCE = mpmath.mpf("1e-45")
#: how far out a limit is evaluated numerically (at ``LIMIT_DPS`` digits, enough for e^−10⁴), and
#: how close to its value the farthest must come
LIMIT_REACH = (100, 1000, 10000)
LIMIT_DPS = 5000
LIMIT_TOLERANCE = mpmath.mpf("1e-3")
#: a point that refutes a claim at 60 digits is checked again at this many, so the cancellation
#: of 1 − σ(1000) (no correct digit at 60) is not taken for a counterexample
RECHECK_DPS = 1000


class Status(enum.Enum):
    SYMBOLIC = "proven for symbolic C"
    CONCRETE = "proven for C = {classes}"
    EXACT = "proven (no class count)"
    NUMERIC = "checked numerically at {points} points (not a proof)"
    FAILED = "FAILED"

    @property
    def proven(self) -> bool:
        return self in (Status.SYMBOLIC, Status.CONCRETE, Status.EXACT)


@dataclass(frozen=True)
class Outcome:
    """What one strategy achieved: a status and the argument, in words."""

    status: Status
    detail: str
    classes: tuple[int, ...] = ()
    points: int = 0

    @property
    def label(self) -> str:
        """The status in words, e.g. ``proven for C = 2..4``."""
        span = "" if not self.classes else (
            f"{self.classes[0]}" if len(self.classes) == 1 else f"{self.classes[0]}..{self.classes[-1]}")
        return self.status.value.format(classes=span, points=self.points)


class Strategy(Protocol):
    """Tries to establish an identity; returns an :class:`Outcome`, or ``None`` if it cannot."""

    def attempt(self, identity: Identity) -> Outcome | None: ...


class ProofError(ValueError):
    """A certificate or lemma does not hold (the identity is then not proven by it)."""


# ----- the identity --------------------------------------------------------------------------

#: the preparations symce builds (``catalog.one_hot``), each with the assumption it applies; an
#: identity's ``prepare`` must be one of them (a function's own claim about itself is not taken)
PREPARATIONS: "weakref.WeakKeyDictionary[Callable, sp.Eq]" = weakref.WeakKeyDictionary()


def preparation(function: Callable[[sp.Expr], sp.Expr], applies: sp.Eq) -> Callable[[sp.Expr], sp.Expr]:
    """Register ``function`` as the preparation that applies the assumption ``applies``."""
    PREPARATIONS[function] = applies
    return function


def _unchanged(expr: sp.Expr) -> sp.Expr:
    """The preparation of an identity whose assumptions need no rewriting of its claims."""
    return expr


@dataclass(frozen=True)
class Identity:
    """A named statement about the specs and how it is established.

    ``claims`` are SymPy relations over the specs' symbols (``Eq``; ``Ge``/``Le`` for
    inequalities; ``Ne`` for "not equal in general"). ``assumptions`` are the facts the
    claims rely on: sums (``Σ_k p_k = 1``), a one-hot vector (applied by ``prepare``), or
    positivity that the symbols' SymPy assumptions already carry. ``how`` names the argument.
    """

    name: str
    statement: str
    claims: tuple[sp.Basic, ...]
    how: str
    assumptions: tuple[Assumption, ...] = ()
    strategies: tuple[Strategy, ...] = ()
    prepare: Callable[[sp.Expr], sp.Expr] = _unchanged
    classes: tuple[int, ...] = DEFAULT_CLASSES

    def __post_init__(self):
        if not self.claims:
            raise ValueError(f"identity {self.name!r} states no claim")
        if not self.classes or not all(isinstance(n, int) and n >= 1 for n in self.classes):
            # a concrete proof or a witness at no class count would hold vacuously
            raise ValueError(f"identity {self.name!r}: classes must be one or more positive class counts, "
                             f"not {self.classes!r}")
        for claim in self.claims:
            if not isinstance(claim, (sp.Eq, sp.Ne, sp.Ge, sp.Le, sp.Gt, sp.Lt)):
                raise TypeError(f"identity {self.name!r}: claim {claim!r} is not a SymPy relation "
                                "(build it with evaluate=False)")
        indices = sorted(set().union(*(c.free_symbols for c in self.claims)) & set(algebra.FREE_INDICES), key=str)
        if indices and not any(self._is_index_range(a) for a in self.assumptions):
            # evaluating Σ_k δ_jk f(k) = f(j) relies on it, so it is stated rather than left implicit
            names = ", ".join(map(str, indices))
            in_range = Assumption("indices_in_range", sp.And(*(sp.Ge(n, 0) & sp.Lt(n, C) for n in indices)),
                                  f"0 ≤ {names} < C (class indices in range)")
            object.__setattr__(self, "assumptions", self.assumptions + (in_range,))
        self._check_indices()
        self._check_prepare()
        for assumption in self.assumptions:
            if self._is_one_hot(assumption) and self.prepare is _unchanged:
                raise ValueError(f"identity {self.name!r}: the one-hot assumption {assumption.text!r} needs "
                                 "prepare=one_hot(vector, label) to apply it")
            if not (self._is_sum_given(assumption) or self._is_encoded(assumption) or self._is_index_range(assumption)
                    or self._is_one_hot(assumption)):
                raise ValueError(f"identity {self.name!r}: assumption {assumption.text!r} is neither a sum, a "
                                 "one-hot vector, an index range, nor implied by the symbols' SymPy assumptions")

    def _check_indices(self) -> None:
        """A free integer symbol in a claim must be one of the free class indices (i, j, t), which
        range over 0..C−1; any other (k, a summation index, left free) has no stated range."""
        for claim in self.claims:
            bound = {limit[0] for total in claim.atoms(sp.Sum) for limit in total.limits}
            stray = sorted((s for s in claim.free_symbols if s.is_integer and s != C and s not in algebra.FREE_INDICES),
                           key=str)
            if stray:
                used = " (also bound by a sum)" if set(stray) & bound else ""
                raise ValueError(f"identity {self.name!r}: claim {claim} has the free index "
                                 f"{', '.join(map(str, stray))}{used}; free class indices must be "
                                 f"{', '.join(map(str, algebra.FREE_INDICES))}")

    def _check_prepare(self) -> None:
        """``prepare`` rewrites the claims with an assumption (one_hot(p, t) applies p = e_t), so
        that assumption must be among the identity's; a preparation that says nothing is refused."""
        if self.prepare is _unchanged:
            return
        applies = PREPARATIONS.get(self.prepare)
        if applies is None:
            raise ValueError(f"identity {self.name!r}: prepare={self.prepare!r} is not a preparation symce built, "
                             "so what it applies is unknown (build it with one_hot(vector, label))")
        stated = [a for a in self.assumptions if isinstance(a.relation, sp.Eq)
                  and (a.relation.lhs, a.relation.rhs) == (applies.lhs, applies.rhs)]
        if not stated:
            raise ValueError(f"identity {self.name!r}: prepare applies {applies}, which is not among its assumptions")

    @staticmethod
    def _is_sum_given(assumption: Assumption) -> bool:
        return isinstance(assumption.relation, sp.Eq) and isinstance(assumption.relation.lhs, sp.Sum)

    @staticmethod
    def _is_one_hot(assumption: Assumption) -> bool:
        """v_k = δ_kt: applied to the claims by ``prepare``."""
        relation = assumption.relation
        return isinstance(relation, sp.Eq) and isinstance(relation.rhs, sp.KroneckerDelta)

    @staticmethod
    def _is_index_range(assumption: Assumption) -> bool:
        """0 ≤ j < C and the like: used when sums of Kronecker deltas are evaluated."""
        return assumption.relation.free_symbols <= {C, *algebra.FREE_INDICES}

    @staticmethod
    def _is_encoded(assumption: Assumption) -> bool:
        """A relation such as 0 < q_k that SymPy already decides from the symbols' assumptions."""
        return bool(assumption.relation.doit() == sp.true)

    @property
    def givens(self) -> tuple[sp.Eq, ...]:
        """The assumptions that are sums, used as substitutions."""
        return tuple(a.relation for a in self.assumptions if self._is_sum_given(a))

    @property
    def has_classes(self) -> bool:
        """True when the statement involves a class count."""
        return any(claim.has(C) or claim.has(sp.Sum) for claim in self.claims)

    def differences(self) -> list[sp.Expr]:
        """``lhs − rhs`` of each claim, prepared (one-hot applied, …)."""
        return [self.prepare(claim.lhs - claim.rhs) for claim in self.claims]

    def prepared_sides(self, side: int = 0) -> list[sp.Expr]:
        """The left (``side`` 0) or right (1) side of each claim, prepared."""
        return [self.prepare(claim.args[side]) for claim in self.claims]

    def establish(self, points: int = DEFAULT_POINTS) -> Result:
        """The strongest status any strategy reaches, or FAILED with a counterexample."""
        start = time.perf_counter()
        counterexample = find_counterexample(self, points)
        if counterexample is not None:
            outcome = Outcome(Status.FAILED, f"counterexample: {counterexample}")
        else:
            outcome = next((o for o in (s.attempt(self) for s in self.strategies) if o is not None), None)
            if outcome is None:
                outcome = Outcome(Status.FAILED, "no strategy could establish it (and no counterexample was found)")
        return Result(self, outcome, time.perf_counter() - start)


@dataclass(frozen=True)
class Result:
    identity: Identity
    outcome: Outcome
    seconds: float

    @property
    def status(self) -> Status:
        return self.outcome.status

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAILED

    @property
    def label(self) -> str:
        """The status as the table prints it, e.g. ``proven for C = 2..4``."""
        return self.outcome.label

    def as_dict(self) -> dict:
        return {"name": self.identity.name, "statement": self.identity.statement, "status": self.label,
                "proven": self.status.proven, "how": self.identity.how, "detail": self.outcome.detail,
                "assumptions": [a.text for a in self.identity.assumptions], "seconds": round(self.seconds, 3)}


# ----- falsification ---------------------------------------------------------------------------

_SAID = {"==": "=", ">=": "≥", "<=": "≤", ">": ">", "<": "<", "!=": "≠"}


def _slack(lhs: mpmath.mpf, rhs: mpmath.mpf) -> mpmath.mpf:
    """How far apart two sides may be and still count as equal: ``TOLERANCE`` relative to them."""
    return TOLERANCE * max(mpmath.mpf(1), abs(lhs), abs(rhs))


def _equal(lhs: mpmath.mpf, rhs: mpmath.mpf) -> bool:
    return abs(lhs - rhs) <= _slack(lhs, rhs)


def _holds(claim: sp.Basic, lhs: mpmath.mpf, rhs: mpmath.mpf) -> bool:
    """Whether a claim holds at a point, judged relative to the size of its sides (a strict
    inequality needs a gap beyond rounding; Ne is judged over all points, in ``search``)."""
    gap, slack = lhs - rhs, _slack(lhs, rhs)
    if isinstance(claim, sp.Eq):
        return abs(gap) <= slack
    if isinstance(claim, sp.Ge):
        return gap >= -slack
    if isinstance(claim, sp.Gt):
        return gap > slack
    if isinstance(claim, sp.Le):
        return gap <= slack
    if isinstance(claim, sp.Lt):
        return gap < -slack
    return True


def _search_classes(identity: Identity) -> tuple[int, ...]:
    """The class counts to search: 2..6 for a statement about every C, else the ones it names."""
    if not identity.has_classes:
        return (SEARCH_CLASSES[0],)
    return SEARCH_CLASSES + LARGE_CLASSES if identity.classes == DEFAULT_CLASSES else identity.classes


def _numeric_limits(expr: sp.Expr, reach: int) -> sp.Expr:
    """``expr`` with each ``Limit(f, x, x₀)`` replaced by f at x = ±reach (x₀ = ±∞), or at
    x₀ ± 1/reach from the limit's side."""
    def far(limit: sp.Limit) -> sp.Expr:
        function, variable, target = limit.args[:3]
        if target in (sp.oo, -sp.oo):
            return function.subs(variable, reach if target == sp.oo else -reach)
        return function.subs(variable, target + sp.Rational(1, reach) * (1 if str(limit.args[3]) == "+" else -1))
    return expr.replace(lambda e: isinstance(e, sp.Limit), far)


def _limit_claim_refuted(identity: Identity, claim: sp.Basic, lhs: sp.Expr, rhs: sp.Expr) -> str | None:
    """A limit claim evaluated far out, at parameter values that include their domains'
    boundaries: a point where the sides stay apart, described, or None."""
    parameters = sorted((lhs - rhs).free_symbols - {a.args[1] for a in (lhs - rhs).atoms(sp.Limit)}, key=str)
    for point in _parameter_points(parameters, lhs - rhs) or [{}]:
        gaps = []
        for reach in LIMIT_REACH:
            values = [sp.N(_numeric_limits(side, reach).xreplace(point), LIMIT_DPS) for side in (lhs, rhs)]
            if not all(v.is_real for v in values):
                break
            gaps.append((abs(values[0] - values[1]), max(1, abs(values[0]), abs(values[1])), values))
        if len(gaps) == len(LIMIT_REACH) and gaps[-1][0] > LIMIT_TOLERANCE * gaps[-1][1]:
            where = ", ".join(f"{key} = {value}" for key, value in point.items())
            lhs_far, rhs_far = gaps[-1][2]
            return (f"{where + ': ' if where else ''}far out (x = ±{LIMIT_REACH[-1]}) lhs = {sp.N(lhs_far, 8)}, "
                    f"rhs = {sp.N(rhs_far, 8)}, so the limit claim is false")
    return None


def _number(value: sp.Expr, dps: int) -> mpmath.mpf | mpmath.mpc:
    """A SymPy number as mpmath's, complex where its imaginary part is not 0 (log of a negative)."""
    real, imaginary = (mpmath.mpf(part) for part in sp.N(value, dps).as_real_imag())
    return real if imaginary == 0 else mpmath.mpc(real, imaginary)


def _sides_at(lhs: sp.Expr, rhs: sp.Expr, point: dict, classes: int, dps: int = 60) -> tuple | None:
    """Both sides at a point, or None where one is not a finite number there."""
    try:
        with mpmath.workdps(dps):   # mpf values keep these digits; compare them at as many (``_judged``)
            values = tuple(_number(algebra.value_at(side, point, classes, dps), dps) for side in (lhs, rhs))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return values if all(mpmath.isfinite(v) for v in values) else None


def _judged(claim: sp.Basic, sides: tuple, dps: int = 60) -> bool:
    """``_holds`` in the precision the sides were computed in."""
    with mpmath.workdps(dps):
        return _holds(claim, *sides)


def find_counterexample(identity: Identity, points: int, seed: int = 0) -> str | None:
    """A point where a claim is false, described with its numbers; every claim kind is searched,
    at several class counts, at ordinary, wide-ranging and boundary points."""
    return search(identity, points, seed)[0]


def search(identity: Identity, points: int, seed: int = 0) -> tuple[str | None, int]:
    """(a counterexample or None, how many points could be judged at all)."""
    rng = random.Random(seed)
    judged = 0
    for claim, lhs_expr, rhs_expr in zip(identity.claims, identity.prepared_sides(), identity.prepared_sides(1)):
        if claim.has(sp.Limit):
            refuted = _limit_claim_refuted(identity, claim, lhs_expr, rhs_expr)
            if refuted:
                return refuted, judged
            judged += 1
            continue
        differ = tried = 0
        counts = _search_classes(identity)
        for classes in counts:
            for n in range(_points_at(classes, points, len(counts))):
                mode = algebra.MODES[n % len(algebra.MODES)]
                point = algebra.random_point([lhs_expr - rhs_expr], identity.givens, classes, rng, mode)
                sides = _sides_at(lhs_expr, rhs_expr, point, classes)
                if sides is None or (not isinstance(claim, (sp.Eq, sp.Ne))
                                     and any(isinstance(v, mpmath.mpc) for v in sides)):
                    continue        # outside the domain (log 0 at a boundary point): nothing to judge
                tried += 1
                if isinstance(claim, sp.Ne):
                    with mpmath.workdps(60):
                        differ += not _equal(*sides)
                    continue
                if _judged(claim, sides):
                    continue
                again = _sides_at(lhs_expr, rhs_expr, point, classes, RECHECK_DPS)
                if again is not None and not _judged(claim, again, RECHECK_DPS):
                    lhs, rhs = again
                    where = f"C = {classes}, " if identity.has_classes else ""
                    return (f"{where}{algebra.describe(point)}: lhs = {sp.N(lhs, 12)}, rhs = {sp.N(rhs, 12)}, "
                            f"so lhs {_SAID.get(claim.rel_op, claim.rel_op)} rhs is false"), judged + tried
        if isinstance(claim, sp.Ne) and tried and not differ:
            return f"the two sides are equal at every one of {tried} points tried, so ≠ is not shown by any", tried
        judged += tried
    return None, judged


def _points_at(classes: int, points: int, counts: int) -> int:
    """Points per class count: all of them for a single count, fewer each over several, and a
    few at the large counts (where sums are long)."""
    if counts == 1:
        return points
    return 3 if classes > SEARCH_CLASSES[-1] else max(6, points // 2)


# ----- strategies ------------------------------------------------------------------------------

def _equations(identity: Identity) -> list[sp.Expr] | None:
    """The differences of an identity whose claims are all equations (``None`` otherwise)."""
    if not all(isinstance(claim, sp.Eq) for claim in identity.claims):
        return None
    return identity.differences()


@dataclass(frozen=True)
class Symbolic:
    """Every equation simplifies to 0 for symbolic C (sums linearised, assumptions substituted)."""

    def attempt(self, identity: Identity) -> Outcome | None:
        differences = _equations(identity)
        if differences is None:
            return None
        if all(algebra.vanishes_for_symbolic_classes(d, identity.givens) for d in differences):
            status = Status.SYMBOLIC if identity.has_classes else Status.EXACT
            return Outcome(status, "SymPy simplifies lhs − rhs to 0")
        return None


@dataclass(frozen=True)
class Concrete:
    """Every equation simplifies to 0 exactly at each class count of ``identity.classes``."""

    def attempt(self, identity: Identity) -> Outcome | None:
        differences = _equations(identity)
        if differences is None:
            return None
        for count in identity.classes:
            if not all(algebra.vanishes_at(d, identity.givens, count) for d in differences):
                return None
        return Outcome(Status.CONCRETE, "exact simplification at each class count", classes=identity.classes)


@dataclass(frozen=True)
class Numeric:
    """mpmath at random points: evidence, not proof, and labelled so."""

    points: int = DEFAULT_POINTS

    def attempt(self, identity: Identity) -> Outcome | None:
        counterexample, judged = search(identity, self.points, seed=1)
        if counterexample is not None or not judged:
            return None         # no point where both sides are numbers is no evidence at all
        classes = identity.classes[min(1, len(identity.classes) - 1)]
        where = f" with C = {classes}" if identity.has_classes else ""
        return Outcome(Status.NUMERIC, f"agrees to 1e-45 (relative, at 60 digits) at {self.points} random points"
                                       f"{where}",
                       points=self.points)


@dataclass(frozen=True)
class Cases:
    """A statement about ``max``/``|·|`` proven case by case: each case substitutes the variable
    by a signed symbol (``x = s`` with s ≥ 0, ``x = −s`` with s > 0), then simplifies exactly.

    The cases must cover the variable's domain: each value is ``a·s + c`` for a symbol ``s``
    whose SymPy assumptions give its range, and the union of those ranges must contain the
    variable's (an empty or partial set of cases proves nothing)."""

    variable: sp.Symbol
    cases: tuple[tuple[str, sp.Expr], ...]

    def uncovered(self) -> str | None:
        """Why the cases do not cover the variable's domain, or None when they do."""
        if not self.cases:
            return "no cases"
        covered = sp.EmptySet
        for text, value in self.cases:
            image = _range_of(value)
            if image is None:
                return f"the case {text!r} ({self.variable} = {value}) is not a signed symbol with a known range"
            covered = sp.Union(covered, image)
        domain = _range_of(self.variable, as_symbol=True)
        if domain is None or not domain.is_subset(covered):
            return f"the cases cover {covered}, not the domain {domain} of {self.variable}"
        return None

    def reused(self, identity: Identity) -> str | None:
        """A case symbol that also occurs in the claims: x = m would then prove the claim only
        where x equals that m."""
        claimed = set().union(*(c.free_symbols for c in identity.claims)) - {self.variable}
        for text, value in self.cases:
            shared = value.free_symbols & claimed
            if shared:
                return f"the case {text!r} uses {', '.join(map(str, shared))}, which the claims use too"
        return None

    def attempt(self, identity: Identity) -> Outcome | None:
        differences = _equations(identity)
        if differences is None or self.uncovered() is not None or self.reused(identity) is not None:
            return None
        for _, value in self.cases:
            if not all(algebra.vanishes_for_symbolic_classes(d.subs(self.variable, value), identity.givens)
                       for d in differences):
                return None
        names = " and ".join(text for text, _ in self.cases)
        status = Status.SYMBOLIC if identity.has_classes else Status.EXACT
        return Outcome(status, f"each case ({names}) simplifies to 0; together they cover {self.variable}'s domain")


def _symbol_range(symbol: sp.Symbol) -> sp.Set | None:
    """The values a symbol's SymPy assumptions allow: an interval for a real, non-integer
    symbol, else None (an integer symbol n ≥ 0 does not range over [0, ∞))."""
    if symbol.is_integer:
        return None
    if symbol.is_positive:
        return sp.Interval.open(0, sp.oo)
    if symbol.is_nonnegative:
        return sp.Interval(0, sp.oo)
    if symbol.is_negative:
        return sp.Interval.open(-sp.oo, 0)
    if symbol.is_nonpositive:
        return sp.Interval(-sp.oo, 0)
    if symbol.is_real:
        return sp.Reals
    return None


def _range_of(value: sp.Expr, as_symbol: bool = False) -> sp.Set | None:
    """The range of ``a·s + c`` (a ≠ 0, c constant) as ``s`` ranges over its assumptions."""
    if as_symbol:
        return _symbol_range(value)
    if value.is_number:
        return sp.FiniteSet(value)
    symbols = list(value.free_symbols)
    if len(symbols) != 1:
        return None
    symbol = symbols[0]
    slope = sp.diff(value, symbol)
    domain = _symbol_range(symbol)
    if domain is None or not slope.is_number or slope == 0 or sp.diff(value, symbol, 2) != 0:
        return None
    return sp.imageset(sp.Lambda(symbol, value), domain)


@dataclass(frozen=True)
class Limits:
    """Claims that are limits (``Eq(Limit(f, x, ±oo), value)``): SymPy computes each limit, and
    each is checked numerically — f far out against SymPy's value — at parameter values that
    include the boundaries of their domains (b = 0), where SymPy's answer can be wrong. A limit
    SymPy cannot compute is a failed attempt, not an error."""

    def attempt(self, identity: Identity) -> Outcome | None:
        differences = _equations(identity)
        if differences is None or not all(d.has(sp.Limit) for d in differences):
            return None
        try:
            if not all(sp.simplify(d.doit()) == 0 for d in differences):
                return None
            evaluated = [_eq(limit, limit.doit()) for d in differences for limit in d.atoms(sp.Limit)]
            if any(_limit_claim_refuted(identity, c, c.lhs, c.rhs) for c in evaluated):
                return None
        except (NotImplementedError, ValueError, TypeError, ZeroDivisionError):
            return None
        return Outcome(Status.SYMBOLIC if identity.has_classes else Status.EXACT,
                       "SymPy evaluates each limit, and each agrees numerically far out, boundary parameters included")


def _eq(lhs: sp.Expr, rhs: sp.Expr) -> sp.Eq:
    return sp.Eq(lhs, rhs, evaluate=False)


def _parameter_points(symbols: list[sp.Symbol], expr: sp.Expr = sp.Integer(0)) -> list[dict]:
    """Values for a limit's parameters: each at the boundary of its domain, inside it, and
    where a factor of ``expr`` that holds it vanishes ((b − 2)² at b = 2: a coefficient of the
    limit variable disappears there, and the limit can change)."""
    choices = []
    for symbol in symbols:
        if symbol.is_positive:
            values = {sp.Rational(1, 1000), sp.Integer(1), sp.Integer(3)}
        elif symbol.is_nonnegative:
            values = {sp.Integer(0), sp.Rational(1, 2), sp.Integer(1), sp.Integer(3)}
        else:
            values = {sp.Integer(-2), sp.Integer(0), sp.Integer(1), sp.Integer(3)}
        values |= _vanishing_at(symbol, expr)
        choices.append(sorted(values, key=sp.default_sort_key))
    return [dict(zip(symbols, combination)) for combination in itertools.product(*choices)][:64]


def _vanishing_at(symbol: sp.Symbol, expr: sp.Expr) -> set:
    """The real values of ``symbol`` (in its domain) that make a subexpression of ``expr``
    depending on it alone vanish."""
    found = set()
    for part in sp.preorder_traversal(expr):
        if isinstance(part, sp.Expr) and part.free_symbols == {symbol} and not part.is_Symbol:
            try:
                roots = sp.solve(part, symbol)
            except (NotImplementedError, ValueError, TypeError):
                continue
            found |= {r for r in roots if r.is_real and _in_domain(r, symbol)}
        if len(found) > 4:
            break
    return found


@dataclass(frozen=True)
class Witness:
    """``Ne`` claims: an exact point (rational inputs) where the two sides differ, at each class
    count. The point must be one the identity speaks about: every value within its symbol's
    domain, every free symbol given a value, class indices in range, and the assumptions that
    are sums (Σ_k p_k = 1) satisfied exactly."""

    point: Callable[[int], dict]

    def invalid(self, identity: Identity, count: int) -> str | None:
        """Why the point at ``count`` classes is not a valid witness, or None."""
        point = self.point(count)
        for key, value in point.items():
            value = sp.sympify(value)
            fact = _missing_fact(value, key)
            if fact is not None:
                return f"{key} = {value} is not {fact}"
            if key in algebra.FREE_INDICES and not 0 <= value < count:
                return f"the class index {key} = {value} is not in 0..{count - 1}"
        for relation in identity.givens:
            lhs = relation.lhs.subs(C, count).doit().xreplace(point)
            if sp.simplify(lhs - relation.rhs.subs(C, count)) != 0:
                return f"the point does not satisfy {relation} at C = {count}"
        for difference in identity.differences():
            concrete = algebra.definitions(difference).subs(C, count).subs(
                {key: value for key, value in point.items() if key in algebra.FREE_INDICES}).doit().xreplace(point)
            if concrete.free_symbols:
                return f"the point gives no value to {sorted(map(str, concrete.free_symbols))}"
        return None

    def attempt(self, identity: Identity) -> Outcome | None:
        if not all(isinstance(claim, sp.Ne) for claim in identity.claims):
            return None
        for count in identity.classes:
            if self.invalid(identity, count) is not None:
                return None
            point = self.point(count)
            for difference in identity.differences():
                gap = algebra.value_at(difference, point, count, dps=50)
                if not abs(gap) > mpmath.mpf("1e-10"):
                    return None
        return Outcome(Status.CONCRETE, f"the sides differ at an exact point, e.g. {algebra.describe(self.point(2))}",
                       classes=identity.classes)


@dataclass(frozen=True)
class Lemma:
    """``f(u) ≥ 0`` on the domain of ``u``, with equality only at ``u = root``.

    Shown by calculus: f'(u) = 0 only at ``root``, f(root) = 0, f'' > 0 on the domain. A
    strictly convex function's only critical point is its global minimum, so f ≥ 0 and f = 0
    only at ``root``.
    """

    name: str
    function: Callable[[sp.Expr], sp.Expr]
    variable: sp.Symbol
    root: sp.Expr

    def prove(self) -> str:
        u = self.variable
        f = self.function(u)
        slope, curvature = sp.diff(f, u), sp.diff(f, u, 2)
        if not _in_domain(self.root, u):
            raise ProofError(f"lemma {self.name}: the root {self.root} is outside the domain of {u}")
        if sp.simplify(slope.subs(u, self.root)) != 0:
            raise ProofError(f"lemma {self.name}: f'({self.root}) = {slope.subs(u, self.root)} is not 0")
        try:
            critical = sp.solve(slope, u)
        except (NotImplementedError, ValueError, TypeError) as error:  # SymPy cannot solve f' = 0
            raise ProofError(f"lemma {self.name}: SymPy cannot find where f' vanishes ({error})") from None
        if [sp.simplify(c - self.root) for c in critical] != [0]:
            raise ProofError(f"lemma {self.name}: f' vanishes at {critical}, not only at {self.root}")
        if sp.simplify(f.subs(u, self.root)) != 0:
            raise ProofError(f"lemma {self.name}: f({self.root}) = {f.subs(u, self.root)} is not 0")
        if not sp.simplify(curvature).is_positive:
            raise ProofError(f"lemma {self.name}: f'' = {curvature} is not positive on the domain")
        return (f"lemma {self.name}: f' = {slope} vanishes only at {u} = {self.root}, f({self.root}) = 0, "
                f"f'' = {sp.simplify(curvature)} > 0")


@dataclass(frozen=True)
class NonnegativeSum:
    """Inequality ``lhs ≥ rhs`` (or ``≤``) via a certificate: the gap equals
    Σ_k weight_k · f(argument_k), where ``weight_k ≥ 0`` and the :class:`Lemma` gives f ≥ 0.

    With ``equality=True`` the claim is instead "the gap is 0 iff argument_k = root for
    every k": then each weight must be strictly positive, and the lemma's unique zero gives it.
    The identity ``gap = certificate`` is proven like any equation (symbolic C, else concrete C).
    """

    weight: sp.Expr
    argument: sp.Expr
    lemma: Lemma
    equality: bool = False

    def certificate(self) -> sp.Expr:
        return class_sum(self.weight * self.lemma.function(self.argument))

    def attempt(self, identity: Identity) -> Outcome | None:
        try:
            lemma = self.lemma.prove()
        except ProofError:
            return None
        if not (self.weight.is_positive if self.equality else self.weight.is_nonnegative):
            return None
        if not _in_domain(self.argument, self.lemma.variable):
            return None
        gaps = []
        for claim, difference in zip(identity.claims, identity.differences()):
            # a sum of nonnegative terms shows ≥ (or ≤), never a strict inequality: it can be 0
            if isinstance(claim, sp.Ge):
                gaps.append(difference - self.certificate())
            elif isinstance(claim, sp.Le):
                gaps.append(-difference - self.certificate())
            else:
                return None
        equation = Identity(identity.name, identity.statement, tuple(sp.Eq(g, 0, evaluate=False) for g in gaps),
                            identity.how, identity.assumptions, classes=identity.classes)
        shown = Symbolic().attempt(equation) or Concrete().attempt(equation)
        if shown is None:
            return None
        conclusion = (f"so the gap is 0 iff {self.argument} = {self.lemma.root} for every k"
                      if self.equality else "so the gap is a sum of nonnegative terms")
        detail = (f"gap = Σ_k {self.weight}·f({self.argument}) ({shown.label}); "
                  f"{lemma}; {conclusion}")
        return Outcome(shown.status, detail, classes=shown.classes)


#: the SymPy assumptions a value must share with the symbol it stands for
_FACTS = ("positive", "nonnegative", "negative", "nonpositive", "real", "nonzero", "integer", "finite")


def _missing_fact(value: sp.Expr, symbol: sp.Basic) -> str | None:
    """The first property ``symbol`` is assumed to have that ``value`` is not known to have."""
    return next((fact for fact in _FACTS
                 if getattr(symbol, f"is_{fact}") is True and getattr(value, f"is_{fact}") is not True), None)


def _in_domain(argument: sp.Expr, variable: sp.Symbol) -> bool:
    """Whether ``argument`` has every property ``variable`` is assumed to have (a lemma shown
    for u > 0 applies to q_k/p_k, not to an argument only known to be real)."""
    return _missing_fact(argument, variable) is None


#: the default strategies of an equation, strongest first
EQUATION = (Symbolic(), Concrete(), Numeric())


def establish_each(identities: Sequence[Identity], progress: Callable[[int, int, Identity], None] | None = None,
                   ) -> list[Result]:
    """Establish every identity in order, reporting ``progress(position, total, identity)`` before each."""
    results = []
    for position, identity in enumerate(identities, start=1):
        if progress is not None:
            progress(position, len(identities), identity)
        results.append(identity.establish())
    return results


__all__ = ["Cases", "Concrete", "EQUATION", "Identity", "Lemma", "Limits", "NonnegativeSum", "Numeric",
           "Outcome", "ProofError", "Result", "Status", "Symbolic", "Witness", "establish_each",
           "find_counterexample"]
