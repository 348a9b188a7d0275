"""The identities symce proves, each about the specs' own expressions.

Every side of every claim is built from a spec (``get(name).expr``, ``Spec.gradient()``,
``Spec.with_params``) or from :mod:`symce.spec.blocks`; no loss formula is retyped here.
The right-hand sides are the *other* forms — the stable rewrites kernels use, the closed-form
gradients — and those are what the identities establish. The names of the stability
identities (``logsumexp_shift``, ``softplus_stable``, …) are cited by the code generator's
rewrite rules. The stability rewrites applied as transformations (:mod:`symce.codegen.rewrites`)
state their own claims: each such identity here is built from ``Rewrite.claims`` (what the rewrite's
transform makes of the expressions it states), so ``symce check`` proves exactly what the kernels apply.
"""
from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce.codegen import rewrites
from symce.identities.algebra import i
from symce.identities.core import (
    EQUATION, Cases, Concrete, Identity, Lemma, Limits, NonnegativeSum, Numeric, Witness, preparation,
)
from symce.spec import blocks, get
from symce.spec.core import Assumption, class_sum
from symce.spec.symbols import C, b, epsilon, h, j, k, m, p, pos_weight, q, t, w, weight, x, y, y_sign, z

# ----- shorthand for the specs and how to compose them ------------------------------------------

H = get("entropy").expr
CROSS = get("cross_entropy").expr
KL = get("kl_divergence").expr
SOFTMAX_CE = get("softmax_cross_entropy")
INTEGER_CE = get("softmax_cross_entropy_with_integer_labels")
FOCAL = get("focal_loss")
POLY1 = get("poly1_cross_entropy")
POLY1_PROBABILITIES = get("poly1_cross_entropy_with_probability_labels")
SIGMOID_BCE = get("sigmoid_binary_cross_entropy")
SIGMOID_FOCAL = get("sigmoid_focal_loss")
SOFT_MARGIN = get("soft_margin_loss")
MULTILABEL = get("multilabel_soft_margin_loss")
SQUARED_SIGMOID = get("squared_error_sigmoid")

#: a second summation index, for sums nested in a sum over k
l = sp.Symbol("l", integer=True, nonnegative=True)  # noqa: E741 -- the usual name of a second class index
s = sp.IndexedBase("s", positive=True)
v = sp.IndexedBase("v", real=True)
u = sp.Symbol("u", positive=True)
d = sp.Symbol("d", real=True)


def _eq(lhs: sp.Expr, rhs: sp.Expr) -> sp.Eq:
    return sp.Eq(lhs, rhs, evaluate=False)


def _rebound(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every sum over a fresh index, so it can be placed inside another sum over k."""
    def fresh_index(total: sp.Sum) -> sp.Sum:
        (index, low, high), = total.limits
        fresh = sp.Dummy("l", integer=True, nonnegative=True)
        return sp.Sum(total.function.subs(index, fresh), (fresh, low, high))

    return expr.replace(lambda e: isinstance(e, sp.Sum) and len(e.limits) == 1, fresh_index)


def composed(expr: sp.Expr, vector: sp.IndexedBase, entry) -> sp.Expr:
    """``expr`` with every ``vector[i]`` replaced by ``entry(i)`` (e.g. the logits by log_softmax)."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == vector,
                        lambda e: _rebound(entry(e.indices[0])))


def shifted(vector: sp.IndexedBase, shift: sp.Expr):
    """The entries of ``vector + shift``."""
    return lambda index: vector[index] + shift


def one_hot(vector: sp.IndexedBase, label: sp.Symbol):
    """Apply "vector is one-hot at label": in each Σ_k over a body with vector_k, the term k = label
    gets vector_k = 1 and every other term its limit vector_k → 0⁺ (so 0·log 0 = 0, by continuity)."""
    small = sp.Symbol("epsilon_0", positive=True)

    def split(total: sp.Sum) -> sp.Expr:
        (index, low, high), = total.limits
        body = total.function
        if not body.has(vector[index]):
            return total
        hot = body.subs(vector[index], 1).subs(index, label)
        cold = sp.limit(body.subs(vector[index], small), small, 0, "+")
        return hot + sp.Sum(cold, total.limits) - cold.subs(index, label)

    def prepare(expr: sp.Expr) -> sp.Expr:
        return expr.replace(lambda e: isinstance(e, sp.Sum), split).subs(vector[label], 1)

    # the assumption this applies: an identity using it must state exactly that one
    return preparation(prepare, sp.Eq(vector[k], sp.KroneckerDelta(k, label), evaluate=False))


