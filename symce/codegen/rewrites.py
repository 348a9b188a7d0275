"""Numerical rewrites: each one a proven identity, applied to SymPy expressions as data.

A :class:`Rewrite` is a named transformation in the style of
``sympy.codegen.rewriting.ReplaceOptim``: most replace every subexpression matching a
pattern (:func:`replacing`). Each states what it rewrites, ``lhs`` (one or more instances in
the specs' symbols), and its right-hand side is its own transform applied to them, so the
identity it needs, ``lhs = transform(lhs)``, comes from the code that runs: the catalog of
:mod:`symce.identities` builds the identity named ``identity=`` from :attr:`Rewrite.claims`, and
``symce check`` proves exactly what the kernels apply. The rewrites run in named pipelines
(:data:`SHIFTED_ROW`, :data:`PLAIN_ROW`, :data:`ONE_LOGIT`, :data:`ONE_PROBABILITY`), each
through :func:`optimize`.

SymPy's own ``logsumexp_2terms_opt`` is deliberately not used: in SymPy 1.14 it returns
``max + log1p(exp(min))`` without subtracting the max (1.693 instead of 1.313 at (1, 0)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce.spec import blocks
from symce.spec.symbols import C, gamma, j, m, t, x, y, z

#: the logits shifted by the row max, zs_i = z_i − m (what the kernels exponentiate)
zs = sp.IndexedBase("zs", real=True)


def _as_written(expr: sp.Basic) -> sp.Basic:
    """The meaning of an expression that introduces no symbol of its own: itself."""
    return expr


def unshift(expr: sp.Basic) -> sp.Basic:
    """``expr`` with every shifted logit zs_i written out as z_i − m (what it stands for)."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == zs, lambda e: z[e.indices] - m)


@dataclass(frozen=True)
class Rewrite:
    """A named transformation ``expr → transform(expr)`` that preserves the value.

    ``lhs`` are the expressions it rewrites, stated in the specs' symbols, and :attr:`rhs` what
    the transform makes of them; ``meaning`` writes a symbol the transform introduces in the
    specs' symbols (:func:`unshift`: zs_i = z_i − m). :attr:`claims` (lhs = rhs, meant so) is
    what the identity of :mod:`symce.identities` named ``identity`` states; ``why`` is the
    numerical reason to apply it.
    """

    name: str
    identity: str
    transform: Callable[[sp.Basic], sp.Basic]
    lhs: tuple[sp.Expr, ...]
    why: str
    meaning: Callable[[sp.Basic], sp.Basic] = _as_written

    def __call__(self, expr: sp.Basic) -> sp.Basic:
        return self.transform(expr)

    @property
    def rhs(self) -> tuple[sp.Expr, ...]:
        """What the transform makes of each ``lhs``."""
        return tuple(self.transform(side) for side in self.lhs)

    @property
    def claims(self) -> tuple[sp.Eq, ...]:
        """lhs = rhs for each stated instance, in the specs' symbols: the identity this rewrite needs."""
        return tuple(sp.Eq(self.meaning(left), self.meaning(right), evaluate=False)
                     for left, right in zip(self.lhs, self.rhs))


def replacing(query: Callable[[sp.Basic], bool], value: Callable[[sp.Basic], sp.Basic]):
    """``expr.replace(query, value)`` as a transform (SymPy's ReplaceOptim)."""
    return lambda expr: expr.replace(query, value)


def optimize(expr: sp.Basic, rewrites: Iterable[Rewrite]) -> sp.Basic:
    """Apply ``rewrites`` one after the other (like ``sympy.codegen.rewriting.optimize``)."""
    for rewrite in rewrites:
        expr = rewrite(expr)
    return expr


# ----- a row of logits ------------------------------------------------------------------
def _softmax_parts(e: sp.Basic):
    """(v_i, Σ_k exp(v_k)) when ``e`` is the softmax entry exp(v_i) / Σ_k exp(v_k), else None."""
    if not (isinstance(e, sp.Mul) and len(e.args) == 2):
        return None
    num = next((f for f in e.args if isinstance(f, sp.exp) and isinstance(f.args[0], sp.Indexed)), None)
    den = next((f.base for f in e.args if isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, sp.Sum)
                and isinstance(f.base.function, sp.exp) and isinstance(f.base.function.args[0], sp.Indexed)), None)
    if num is None or den is None or num.args[0].base != den.function.args[0].base:
        return None
    return num.args[0], den


def _log_softmax_as_difference(e: sp.log) -> sp.Expr:
    logit, total = _softmax_parts(e.args[0])
    return logit - sp.log(total)


log_softmax_difference = Rewrite(
    name="log_softmax_difference",
    identity="log_softmax_difference",
    transform=replacing(lambda e: isinstance(e, sp.log) and _softmax_parts(e.args[0]) is not None,
                        _log_softmax_as_difference),
    lhs=(blocks.log_softmax(z, j),),
    why="log(exp(z_i) / Σ exp(z_k)) = z_i − log Σ exp(z_k): the ratio under- or overflows, the difference does not",
)


