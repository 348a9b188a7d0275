"""The derivations symce can print, by name: one per spec (its gradient) and one per identity.

Every derivation starts from a spec's own expression (``spec.expr``, with building blocks
from :mod:`symce.spec.blocks` shown under their names) and ends at a known closed form that
is checked against ``spec.gradient()`` or the identity's right-hand side. The steps in
between are written out for people; :class:`~symce.derivations.core.Derivation` checks them.
Specs without a hand-written derivation get the generic one (definition → logs expanded →
differentiated → Kronecker deltas summed → simplified), so every spec can be derived. Each
derivation names the specs it is about, whose assumptions and parameter settings are the only
relations it may give.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import sympy as sp

from symce.derivations.core import (ALGEBRA, ASSUMPTION, CHAIN_RULE, DEFINITION, KRONECKER_DELTA, DerivationError,
                                    LINEARITY_OF_SUM, LOG_OF_EXP, LOG_OF_PRODUCT, LOG_OF_QUOTIENT, QUOTIENT_RULE, SETTING,
                                    SIMPLIFY, SUM_OF_DERIVATIVES, Abbreviation, Derivation, Rule, Step,
                                    indices_in_range)
from symce.errors import UnknownName
from symce.spec import SPECS, Spec, blocks, class_sum, get
from symce.spec.symbols import C, b, epsilon, epsilon_1, gamma, j, k, keep, m, p, pos_weight, q, t, w, weight, x, y, z

_INDEX = sp.Wild("index")

SOFTMAX = Abbreviation(sp.IndexedBase("softmax"), lambda i: blocks.softmax(z, i),
                       r"\operatorname{softmax}(z)", "softmax(z)")
LOG_SOFTMAX = Abbreviation(sp.IndexedBase("log_softmax"), lambda i: blocks.log_softmax(z, i),
                           r"\operatorname{log\_softmax}(z)", "log_softmax(z)")
LOGSUMEXP = Abbreviation(sp.Symbol("logsumexp"), blocks.logsumexp(z), r"\operatorname{logsumexp}(z)", "logsumexp(z)")
SMOOTHED = Abbreviation(sp.IndexedBase("y_smoothed"), lambda i: blocks.smoothed(y, i, epsilon), r"\tilde{y}", "ỹ")
SIGMOID = Abbreviation(sp.Symbol("sigmoid"), blocks.sigmoid(x), r"\sigma(x)", "σ(x)")
ENTROPY = Abbreviation(sp.Symbol("H_p"), get("entropy").expr, "H(p)", "H(p)")
CROSS_ENTROPY = Abbreviation(sp.Symbol("H_pq"), get("cross_entropy").expr, "H(p, q)", "H(p,q)")
KL = Abbreviation(sp.Symbol("KL_pq"), get("kl_divergence").expr, r"\operatorname{KL}(p \,\|\, q)", "KL(p‖q)")

#: ∂ logsumexp(z) / ∂z_j, kept unevaluated between "differentiate" and "chain rule"
D_LOGSUMEXP = sp.Derivative(LOGSUMEXP.symbol, z[j])


def _loss(spec: Spec) -> Abbreviation:
    return Abbreviation(sp.Symbol("L"), spec.expr, "L", "L")


def _abbreviate(expr: sp.Expr, *abbreviations: Abbreviation) -> sp.Expr:
    """``expr`` with each abbreviation's meaning replaced by its name (the inverse of expanding)."""
    for abbreviation in abbreviations:
        if isinstance(abbreviation.symbol, sp.IndexedBase):
            expr = expr.replace(abbreviation.meaning(_INDEX), abbreviation.symbol[_INDEX])
        else:
            expr = expr.subs(abbreviation.meaning, abbreviation.symbol)
    return expr


def _minus_log_softmax_as_logsumexp(expr: sp.Expr) -> sp.Expr:
    """−log softmax(z)_i → logsumexp(z) − z_i wherever it occurs."""
    return expr.replace(sp.log(SOFTMAX.symbol[_INDEX]), z[_INDEX] - LOGSUMEXP.symbol)