# ----- assumptions --------------------------------------------------------------------------------

P_SIMPLEX = Assumption("p_sums_to_one", sp.Eq(class_sum(p[k]), 1), "Σ_k p_k = 1")
Q_SIMPLEX = Assumption("q_sums_to_one", sp.Eq(class_sum(q[k]), 1), "Σ_k q_k = 1")
Y_SIMPLEX = Assumption("y_sums_to_one", sp.Eq(class_sum(y[k]), 1), "Σ_k y_k = 1")
S_SIMPLEX = Assumption("s_sums_to_one", sp.Eq(class_sum(s[k]), 1), "Σ_k s_k = 1")
P_POSITIVE = Assumption("p_positive", sp.Gt(p[k], 0, evaluate=False), "p_k > 0")
Q_POSITIVE = Assumption("q_positive", sp.Gt(q[k], 0, evaluate=False), "q_k > 0")
S_POSITIVE = Assumption("s_positive", sp.Gt(s[k], 0, evaluate=False), "s_k > 0")
P_ONE_HOT = Assumption("one_hot_p", sp.Eq(p[k], sp.KroneckerDelta(k, t), evaluate=False),
                       "p = e_t (one-hot at t), with 0·log 0 = 0 (its limit)")
Y_ONE_HOT = Assumption("one_hot_y", sp.Eq(y[k], sp.KroneckerDelta(k, t), evaluate=False), "y = e_t (one-hot at t)")

GIBBS = Lemma("u - 1 - log u >= 0", lambda arg: arg - 1 - sp.log(arg), u, sp.Integer(1))
SQUARE = Lemma("d^2 >= 0", lambda arg: arg ** 2, d, sp.Integer(0))


# ----- 1–4: entropy, cross-entropy, KL -------------------------------------------------------------

cross_entropy_decomposition = Identity(
    name="cross_entropy_decomposition",
    statement="H(p, q) = H(p) + KL(p‖q)",
    claims=(_eq(CROSS, H + KL),),
    assumptions=(P_POSITIVE, Q_POSITIVE),
    how="linearity of Σ and log(p/q) = log p − log q",
    strategies=EQUATION,
)

cross_entropy_of_itself = Identity(
    name="cross_entropy_of_itself",
    statement="H(p, p) = H(p) and KL(p‖p) = 0",
    claims=(_eq(CROSS.subs(q, p), H), _eq(KL.subs(q, p), 0)),
    assumptions=(P_POSITIVE,),
    how="substitute q = p in the definitions",
    strategies=EQUATION,
)

one_hot_entropy = Identity(
    name="one_hot_entropy",
    statement="p one-hot ⇒ H(p) = 0, so H(p, q) = KL(p‖q) = −log q_t",
    claims=(_eq(H, 0), _eq(CROSS, -sp.log(q[t])), _eq(KL, -sp.log(q[t]))),
    assumptions=(P_ONE_HOT, Q_POSITIVE),
    prepare=one_hot(p, t),
    how="split each Σ_k at k = t: that term has p_t = 1, every other term is its limit p_k → 0⁺, which is 0",
    strategies=EQUATION,
)

kl_nonnegative = Identity(
    name="kl_nonnegative",
    statement="KL(p‖q) ≥ 0 (Gibbs' inequality)",
    claims=(sp.Ge(KL, 0, evaluate=False),),
    assumptions=(P_SIMPLEX, Q_SIMPLEX, P_POSITIVE, Q_POSITIVE),
    how="certificate: KL(p‖q) = Σ_k p_k·f(q_k/p_k) with f(u) = u − 1 − log u ≥ 0 (uses Σp = Σq = 1)",
    strategies=(NonnegativeSum(p[k], q[k] / p[k], GIBBS), Numeric()),
)

