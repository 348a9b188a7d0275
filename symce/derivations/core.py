"""Derivations as data: a chain ``lhs = e₀ = e₁ = …`` whose every link SymPy has checked.

A :class:`Derivation` is a list of :class:`Step` objects; each step is a SymPy expression
and the :class:`Rule` that turns the previous expression into it. Building a derivation
checks every link: the difference of two consecutive steps must simplify to zero, first
for a symbolic class count ``C`` and, where SymPy cannot manage that, for every concrete
``C = 2..K`` (and every value of the free class indices). Which of the two succeeded is
recorded per step. A rule that states a formula must have it proven as an identity (see
:func:`formula_problem`), so a printed formula is never a false one. A link or formula
that cannot be shown raises :class:`DerivationError`, naming the step and its rule, so a
wrong derivation is never printed.

Two devices keep the printed steps readable while the check stays exact:

* :class:`Abbreviation` — a name such as ``softmax(z)_j`` or ``H(p)`` printed as the name
  and replaced by its meaning (a spec's expression or a building block) before checking.
* ``Step.given`` — a relation valid from that step on: an assumption of one of the
  derivation's specs (``Σ_k y_k = 1``) or a setting of one of their parameters (``w_k = 1``).
  Both sides of every later link, and the target, are compared with the givens substituted.
  Nothing else may be given: a relation about the inputs (``q_k = p_k``) or the class count
  would let a derivation "prove" whatever it likes.
"""
from __future__ import annotations

import functools
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import sympy as sp

from symce.identities import algebra
from symce.identities.algebra import indices_in_range
from symce.identities.core import Concrete, Identity, Symbolic
from symce.spec.core import Assumption, Spec
from symce.spec.symbols import C, j, k, t

#: the free integer indices a step may carry (class index of a gradient, integer label)
FREE_INDICES = (j, t)
#: class counts used when an equality cannot be shown for symbolic C
DEFAULT_CLASSES = (2, 3, 4)

SYMBOLIC = "symbolic C"
NO_CLASSES = "all values (no class count involved)"


class DerivationError(ValueError):
    """A step of a derivation does not follow from the one before (or the end misses its target)."""

    def __init__(self, derivation: str, step: int, rule: str, reason: str):
        self.derivation, self.step, self.rule, self.reason = derivation, step, rule, reason
        super().__init__(f"derivation {derivation!r}, step {step} ({rule}): {reason}")


@dataclass(frozen=True)
class Rule:
    """What justifies a step: a short ASCII name (printed in every format) and, optionally,
    the formula it applies, as a SymPy equation printed in each format's own notation.

    A formula is proven as an identity wherever a step cites it (:func:`formula_problem`).
    A free ``k`` in it means "for every class k"; other symbols (``u`` in d/du log u = 1/u)
    stand for any value their SymPy assumptions allow. A formula is not matched against its
    step: a rule such as the chain rule is applied to instances of its formula, not to the
    formula literally, and the link is proven on its own anyway, so a formula cited at the
    wrong step can mislead a reader but never carry a false step.
    """

    name: str
    formula: sp.Basic | None = None

    def __post_init__(self):
        if not self.name.isascii():
            raise ValueError(f"rule name {self.name!r} must be ASCII (math goes in Rule.formula)")

    def __call__(self, formula: sp.Basic) -> Rule:
        """The same rule, stated with the formula it applies here."""
        return Rule(self.name, formula)


# The rules derivations cite. A step may also cite a one-off Rule("...").
DEFINITION = Rule("definition")
CHAIN_RULE = Rule("chain rule")
QUOTIENT_RULE = Rule("quotient rule")
LOG_OF_QUOTIENT = Rule("log of a quotient")
LOG_OF_PRODUCT = Rule("log of a product")
LOG_OF_EXP = Rule("log is the inverse of exp")
SUM_OF_DERIVATIVES = Rule("derivative of a sum is the sum of derivatives")
LINEARITY_OF_SUM = Rule("linearity of the sum")
KRONECKER_DELTA = Rule("Kronecker delta")
ASSUMPTION = Rule("assumption")
SETTING = Rule("parameter setting")
ALGEBRA = Rule("algebra")
SIMPLIFY = Rule("simplify")