NEG_LOG_SOFTMAX = LOG_OF_QUOTIENT(sp.Eq(-sp.log(SOFTMAX[k]), LOGSUMEXP.symbol - z[k]))
DIFFERENTIATE = SUM_OF_DERIVATIVES(sp.Eq(sp.Derivative(z[k], z[j]), sp.KroneckerDelta(j, k)))
LOGSUMEXP_GRADIENT = CHAIN_RULE(sp.Eq(D_LOGSUMEXP, SOFTMAX[j]))
#: ∂ softmax(z)_t / ∂z_j = s_t (δ_jt − s_j), the derivative of the target's probability
D_SOFTMAX_TARGET = sp.Derivative(SOFTMAX[t], z[j])
SOFTMAX_TARGET_GRADIENT = CHAIN_RULE(sp.Eq(D_SOFTMAX_TARGET, SOFTMAX[t] * (sp.KroneckerDelta(j, t) - SOFTMAX[j])))
NO_WEIGHTS = sp.Eq(w[k], 1)
NO_SMOOTHING = sp.Eq(epsilon, 0)
Y_SUMS_TO_ONE = sp.Eq(class_sum(y[k]), 1)


# ----- gradients of the cross-entropies ----------------------------------------------------

def softmax_cross_entropy_with_integer_labels() -> Derivation:
    """∂L/∂z_j = keep·[(1−ε) w_t (s_j − δ_jt) + ε/C (s_j Σ_k w_k − w_j)], i.e. s_j − δ_jt."""
    spec = get("softmax_cross_entropy_with_integer_labels")
    loss = _abbreviate(spec.expr, SOFTMAX)
    s = SOFTMAX[j]
    return Derivation(
        name=spec.name, title=f"Gradient of {spec.name} with respect to the logits",
        lhs=sp.Derivative(_loss(spec).symbol, z[j]),
        steps=(
            Step(sp.Derivative(loss, z[j]), DEFINITION),
            Step(sp.Derivative(_minus_log_softmax_as_logsumexp(loss), z[j]), NEG_LOG_SOFTMAX),
            Step(keep * ((1 - epsilon) * w[t] * (D_LOGSUMEXP - sp.KroneckerDelta(j, t))
                         + epsilon / C * class_sum(w[k] * (D_LOGSUMEXP - sp.KroneckerDelta(j, k)))), DIFFERENTIATE),
            Step(keep * ((1 - epsilon) * w[t] * (s - sp.KroneckerDelta(j, t))
                         + epsilon / C * class_sum(w[k] * (s - sp.KroneckerDelta(j, k)))), LOGSUMEXP_GRADIENT),
            Step(keep * ((1 - epsilon) * w[t] * (s - sp.KroneckerDelta(j, t))
                         + epsilon / C * (s * class_sum(w[k]) - w[j])),
                 KRONECKER_DELTA(sp.Eq(class_sum(w[k] * sp.KroneckerDelta(j, k)), w[j]))),
            Step(s - sp.KroneckerDelta(j, t), SETTING, given=(NO_WEIGHTS, NO_SMOOTHING, sp.Eq(keep, 1))),
        ),
        target=spec.gradient(),
        abbreviations=(_loss(spec), SOFTMAX, LOGSUMEXP),
        specs=(spec,),
    )


def _modulated_cross_entropy(name: str, steps: tuple[Step, ...], setting: sp.Eq) -> Derivation:
    """A PolyLoss variant of integer-label cross-entropy, keep·w_t·f(s_t): ``steps`` from the definition
    to a closed form c(s_t)·(s_j − δ_jt), and last the setting of its parameter under which it is
    cross-entropy's s_j − δ_jt."""
    spec = get(name)
    last = Step(SOFTMAX[j] - sp.KroneckerDelta(j, t), SETTING, given=(NO_WEIGHTS, setting, sp.Eq(keep, 1)))
    return Derivation(
        name=spec.name, title=f"Gradient of {spec.name} with respect to the logits",
        lhs=sp.Derivative(_loss(spec).symbol, z[j]),
        steps=steps + (last,),
        target=spec.gradient(),
        abbreviations=(_loss(spec), SOFTMAX, LOGSUMEXP),
        specs=(spec,),
    )