kl_zero_iff_equal = Identity(
    name="kl_zero_iff_equal",
    statement="KL(p‖q) = 0 iff p = q",
    claims=(sp.Ge(KL, 0, evaluate=False),),
    assumptions=(P_SIMPLEX, Q_SIMPLEX, P_POSITIVE, Q_POSITIVE),
    how=("KL(p‖q) = Σ_k p_k·f(q_k/p_k) with p_k > 0 and f(u) = u − 1 − log u ≥ 0 zero only at u = 1: "
         "the sum is 0 iff q_k = p_k for every k"),
    strategies=(NonnegativeSum(p[k], q[k] / p[k], GIBBS, equality=True),),
)

entropy_at_most_log_classes = Identity(
    name="entropy_at_most_log_classes",
    statement="H(p) ≤ log C, with equality iff p is uniform",
    claims=(sp.Le(H, sp.log(C), evaluate=False),),
    assumptions=(P_SIMPLEX, P_POSITIVE),
    how=("log C − H(p) = KL(p‖uniform) = Σ_k p_k·f(1/(C p_k)) with f(u) = u − 1 − log u ≥ 0, "
         "zero only at u = 1, i.e. p_k = 1/C (uses Σp = 1)"),
    strategies=(NonnegativeSum(p[k], 1 / (C * p[k]), GIBBS, equality=True), Numeric()),
)

# ----- 5: softmax, log_softmax, logsumexp -----------------------------------------------------------

softmax_shift_invariance = Identity(
    name="softmax_shift_invariance",
    statement="softmax(z + m)_j = softmax(z)_j for any real m",
    claims=(_eq(composed(get("softmax").expr, z, shifted(z, m)), get("softmax").expr),),
    how="exp(z_k + m) = exp(m)·exp(z_k); the common factor exp(m) leaves Σ_k and cancels",
    strategies=EQUATION,
)

softmax_sums_to_one = Identity(
    name="softmax_sums_to_one",
    statement="Σ_j softmax(z)_j = 1",
    claims=(_eq(class_sum(get("softmax").expr, index=j), 1),),
    how="the denominator does not depend on j, so it leaves Σ_j and cancels the numerator",
    strategies=EQUATION,
)

log_softmax_difference = Identity(
    name="log_softmax_difference",
    statement="log softmax(z)_j = z_j − logsumexp(z)",
    claims=rewrites.log_softmax_difference.claims,
    how="log of a quotient, log exp z_j = z_j",
    strategies=EQUATION,
)

logsumexp_shift = Identity(
    name="logsumexp_shift",
    statement="log Σ_k exp(z_k) = m + log Σ_k exp(z_k − m) for any real m",
    claims=rewrites.logsumexp_shift.claims,
    how="exp(z_k) = exp(m)·exp(z_k − m); exp(m) leaves Σ_k and log(exp(m)·S) = m + log S",
    strategies=EQUATION,
)

logsumexp_gradient = Identity(
    name="logsumexp_gradient",
    statement="∂ logsumexp(z) / ∂z_j = softmax(z)_j",
    claims=(_eq(get("logsumexp").gradient(), get("softmax").expr),),
    how="chain rule; Σ_k δ_jk exp(z_k) = exp(z_j)",
    strategies=EQUATION,
)

cross_entropy_log1p_others = Identity(
    name="cross_entropy_log1p_others",
    statement="−log softmax(z)_t = log1p(Σ_{k≠t} exp(z_k − z_t))",
    claims=(_eq(-blocks.log_softmax(z, t), log1p(class_sum(sp.exp(z[k] - z[t])) - sp.exp(z[t] - z[t]))),),
    how="Σ_{k≠t} written as Σ_k − (the k = t term, which is 1); divide numerator and denominator by exp(z_t)",
    strategies=EQUATION,
)

softmax_target_complement = Identity(
    name="softmax_target_complement",
    statement="softmax(z)_t − 1 = −Σ_{k≠t} exp(z_k − m) / Σ_k exp(z_k − m)",
    claims=rewrites.softmax_target_complement.claims,
    how=("softmax(z)_t = exp(z_t − m) / Σ_k exp(z_k − m) (shifted); over that common denominator the numerator "
         "exp(z_t − m) − Σ_k exp(z_k − m) is −Σ_{k≠t} exp(z_k − m)"),
    strategies=EQUATION,
)