@dataclass(frozen=True)
class Abbreviation:
    """A name printed in place of an expression: ``symbol`` means ``meaning``.

    ``symbol`` is a ``Symbol`` (``meaning`` an expression) or an ``IndexedBase`` (``meaning``
    a function of the index, so ``s[k]`` means ``softmax(z, k)``). ``latex`` and ``text``
    are how the name is printed (an indexed one gets its index appended as a subscript).
    """

    symbol: sp.Symbol | sp.IndexedBase
    meaning: sp.Expr | Callable[[sp.Expr], sp.Expr]
    latex: str
    text: str

    def __getitem__(self, index) -> sp.Indexed:
        return self.symbol[index]

    def expand(self, expr: sp.Expr) -> sp.Expr:
        if isinstance(self.symbol, sp.IndexedBase):
            return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == self.symbol,
                                lambda e: self.meaning(*e.indices))
        return expr.xreplace({self.symbol: self.meaning})


@dataclass(frozen=True)
class Step:
    """One link of a derivation: ``expr`` follows from the previous step by ``rule``.

    ``given`` holds relations (``Eq``) that hold from this step on: an assumption of one of the
    derivation's specs, as the spec states it (``Σ_k y_k = 1``), or a setting of one of their
    parameters (``Eq(w[k], 1)`` sets every class weight). Anything else is refused.
    """

    expr: sp.Expr
    rule: Rule
    given: tuple[sp.Eq, ...] = ()


@dataclass(frozen=True)
class Check:
    """How one link was established: ``status`` is ``"symbolic C"``, ``"C = 2..K"`` or
    ``"all values (no class count involved)"``, ``seconds`` the time it took."""

    status: str
    seconds: float


# ----- substitution of givens -------------------------------------------------------------

def _apply_given(expr: sp.Expr, relation: sp.Eq) -> sp.Expr:
    """Substitute one given: ``w[k] = 1`` sets every entry of ``w``; anything else is replaced as written."""
    lhs, rhs = relation.lhs, relation.rhs
    if isinstance(lhs, sp.Indexed) and lhs.indices == (k,):
        return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == lhs.base,
                            lambda e: rhs.xreplace({k: e.indices[0]}))
    return expr.subs(lhs, rhs)


def _apply_givens(expr: sp.Expr, givens: Sequence[sp.Eq]) -> sp.Expr:
    for relation in givens:
        expr = _apply_given(expr, relation)
    return expr


def _concrete_given(relation: sp.Eq, classes: int) -> dict:
    """A given at a concrete class count, as a substitution.

    ``Σ_k y_k = 1`` becomes ``y_{C-1} = 1 − Σ_{k<C-1} y_k``: solved for the last entry, so
    that every vector satisfying the relation is covered, not one sample of them.
    """
    lhs = relation.lhs.subs(C, classes).doit()
    rhs = relation.rhs.subs(C, classes).doit()
    entries = sorted(lhs.atoms(sp.Indexed) | rhs.atoms(sp.Indexed), key=sp.default_sort_key)
    if not entries:
        return {}
    last = entries[-1]
    solution = sp.solve(sp.Eq(lhs, rhs), last, dict=True)
    if len(solution) != 1:
        raise ValueError(f"cannot solve the given {relation} for {last} at C = {classes}")
    return solution[0]


# ----- deciding that a difference vanishes -------------------------------------------------

def _settle(expr: sp.Expr, rounds: int = 4) -> sp.Expr:
    """Expand and evaluate until nothing changes: a Kronecker delta summed inside another sum
    only becomes a Piecewise (and then its value) once the outer sum is expanded."""
    for _ in range(rounds):
        settled = indices_in_range(sp.expand(expr).doit())
        if settled == expr:
            break
        expr = settled
    return expr


def _settle_powers(expr: sp.Expr, rounds: int = 4) -> sp.Expr:
    """:func:`_settle` for symbolic powers: b^γ·b^(−1) combined into b^(γ−1) and the exponents never
    split again, so that the two forms of the chain rule's d b^γ = γ b^(γ−1) db meet. (Expanding
    splits b^(γ−1) into b^γ/b and rewrites 1/b, after which SymPy no longer sees a common base.)"""
    expr = sp.powsimp(sp.expand_log(expr, force=True), combine="exp")
    for _ in range(rounds):
        settled = indices_in_range(sp.powsimp(sp.expand(expr, power_exp=False), combine="exp").doit())
        if settled == expr:
            break
        expr = settled
    return expr