def shift_logits(expr: sp.Basic, logits: sp.IndexedBase = z) -> sp.Basic:
    """Write every logit z_i as m + zs_i and take exp(m) out of every exponential and sum.

    Then exp(m) cancels from every softmax ratio and log(exp(m)·S) = m + log S, so with
    m = max_k z_k no exponent exceeds 0 and the largest term of every sum is exactly 1.
    """
    shifted = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == logits,
                           lambda e: m + zs[e.indices])
    shifted = shifted.replace(lambda e: isinstance(e, sp.exp), sp.expand_power_exp)
    shifted = shifted.replace(lambda e: isinstance(e, sp.Sum), sp.factor_terms)
    return sp.expand_log(shifted, force=True)


logsumexp_shift = Rewrite(
    name="logsumexp_shift",
    identity="logsumexp_shift",
    transform=shift_logits,
    lhs=(blocks.logsumexp(z),),
    meaning=unshift,
    why="log Σ exp(z_k) = m + log Σ exp(z_k − m): with m = max_k z_k nothing overflows",
)


def _one_plus(e: sp.Basic):
    """x when ``e`` is 1 + x, else None."""
    if isinstance(e, sp.Add) and sp.S.One in e.args:
        return e - 1
    return None


#: the real number a of log(1 + a)
_a = sp.Symbol("a", real=True)

log1p_definition = Rewrite(
    name="log1p_definition",
    identity="log1p_definition",
    transform=replacing(lambda e: isinstance(e, sp.log) and _one_plus(e.args[0]) is not None,
                        lambda e: log1p(_one_plus(e.args[0]))),
    lhs=(sp.log(1 + _a),),
    why=("log(1 + a) for a tiny a rounds 1 + a to 1 and returns 0; log1p(a) keeps a's digits. In a row of "
         "logits it runs once the sums are named: after the shift Σ_k exp(z_k − m) is 1 + (the other classes), "
         "so −log softmax_a becomes log1p(Σ_{k≠a} exp(z_k − z_a)) at the argmax a (cross_entropy_log1p_others) "
         "and keeps the digits of a confident prediction's loss (8.5e-18 at [40, 0, 0]); on one probability "
         "log(1 − r) becomes log1p(−r)"),
)


def _over_common_denominator(expr: sp.Expr) -> sp.Expr:
    """Every sum, innermost first, over its common denominator with the numerator expanded."""
    def combine(e: sp.Basic) -> sp.Basic:
        if not e.is_Add:
            return e
        numerator, denominator = sp.fraction(sp.together(e))
        return sp.expand(numerator) / denominator

    return sp.bottom_up(expr, combine)


softmax_target_complement = Rewrite(
    name="softmax_target_complement",
    identity="softmax_target_complement",
    transform=_over_common_denominator,
    lhs=(blocks.softmax(zs, t) - 1,),
    meaning=unshift,
    why=("applied by the row program to the cases it pins to the argmax a (RowPipelines.at_the_argmax), where "
         "Σ_k e_k = 1 + Σ_{k≠a} e_k: over a common denominator the 1s cancel exactly, so softmax_a − 1 becomes "
         "−Σ_{k≠a} e_k / Σ_k e_k instead of a difference that rounds to 0"),
)


def _rational_terms_combined(expr: sp.Expr) -> sp.Expr:
    """In every sum, innermost first, the terms without a log over their common denominator, numerator
    expanded, where that denominator is more than a number or the class count (a softmax's Σ_k e_k);
    the terms with a log stay as they are."""
    def combine(e: sp.Basic) -> sp.Basic:
        if not e.is_Add:
            return e
        logged = [term for term in e.args if term.has(sp.log, log1p)]
        numerator, denominator = sp.fraction(sp.together(sp.Add(*[term for term in e.args if term not in logged])))
        if not (denominator.free_symbols - {C}):
            return e
        return sp.Add(*logged) + sp.expand(numerator) / denominator

    return sp.bottom_up(expr, combine)


softmax_targets_complement = Rewrite(
    name="softmax_targets_complement",
    identity="softmax_targets_complement",
    transform=_rational_terms_combined,
    lhs=(y[t] * (1 - blocks.softmax(zs, t)) + y[j] * (1 - blocks.softmax(zs, j)) + y[t] * blocks.logsumexp(zs),),
    meaning=unshift,
    why=("applied by the row program to a per-row value without a label (RowPipelines.every_row), whose sums "
         "the naming split at the argmax a in every row: y_a·(1 − softmax_a) is y_a − y_a/(1 + Σ_{k≠a} e_k), and "
         "over the common denominator the y_a cancel exactly, leaving y_a·Σ_{k≠a} e_k/(1 + Σ_{k≠a} e_k) "
         "instead of a difference that rounds to 0 (the poly-1 loss of a confident one-hot row)"),
)


def _combine_powers(product: sp.Mul) -> sp.Expr:
    """b^u · b^v · … → b^(u + v + …) for each base b that a symbolic power of ``product`` has."""
    by_base: dict[sp.Expr, list[sp.Expr]] = {}
    for factor in product.args:
        base, exponent = factor.as_base_exp()
        by_base.setdefault(base, []).append(exponent)
    return sp.Mul(*[base ** sp.Add(*exponents) for base, exponents in by_base.items()])