softmax_targets_complement = Identity(
    name="softmax_targets_complement",
    statement=("y_t(1 − softmax(z)_t) + y_j(1 − softmax(z)_j) + y_t log Σ_k exp(z_k − m): the terms without a log "
               "over their common denominator Σ_k exp(z_k − m)"),
    claims=rewrites.softmax_targets_complement.claims,
    how=("1 − softmax(z)_t = (Σ_k exp(z_k − m) − exp(z_t − m)) / Σ_k exp(z_k − m) (shifted); the numerator "
         "expanded over that denominator is the same sum"),
    strategies=EQUATION,
)

powers_combined = Identity(
    name="powers_combined",
    statement="b^γ / b = b^(γ−1) for b = 1 − softmax(z)_t (b ≠ 0)",
    claims=rewrites.powers_combined.claims,
    how="b^u·b^v = exp((u + v)·log b) = b^(u+v) for b ≠ 0 (principal powers), with v = −1",
    strategies=EQUATION,
)

# ----- 6–7, 10–11: softmax cross-entropy ------------------------------------------------------------

_NO_WEIGHTS = {"weight": 1, "label_smoothing": 0}
_SOFTMAX_J = blocks.softmax(z, j)

softmax_cross_entropy_is_nll_of_log_softmax = Identity(
    name="softmax_cross_entropy_is_nll_of_log_softmax",
    statement="softmax_cross_entropy_with_integer_labels(z, t) = nll_loss(log_softmax(z), t) (any w, keep; ε = 0)",
    claims=(_eq(INTEGER_CE.with_params({"label_smoothing": 0, "weight": None, "keep": None}),
                composed(get("nll_loss").with_params({"weight": None, "keep": None}), get("nll_loss").inputs[0].symbol,
                         lambda index: blocks.log_softmax(z, index))),),
    how="both are −keep·w_t·log softmax(z)_t",
    strategies=EQUATION,
)

#: integer-label cross-entropy without label smoothing, its class weights and keep symbolic
_PLAIN_INTEGER_CE = INTEGER_CE.with_params({"label_smoothing": 0, "weight": None, "keep": None})

focal_loss_at_gamma_zero = Identity(
    name="focal_loss_at_gamma_zero",
    statement="focal_loss(z, t) at γ = 0 = softmax_cross_entropy_with_integer_labels(z, t) at ε = 0 (any w, keep)",
    claims=(_eq(FOCAL.with_params({"gamma": 0, "weight": None, "keep": None}), _PLAIN_INTEGER_CE),),
    how="(1 − softmax(z)_t)^0 = 1, which leaves −keep·w_t·log softmax(z)_t",
    strategies=EQUATION,
)

poly1_at_epsilon_zero = Identity(
    name="poly1_at_epsilon_zero",
    statement=("poly1_cross_entropy(z, t) at ε₁ = 0 = softmax_cross_entropy_with_integer_labels(z, t) at ε = 0 "
               "(any w, keep)"),
    claims=(_eq(POLY1.with_params({"epsilon": 0, "weight": None, "keep": None}), _PLAIN_INTEGER_CE),),
    how="the poly-1 term ε₁·(1 − softmax(z)_t) vanishes, which leaves −keep·w_t·log softmax(z)_t",
    strategies=EQUATION,
)

poly1_probability_labels_at_epsilon_zero = Identity(
    name="poly1_probability_labels_at_epsilon_zero",
    statement=("poly1_cross_entropy_with_probability_labels(z, y) at ε₁ = 0 = softmax_cross_entropy(z, y) at ε = 0 "
               "(any w)"),
    claims=(_eq(POLY1_PROBABILITIES.with_params({"epsilon": 0, "weight": None}),
                SOFTMAX_CE.with_params({"label_smoothing": 0, "weight": None})),),
    how="the poly-1 terms ε₁·y_k·(1 − softmax(z)_k) vanish, which leaves −Σ_k w_k y_k log softmax(z)_k",
    strategies=EQUATION,
)

poly1_probability_labels_one_hot = Identity(
    name="poly1_probability_labels_one_hot",
    statement=("poly1_cross_entropy_with_probability_labels(z, y = e_t) = poly1_cross_entropy(z, t) "
               "(any w, ε₁; keep = 1)"),
    claims=(_eq(POLY1_PROBABILITIES.with_params({"epsilon": None, "weight": None}),
                POLY1.with_params({"epsilon": None, "weight": None, "keep": 1})),),
    assumptions=(Y_ONE_HOT,),
    prepare=one_hot(y, t),
    how="split the Σ_k at k = t: that term has y_t = 1 and every other term y_k = 0",
    strategies=EQUATION,
)

