"""Trace NumPy code into SymPy: an array type whose entries are expressions.

``SymbolicArray`` is an ``object`` ndarray, so indexing, fancy indexing, reshape, transpose,
broadcasting and ``take_along_axis`` work as NumPy does them; every ufunc (``np.exp``,
``np.log1p``, ``+``, ``np.maximum``, reductions such as ``sum``/``max``/``mean``, ``np.clip``)
comes through ``__array_ufunc__`` and is given its meaning by :mod:`symce.verify.ops`;
``np.where`` with a symbolic condition comes through ``__array_function__``.
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


class SymbolicArray(np.ndarray):
    """An ndarray of SymPy expressions that NumPy's ufuncs and functions dispatch to."""

    def __getitem__(self, index):
        out = super().__getitem__(index)
        return out if isinstance(out, np.ndarray) else wrap(out)

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
        return super().__array_function__(func, types, args, kwargs)

    def __bool__(self):
        entries = self.view(np.ndarray).ravel()
        if entries.size == 1 and ops.to_sympy(entries[0]).is_number:
            return bool(entries[0])
        raise TraceError("the function branches on a value computed from its inputs")

    def __float__(self):
        raise TraceError("the function converts a traced value to a Python float")

    def item(self, *args):
        raise TraceError("the function converts a traced value to a Python number (.item())")


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
