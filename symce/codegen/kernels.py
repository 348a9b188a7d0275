"""The kernels of symce.generated, each derived from a spec by one mechanism.

:func:`loss_kernels` turns any spec into a forward kernel and a fused forward+backward
kernel: arguments from the spec's inputs and parameters, the value from ``spec.expr``, the
gradient from ``spec.gradient()`` (SymPy's derivative — no gradient is typed here), a row
program (:mod:`symce.codegen.program`) for specs over classes, and elementwise expressions
for specs over one number. The built-in families below are its first users; a user's
loss (see ``examples/custom_losses.py``) goes through the same function.

What is *not* the mathematics of a spec is declared here as a :class:`Modification`:
torch's clamps in ``binary_cross_entropy`` and the 0·log 0 = 0 convention.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import sympy as sp

from symce.codegen import rewrites
from symce.codegen.planner import Arg, Kernel, Specialised
from symce.codegen.printer import Sigmoid, XLogX
from symce.codegen.program import row_program, sift_sums
from symce.spec import Spec, get
from symce.spec.symbols import j, k, keep, p, pos_weight, q, weight, z

#: the parameters of an elementwise spec that are arrays broadcast to the input, as torch's
#: ``weight`` and ``pos_weight`` tensors are; any other parameter is one number for the whole call
PER_ELEMENT = frozenset({weight, pos_weight})


@dataclass(frozen=True)
class Modification:
    """A declared change of a spec's value that is not a proven identity (torch compatibility,
    a limit convention). ``applies_to`` says which expressions ("loss", "grad") it transforms."""

    name: str
    why: str
    transform: Callable[[sp.Expr], sp.Expr]
    applies_to: frozenset[str]


def _clamp_logs(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, sp.log), lambda e: sp.Max(e, -100))


def _clamp_denominator(expr: sp.Expr) -> sp.Expr:
    numerator, denominator = sp.fraction(sp.factor(sp.together(expr)))
    # written so that it is positive inside the domain (r(1 − r), not r(r − 1)), which is what is clamped
    if denominator.subs({symbol: sp.Rational(1, 2) for symbol in denominator.free_symbols}).is_negative:
        numerator, denominator = -numerator, sp.Mul(*[-f if f.is_Add else f for f in sp.Mul.make_args(denominator)])
    return numerator / sp.Max(denominator, TORCH_BCE_EPSILON)


#: torch's EPSILON of binary_cross_entropy_backward is the float 1e-12 (9.99999996e-13), in every dtype
TORCH_BCE_EPSILON = sp.Float(float(np.float32(1e-12)), 17)

TORCH_LOG_CLAMP = Modification(
    "torch_log_clamp", "torch's binary_cross_entropy clamps each log at -100, so r = 0 or 1 gives a finite loss",
    _clamp_logs, frozenset({"loss"}))
TORCH_GRAD_DENOMINATOR = Modification(
    "torch_grad_denominator", "torch's binary_cross_entropy backward divides by max(r(1 − r), 1e-12)",
    _clamp_denominator, frozenset({"grad"}))


def _xlogx(expr: sp.Expr) -> sp.Expr:
    return sp.expand(expr, log=False).replace(
        lambda e: isinstance(e, sp.Mul) and any(isinstance(f, sp.log) and f.args[0] in e.args for f in e.args),
        lambda e: _fold_xlogx(e))


def _fold_xlogx(e: sp.Mul) -> sp.Expr:
    log = next(f for f in e.args if isinstance(f, sp.log) and f.args[0] in e.args)
    v = log.args[0]
    return XLogX(v) * (e / (log * v))


ZERO_LOG_ZERO = Modification(
    "zero_log_zero", "v·log v is 0 at v = 0 (its limit), as entropy and torch's xlogy define it",
    _xlogx, frozenset({"loss"}))


# ----- the mechanism ---------------------------------------------------------------------
def fold_sigmoid(expr: sp.Expr, v: sp.Expr) -> sp.Expr:
    """Write a rational function of E = exp(−v) with denominator 1 + E as A·σ(v) + B·σ(−v).

    1/(1 + E) is σ(v) and E/(1 + E) is σ(−v) (the definition, divided through by E), so a
    numerator A + B·E gives A·σ(v) + B·σ(−v): no 1 − σ that rounds to 0, no exp that overflows.
    """
    e = sp.Symbol("_E", positive=True)
    rational = sp.cancel(sp.together(expr.subs(sp.exp(-v), e)))
    numerator, denominator = sp.fraction(rational)
    try:
        poly = sp.Poly(sp.expand(numerator), e)
    except sp.PolynomialError:  # E inside a power or a function: no polynomial in E
        raise ValueError(f"cannot write {expr} in sigmoids of {v}") from None
    if sp.expand(denominator - (1 + e)) != 0 or poly.degree() > 1 or expr.subs(sp.exp(-v), e).has(v):
        raise ValueError(f"cannot write {expr} in sigmoids of {v}")
    low, high = poly.coeff_monomial(1), poly.coeff_monomial(e)
    return low * Sigmoid(v) + high * Sigmoid(-v)


def _homogeneous(polynomial: sp.Expr, e: sp.Symbol, s: sp.Symbol, s_bar: sp.Symbol) -> tuple[sp.Expr, int]:
    """A polynomial P(E) of degree d as the homogeneous S^d · P(S̄/S), factor by factor, and d.

    Each factor 1 + E is S + S̄ = 1; a factor kept whole keeps its terms ((1 − b) + b·E becomes
    (1 − b)·S + b·S̄, where its expanded square would subtract terms that cancel).
    """
    constant, factors = sp.factor_list(polynomial, e)
    result, degree = sp.sympify(constant), 0
    for factor, power in factors:
        poly = sp.Poly(factor, e)
        if sp.expand(factor - (1 + e)) != 0:
            result *= sp.Add(*[c * s_bar ** m * s ** (poly.degree() - m) for (m,), c in poly.terms()]) ** power
        degree += poly.degree() * power
    return result, degree


def _rational_in_sigmoids(expr: sp.Expr, v: sp.Expr) -> sp.Expr | None:
    """``expr``, a rational function of E = exp(−v), in σ(v) = S and σ(−v) = S̄ = S·E; None otherwise.

    E = S̄/S, so N(E)/D(E) is a ratio of homogeneous polynomials in S and S̄ times a power of S
    (:func:`_homogeneous`). The numerator keeps its factors: 1 − p_t becomes b·σ(−x) + (1 − b)·σ(x),
    not 1 − σ(x)·… that rounds to 0.
    """
    e, s, s_bar = sp.Dummy("E", positive=True), sp.Dummy("S"), sp.Dummy("S_bar")
    in_e = expr.subs(sp.exp(-v), e).subs(sp.exp(v), 1 / e)
    if in_e.has(v) or not in_e.has(e) or not in_e.is_rational_function(e):
        return None
    numerator, denominator = sp.fraction(sp.cancel(sp.together(in_e)))
    above, above_degree = _homogeneous(numerator, e, s, s_bar)
    below, below_degree = _homogeneous(denominator, e, s, s_bar)
    result = above * s ** (below_degree - above_degree) / below
    return result.xreplace({s: Sigmoid(v), s_bar: Sigmoid(-v)})


def sigmoid_argument(exprs: Iterable[sp.Expr], x: sp.Expr) -> sp.Expr:
    """The v whose exp(−v) the elementwise expressions are written in: a multiple c·x of the variable
    (c free of x: the soft margin's exp(−y·x)) where that is their one exponential of x outside an
    Abs, else x itself (the sigmoid losses' σ(x) = 1/(1 + exp(−x)))."""
    arguments = {e.args[0] for expr in exprs for e in expr.atoms(sp.exp) if e.has(x) and not e.has(sp.Abs)}
    if len(arguments) == 1:
        (argument,) = arguments
        if not sp.cancel(argument / x).has(x):
            return -argument
    return x


def in_sigmoids(expr: sp.Expr, v: sp.Expr) -> sp.Expr:
    """Every largest part of ``expr`` that is a rational function of exp(−v) written in σ(±v)
    (:func:`_rational_in_sigmoids`), powers combined (u^γ/u is u^(γ−1), finite at u = 0 for γ ≥ 1).

    The general case of :func:`fold_sigmoid`, for a loss whose gradient is no A·σ(v) + B·σ(−v) (a
    sigmoid focal loss: (1 − p_t)^γ times the cross-entropy); the logs were rewritten before.
    """
    def walk(part: sp.Expr) -> sp.Expr:
        if part.is_Atom or not part.has(v):
            return part
        folded = _rational_in_sigmoids(part, v)
        return folded if folded is not None else part.func(*[walk(arg) for arg in part.args])

    return sp.powsimp(walk(expr))


def kernel_args(spec: Spec, elementwise: bool) -> tuple[Arg, ...]:
    """The kernel's arguments: the spec's inputs, then its parameters (keep becomes ignore_index).

    Each parameter carries its default, so the kernel gets a specialised path for it (an array
    passed as None, a scalar equal to it): no weight read for w = 1, no smoothing sums for ε = 0.
    """
    args = []
    for item in spec.inputs:
        role = "elements" if elementwise else {"vector": "rows", "label": "label", "scalar": "scalar"}[item.kind]
        args.append(Arg(item.name, role, item.symbol))
    for param in spec.params:
        if param.symbol == keep:
            args.append(Arg("ignore_index", "ignore_index"))
        elif elementwise:
            role = "elements" if param.symbol in PER_ELEMENT else "scalar"
            args.append(Arg(param.name, role, param.symbol, param.default))
        else:
            args.append(Arg(param.name, "classes" if param.kind == "vector" else "scalar", param.symbol,
                            param.default))
    return tuple(args)


def at_defaults(expr: sp.Expr, args: Iterable[Arg]) -> sp.Expr:
    """``expr`` with each of ``args`` at its default (w_k = 1, ε = 0, …)."""
    for arg in args:
        if isinstance(arg.symbol, sp.IndexedBase):
            expr = expr.replace(lambda e, base=arg.symbol: isinstance(e, sp.Indexed) and e.base == base,
                                lambda e, value=arg.default: value)
        else:
            expr = expr.subs(arg.symbol, arg.default)
    return expr


def specialisations(args: Sequence[Arg], build: Callable[[Sequence[Arg]], Specialised]) -> dict:
    """``build(at_default)`` for every non-empty subset of the arguments that have a default."""
    optional = [a for a in args if a.default is not None]
    return {frozenset(a.name for a in subset): build(subset)
            for size in range(1, len(optional) + 1) for subset in itertools.combinations(optional, size)}


def _modified(expr: sp.Expr, output: str, modifications) -> sp.Expr:
    for modification in modifications:
        if output in modification.applies_to:
            expr = modification.transform(expr)
    return expr


def _doc(spec: Spec, what: str, modifications) -> str:
    lines = [f"{what} of spec {spec.name!r}: {spec.formula}", ""]
    lines += [f"Declared modification {mod.name}: {mod.why}." for mod in modifications]
    return "\n".join(lines)


def loss_kernels(spec: Spec, prefix: str, modifications: tuple[Modification, ...] = ()) -> tuple[Kernel, ...]:
    """``PREFIX_forward`` (→ loss) and ``PREFIX_forward_backward`` (→ loss, grad) for ``spec``.

    A spec over classes gives row kernels (inputs (M, C), one loss per row, the gradient
    with respect to the first input scaled by ``row_scale``); a spec over one number gives
    elementwise kernels over flat arrays (gradient scaled by ``scale``).
    """
    elementwise = not spec.is_per_class
    value = _modified(spec.expr.subs(keep, 1), "loss", modifications)
    docs = (_doc(spec, "Loss per sample", modifications),
            _doc(spec, "Loss and scale · d loss / d input", modifications))
    build = _elementwise_kernels if elementwise else _row_kernels
    return build(spec, prefix, kernel_args(spec, elementwise), value, spec.gradient().subs(keep, 1), docs,
                 modifications)


def _elementwise_kernels(spec: Spec, prefix: str, args: tuple[Arg, ...], value: sp.Expr, grad: sp.Expr,
                         docs: tuple[str, str], modifications: tuple[Modification, ...]) -> tuple[Kernel, Kernel]:
    """The kernels of a spec over one number: each expression in sigmoids of its logit where it has one."""
    variable = spec.inputs[0].symbol

    def pointwise(defaults: Sequence[Arg] = ()) -> dict[str, sp.Expr]:
        loss = rewrites.optimize(at_defaults(value, defaults), rewrites.ONE_LOGIT + rewrites.ONE_PROBABILITY)
        derivative = at_defaults(grad, defaults)
        v = sigmoid_argument((loss, derivative), variable)
        if loss.has(sp.exp(-v)) or derivative.has(sp.exp(-v)):
            try:
                derivative = fold_sigmoid(derivative, v)
            except ValueError:  # no A·σ(v) + B·σ(−v): logs through softplus, the rest in sigmoids
                loss = in_sigmoids(loss, v)
                derivative = in_sigmoids(rewrites.optimize(derivative, rewrites.ONE_LOGIT), v)
        return {"loss": loss, "grad": _modified(derivative, "grad", modifications)}

    def only_loss(exprs: dict[str, sp.Expr]) -> dict[str, sp.Expr]:
        return {"loss": exprs["loss"]}

    forward = Kernel(f"{prefix}_forward", docs[0], args, ("loss",), elementwise=only_loss(pointwise()),
                     specialised=specialisations(args, lambda d: Specialised(elementwise=only_loss(pointwise(d)))))
    both = Kernel(f"{prefix}_forward_backward", docs[1], args + (Arg("scale", "scale"),), ("loss", "grad"),
                  elementwise=pointwise(), scale=frozenset({"grad"}),
                  specialised=specialisations(args, lambda d: Specialised(elementwise=pointwise(d))))
    return forward, both


def _row_kernels(spec: Spec, prefix: str, args: tuple[Arg, ...], value: sp.Expr, grad: sp.Expr,
                 docs: tuple[str, str], modifications: tuple[Modification, ...]) -> tuple[Kernel, Kernel]:
    """The kernels of a spec over classes: row programs, shifted by the row max where it takes a softmax."""
    logits = spec.inputs[0].symbol
    shift = logits == z
    label = next((i.symbol for i in spec.inputs if i.kind == "label"), None)
    grad = _modified(grad, "grad", modifications)
    independent = not shift and value.has(sp.exp(-logits[k]))
    if independent:
        # a row of independent logits (multilabel_soft_margin_loss): each class's σ(h_k) is one logit's,
        # its logs through softplus and its derivative in σ(±h_j), as the elementwise losses have them
        value = rewrites.optimize(value, rewrites.ONE_LOGIT)
        grad = in_sigmoids(rewrites.optimize(sift_sums(grad, logits), rewrites.ONE_LOGIT), logits[j])

    def programs(vectors: dict, defaults: Sequence[Arg] = ()) -> Specialised:
        scalars = {"loss": at_defaults(value, defaults)}
        vectors = {name: at_defaults(expr, defaults) for name, expr in vectors.items()}
        return Specialised(row_program(scalars, vectors, shift, label, logits, expand=not independent),
                           row_program(scalars, vectors, False, label, logits) if shift else None)

    def kernel(function: str, doc: str, arguments, outputs, vectors: dict, **extra) -> Kernel:
        general = programs(vectors)
        return Kernel(function, doc, arguments, outputs, program=general.program, plain=general.plain,
                      specialised=specialisations(args, lambda d: programs(vectors, d)), **extra)

    forward = kernel(f"{prefix}_forward", docs[0], args, ("loss",), {})
    both = kernel(f"{prefix}_forward_backward", docs[1], args + (Arg("row_scale", "scale"),), ("loss", "grad"),
                  {"grad": grad}, scale=frozenset({"grad"}))
    return forward, both


def value_kernel(spec: Spec, function: str, output: str = "out",
                 modifications: tuple[Modification, ...] = ()) -> Kernel:
    """A kernel returning the spec's value per row: (M,) for a scalar spec, (M, C) for a vector one."""
    args = kernel_args(spec, elementwise=False)
    value = _modified(spec.expr, "loss", modifications)
    shift = spec.inputs[0].symbol == z
    scalars, vectors = ({}, {output: value}) if spec.output == "vector" else ({output: value}, {})
    return Kernel(function, _doc(spec, "Value per row", modifications), args, (output,),
                  program=row_program(scalars, vectors, shift),
                  plain=row_program(scalars, vectors, False) if shift else None)


# ----- the built-in families ----------------------------------------------------------------
def _kl_div_kernels() -> tuple[Kernel, ...]:
    """torch's kl_div pointwise: the summand of ``kl_divergence`` with q = exp(log_q).

    With ``log_target`` the target is given as log p, so p = exp(target).
    """
    spec = get("kl_divergence")
    log_q, target = sp.Symbol("log_q", real=True), sp.Symbol("target", nonnegative=True)
    summand = spec.expr.function if isinstance(spec.expr, sp.Sum) else None
    if summand is None:
        raise ValueError("kl_divergence is expected to be a single sum over classes")

    def pointwise(probability: sp.Expr) -> dict[str, sp.Expr]:
        value = sp.expand_log(summand.subs({q[k]: sp.exp(log_q), p[k]: probability}), force=True)
        return {"out": _xlogx(value) if probability == target else value,
                "grad": sp.diff(value, log_q)}

    args = (Arg("log_q", "elements", log_q), Arg("target", "elements", target), Arg("log_target", "flag"))
    variants = {False: pointwise(target), True: pointwise(sp.exp(target))}
    doc = ("torch.nn.functional.kl_div(log_q, target, reduction='none'): the summand of spec "
           f"'kl_divergence' ({spec.formula}) with q = exp(log_q), and p = exp(target) under log_target.\n\n"
           f"Declared modification {ZERO_LOG_ZERO.name}: {ZERO_LOG_ZERO.why}.")
    forward = Kernel("kl_divergence_forward", doc, args, ("out",),
                     variants={flag: {"out": exprs["out"]} for flag, exprs in variants.items()})
    backward = Kernel("kl_divergence_forward_backward", doc, args + (Arg("scale", "scale"),), ("out", "grad"),
                      variants=variants, scale=frozenset({"grad"}))
    return forward, backward


def families() -> dict[str, dict[str, tuple[Kernel, ...]]]:
    """module name → {spec name → the kernels of that spec}, the contents of symce.generated.

    Every kernel is named ``<spec name>_<role>`` (``_forward``, ``_forward_backward``), the name
    it has in :mod:`symce.generated.kernels` too: one name per loss from the spec to the API."""
    per_row = ("softmax", "log_softmax", "logsumexp")
    return {
        "cross_entropy": {name: loss_kernels(get(name), name)
                          for name in ("softmax_cross_entropy_with_integer_labels", "softmax_cross_entropy")},
        "nll": {"nll_loss": loss_kernels(get("nll_loss"), "nll_loss")},
        # cross-entropy's PolyLoss variants (Leng et al., 2022): the same row kernels, other coefficients of (1 − p_t)
        "polyloss": {name: loss_kernels(get(name), name)
                     for name in ("focal_loss", "poly1_cross_entropy", "poly1_cross_entropy_with_probability_labels")},
        "multilabel": {"multilabel_soft_margin_loss": loss_kernels(get("multilabel_soft_margin_loss"),
                                                                   "multilabel_soft_margin_loss")},
        "softmax": {name: (value_kernel(get(name), f"{name}_forward"),) for name in per_row},
        "binary": {
            "sigmoid_binary_cross_entropy": loss_kernels(get("sigmoid_binary_cross_entropy"),
                                                         "sigmoid_binary_cross_entropy"),
            "sigmoid_focal_loss": loss_kernels(get("sigmoid_focal_loss"), "sigmoid_focal_loss"),
            "soft_margin_loss": loss_kernels(get("soft_margin_loss"), "soft_margin_loss"),
            "squared_error_sigmoid": loss_kernels(get("squared_error_sigmoid"), "squared_error_sigmoid"),
            "binary_cross_entropy": loss_kernels(get("binary_cross_entropy"), "binary_cross_entropy",
                                                 (TORCH_LOG_CLAMP, TORCH_GRAD_DENOMINATOR))},
        "information": {
            "kl_divergence": _kl_div_kernels(),
            "entropy": (value_kernel(get("entropy"), "entropy_forward", modifications=(ZERO_LOG_ZERO,)),)},
    }
