"""A loss from code: a NumPy or torch function traced by symce.verify's tracer into a spec.

The function is traced on one sample of symbolic logits (``symce.verify.compare.trace``) at a
fixed class count and label, which gives an expression in ``z_0 … z_{C-1}``. It is then *lifted*
to any class count: the sum of every exponential, Σ_k exp(z_k), becomes the spec's symbolic sum
and the label's logit becomes ``z_t``; any other logit left over means the code does something
per class that this lifting does not follow, and :class:`TraceError` says so. The lifted spec is
checked against a second trace at another class count and label before it is used.

What the function computes naively — ``log(exp(z_t) / Σ exp(z_k))`` — is then compiled with
the same proven stability rewrites as the built-in losses: the kernel is stable where the code
is not (``CompiledLoss.rewrites`` names them, ``CompiledLoss.verify_original()`` shows where the
original breaks).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import sympy as sp

from symce.compile import _interfaces
from symce.spec import Param, Spec, get
from symce.spec.core import class_sum
from symce.spec.symbols import k, t, z

#: (classes, label) of the trace that is lifted, and of the one that checks the lifting
LIFTED_AT = (5, 2)
CHECKED_AT = ((4, 1), (3, 0))


class TraceError(ValueError):
    """The function could not be traced, or its trace not lifted to any class count."""


def _problem(fn, like: Spec, symbols: dict):
    from symce.verify.problem import Problem
    from symce.verify.verifier import resolve_binding

    problem = Problem(fn, like, resolve_binding(fn, like, None), "mean")
    problem.framework = problem.reached.framework() or "numpy"  # what the code names, found before fn is wrapped
    if symbols:
        def with_params(**arrays):
            return fn(**arrays, **symbols)
        problem.fn = with_params
    return problem


def _traced(problem, classes: int, label: int) -> tuple[sp.Expr, list[sp.Symbol]]:
    """The function's value for one sample at ``classes`` classes and ``label``, and the logits' symbols."""
    from symce.verify import compare

    try:
        traced = compare.trace(problem, 1, classes, (label,))
    except Exception as error:  # noqa: BLE001 -- every failure to trace is reported the same way
        raise TraceError(f"symce.compile could not trace the function at {classes} classes, label {label}: "
                         f"{type(error).__name__}: {error}") from error
    values = np.asarray(traced.got).reshape(-1)
    if values.size != 1:
        raise TraceError(f"the function returns {values.size} values for one sample; it must return its loss")
    logits = next(item for item in problem.spec.inputs if item.kind == "vector")
    names = [f"{logits.symbol.name}_0_{i}" for i in range(classes)]
    symbols = {symbol.name: symbol for symbol in sp.sympify(values[0]).free_symbols}
    return sp.sympify(values[0]), [symbols.get(name, sp.Symbol(name, real=True)) for name in names]


def lift(expr: sp.Expr, logits: list[sp.Symbol], label: int) -> sp.Expr:
    """``expr`` over the logits of one sample at a fixed class count, as a spec over symbolic C."""
    total, target = sp.Dummy("total"), sp.Dummy("target")
    every = sp.Add(*[sp.exp(symbol) for symbol in logits])
    lifted = expr.xreplace({every: total}).subs(every, total).xreplace({logits[label]: target})
    left = sorted(lifted.free_symbols & set(logits), key=str)
    if left:
        raise TraceError(f"the traced loss uses the logits {', '.join(map(str, left))} other than through "
                         "Σ_k exp(z_k) and the label's logit z_t; symce.compile lifts only those to any class "
                         "count: write the loss as a symce.spec.Spec instead")
    return lifted.xreplace({total: class_sum(sp.exp(z[k])), target: z[t]})


def _agrees(spec: Spec, traced: sp.Expr, logits: list[sp.Symbol], label: int, params: dict) -> bool:
    """Whether ``spec`` at this class count and label equals the trace, at random moderate logits."""
    expected = spec.at(len(logits), {}, spec.expr.subs(t, label)).xreplace(
        {z[i]: symbol for i, symbol in enumerate(logits)})
    rng = np.random.default_rng(7)
    for _ in range(4):
        point = {symbol: sp.Float(rng.uniform(-3, 3), 30) for symbol in logits}
        point.update({symbol: sp.Float(value, 30) for symbol, value in params.items()})
        a, b = complex(sp.N(expected.xreplace(point), 30)), complex(sp.N(traced.xreplace(point), 30))
        if not abs(a - b) <= 1e-12 * max(1.0, abs(b)):
            return False
    return True


def spec_from_code(fn: Callable[..., object], like: Spec | str | None, params: dict[str, float],
                   name: str | None = None) -> tuple[Spec, Callable[..., object]]:
    """The spec ``fn`` computes: its inputs those of ``like`` (a spec or its name, over logits and a
    label), its parameters ``params`` (the function's keyword arguments, traced as symbols, their
    values the defaults), its expression the lifted trace. Returns (spec, fn)."""
    if like is None:
        raise TypeError("symce.compile(fn) needs like=: the spec whose inputs the function takes, e.g. "
                        "like='softmax_cross_entropy_with_integer_labels'")
    like = get(like) if isinstance(like, str) else like
    if [item.kind for item in like.inputs] != ["vector", "label"]:
        raise TraceError(f"symce.compile traces losses over (logits, integer label); {like.name!r} has inputs "
                         f"of kinds {tuple(i.kind for i in like.inputs)}")
    symbols = {key: sp.Symbol(key, real=True) for key in params}
    problem = _problem(fn, like, symbols)
    classes, label = LIFTED_AT
    expr = lift(*_traced(problem, classes, label), label)  # as the code computes it: the rewrites make it stable
    spec = _interfaces.derived_spec(
        like, name=name or getattr(fn, "__name__", "traced_loss"), expr=expr, mean_weight=sp.Integer(1),
        params=tuple(Param(key, symbols[key], "scalar", sp.sympify(value), f"the function's argument {key}")
                     for key, value in params.items()),
        doc=f"Traced from {getattr(fn, '__qualname__', fn)!s} by symce.compile (like {like.name}).")
    for classes, label in CHECKED_AT:
        traced, logits = _traced(problem, classes, label)
        if not _agrees(spec, traced, logits, label, {symbols[key]: value for key, value in params.items()}):
            raise TraceError(f"the lifted loss {expr} does not equal the function at {classes} classes, label "
                             f"{label}: its trace depends on the class count in a way symce.compile does not "
                             "follow; write the loss as a symce.spec.Spec instead")
    return spec, fn
