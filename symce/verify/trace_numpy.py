"""Trace NumPy code into SymPy: an array type whose entries are expressions.

``SymbolicArray`` is an ``object`` ndarray, so indexing, fancy indexing, reshape, transpose,
broadcasting and ``take_along_axis`` work as NumPy does them; every ufunc (``np.exp``,
``np.log1p``, ``+``, ``np.maximum``, reductions such as ``sum``/``max``/``mean``, ``np.clip``)
comes through ``__array_ufunc__`` and is given its meaning by :mod:`symce.verify.ops`;
``np.where`` with a symbolic condition and products (``np.dot``, ``ndarray.dot``) come through
``__array_function__``. The array says it holds float64 (so ``np.finfo(x.dtype)`` and
``x.astype(np.float64)`` work as in real code); functions that do not dispatch on their
argument (``np.asarray``, scipy's ``logsumexp``) are handled by :mod:`symce.verify.patches`.
"""
from __future__ import annotations

import numpy as np

from symce.verify import ops
from symce.verify.ops import TraceError


def _plain(value: object) -> object:
    return value.view(np.ndarray) if isinstance(value, SymbolicArray) else value


def wrap(value: object) -> "SymbolicArray":
    """A SymbolicArray holding ``value`` (0-d for a scalar, so NumPy keeps dispatching to us)."""
    return ops.as_objects(_plain(value)).view(SymbolicArray)


#: functions computed on object arrays whose every entry is SymPy (floats as exact rationals)
_ON_OBJECTS = {np.dot, np.vdot, np.inner, np.outer, np.tensordot, np.einsum, np.concatenate, np.stack,
               np.hstack, np.vstack, np.column_stack, np.cumsum, np.diff, np.trace, np.diagonal}


def _objects(value: object) -> object:
    """An argument as SymPy entries: arrays and array-like lists converted, others as they are."""
    if isinstance(value, (list, tuple)):
        return type(value)(_objects(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufcO":
        return ops.as_objects(_plain(value))
    return value


class SymbolicArray(np.ndarray):
    """An ndarray of SymPy expressions that NumPy's ufuncs and functions dispatch to."""

    @property
    def dtype(self):
        """float64, what the traced code was given (the entries are SymPy objects)."""
        return np.dtype(np.float64)

    def astype(self, dtype, *args, **kwargs):
        kind = np.dtype(dtype).kind
        if kind == "f":
            return wrap(ops.floats(_plain(self)))
        if kind == "b":
            return ops.decided(_plain(self))
        raise TraceError(f"the function converts a traced value to {np.dtype(dtype)}")

    def __getitem__(self, index):
        out = super().__getitem__(_mask(index))
        return out if isinstance(out, np.ndarray) else wrap(out)

    def __setitem__(self, index, value):
        # store expressions, not the 0-d arrays that arithmetic on an entry returns
        value = ops.as_objects(_plain(value))
        super().__setitem__(_mask(index), value[()] if value.ndim == 0 else value)

    def dot(self, other, out=None):
        return wrap(np.dot(ops.as_objects(_plain(self)), ops.as_objects(_plain(other))))

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if kwargs.pop("where", True) is not True:
            raise TraceError(f"np.{ufunc.__name__} with a where= mask is not supported")
        for ignored in ("casting", "dtype", "subok", "order"):
            kwargs.pop(ignored, None)
        kwargs = {key: value for key, value in kwargs.items() if value is not np._NoValue}
        if "initial" in kwargs:
            raise TraceError(f"np.{ufunc.__name__}.{method} with initial= is not supported")
        plain = [ops.as_objects(_plain(value)) for value in inputs]
        if ufunc is np.matmul:
            result = np.matmul(*plain)
        elif method == "__call__":
            result = ops.object_ufunc(ufunc.__name__)(*plain)
        elif method == "reduce":
            result = ops.reduce(ufunc.__name__, plain[0], kwargs.get("axis", 0), kwargs.get("keepdims", False))
        else:
            raise TraceError(f"np.{ufunc.__name__}.{method} is not supported by the symbolic tracer")
        result = wrap(result)
        if out:
            out[0][...] = result
            return out[0]
        return result

    def __array_function__(self, func, types, args, kwargs):
        if func is np.where and len(args) == 3:
            return wrap(ops.where(*[_plain(a) for a in args]))
        if func in (np.argmax, np.argmin):
            return wrap(ops.arg_extremum(_plain(args[0]), kwargs.get("axis", args[1] if len(args) > 1 else -1),
                                         largest=func is np.argmax))
        if func in _ON_OBJECTS:
            return wrap(func(*_objects(args), **kwargs))
        return super().__array_function__(func, types, args, kwargs)

    def __bool__(self):
        entries = self.view(np.ndarray).ravel()
        if entries.size != 1:
            raise TraceError("the truth value of a traced array of more than one entry")
        return ops.decide(ops.to_sympy(entries[0]))

    def __float__(self):
        raise TraceError("the function converts a traced value to a Python float")

    def item(self, *args):
        if args:
            raise TraceError("the function calls .item() with an index on a traced array")
        return ops.item(_plain(self), "array")


def _mask(index):
    """An index as NumPy takes it: an object array of traced conditions or integers through
    ``ops.index_of``."""
    if isinstance(index, tuple):
        return tuple(_mask(i) for i in index)
    if isinstance(index, np.ndarray) and _plain(index).dtype == object:
        return ops.index_of(_plain(index))
    return index


def symbolic(objects: np.ndarray) -> SymbolicArray:
    """The array the traced function receives for one input."""
    return wrap(objects)


def expressions(result: object) -> np.ndarray:
    """What the traced function returned, as an object array of SymPy expressions."""
    if isinstance(result, tuple):
        raise TraceError("the function returned a tuple; return the loss (or gradient) only")
    return ops.as_objects(_plain(result))


def concrete(values: np.ndarray) -> np.ndarray:
    """An input with concrete values (integer labels) is passed as the plain array it is."""
    return values