def focal_loss() -> Derivation:
    """∂L/∂z_j = keep·w_t ((1 − s_t)^γ − γ s_t (1 − s_t)^(γ−1) log s_t) (s_j − δ_jt), i.e. s_j − δ_jt at γ = 0."""
    s, s_t, delta = SOFTMAX[j], SOFTMAX[t], sp.KroneckerDelta(j, t)
    weighted = keep * w[t]
    loss = weighted * (1 - s_t) ** gamma * -sp.log(s_t)
    return _modulated_cross_entropy("focal_loss", (
        Step(sp.Derivative(loss, z[j]), DEFINITION),
        Step(sp.Derivative(_minus_log_softmax_as_logsumexp(loss), z[j]), NEG_LOG_SOFTMAX),
        Step(weighted * (-gamma * (1 - s_t) ** (gamma - 1) * D_SOFTMAX_TARGET * (LOGSUMEXP.symbol - z[t])
                         + (1 - s_t) ** gamma * (D_LOGSUMEXP - delta)), Rule("product rule, chain rule")),
        Step(weighted * (-gamma * (1 - s_t) ** (gamma - 1) * s_t * (delta - s) * (LOGSUMEXP.symbol - z[t])
                         + (1 - s_t) ** gamma * (s - delta)), SOFTMAX_TARGET_GRADIENT),
        Step(weighted * ((1 - s_t) ** gamma - gamma * s_t * (1 - s_t) ** (gamma - 1) * sp.log(s_t)) * (s - delta),
             ALGEBRA),
    ), sp.Eq(gamma, 0))


def poly1_cross_entropy() -> Derivation:
    """∂L/∂z_j = keep·w_t (1 + ε₁ s_t) (s_j − δ_jt), i.e. s_j − δ_jt at ε₁ = 0."""
    s, s_t, delta = SOFTMAX[j], SOFTMAX[t], sp.KroneckerDelta(j, t)
    weighted = keep * w[t]
    loss = weighted * (-sp.log(s_t) + epsilon_1 * (1 - s_t))
    return _modulated_cross_entropy("poly1_cross_entropy", (
        Step(sp.Derivative(loss, z[j]), DEFINITION),
        Step(sp.Derivative(_minus_log_softmax_as_logsumexp(loss), z[j]), NEG_LOG_SOFTMAX),
        Step(weighted * (D_LOGSUMEXP - delta - epsilon_1 * D_SOFTMAX_TARGET), DIFFERENTIATE),
        Step(weighted * (s - delta - epsilon_1 * s_t * (delta - s)), SOFTMAX_TARGET_GRADIENT),
        Step(weighted * (1 + epsilon_1 * s_t) * (s - delta), ALGEBRA),
    ), sp.Eq(epsilon_1, 0))


def softmax_cross_entropy() -> Derivation:
    """∂L/∂z_j = s_j Σ_k w_k ỹ_k − w_j ỹ_j, i.e. s_j Σ_k y_k − y_j, i.e. s_j − y_j when Σy = 1."""
    spec = get("softmax_cross_entropy")
    loss = _abbreviate(spec.expr, SOFTMAX, SMOOTHED)
    s, smoothed = SOFTMAX[j], SMOOTHED.symbol
    return Derivation(
        name=spec.name, title=f"Gradient of {spec.name} (probability targets) with respect to the logits",
        lhs=sp.Derivative(_loss(spec).symbol, z[j]),
        steps=(
            Step(sp.Derivative(loss, z[j]), DEFINITION),
            Step(sp.Derivative(_minus_log_softmax_as_logsumexp(loss), z[j]), NEG_LOG_SOFTMAX),
            Step(class_sum(w[k] * smoothed[k] * (D_LOGSUMEXP - sp.KroneckerDelta(j, k))), DIFFERENTIATE),
            Step(class_sum(w[k] * smoothed[k] * (s - sp.KroneckerDelta(j, k))), LOGSUMEXP_GRADIENT),
            Step(s * class_sum(w[k] * smoothed[k]) - w[j] * smoothed[j],
                 KRONECKER_DELTA(sp.Eq(class_sum(w[k] * smoothed[k] * sp.KroneckerDelta(j, k)), w[j] * smoothed[j]))),
            Step(s * class_sum(y[k]) - y[j], SETTING, given=(NO_WEIGHTS, NO_SMOOTHING)),
            Step(s - y[j], ASSUMPTION(Y_SUMS_TO_ONE), given=(Y_SUMS_TO_ONE,)),
        ),
        target=spec.gradient(),
        abbreviations=(_loss(spec), SOFTMAX, LOGSUMEXP, SMOOTHED),
        specs=(spec,),
    )


