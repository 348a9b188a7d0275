"""A printer for the scalar bodies of numba kernels.

SymPy's NumPy printer emits constructs nopython mode does not compile
(``functools.reduce(numpy.maximum, …)``, ``numpy.select``), so kernels are printed as plain
scalar Python: ``math.*`` calls, ``max``/``abs`` and conditional expressions, which numba
compiles to straight-line machine code. One ``_print_<Node>`` per node; anything without a
method here (a Sum left un-named, a Derivative, an unknown function) raises
:class:`UnsupportedNode` instead of printing something numba would reject or misread.
"""
from __future__ import annotations

from typing import Mapping

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter


class UnsupportedNode(TypeError):
    """A SymPy node the kernel printer has no translation for."""


class Sigmoid(sp.Function):
    """σ(v) = 1 / (1 + exp(−v)), kept whole so the kernel evaluates it without overflow."""

    nargs = 1

    def fdiff(self, argindex=1):
        return self * (1 - self)


class XLogX(sp.Function):
    """v·log v with its limit 0 at v = 0 (the 0·log 0 = 0 convention of entropy and torch's xlogy)."""

    nargs = 1


#: functions numba compiles from the math module, SymPy name → Python name
MATH_FUNCTIONS = {
    "exp": "math.exp", "log": "math.log", "log1p": "math.log1p", "expm1": "math.expm1",
    "sqrt": "math.sqrt", "tanh": "math.tanh",
}

#: helpers every generated module defines (numba functions), by the SymPy function they print
HELPERS = {
    "Sigmoid": '''\
@numba.njit(cache=True)
def sigmoid(v):
    """σ(v) = 1/(1 + exp(−v)); for v < 0 as exp(v)/(1 + exp(v)) (the same ratio times exp(v)/exp(v)),
    so neither form overflows and a tiny σ keeps its relative precision."""
    if v >= 0.0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)
''',
    "XLogX": '''\
@numba.njit(cache=True)
def xlogx(v):
    """v·log v, and 0 at v = 0 (its limit) — torch's xlogy(v, v)."""
    if v == 0.0:
        return 0.0
    return v * math.log(v)
''',
}


class KernelPrinter(PythonCodePrinter):
    """Prints a scalar SymPy expression as numba-compilable Python.

    ``names`` maps symbols to the code that reads them (``epsilon`` → ``label_smoothing``),
    ``arrays`` maps an IndexedBase to a format string with one ``{}`` for the index
    (``z`` → ``np.float64(logits[i, {}])``).
    """

    printmethod = "_numba_kernel"

    def __init__(self, names: Mapping[sp.Basic, str] | None = None,
                 arrays: Mapping[sp.IndexedBase, str] | None = None):
        super().__init__({"strict": True, "fully_qualified_modules": True})
        self._names = dict(names or {})
        self._arrays = dict(arrays or {})

    def emptyPrinter(self, expr):
        raise UnsupportedNode(f"the kernel printer cannot print {type(expr).__name__}: {expr}")

    # ----- atoms ------------------------------------------------------------------------
    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)

    def _print_Dummy(self, expr):
        raise UnsupportedNode(f"dummy symbol {expr} in a kernel body")

    def _print_Indexed(self, expr):
        if expr.base not in self._arrays:
            raise UnsupportedNode(f"no array is bound to {expr.base} (in {expr})")
        index, = expr.indices
        return self._arrays[expr.base].format(self._print(index))

    def _print_Integer(self, expr):
        return str(int(expr))

    def _print_Rational(self, expr):
        return f"{int(expr.p)}.0/{int(expr.q)}.0"

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Half(self, expr):
        return "0.5"

    def _print_NegativeOne(self, expr):
        return "-1"

    def _print_Exp1(self, expr):
        return "math.e"

    def _print_Infinity(self, expr):
        return "math.inf"

    def _print_NegativeInfinity(self, expr):
        return "-math.inf"

    # ----- functions --------------------------------------------------------------------
    def _print_math(self, expr):
        return f"{MATH_FUNCTIONS[type(expr).__name__]}({self._print(expr.args[0])})"

    _print_exp = _print_log = _print_log1p = _print_expm1 = _print_sqrt = _print_tanh = _print_math

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(sp.Float(a) if a.is_Number else a) for a in expr.args) + ")"

    def _print_Min(self, expr):
        return "min(" + ", ".join(self._print(sp.Float(a) if a.is_Number else a) for a in expr.args) + ")"

    def _print_Sigmoid(self, expr):
        return f"sigmoid({self._print(expr.args[0])})"

    def _print_XLogX(self, expr):
        return f"xlogx({self._print(expr.args[0])})"

    def _print_KroneckerDelta(self, expr):
        left, right = (self._print(a) for a in expr.args)
        return f"(1.0 if {left} == {right} else 0.0)"

    def _print_Piecewise(self, expr):
        *pieces, (last, cond) = expr.args
        if cond != sp.true:
            raise UnsupportedNode(f"a Piecewise without an otherwise branch: {expr}")
        out = self._print(last)
        for value, condition in reversed(pieces):
            out = f"({self._print(value)} if {self._print(condition)} else {out})"
        return out

    # ----- refused explicitly (PythonCodePrinter would print a slow or wrong form) ------
    def _print_unsupported(self, expr):
        raise UnsupportedNode(f"the kernel printer cannot print {type(expr).__name__}: {expr}")

    _print_Sum = _print_Product = _print_Integral = _print_Derivative = _print_unsupported
    _print_Function = _print_Lambda = _print_MatrixBase = _print_unsupported


def helpers_for(exprs) -> list[str]:
    """Source of the helper functions the printed ``exprs`` call, in a fixed order."""
    used = {type(f).__name__ for e in exprs for f in e.atoms(sp.Function)}
    return [source for name, source in sorted(HELPERS.items()) if name in used]