softmax_cross_entropy_is_cross_entropy = Identity(
    name="softmax_cross_entropy_is_cross_entropy",
    statement="softmax_cross_entropy(z, y) = H(y, softmax(z)) (w = 1, ε = 0)",
    claims=(_eq(SOFTMAX_CE.with_params(_NO_WEIGHTS), composed(CROSS.subs(p, y), q, lambda index: blocks.softmax(z, index))),),
    how="substitute p = y, q = softmax(z) in the definition of H(p, q)",
    strategies=EQUATION,
)

softmax_cross_entropy_gradient = Identity(
    name="softmax_cross_entropy_gradient",
    statement="∂L/∂z_j = softmax(z)_j·Σ_k y_k − y_j for any targets y (w = 1, ε = 0)",
    claims=(_eq(SOFTMAX_CE.with_params(_NO_WEIGHTS, SOFTMAX_CE.gradient()), _SOFTMAX_J * class_sum(y[k]) - y[j]),),
    how="chain rule on Σ_k y_k (logsumexp(z) − z_k); Σ_k δ_jk y_k = y_j",
    strategies=EQUATION,
)

softmax_cross_entropy_gradient_simplex = Identity(
    name="softmax_cross_entropy_gradient_simplex",
    statement="∂L/∂z_j = softmax(z)_j − y_j when Σ_k y_k = 1 (w = 1, ε = 0)",
    claims=(_eq(SOFTMAX_CE.with_params(_NO_WEIGHTS, SOFTMAX_CE.gradient()), _SOFTMAX_J - y[j]),),
    assumptions=(Y_SIMPLEX,),
    how="softmax_cross_entropy_gradient with Σ_k y_k = 1",
    strategies=EQUATION,
)

integer_label_gradient = Identity(
    name="integer_label_gradient",
    statement="∂L/∂z_j = softmax(z)_j − δ_jt for integer labels (w = 1, ε = 0, keep = 1)",
    claims=(_eq(INTEGER_CE.with_params({}, INTEGER_CE.gradient()), _SOFTMAX_J - sp.KroneckerDelta(j, t)),),
    how="chain rule on logsumexp(z) − z_t",
    strategies=EQUATION,
)

_SMOOTHED_CE = SOFTMAX_CE.with_params({"weight": 1, "label_smoothing": None})

label_smoothing_decomposition = Identity(
    name="label_smoothing_decomposition",
    statement="CE(z, (1−ε)y + ε/C) = (1−ε)·CE(z, y) + ε·(1/C)·Σ_k (−log softmax(z)_k) (w = 1)",
    claims=(_eq(_SMOOTHED_CE, (1 - epsilon) * SOFTMAX_CE.with_params(_NO_WEIGHTS)
                + epsilon / C * class_sum(-blocks.log_softmax(z, k))),),
    how="linearity of Σ_k in the target",
    strategies=EQUATION,
)

label_smoothing_gradient = Identity(
    name="label_smoothing_gradient",
    statement="∂/∂z_j CE(z, ỹ) = softmax(z)_j − ỹ_j with ỹ = (1−ε)y + ε/C, when Σy = 1 (w = 1)",
    claims=(_eq(SOFTMAX_CE.with_params({"weight": 1, "label_smoothing": None}, SOFTMAX_CE.gradient()),
                _SOFTMAX_J - blocks.smoothed(y, j, epsilon)),),
    assumptions=(Y_SIMPLEX,),
    how="the gradient of Σ_k ỹ_k (logsumexp − z_k) is softmax_j·Σ_k ỹ_k − ỹ_j, and Σ_k ỹ_k = 1",
    strategies=EQUATION,
)