def _has_symbolic_power(e: sp.Basic) -> bool:
    return isinstance(e, sp.Mul) and any(
        isinstance(f, sp.Pow) and not f.exp.is_Number and not isinstance(f, sp.exp) for f in e.args)


powers_combined = Rewrite(
    name="powers_combined",
    identity="powers_combined",
    transform=replacing(_has_symbolic_power, _combine_powers),
    lhs=((1 - blocks.softmax(z, t)) ** gamma / (1 - blocks.softmax(z, t)),),
    why=("the derivative of b^γ is γ·b^γ/b (SymPy's chain rule); at the argmax b = 1 − softmax_a = r/(1 + r), "
         "so the division by b divides by r, 0/0 where every other class underflows (r = 0); b^(γ−1) is "
         "finite there for γ ≥ 1"),
)

# ----- one logit ------------------------------------------------------------------------
_v = sp.Wild("_v")


def _sigmoid_argument(e: sp.Basic):
    """v when ``e`` is σ(v) = 1/(1 + exp(−v)), else None."""
    if isinstance(e, sp.Pow) and e.exp == -1:
        match = e.base.match(1 + sp.exp(_v))
        if match is not None:
            return -match[_v]
    return None


def _complement_sigmoid_argument(e: sp.Basic):
    """v when ``e`` is 1 − σ(v), else None."""
    if isinstance(e, sp.Add) and len(e.args) == 2 and sp.S.One in e.args:
        return _sigmoid_argument(1 - e)
    return None


def _softplus(v: sp.Expr) -> sp.Expr:
    return sp.log(1 + sp.exp(v))


def _log_sigmoid_as_softplus(e: sp.log) -> sp.Expr:
    inner = e.args[0]
    positive = _sigmoid_argument(inner)
    if positive is not None:
        return -_softplus(-positive)
    return -_softplus(_complement_sigmoid_argument(inner))


log_sigmoid_softplus = Rewrite(
    name="log_sigmoid_softplus",
    identity="log_sigmoid_softplus",
    transform=replacing(lambda e: isinstance(e, sp.log) and (_sigmoid_argument(e.args[0]) is not None or
                                                              _complement_sigmoid_argument(e.args[0]) is not None),
                        _log_sigmoid_as_softplus),
    lhs=(sp.log(blocks.sigmoid(x)), sp.log(1 - blocks.sigmoid(x))),
    why="log σ(x) = −softplus(−x), log(1 − σ(x)) = −softplus(x): no 1 − σ(x) that rounds to 0",
)


def _stable_softplus(e: sp.log) -> sp.Expr:
    v = e.args[0].match(1 + sp.exp(_v))[_v]
    return sp.Max(v, 0) + log1p(sp.exp(-sp.Abs(v)))


softplus_stable = Rewrite(
    name="softplus_stable",
    identity="softplus_stable",
    transform=replacing(lambda e: isinstance(e, sp.log) and e.args[0].match(1 + sp.exp(_v)) is not None,
                        _stable_softplus),
    lhs=(blocks.softplus(x),),
    why="log(1 + exp(x)) overflows for x > 709; max(x, 0) + log1p(exp(−|x|)) is finite for every finite x",
)


# ----- the pipelines --------------------------------------------------------------------


@dataclass(frozen=True)
class RowPipelines:
    """The rewrites of a row of logits: ``before_naming`` on the spec's expression and its
    derivative, ``after_naming`` once each sum is a named reduction, ``at_the_argmax`` on each
    case the program pins to the argmax class (where exp(z_a − m) = 1 exactly), ``every_row`` on a
    per-row value of a program without a label (its sums split at the argmax in every row)."""

    before_naming: tuple[Rewrite, ...]
    after_naming: tuple[Rewrite, ...]
    at_the_argmax: tuple[Rewrite, ...]
    every_row: tuple[Rewrite, ...] = ()


#: a row shifted by its max m (a finite max): log-softmax as a difference, the shift, log1p of
#: 1 + the other classes, and the 1s cancelled at the argmax
SHIFTED_ROW = RowPipelines(before_naming=(powers_combined, log_softmax_difference, logsumexp_shift),
                           after_naming=(log1p_definition,), at_the_argmax=(softmax_target_complement,),
                           every_row=(softmax_targets_complement,))
#: a row whose max is not finite: the formula as written, log-softmax as a difference only
PLAIN_ROW = RowPipelines(before_naming=(powers_combined, log_softmax_difference), after_naming=(), at_the_argmax=())
#: rewrites for an elementwise loss on one logit
ONE_LOGIT = (log_sigmoid_softplus, softplus_stable)
#: rewrites for an elementwise loss on one probability
ONE_PROBABILITY = (log1p_definition,)
#: every rewrite the kernels use
ALL = (powers_combined, log_softmax_difference, logsumexp_shift, softmax_target_complement,
       softmax_targets_complement, log1p_definition, log_sigmoid_softplus, softplus_stable)
