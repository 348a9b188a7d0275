"""What array operations mean on SymPy expressions: one table, shared by both tracers.

Arrays here are NumPy ``object`` arrays whose entries are SymPy expressions. The NumPy tracer
(``__array_ufunc__``) and the PyTorch tracer (``__torch_function__``) both translate a call
into these functions, so an operation is given its meaning once. Composite operations
(softmax, log_softmax, logsumexp) are written as their definitions from ``symce.spec.blocks``
— what the code computes in exact arithmetic, whatever trick it uses to compute it in floats.
"""
from __future__ import annotations

import operator
from fractions import Fraction
from functools import lru_cache

import numpy as np
import sympy as sp

from symce.spec import blocks


class TraceError(Exception):
    """The traced function did something symce cannot follow symbolically."""


def to_sympy(value: object) -> sp.Basic:
    """One scalar as SymPy; a float becomes an exact rational (see ``_rational``)."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, (bool, np.bool_)):
        return sp.Integer(int(value))
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if np.isnan(value):
            return sp.nan
        if np.isinf(value):
            return sp.oo if value > 0 else -sp.oo
        return _rational(value)
    raise TraceError(f"cannot trace a value of type {type(value).__name__} ({value!r})")


def _rational(value: float) -> sp.Rational:
    """The simplest fraction within 4 ulps of ``value`` — what the code meant, before float
    arithmetic on constants rounded it (0.1/3 → 1/30, 0.9·1.0 + 0.05 → 19/20) — else the
    decimal it prints as (1e-7 → 1/10⁷)."""
    simple = Fraction(value).limit_denominator(10 ** 6)
    if abs(float(simple) - value) <= 4 * np.spacing(abs(value)):
        return sp.Rational(simple.numerator, simple.denominator)
    return sp.Rational(repr(value))


def as_objects(value: object) -> np.ndarray:
    """An object array of SymPy expressions holding ``value`` (a scalar, list or array)."""
    array = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
    out = np.empty(array.shape, dtype=object)
    for index in np.ndindex(array.shape):
        out[index] = to_sympy(array[index])
    return out


def _compare(relation):
    """A comparison: a Python bool when both sides are numbers (so ``where`` can branch), else a relation."""
    def compare(left, right):
        result = relation(left, right)
        if result in (sp.true, sp.false):
            return bool(result)
        return result
    return compare


def _logical(function):
    def apply(*args):
        values = [bool(a) if a in (True, False, sp.true, sp.false) or (isinstance(a, sp.Number)) else None
                  for a in args]
        if None in values:
            raise TraceError("a logical operation on a symbolic condition")
        return function(*values)
    return apply


#: elementwise meaning of each ufunc / torch function, by name
ELEMENTWISE = {
    "add": operator.add, "subtract": operator.sub, "sub": operator.sub, "rsub": lambda a, b: b - a,
    "multiply": operator.mul, "mul": operator.mul,
    "true_divide": operator.truediv, "divide": operator.truediv, "div": operator.truediv,
    "negative": operator.neg, "neg": operator.neg, "positive": lambda a: a,
    "power": operator.pow, "float_power": operator.pow, "pow": operator.pow,
    "square": lambda a: a ** 2, "reciprocal": lambda a: 1 / a,
    "exp": sp.exp, "expm1": lambda a: sp.exp(a) - 1, "exp2": lambda a: 2 ** a,
    "log": sp.log, "log1p": lambda a: sp.log(1 + a),
    "log2": lambda a: sp.log(a, 2), "log10": lambda a: sp.log(a, 10),
    "sqrt": sp.sqrt, "absolute": sp.Abs, "abs": sp.Abs, "fabs": sp.Abs, "sign": sp.sign,
    "tanh": sp.tanh,
    "maximum": sp.Max, "fmax": sp.Max, "minimum": sp.Min, "fmin": sp.Min,
    "clip": lambda a, low, high: sp.Min(sp.Max(a, low), high),
    "logaddexp": lambda a, b: sp.log(sp.exp(a) + sp.exp(b)),
    "sigmoid": blocks.sigmoid, "expit": blocks.sigmoid,
    "softplus": blocks.softplus, "logsigmoid": lambda a: sp.log(blocks.sigmoid(a)),
    "greater": _compare(sp.StrictGreaterThan), "gt": _compare(sp.StrictGreaterThan),
    "greater_equal": _compare(sp.GreaterThan), "ge": _compare(sp.GreaterThan),
    "less": _compare(sp.StrictLessThan), "lt": _compare(sp.StrictLessThan),
    "less_equal": _compare(sp.LessThan), "le": _compare(sp.LessThan),
    "equal": _compare(sp.Eq), "eq": _compare(sp.Eq), "not_equal": _compare(sp.Ne), "ne": _compare(sp.Ne),
    "logical_not": _logical(operator.not_), "logical_and": _logical(operator.and_),
    "logical_or": _logical(operator.or_),
}


_BINARY = {"add", "subtract", "sub", "rsub", "multiply", "mul", "true_divide", "divide", "div", "power",
           "float_power", "pow", "maximum", "fmax", "minimum", "fmin", "logaddexp", "greater", "gt",
           "greater_equal", "ge", "less", "lt", "less_equal", "le", "equal", "eq", "not_equal", "ne",
           "logical_and", "logical_or"}


@lru_cache(maxsize=None)
def object_ufunc(name: str) -> np.ufunc:
    """A NumPy ufunc over object arrays applying ``ELEMENTWISE[name]`` (so reduce/keepdims work)."""
    try:
        function = ELEMENTWISE[name]
    except KeyError:
        raise TraceError(f"the operation {name!r} is not supported by the symbolic tracer") from None
    arity = 3 if name == "clip" else 2 if name in _BINARY else 1
    return np.frompyfunc(function, arity, 1)


def elementwise(name: str, *arrays: object) -> np.ndarray:
    """``ELEMENTWISE[name]`` applied with broadcasting."""
    return np.asarray(object_ufunc(name)(*[as_objects(a) for a in arrays]), dtype=object)


def reduce(name: str, array: object, axis=None, keepdims: bool = False) -> np.ndarray:
    """A reduction by a binary operation (``add`` → sum, ``maximum`` → max) along ``axis``."""
    array = as_objects(array)
    if array.ndim == 0:
        return array
    if axis is None:
        total = object_ufunc(name).reduce(array.ravel())
        return np.full((1,) * array.ndim if keepdims else (), total, dtype=object)
    result = object_ufunc(name).reduce(array, axis=axis, keepdims=keepdims)
    return np.asarray(result, dtype=object)


def mean(array: object, axis=None, keepdims: bool = False) -> np.ndarray:
    array = as_objects(array)
    count = array.size if axis is None else int(np.prod([array.shape[a] for a in np.atleast_1d(axis)]))
    return elementwise("true_divide", reduce("add", array, axis, keepdims), sp.Integer(count))


def logsumexp(array: object, axis=-1, keepdims: bool = False) -> np.ndarray:
    """log Σ exp along ``axis`` (what any shifted form computes in exact arithmetic)."""
    return elementwise("log", reduce("add", elementwise("exp", array), axis, keepdims))


def softmax(array: object, axis=-1) -> np.ndarray:
    exps = elementwise("exp", array)
    return elementwise("true_divide", exps, reduce("add", exps, axis, keepdims=True))


def log_softmax(array: object, axis=-1) -> np.ndarray:
    """log softmax, as ``blocks.log_softmax`` defines it: the log of the softmax."""
    return elementwise("log", softmax(array, axis))


def where(condition: object, left: object, right: object) -> np.ndarray:
    """``where`` with a concrete condition picks entries; a symbolic one becomes a Piecewise."""
    condition, left, right = np.broadcast_arrays(as_objects(condition), as_objects(left), as_objects(right))
    out = np.empty(condition.shape, dtype=object)
    for index in np.ndindex(condition.shape):
        test = condition[index]
        if test in (True, False, sp.true, sp.false) or isinstance(test, sp.Number):
            out[index] = left[index] if bool(test) else right[index]
        else:
            out[index] = sp.Piecewise((left[index], test), (right[index], True))
    return out


def concrete_integers(array: object, what: str) -> np.ndarray:
    """An index array from concrete entries; a symbolic index cannot be followed."""
    array = np.asarray(array, dtype=object)
    try:
        return np.asarray([int(v) for v in array.ravel()], dtype=np.int64).reshape(array.shape)
    except TypeError:
        raise TraceError(f"{what} depends on the symbolic inputs (e.g. an argmax); it cannot be traced") from None