#: progressively stronger attempts at bringing a difference to zero, cheap ones first
_SIMPLIFICATIONS = (
    lambda e: e,
    _settle,
    _settle_powers,
    lambda e: sp.simplify(_settle(e)),
    lambda e: _settle(sp.simplify(_settle(e))),
    lambda e: sp.simplify(sp.expand_log(_settle(e))),
    lambda e: sp.simplify(sp.factor_terms(sp.expand(sp.powsimp(sp.expand_log(_settle(e)), combine="exp")))),
)


def _is_zero(expr: sp.Expr, givens: Sequence[sp.Eq] = ()) -> bool:
    """Whether some simplification brings ``expr`` to zero; the givens are substituted again
    after each, since a simplification may bring out the literal ``Σ_k y_k`` they name."""
    for attempt in _SIMPLIFICATIONS:
        try:
            candidate = attempt(expr)
            if candidate == 0:
                return True
            if givens and _apply_givens(candidate, givens) != candidate \
                    and sp.simplify(_apply_givens(candidate, givens)) == 0:
                return True
        except Exception:  # noqa: BLE001 -- SymPy itself fails on some forms; that attempt proves nothing
            continue
    return False


def _vanishes_symbolically(difference: sp.Expr, givens: Sequence[sp.Eq]) -> bool:
    evaluated = indices_in_range(_apply_givens(_apply_givens(difference, givens).doit(), givens))
    return _is_zero(evaluated, givens)


def _index_values(expr: sp.Expr, classes: int):
    """Every assignment of the free class indices in ``expr`` to ``0..classes-1``."""
    free = [index for index in FREE_INDICES if index in expr.free_symbols]
    for values in itertools.product(range(classes), repeat=len(free)):
        yield dict(zip(free, values))


def _instances(difference: sp.Expr, givens: Sequence[sp.Eq], classes: int):
    """``difference`` at ``C = classes``, sums expanded, once per value of the free class indices,
    with the givens in their concrete form."""
    concrete = _apply_givens(difference, givens).subs(C, classes)
    for indices in _index_values(concrete, classes):
        instance = concrete.subs(indices).doit()
        for relation in givens:
            instance = instance.subs(_concrete_given(relation, classes))
        yield instance


def _vanishes_at(difference: sp.Expr, givens: Sequence[sp.Eq], classes: int) -> bool:
    return all(_is_zero(instance) for instance in _instances(difference, givens, classes))


def _numeric_gap(difference: sp.Expr, givens: Sequence[sp.Eq], classes: int = 3) -> float | None:
    """|difference| at a random point (C = 3), to tell a false step from one SymPy cannot prove."""
    rng = random.Random(0)
    for instance in _instances(difference, givens, classes):
        point = {atom: sp.Rational(rng.randint(5, 45), 50) for atom in instance.free_symbols | instance.atoms(sp.Indexed)
                 if not isinstance(atom, sp.IndexedBase) and atom not in (C,)}
        value = sp.N(instance.xreplace(point), 30)
        if value.is_number and abs(complex(value)) > 1e-20:
            return abs(complex(value))
    return None


def establish(before: sp.Expr, after: sp.Expr, givens: Sequence[sp.Eq] = (),
              classes: Sequence[int] = DEFAULT_CLASSES) -> str | None:
    """Show ``before = after``; return how (:class:`Check` status) or ``None`` if SymPy cannot."""
    difference = before - after
    if _vanishes_symbolically(difference, givens):
        return SYMBOLIC if C in (before.free_symbols | after.free_symbols) or difference.has(sp.Sum) else NO_CLASSES
    if C not in difference.free_symbols and not difference.has(sp.Sum):
        return None
    if all(_vanishes_at(difference, givens, count) for count in classes):
        return f"C = {min(classes)}..{max(classes)}"
    return None


def _weakest(statuses) -> str:
    statuses = list(statuses)
    concrete = [status for status in statuses if status not in (SYMBOLIC, NO_CLASSES)]
    if concrete:
        return concrete[0]
    return SYMBOLIC if SYMBOLIC in statuses else NO_CLASSES


# ----- what may be given ----------------------------------------------------------------------

def _quantities(relation: sp.Eq) -> set:
    """What a relation is about: a vector for each of its entries (the index only says which
    entry), and every other free symbol (the class count C, a scalar input or parameter)."""
    entries = relation.atoms(sp.Indexed)
    placeholders = {entry: sp.Dummy() for entry in entries}
    bare = set().union(*(side.xreplace(placeholders).free_symbols for side in relation.args))
    return (bare - set(placeholders.values())) | {entry.base for entry in entries}