softmax_cross_entropy_hessian = Identity(
    name="softmax_cross_entropy_hessian",
    statement="∂²L/∂z_i∂z_j = δ_ij softmax(z)_j − softmax(z)_i softmax(z)_j when Σy = 1 (w = 1, ε = 0)",
    claims=(_eq(sp.diff(SOFTMAX_CE.with_params(_NO_WEIGHTS, SOFTMAX_CE.gradient()), z[i]),
                sp.KroneckerDelta(i, j) * _SOFTMAX_J - blocks.softmax(z, i) * _SOFTMAX_J),),
    assumptions=(Y_SIMPLEX,),
    how="differentiate the gradient softmax_j·Σy − y_j once more: ∂softmax_j/∂z_i = δ_ij s_j − s_i s_j",
    strategies=EQUATION,
)

softmax_hessian_psd = Identity(
    name="softmax_hessian_psd",
    statement="vᵀ(diag(s) − s sᵀ)v = Σ_k s_k v_k² − (Σ_k s_k v_k)² ≥ 0 for s = softmax(z): the Hessian is PSD",
    claims=(sp.Ge(class_sum(s[k] * v[k] ** 2) - class_sum(s[k] * v[k]) ** 2, 0, evaluate=False),),
    assumptions=(S_SIMPLEX, S_POSITIVE),
    how="sum of squares: vᵀ(diag(s) − s sᵀ)v = Σ_k s_k (v_k − Σ_l s_l v_l)² (uses Σs = 1), each term ≥ 0",
    strategies=(NonnegativeSum(s[k], v[k] - class_sum(s[l] * v[l], index=l), SQUARE), Numeric()),
)

# ----- 8, 12: binary losses on a logit ----------------------------------------------------------------

_S = sp.Symbol("s", nonnegative=True)
_POSITIVE_S = sp.Symbol("s", positive=True)
_SIGN_CASES = Cases(x, (("x = s ≥ 0", _S), ("x = −s < 0", -_POSITIVE_S)))
_BCE = SIGMOID_BCE.with_params({})
_STABLE_SOFTPLUS = sp.Max(x, 0) + log1p(sp.exp(-sp.Abs(x)))

log1p_definition = Identity(
    name="log1p_definition",
    statement="log(1 + a) = log1p(a) for a > −1",
    claims=rewrites.log1p_definition.claims,
    how=("the definition of log1p (C99 7.12.6.9); the kernels' log1p only differs in rounding: it keeps "
         "the digits of a tiny a that 1 + a loses"),
    strategies=EQUATION,
)

softplus_stable = Identity(
    name="softplus_stable",
    statement="log(1 + exp(x)) = max(x, 0) + log1p(exp(−|x|))",
    claims=rewrites.softplus_stable.claims,
    how="cases x ≥ 0 (factor exp(x) out of 1 + exp(x)) and x < 0 (max = 0, |x| = −x)",
    strategies=(_SIGN_CASES, Concrete(), Numeric()),
)

log_sigmoid_softplus = Identity(
    name="log_sigmoid_softplus",
    statement="log σ(x) = −softplus(−x) and log(1 − σ(x)) = −softplus(x)",
    claims=rewrites.log_sigmoid_softplus.claims,
    how="σ(x) = 1/(1 + exp(−x)) and 1 − σ(x) = 1/(1 + exp(x))",
    strategies=EQUATION,
)

sigmoid_bce_softplus = Identity(
    name="sigmoid_bce_softplus",
    statement=("sigmoid BCE = softplus(x) − b·x = max(x, 0) − b·x + log1p(exp(−|x|)); with pos_weight pw: "
               "(1 − b)·x + (1 + (pw − 1)·b)·softplus(−x)"),
    claims=(_eq(_BCE, blocks.softplus(x) - b * x),
            _eq(_BCE, _STABLE_SOFTPLUS - b * x),
            _eq(SIGMOID_BCE.with_params({"pos_weight": None}), (1 - b) * x + (1 + (pos_weight - 1) * b) * blocks.softplus(-x))),
    how="log σ(x) = −softplus(−x), log(1 − σ(x)) = −softplus(x), softplus(x) = x + softplus(−x); cases x ≥ 0, x < 0",
    strategies=(_SIGN_CASES, Numeric()),
)

