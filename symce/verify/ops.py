"""What array operations mean on SymPy expressions: one table, shared by both tracers.

Arrays here are NumPy ``object`` arrays whose entries are SymPy expressions. The NumPy tracer
(``__array_ufunc__``) and the PyTorch tracer (``__torch_function__``) both translate a call
into these functions, so an operation is given its meaning once. Composite operations
(softmax, log_softmax, logsumexp) are written as their definitions from ``symce.spec.blocks``
— what the code computes in exact arithmetic, whatever trick it uses to compute it in floats.
"""
from __future__ import annotations

import contextvars
import operator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np
import sympy as sp

from symce.spec import blocks


class TraceError(Exception):
    """The traced function did something symce cannot follow symbolically."""


# ----- what a trace noticed, and how it decides conditions ------------------------------------
@dataclass
class Notes:
    """Sentences about one trace (a float32 constant read as a fraction, a condition decided at
    sample points), each said once; ``kinds`` are the sentences said once for many cases."""

    texts: list[str] = field(default_factory=list)
    kinds_of: dict[str, str] = field(default_factory=dict)

    @property
    def kinds(self) -> set[str]:
        return set(self.kinds_of.values())


_NOTES: contextvars.ContextVar[Notes | None] = contextvars.ContextVar("trace_notes", default=None)
#: points of the traced inputs' domain (symbol -> number) at which ``decide`` evaluates conditions
_POINTS: contextvars.ContextVar[list] = contextvars.ContextVar("trace_points", default=[])


@contextmanager
def noting(points: list[dict] = ()):
    """Collect notes (the yielded ``Notes``) and decide conditions at ``points`` while a trace runs."""
    notes = Notes()
    exact = [{symbol: sp.Float(str(value), 40) for symbol, value in point.items()} for point in points]
    note_token, point_token = _NOTES.set(notes), _POINTS.set(exact)
    try:
        yield notes
    finally:
        _NOTES.reset(note_token)
        _POINTS.reset(point_token)


def merged(notes: list[Notes]) -> list[str]:
    """The texts of several traces' notes, each once, and one per kind."""
    texts, kinds = [], set()
    for each in notes:
        for text in each.texts:
            kind = each.kinds_of.get(text)
            if text not in texts and (kind is None or kind not in kinds):
                texts.append(text)
                kinds.add(kind)
    return texts


def note(text: str, kind: str | None = None) -> None:
    """Add ``text`` to the current trace's notes, once (and once per ``kind``, if given)."""
    notes = _NOTES.get()
    if notes is None or text in notes.texts or kind in notes.kinds:
        return
    notes.texts.append(text)
    if kind is not None:
        notes.kinds_of[text] = kind


def decide(condition: sp.Basic) -> bool:
    """A condition on the traced inputs as a bool, when it has that value at every sample point
    of the inputs' domain (an input check such as ``p > 1`` on probabilities); else TraceError."""
    if condition in (True, False, sp.true, sp.false) or isinstance(condition, sp.Number):
        return bool(condition)
    points = _POINTS.get()
    try:
        values = {bool(condition.xreplace(point)) for point in points}
    except TypeError:           # not a plain condition on the inputs' symbols
        values = set()
    if len(values) != 1:
        raise TraceError(f"the function branches on a value computed from its inputs ({condition})")
    value = values.pop()
    note(f"a condition on the inputs ({condition}) is {value} at all {len(points)} sample points of their "
         "domain, so the trace follows that branch (an input check)", kind="decided")
    return value


def decided(array: object) -> np.ndarray:
    """Each condition of an object array, passed through ``decide``: a bool array of its shape."""
    array = np.asarray(array, dtype=object)
    return np.asarray([decide(v) for v in array.ravel()], dtype=bool).reshape(array.shape)


def index_of(array: object) -> np.ndarray:
    """An object array used as an index: a mask of conditions, decided at the sample points
    (``x[x < 0]`` in an input check), else the concrete integers it holds."""
    array = np.asarray(array, dtype=object)
    if not all(is_condition(v) for v in array.ravel()):
        return concrete_integers(array, "an index")
    try:
        return decided(array)
    except TraceError:
        raise TraceError("a boolean mask depends on the symbolic inputs") from None


def item(array: object, what: str) -> sp.Basic:
    """``.item()`` of a traced value, kept as its expression: it is mostly for logging (an
    accuracy), and a loss returned through it is still what the code computes."""
    entries = np.asarray(array, dtype=object).ravel()
    if entries.size != 1:
        raise TraceError(f"the function calls .item() on a traced {what} of more than one entry")
    note("the function calls .item() on a traced value; the trace keeps it symbolic", kind="item")
    return entries[0]