def _listed(quantities) -> str:
    """``p, q and the class count C``: names in order, the class count last."""
    names = [str(quantity) for quantity in sorted(quantities, key=str) if quantity != C]
    names += ["the class count C"] if C in quantities else []
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def given_problem(relation: sp.Basic, specs: Sequence[Spec]) -> str | None:
    """Why ``relation`` may not be given in a derivation about ``specs``, or None when it may.

    A given is one of the specs' assumptions exactly as stated, or a parameter setting: an
    equation whose left side is a parameter (an entry of a vector parameter: ``w_k = 1`` sets
    every weight), whose right side is a value in that parameter's domain, and which mentions
    nothing but parameters. Substituting anything else (``z_k = 0``, ``q_k = p_k``, ``C = 2``)
    would change the statement being derived, not specialise a setting of it.
    """
    if relation in (sp.true, sp.false):
        return (f"the given is not an equation: SymPy evaluated it to {relation} from the symbols' assumptions "
                "(build it with evaluate=False to see why it is refused)")
    if not isinstance(relation, sp.Eq):
        return f"the given {relation} is not an equation"
    if any(relation == assumption.relation for spec in specs for assumption in spec.assumptions):
        return None
    if not specs:
        return f"the given {relation} is refused: the derivation names no spec whose assumption or setting it could be"
    parameters = {param.symbol for spec in specs for param in spec.params}
    others = _quantities(relation) - parameters
    allowed = (f"a given must be an assumption of {', '.join(spec.name for spec in specs)} "
               "or a setting of one of their parameters")
    if others:
        return f"the given {relation} is about {_listed(others)}; {allowed}"
    lhs, rhs = relation.lhs, relation.rhs
    if (lhs.base if isinstance(lhs, sp.Indexed) else lhs) not in parameters:
        return f"the given {relation} does not set a parameter (its left side must be one); {allowed}"
    for fact in ("positive", "nonnegative", "real"):
        if getattr(lhs, f"is_{fact}") and getattr(rhs, f"is_{fact}") is not True:
            return f"the given {relation} sets {lhs} to {rhs}, which is not {fact} as {lhs} is"
    return None


# ----- rule formulas ---------------------------------------------------------------------------

#: how a rule's formula may be proven: exactly, for symbolic C or at each C = 2..K (never numerically)
_FORMULA_STRATEGIES = (Symbolic(), Concrete())


def _as_claim(formula: sp.Eq) -> tuple[sp.Eq, str]:
    """The formula as an identity's claim, and how its free ``k`` was read.

    Identities range their free class indices (i, j, t) over 0..C−1 and refuse any other
    free integer; a rule's free ``k`` ("for every class k") becomes the first unused of them.
    """
    free = formula.free_symbols
    index = next((name for name in algebra.FREE_INDICES if name not in free), None)
    if k not in free or index is None:
        return formula, ""
    claim = sp.Eq(formula.lhs.subs(k, index), formula.rhs.subs(k, index), evaluate=False)
    return claim, f" (k read as the class index {index})"


@functools.cache
def formula_problem(formula: sp.Eq, assumptions: tuple[sp.Eq, ...] = (),
                    classes: tuple[int, ...] = DEFAULT_CLASSES) -> str | None:
    """Why a rule's formula is not established, or None when it is proven as an identity.

    ``formula`` has abbreviations expanded and parameter settings applied; ``assumptions``
    are the spec assumptions in force (``Σ_k y_k = 1``). The identity machinery first looks
    for a counterexample, then simplifies to 0 for symbolic C or exactly at each of
    ``classes``. Cached: the catalogue cites the same few formulas again and again.
    """
    claim, reading = _as_claim(formula)
    stated = tuple(Assumption(f"given_{n}", relation, str(relation)) for n, relation in enumerate(assumptions))
    try:
        identity = Identity("rule formula", f"{claim.lhs} = {claim.rhs}", (claim,), "a rule's formula",
                            stated, _FORMULA_STRATEGIES, classes=classes)
    except (TypeError, ValueError) as error:
        return f"it cannot be stated as an identity{reading}: {error}"
    result = identity.establish()
    return None if result.status.proven else f"it is not proven{reading}: {result.outcome.detail}"


# ----- the derivation -----------------------------------------------------------------------

#: what the last link of a derivation is named in errors
TARGET = "the known closed form"