sigmoid_bce_gradient = Identity(
    name="sigmoid_bce_gradient",
    statement="∂L/∂x = σ(x) − b for sigmoid BCE (w = 1); with pos_weight pw: (1 + (pw − 1)·b)·σ(x) − pw·b",
    claims=(_eq(SIGMOID_BCE.with_params({}, SIGMOID_BCE.gradient()), blocks.sigmoid(x) - b),
            _eq(SIGMOID_BCE.with_params({"pos_weight": None}, SIGMOID_BCE.gradient()),
                (1 + (pos_weight - 1) * b) * blocks.sigmoid(x) - pos_weight * b)),
    how="d/dx softplus(x) = σ(x) and d/dx softplus(−x) = σ(x) − 1",
    strategies=EQUATION,
)

sigmoid_focal_at_gamma_zero = Identity(
    name="sigmoid_focal_at_gamma_zero",
    statement=("sigmoid_focal_loss(x, b) at γ = 0 and α₁ = α₀ = 1 (torchvision's gamma = 0, alpha < 0) = "
               "sigmoid BCE (w = 1, pw = 1), for soft targets b too"),
    claims=(_eq(SIGMOID_FOCAL.with_params({"gamma": 0}), _BCE),),
    how="(1 − p_t)^0 = 1 and α_t = b + (1 − b) = 1, which leaves −(b log σ(x) + (1 − b) log(1 − σ(x)))",
    strategies=EQUATION,
)

soft_margin_is_sigmoid_bce = Identity(
    name="soft_margin_is_sigmoid_bce",
    statement="soft_margin_loss(x, y = 2b − 1) = sigmoid BCE(x, b) (w = 1, pw = 1) for a label b in {0, 1}",
    claims=(_eq(SOFT_MARGIN.expr.subs(y_sign, 1), _BCE.subs(b, 1)),
            _eq(SOFT_MARGIN.expr.subs(y_sign, -1), _BCE.subs(b, 0))),
    how="log(1 + exp(−x)) = −log σ(x) at b = 1 and log(1 + exp(x)) = −log(1 − σ(x)) at b = 0",
    strategies=EQUATION,
)

multilabel_soft_margin_gradient = Identity(
    name="multilabel_soft_margin_gradient",
    statement="∂L/∂h_j = w_j·(σ(h_j) − y_j)/C for multilabel_soft_margin_loss: class j's sigmoid BCE gradient, over C",
    claims=(_eq(MULTILABEL.gradient(), w[j] * (blocks.sigmoid(h[j]) - y[j]) / C),),
    how="Σ_k δ_jk keeps the class j, whose −(y_j log σ(h_j) + (1 − y_j) log(1 − σ(h_j))) has derivative σ(h_j) − y_j",
    strategies=EQUATION,
)

multilabel_soft_margin_of_one_class = Identity(
    name="multilabel_soft_margin_of_one_class",
    statement="multilabel_soft_margin_loss over C = 1 class = sigmoid BCE of its logit h_0 and target y_0, weight w_0",
    claims=(_eq(MULTILABEL.at(1, {"weight": None}),
                SIGMOID_BCE.with_params({"weight": None}).subs({x: h[0], b: y[0], weight: w[0]})),),
    how="the sum over one class is its one term, and the mean over C = 1 divides by 1",
    strategies=EQUATION,
)

_MSE_GRADIENT = SQUARED_SIGMOID.gradient()
_CE_GRADIENT = SIGMOID_BCE.with_params({}, SIGMOID_BCE.gradient())

squared_error_sigmoid_gradient = Identity(
    name="squared_error_sigmoid_gradient",
    statement="∂/∂x (σ(x) − b)² = 2(σ(x) − b)·σ(x)(1 − σ(x))",
    claims=(_eq(_MSE_GRADIENT, 2 * (blocks.sigmoid(x) - b) * blocks.sigmoid(x) * (1 - blocks.sigmoid(x))),),
    how="chain rule with σ' = σ(1 − σ)",
    strategies=EQUATION,
)

saturation = Identity(
    name="saturation",
    statement=("as |x| → ∞ the squared-error gradient → 0 for every b, while the cross-entropy "
               "gradient σ(x) − b → 1 − b (x → +∞) and −b (x → −∞): CE keeps learning from confident mistakes"),
    claims=(_eq(sp.Limit(_MSE_GRADIENT, x, sp.oo), 0), _eq(sp.Limit(_MSE_GRADIENT, x, -sp.oo), 0),
            _eq(sp.Limit(_CE_GRADIENT, x, sp.oo), 1 - b), _eq(sp.Limit(_CE_GRADIENT, x, -sp.oo), -b)),
    how="SymPy's limits of the two gradients (spec.gradient()) at ±∞",
    strategies=(Limits(),),
)