def to_sympy(value: object) -> sp.Basic | bool:
    """One scalar as SymPy; a float becomes an exact rational (see ``_rational``)."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return to_sympy(value[()])
    if isinstance(value, np.float32):
        return _float32_rational(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)      # a condition's value: a mask, and in arithmetic 1 or 0
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
    with np.errstate(over="ignore"):    # the spacing of the largest floats (finfo.min) is inf
        near = abs(float(simple) - value) <= 4 * np.spacing(abs(value))
    if near:
        return sp.Rational(simple.numerator, simple.denominator)
    return sp.Rational(repr(value))


def is_condition(value: object) -> bool:
    """A truth value: a bool, or a SymPy condition (the result of comparing traced values)."""
    return isinstance(value, (bool, np.bool_, sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction,
                              sp.logic.boolalg.BooleanAtom))


def floats(array: object) -> np.ndarray:
    """Entries as numbers, as ``mask.float()`` makes them: a condition is 1 where it holds, else 0."""
    array = np.asarray(array, dtype=object)
    out = np.empty(array.shape, dtype=object)
    for index in np.ndindex(array.shape):
        value = array[index]
        if is_condition(value) and not isinstance(value, (bool, np.bool_)) and value not in (sp.true, sp.false):
            out[index] = sp.Piecewise((sp.Integer(1), value), (sp.Integer(0), True))
        else:
            out[index] = sp.Integer(int(bool(value))) if is_condition(value) else to_sympy(value)
    return out


def _float32_rational(value: np.float32) -> sp.Basic:
    """A float32 constant (``label.float() * 0.9``) as the simplest fraction within 4 float32 ulps
    of it (9/10, not 0.899999976...: float32 arithmetic on constants rounds each step), else the
    shortest decimal that rounds to it (1e-7); noted, so the report can say so."""
    if not np.isfinite(value):
        return to_sympy(float(value))
    exact, ulps = Fraction(float(value)), 4 * float(np.spacing(np.abs(value)))
    simple = next((f for f in (exact.limit_denominator(10 ** k) for k in range(1, 7))
                   if abs(float(f) - float(value)) <= ulps), Fraction(str(value)))
    if simple != exact:
        note(f"float32 constants are read as the fractions they round (e.g. {float(value)!r} as {simple}); "
             "the numeric check allows float32 rounding", kind="float32")
    return sp.Rational(simple.numerator, simple.denominator)


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
    """and/or/not of conditions; a symbolic one is decided at sample points (an input check)."""
    def apply(*args):
        return function(*[decide(a) for a in args])
    return apply


def _xlogy(a, b):
    return a * sp.log(b)


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
    "sigmoid": blocks.sigmoid, "expit": blocks.sigmoid, "log_expit": lambda a: sp.log(blocks.sigmoid(a)),
    "xlogy": _xlogy, "entr": lambda a: -a * sp.log(a), "rel_entr": lambda a, b: a * sp.log(a / b),
    "relu": lambda a: sp.Max(a, 0), "xlog1py": lambda a, b: a * sp.log(1 + b), "logit": lambda a: sp.log(a / (1 - a)),
    "softplus": blocks.softplus, "logsigmoid": lambda a: sp.log(blocks.sigmoid(a)),
    "greater": _compare(sp.StrictGreaterThan), "gt": _compare(sp.StrictGreaterThan),
    "greater_equal": _compare(sp.GreaterThan), "ge": _compare(sp.GreaterThan),
    "less": _compare(sp.StrictLessThan), "lt": _compare(sp.StrictLessThan),
    "less_equal": _compare(sp.LessThan), "le": _compare(sp.LessThan),
    "equal": _compare(sp.Eq), "eq": _compare(sp.Eq), "not_equal": _compare(sp.Ne), "ne": _compare(sp.Ne),
    "logical_not": _logical(operator.not_), "logical_and": _logical(operator.and_),
    "logical_or": _logical(operator.or_), "bitwise_and": _logical(operator.and_),
    "bitwise_or": _logical(operator.or_), "invert": _logical(operator.not_),
}


_BINARY = {"rel_entr", "xlogy", "xlog1py", "add", "subtract", "sub", "rsub", "multiply", "mul", "true_divide", "divide", "div", "power",
           "float_power", "pow", "maximum", "fmax", "minimum", "fmin", "logaddexp", "greater", "gt",
           "greater_equal", "ge", "less", "lt", "less_equal", "le", "equal", "eq", "not_equal", "ne",
           "logical_and", "logical_or", "bitwise_and", "bitwise_or"}


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


class argmax(sp.Function):
    """The index of the largest entry of a row of symbolic values: opaque, since which entry is
    largest depends on the values; using it as an index stops the trace (``concrete_integers``)."""


def _first_largest(*values):
    """argmax at numbers: the first index of the largest value, as NumPy and torch pick it."""
    return max(range(len(values)), key=lambda k: (values[k], -k))


#: how the opaque functions of a trace evaluate at numbers (for ``sympy.lambdify``)
NUMERIC_FUNCTIONS = {"argmax": _first_largest}


def one_hot(indices: object, classes: int) -> np.ndarray:
    """Rows of 0s with a 1 at each index; at an opaque (argmax) index, 1 where it equals the class."""
    indices = as_objects(indices)
    out = np.empty(indices.shape + (classes,), dtype=object)
    for index in np.ndindex(indices.shape):
        for k in range(classes):
            hit = sp.Eq(indices[index], k)
            out[index + (k,)] = sp.Integer(int(bool(hit))) if hit in (sp.true, sp.false) else \
                sp.Piecewise((1, hit), (0, True))
    return out


def arg_extremum(array: object, axis: int, largest: bool = True) -> np.ndarray:
    """argmax (or argmin) along ``axis`` as opaque ``argmax`` terms, one per row."""
    array = np.moveaxis(as_objects(array), axis, -1)
    out = np.empty(array.shape[:-1], dtype=object)
    for index in np.ndindex(out.shape):
        row = array[index] if largest else -array[index]
        out[index] = argmax(*row)
    return out


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