@dataclass(frozen=True)
class Derivation:
    """``lhs = steps[0].expr = steps[1].expr = …``, every link checked on construction.

    ``target`` is the known closed form the last step must equal (for a gradient, the spec's
    own ``spec.gradient()``; for an identity, its right-hand side), checked the same way.
    ``abbreviations`` are expanded before any check, so names never hide a gap. ``specs`` are
    the specs the derivation is about: its givens may only be their assumptions or settings
    of their parameters (a derivation about no spec can have no givens).
    """

    name: str
    title: str
    lhs: sp.Expr
    steps: tuple[Step, ...]
    target: sp.Expr
    abbreviations: tuple[Abbreviation, ...] = ()
    specs: tuple[Spec, ...] = ()
    classes: tuple[int, ...] = DEFAULT_CLASSES
    checks: tuple[Check, ...] = field(init=False, default=())

    def __post_init__(self):
        if not self.steps:
            raise DerivationError(self.name, 0, "-", "a derivation needs at least one step")
        self._check_givens()
        object.__setattr__(self, "checks", tuple(self._check()))

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every abbreviation replaced by its meaning."""
        for abbreviation in self.abbreviations:
            expr = abbreviation.expand(expr)
        return expr

    def givens_at(self, index: int) -> tuple[sp.Eq, ...]:
        """The relations in force at step ``index`` (given there or before)."""
        return tuple(relation for step in self.steps[: index + 1] for relation in step.given)

    @property
    def givens(self) -> tuple[sp.Eq, ...]:
        """Every relation the derivation gives, once each, in the order they are given."""
        return tuple(dict.fromkeys(self.givens_at(len(self.steps) - 1)))

    def _check_givens(self) -> None:
        for index, step in enumerate(self.steps):
            for relation in step.given:
                problem = given_problem(relation, self.specs)
                if problem is not None:
                    raise DerivationError(self.name, index, step.rule.name, problem)

    def _check_formula(self, index: int) -> None:
        """The step's rule formula, with the step's givens in force, must be proven as an identity."""
        rule = self.steps[index].rule
        if rule.formula is None:
            return
        if not isinstance(rule.formula, sp.Eq):
            raise DerivationError(self.name, index, rule.name, f"the rule's formula {rule.formula} is not an "
                                  "equation (where SymPy evaluated one, build it with evaluate=False)")
        givens = self.givens_at(index)
        sides = (_apply_givens(self.expand(side), givens) for side in (rule.formula.lhs, rule.formula.rhs))
        assumptions = tuple(relation for relation in givens if isinstance(relation.lhs, sp.Sum))
        problem = formula_problem(sp.Eq(*sides, evaluate=False), assumptions, self.classes)
        if problem is not None:
            raise DerivationError(self.name, index, rule.name,
                                  f"the rule's formula {rule.formula.lhs} = {rule.formula.rhs}: {problem}")

    def _link(self, before: sp.Expr, after: sp.Expr, index: int, rule: str) -> Check:
        """How ``before = after`` was shown under the givens at step ``index``; raises where it was not."""
        givens = self.givens_at(index)
        start = time.perf_counter()
        status = establish(before, after, givens, self.classes)
        if status is None:
            gap = _numeric_gap(before - after, givens)
            reason = ("it is false: the two sides differ by %.3g at a random point with C = 3" % gap
                      if gap is not None else "SymPy could not show that it equals the previous step "
                      f"(neither for symbolic C nor for C = {min(self.classes)}..{max(self.classes)})")
            what = "the last step does not equal the known closed form; " if rule == TARGET else ""
            raise DerivationError(self.name, index, rule, what + reason)
        return Check(status, time.perf_counter() - start)

    def _check(self) -> list[Check]:
        checks = []
        previous = self.expand(self.lhs)
        for index, step in enumerate(self.steps):
            self._check_formula(index)
            current = self.expand(step.expr)
            checks.append(self._link(previous, current, index, step.rule.name))
            previous = current
        checks.append(self._link(previous, self.expand(self.target), len(self.steps) - 1, TARGET))
        return checks

    @property
    def status(self) -> str:
        """How the chain of steps was shown: the weakest link (symbolic C only if every link was).
        The givens it holds under are :attr:`givens`; the printers state them with it."""
        return _weakest(check.status for check in self.checks[:-1])

    @property
    def target_status(self) -> str:
        """How the last step was shown to equal the known closed form (``target``)."""
        return self.checks[-1].status

    @property
    def result(self) -> sp.Expr:
        """The last step, abbreviations expanded."""
        return self.expand(self.steps[-1].expr)