def sigmoid_binary_cross_entropy() -> Derivation:
    """dL/dx = w((pw·y + 1 − y) σ(x) − pw·y), i.e. σ(x) − y without weights."""
    spec = get("sigmoid_binary_cross_entropy")
    sigma = SIGMOID.symbol
    softplus_minus = sp.log(1 + sp.exp(-x))
    fraction = sp.exp(-x) / (1 + sp.exp(-x))
    return Derivation(
        name=spec.name, title=f"Gradient of {spec.name} with respect to the logit",
        lhs=sp.Derivative(_loss(spec).symbol, x),
        steps=(
            Step(sp.Derivative(_abbreviate(spec.expr, SIGMOID), x), DEFINITION),
            Step(sp.Derivative(-weight * (pos_weight * b * -softplus_minus + (1 - b) * (-x - softplus_minus)), x),
                 LOG_OF_QUOTIENT(sp.Eq(sp.log(sigma), -softplus_minus))),
            Step(-weight * (pos_weight * b * fraction + (1 - b) * (fraction - 1)),
                 CHAIN_RULE(sp.Eq(sp.Derivative(softplus_minus, x), -fraction))),
            Step(-weight * (pos_weight * b * (1 - sigma) - (1 - b) * sigma),
                 DEFINITION(sp.Eq(fraction, 1 - sigma))),
            Step(weight * ((pos_weight * b + 1 - b) * sigma - pos_weight * b), ALGEBRA),
            Step(sigma - b, SETTING, given=(sp.Eq(weight, 1), sp.Eq(pos_weight, 1))),
        ),
        target=spec.gradient(),
        abbreviations=(_loss(spec), SIGMOID),
        specs=(spec,),
    )


# ----- identities ----------------------------------------------------------------------------

def cross_entropy_decomposition() -> Derivation:
    """H(p, q) = H(p) + KL(p‖q)."""
    return Derivation(
        name="cross_entropy_decomposition", title="Cross-entropy is entropy plus KL divergence",
        lhs=CROSS_ENTROPY.symbol,
        steps=(
            Step(get("cross_entropy").expr, DEFINITION),
            Step(-class_sum(p[k] * (sp.log(p[k]) - sp.log(p[k] / q[k]))),
                 LOG_OF_QUOTIENT(sp.Eq(sp.log(q[k]), sp.log(p[k]) - sp.log(p[k] / q[k])))),
            Step(-class_sum(p[k] * sp.log(p[k])) + class_sum(p[k] * sp.log(p[k] / q[k])), LINEARITY_OF_SUM),
            Step(ENTROPY.symbol + KL.symbol, DEFINITION),
        ),
        target=get("entropy").expr + get("kl_divergence").expr,
        abbreviations=(CROSS_ENTROPY, ENTROPY, KL),
        specs=(get("cross_entropy"), get("entropy"), get("kl_divergence")),
    )


def logsumexp_shift() -> Derivation:
    """logsumexp(z) = m + log Σ_k exp(z_k − m) for any real m."""
    shifted = sp.exp(z[k] - m)
    return Derivation(
        name="logsumexp_shift", title="The max-shifted logsumexp (any shift m, kernels use m = max_k z_k)",
        lhs=LOGSUMEXP.symbol,
        steps=(
            Step(get("logsumexp").expr, DEFINITION),
            Step(sp.log(class_sum(sp.Mul(sp.exp(m), shifted, evaluate=False))),
                 Rule("exp of a sum")(sp.Eq(sp.exp(z[k]), sp.Mul(sp.exp(m), shifted, evaluate=False)))),
            Step(sp.log(sp.Mul(sp.exp(m), class_sum(shifted), evaluate=False)), LINEARITY_OF_SUM),
            Step(m + sp.log(class_sum(shifted)), LOG_OF_PRODUCT),
        ),
        target=get("logsumexp_shifted").expr,
        abbreviations=(LOGSUMEXP,),
        specs=(get("logsumexp"), get("logsumexp_shifted")),
    )