# ----- 9: binary is two-class softmax ----------------------------------------------------------------

binary_is_two_class_softmax = Identity(
    name="binary_is_two_class_softmax",
    statement="sigmoid BCE(x = z_1 − z_0, b) = softmax cross-entropy with C = 2 and y = (1 − b, b)",
    claims=(_eq(SIGMOID_BCE.with_params({}).subs(x, z[1] - z[0]),
                SOFTMAX_CE.at(2, _NO_WEIGHTS).subs({y[0]: 1 - b, y[1]: b})),),
    how="σ(z_1 − z_0) = softmax(z)_1 and 1 − σ(z_1 − z_0) = softmax(z)_0",
    strategies=(Concrete(), Numeric()),
    classes=(2,),
)

# ----- 13: log_softmax is idempotent -----------------------------------------------------------------

_LOG_SOFTMAX = get("log_softmax").expr
_INTEGER_CE = INTEGER_CE.with_params({})

log_softmax_idempotent = Identity(
    name="log_softmax_idempotent",
    statement="log_softmax(log_softmax(z)) = log_softmax(z)",
    claims=(_eq(composed(_LOG_SOFTMAX, z, lambda index: blocks.log_softmax(z, index)), _LOG_SOFTMAX),),
    how="exp(log_softmax(z)) = softmax(z) sums to 1, so the logsumexp of log_softmax(z) is 0",
    strategies=EQUATION,
)

cross_entropy_of_log_probabilities = Identity(
    name="cross_entropy_of_log_probabilities",
    statement="CE(log_softmax(z), t) = CE(z, t): cross-entropy on log-probabilities equals it on logits",
    claims=(_eq(composed(_INTEGER_CE, z, lambda index: blocks.log_softmax(z, index)), _INTEGER_CE),),
    how="log_softmax is idempotent",
    strategies=EQUATION,
)


def _witness(classes: int) -> dict:
    """Logits (0, 1, 0, …) with label 0: CE on softmax(z) differs from CE on z."""
    return {t: 0, **{z[n]: sp.Integer(1 if n == 1 else 0) for n in range(classes)}}


cross_entropy_of_probabilities_differs = Identity(
    name="cross_entropy_of_probabilities_differs",
    statement="CE(softmax(z), t) ≠ CE(z, t) in general: cross-entropy applied to probabilities is a different loss",
    claims=(sp.Ne(composed(_INTEGER_CE, z, lambda index: blocks.softmax(z, index)), _INTEGER_CE, evaluate=False),),
    how="an exact witness at each C: z = (0, 1, 0, …), t = 0",
    strategies=(Witness(_witness),),
)

IDENTITIES_IN_ORDER = (
    cross_entropy_decomposition, cross_entropy_of_itself, one_hot_entropy, kl_nonnegative, kl_zero_iff_equal,
    softmax_shift_invariance, softmax_sums_to_one, log_softmax_difference, logsumexp_shift, logsumexp_gradient,
    cross_entropy_log1p_others, softmax_target_complement, softmax_targets_complement, powers_combined,
    softmax_cross_entropy_is_nll_of_log_softmax, softmax_cross_entropy_is_cross_entropy,
    focal_loss_at_gamma_zero, poly1_at_epsilon_zero,
    poly1_probability_labels_at_epsilon_zero, poly1_probability_labels_one_hot,
    softmax_cross_entropy_gradient, softmax_cross_entropy_gradient_simplex, integer_label_gradient,
    log1p_definition, softplus_stable, log_sigmoid_softplus, sigmoid_bce_softplus, sigmoid_bce_gradient,
    sigmoid_focal_at_gamma_zero, soft_margin_is_sigmoid_bce,
    multilabel_soft_margin_gradient, multilabel_soft_margin_of_one_class,
    binary_is_two_class_softmax, label_smoothing_decomposition, label_smoothing_gradient,
    softmax_cross_entropy_hessian, softmax_hessian_psd,
    squared_error_sigmoid_gradient, saturation,
    log_softmax_idempotent, cross_entropy_of_log_probabilities, cross_entropy_of_probabilities_differs,
    entropy_at_most_log_classes,
)
