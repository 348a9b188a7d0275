"""Library functions that do not dispatch on their argument, kept symbolic while a trace runs.

``np.asarray(x)`` and ``np.array(x)`` turn a SymbolicArray into a plain object array (NumPy
offers no hook for them), and scipy's ``logsumexp``/``softmax``/``log_softmax`` are Python
functions built on them. While a NumPy trace runs, ``symbolic_library`` puts a replacement in
their place — in the library module and in each namespace the traced code reads them from
(``from scipy.special import logsumexp``) — that handles traced arrays and hands anything else
to the original. Everything is put back when the trace ends.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable

import numpy as np

from symce.verify import ops
from symce.verify.ops import TraceError
from symce.verify.trace_numpy import SymbolicArray, wrap


def _holds_traced(value: object) -> bool:
    if isinstance(value, SymbolicArray):
        return True
    return isinstance(value, (list, tuple)) and any(_holds_traced(v) for v in value)


def _stacked(value: object) -> np.ndarray:
    """A traced array, or a (nested) list holding some, as one object array of expressions."""
    if isinstance(value, (list, tuple)):
        return np.stack([_stacked(v) for v in value])
    return ops.as_objects(value.view(np.ndarray) if isinstance(value, SymbolicArray) else value)


def _array_constructor(original: Callable, copies: bool) -> Callable:
    def construct(value, dtype=None, *args, **kwargs):
        if not _holds_traced(value):
            return original(value, dtype, *args, **kwargs)
        if dtype is not None and np.dtype(dtype).kind not in "fcO":
            raise TraceError(f"np.{original.__name__} converts a traced value to {np.dtype(dtype)}")
        if isinstance(value, SymbolicArray) and not copies:
            return value
        return wrap(_stacked(value))
    construct.__name__ = original.__name__
    construct.__doc__ = f"np.{original.__name__}, keeping traced arrays symbolic."
    return construct


def _logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    if b is not None or return_sign:
        raise TraceError("scipy.special.logsumexp with b= or return_sign= is not supported by the tracer")
    return wrap(ops.logsumexp(a.view(np.ndarray), axis, keepdims))


def _softmax(x, axis=None):
    return wrap(ops.softmax(x.view(np.ndarray), axis))


def _log_softmax(x, axis=None):
    return wrap(ops.log_softmax(x.view(np.ndarray), axis))


def _on_traced(original: Callable, replacement: Callable) -> Callable:
    def dispatch(x, *args, **kwargs):
        return replacement(x, *args, **kwargs) if isinstance(x, SymbolicArray) else original(x, *args, **kwargs)
    dispatch.__name__ = original.__name__
    dispatch.__doc__ = f"{original.__module__}.{original.__name__}, tracing SymbolicArray arguments."
    return dispatch


def _replacements() -> dict[int, tuple[object, Callable]]:
    """id(original) -> (original, replacement), for the functions that are installed."""
    table = {}
    for name, copies in (("array", True), ("asarray", False), ("asanyarray", False),
                         ("ascontiguousarray", False), ("asfortranarray", False)):
        original = getattr(np, name)
        table[id(original)] = (original, _array_constructor(original, copies))
    special = sys.modules.get("scipy.special")  # only code that imported scipy can call it
    if special is None:
        return table
    for name, replacement in (("logsumexp", _logsumexp), ("softmax", _softmax), ("log_softmax", _log_softmax)):
        original = getattr(special, name, None)
        if original is not None:
            table[id(original)] = (original, _on_traced(original, replacement))
    return table


@contextmanager
def symbolic_library(namespaces: list[dict]):
    """Within the block, the replacements stand in numpy's and scipy.special's namespaces and in
    ``namespaces`` (the traced code's globals) wherever an original stood."""
    table = _replacements()
    modules = [vars(np)] + ([vars(sys.modules["scipy.special"])] if "scipy.special" in sys.modules else [])
    swapped = []
    for names in modules + list(namespaces):
        for key, value in list(names.items()):
            entry = table.get(id(value))
            if entry is not None and entry[0] is value:
                names[key] = entry[1]
                swapped.append((names, key, value))
    try:
        yield
    finally:
        for names, key, value in reversed(swapped):
            names[key] = value