def log_softmax_difference() -> Derivation:
    """log_softmax(z)_j = z_j − logsumexp(z)."""
    return Derivation(
        name="log_softmax_difference", title="log_softmax is the logits minus their logsumexp",
        lhs=LOG_SOFTMAX[j],
        steps=(
            Step(get("log_softmax").expr, DEFINITION),
            Step(sp.log(sp.exp(z[j]), evaluate=False) - sp.log(class_sum(sp.exp(z[k]))), LOG_OF_QUOTIENT),
            Step(z[j] - sp.log(class_sum(sp.exp(z[k]))), LOG_OF_EXP),
            Step(z[j] - LOGSUMEXP.symbol, DEFINITION),
        ),
        target=z[j] - blocks.logsumexp(z),
        abbreviations=(LOG_SOFTMAX, LOGSUMEXP),
        specs=(get("log_softmax"), get("logsumexp")),
    )


def label_smoothing_gradient() -> Derivation:
    """∂/∂z_j of the cross-entropy against smoothed targets ỹ = (1−ε)y + ε/C is s_j − ỹ_j."""
    spec = get("softmax_cross_entropy")
    loss = _abbreviate(spec.expr, SOFTMAX, SMOOTHED)
    unweighted = _abbreviate(spec.with_params({"label_smoothing": None}), SOFTMAX, SMOOTHED)
    s, smoothed = SOFTMAX[j], SMOOTHED.symbol
    return Derivation(
        name="label_smoothing_gradient", title="Label smoothing: the gradient is softmax minus the smoothed targets",
        lhs=sp.Derivative(_loss(spec).symbol, z[j]),
        steps=(
            Step(sp.Derivative(loss, z[j]), DEFINITION),
            Step(sp.Derivative(unweighted, z[j]), SETTING, given=(NO_WEIGHTS,)),
            Step(sp.Derivative(_minus_log_softmax_as_logsumexp(unweighted), z[j]), NEG_LOG_SOFTMAX),
            Step(class_sum(smoothed[k] * (s - sp.KroneckerDelta(j, k))), CHAIN_RULE),
            Step(s * class_sum(smoothed[k]) - smoothed[j], KRONECKER_DELTA),
            Step(s * ((1 - epsilon) * class_sum(y[k]) + epsilon) - smoothed[j],
                 DEFINITION(sp.Eq(class_sum(smoothed[k]), (1 - epsilon) * class_sum(y[k]) + epsilon))),
            Step(s - smoothed[j], ASSUMPTION(Y_SUMS_TO_ONE), given=(Y_SUMS_TO_ONE,)),
        ),
        target=spec.gradient(),
        abbreviations=(_loss(spec), SOFTMAX, LOGSUMEXP, SMOOTHED),
        specs=(spec,),
    )


# ----- the generic gradient derivation of any spec -----------------------------------------

def _simplified(expr: sp.Expr) -> sp.Expr:
    """``sp.simplify(expr)``, kept only where it helps a reader.

    Not where it turns ``exp(Σ …)`` into a ``Product`` (the specs are written with sums, and
    SymPy cannot relate the two forms for symbolic C), nor where SymPy's sum simplification
    itself fails (it raises StopIteration on some nested sums, e.g. the Brier score's gradient).
    """
    try:
        simpler = sp.simplify(expr)
    except Exception:  # noqa: BLE001 -- a failed simplification only means one step fewer
        return expr
    return expr if simpler.has(sp.Product) and not expr.has(sp.Product) else simpler


def _differentiation_rule(expr: sp.Expr, variable: sp.Expr) -> Rule:
    """The quotient rule where ``expr`` divides by something that depends on ``variable``
    (softmax), else the chain rule with the sum rule."""
    base = variable.base if isinstance(variable, sp.Indexed) else variable
    divides = any(power.exp.is_negative and power.base.has(base) for power in expr.atoms(sp.Pow))
    return QUOTIENT_RULE if divides else Rule("chain rule, derivative of a sum is the sum of derivatives")


