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
"""
from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import mpmath
import sympy as sp

from symce.identities import algebra
from symce.spec.core import Assumption, class_sum
from symce.spec.symbols import C

#: class counts tried when SymPy cannot decide a statement for symbolic C
DEFAULT_CLASSES = (2, 3, 4)
#: random points of the falsification search and of the numeric fallback
DEFAULT_POINTS = 20
#: a difference larger than this (at 30 digits) is a counterexample, not rounding
TOLERANCE = mpmath.mpf("1e-20")


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
        for assumption in self.assumptions:
            if self._is_one_hot(assumption) and self.prepare is _unchanged:
                raise ValueError(f"identity {self.name!r}: the one-hot assumption {assumption.text!r} needs "
                                 "prepare=one_hot(vector, label) to apply it")
            if not (self._is_sum_given(assumption) or self._is_encoded(assumption) or self._is_index_range(assumption)
                    or self._is_one_hot(assumption)):
                raise ValueError(f"identity {self.name!r}: assumption {assumption.text!r} is neither a sum, a "
                                 "one-hot vector, an index range, nor implied by the symbols' SymPy assumptions")

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

_SAID = {"==": "=", ">=": "≥", "<=": "≤"}


def _holds(claim: sp.Basic, gap: mpmath.mpf) -> bool:
    """Whether a claim holds at a point, given lhs − rhs there (Ne is not refuted by one point)."""
    if isinstance(claim, sp.Eq):
        return abs(gap) <= TOLERANCE
    if isinstance(claim, (sp.Ge, sp.Gt)):
        return gap >= -TOLERANCE
    if isinstance(claim, (sp.Le, sp.Lt)):
        return gap <= TOLERANCE
    return True


def find_counterexample(identity: Identity, points: int, seed: int = 0) -> str | None:
    """A point (at the smallest class count tried) where a claim is false, described with its numbers."""
    rng = random.Random(seed)
    classes = identity.classes[min(1, len(identity.classes) - 1)]
    for claim, difference in zip(identity.claims, identity.differences()):
        if isinstance(claim, sp.Ne) or claim.has(sp.Limit):
            continue  # one point cannot refute "not equal"; limits are exact and decided by Limits
        for _ in range(points):
            point = algebra.random_point([difference], identity.givens, classes, rng)
            gap = algebra.value_at(difference, point, classes)
            if not gap.is_real:
                continue
            if not _holds(claim, mpmath.mpf(gap)):
                lhs = algebra.value_at(identity.prepare(claim.lhs), point, classes)
                rhs = algebra.value_at(identity.prepare(claim.rhs), point, classes)
                where = f"C = {classes}, " if identity.has_classes else ""
                return (f"{where}{algebra.describe(point)}: lhs = {sp.N(lhs, 12)}, rhs = {sp.N(rhs, 12)}, "
                        f"so lhs {_SAID.get(claim.rel_op, claim.rel_op)} rhs is false")
    return None


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
        if find_counterexample(identity, self.points, seed=1) is not None:
            return None
        classes = identity.classes[min(1, len(identity.classes) - 1)]
        where = f" with C = {classes}" if identity.has_classes else ""
        return Outcome(Status.NUMERIC, f"agrees to 1e-20 at {self.points} random points{where}",
                       points=self.points)


@dataclass(frozen=True)
class Cases:
    """A statement about ``max``/``|·|`` proven case by case: each case substitutes the variable
    by a signed symbol (``x = s`` with s ≥ 0, ``x = −s`` with s > 0), then simplifies exactly."""

    variable: sp.Symbol
    cases: tuple[tuple[str, sp.Expr], ...]

    def attempt(self, identity: Identity) -> Outcome | None:
        differences = _equations(identity)
        if differences is None:
            return None
        for _, value in self.cases:
            if not all(algebra.vanishes_for_symbolic_classes(d.subs(self.variable, value), identity.givens)
                       for d in differences):
                return None
        names = " and ".join(text for text, _ in self.cases)
        status = Status.SYMBOLIC if identity.has_classes else Status.EXACT
        return Outcome(status, f"each case ({names}) simplifies to 0")


@dataclass(frozen=True)
class Limits:
    """Claims that are limits (``Eq(Limit(f, x, ±oo), value)``): SymPy computes each limit exactly."""

    def attempt(self, identity: Identity) -> Outcome | None:
        differences = _equations(identity)
        if differences is None or not all(d.has(sp.Limit) for d in differences):
            return None
        if all(sp.simplify(d.doit()) == 0 for d in differences):
            return Outcome(Status.SYMBOLIC if identity.has_classes else Status.EXACT, "SymPy evaluates each limit")
        return None


@dataclass(frozen=True)
class Witness:
    """``Ne`` claims: an exact point (rational inputs) where the two sides differ, at each class count."""

    point: Callable[[int], dict]

    def attempt(self, identity: Identity) -> Outcome | None:
        if not all(isinstance(claim, sp.Ne) for claim in identity.claims):
            return None
        for count in identity.classes:
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
        critical = sp.solve(slope, u)
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
        if not (self.argument.is_positive if self.lemma.variable.is_positive else self.argument.is_real):
            return None
        gaps = []
        for claim, difference in zip(identity.claims, identity.differences()):
            if isinstance(claim, (sp.Ge, sp.Gt)):
                gaps.append(difference - self.certificate())
            elif isinstance(claim, (sp.Le, sp.Lt)):
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