def _gradient_steps(spec: Spec) -> tuple[sp.Expr, list]:
    """The variable, and the (expression, rule) candidates of :func:`generic_gradient`."""
    first = spec.inputs[0]
    variable = first.symbol[j] if first.kind == "vector" else first.symbol
    expanded = sp.expand_log(spec.expr)
    differentiated = sp.diff(expanded, variable)
    summed = indices_in_range(differentiated.doit())
    return variable, [
        (sp.Derivative(spec.expr, variable), DEFINITION),
        (sp.Derivative(expanded, variable), Rule("log of a product or quotient")),
        (differentiated, _differentiation_rule(expanded, variable)),
        (summed, KRONECKER_DELTA),
        (_simplified(summed), SIMPLIFY),
    ]


def gradient_closed_form(spec: Spec) -> sp.Expr:
    """∂ spec / ∂ (first input)_j with the sums over Kronecker deltas done, simplified where that helps."""
    return _gradient_steps(spec)[1][-1][0]


def generic_gradient(spec: Spec) -> Derivation:
    """definition → logs expanded → differentiated → Kronecker deltas summed → simplified.

    Steps that would not change the expression are left out, and so is the simplification where
    SymPy cannot show it equal to the step before (a user's loss, e.g. the focal loss's powers).
    """
    variable, candidates = _gradient_steps(spec)
    try:
        return _generic_derivation(spec, variable, candidates)
    except DerivationError:
        if candidates[-1][0] == candidates[-2][0]:
            raise
        return _generic_derivation(spec, variable, candidates[:-1])


def _generic_derivation(spec: Spec, variable, candidates) -> Derivation:
    first = spec.inputs[0]
    steps = [Step(expr, rule) for index, (expr, rule) in enumerate(candidates)
             if index == 0 or expr != candidates[index - 1][0]]
    display = tuple(name for name, of in ((SOFTMAX, z), (SIGMOID, x)) if spec.expr.has(of))
    steps = [Step(_abbreviate(step.expr, *display), step.rule) for step in steps]
    return Derivation(
        name=spec.name, title=f"Gradient of {spec.name} with respect to {first.name} (generic derivation)",
        lhs=sp.Derivative(_loss(spec).symbol, variable),
        steps=tuple(steps),
        target=spec.gradient(),
        abbreviations=(_loss(spec),) + display,
        specs=(spec,),
    )


# ----- the catalogue ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """A derivation by name: ``kind`` is ``"gradient"`` (of a spec) or ``"identity"``."""

    name: str
    kind: str
    summary: str
    build: Callable[[], Derivation]


_HAND_WRITTEN = {f.__name__: f for f in (softmax_cross_entropy_with_integer_labels, softmax_cross_entropy,
                                         focal_loss, poly1_cross_entropy, sigmoid_binary_cross_entropy)}
_IDENTITIES = (cross_entropy_decomposition, logsumexp_shift, log_softmax_difference, label_smoothing_gradient)


def _gradient_entry(spec: Spec) -> Entry:
    hand = _HAND_WRITTEN.get(spec.name)
    if hand is not None:
        return Entry(spec.name, "gradient", hand.__doc__.splitlines()[0], hand)
    return Entry(spec.name, "gradient", f"gradient of {spec.formula} (generic)",
                 functools.partial(generic_gradient, spec))


CATALOG: dict[str, Entry] = {
    **{name: _gradient_entry(spec) for name, spec in SPECS.items()},
    **{f.__name__: Entry(f.__name__, "identity", f.__doc__.splitlines()[0], f) for f in _IDENTITIES},
}


@functools.cache
def derivation(name: str) -> Derivation:
    """The checked derivation called ``name`` (a spec's or an identity's); KeyError lists the names."""
    try:
        entry = CATALOG[name]
    except KeyError:
        raise UnknownName(f"no derivation named {name!r}; known: {', '.join(CATALOG)}") from None
    return entry.build()
