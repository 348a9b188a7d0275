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


#: every generated function's numba options: cached (a source file per family), and IEEE
#: division (inf/nan, as torch gives) instead of Python's ZeroDivisionError check, whose branch
#: also stops a loop from vectorising
JIT_OPTIONS = "cache=True, error_model='numpy'"

#: reassoc lets LLVM vectorise the row sums (their order is free); contract allows FMA. No
#: nnan/ninf/nsz: inf and nan keep their IEEE meaning, which the plain-row branch relies on.
FASTMATH = "{'reassoc', 'contract'}"


class UnsupportedNode(TypeError):
    """A SymPy node the kernel printer has no translation for."""


class Sigmoid(sp.Function):
    """σ(v) = 1 / (1 + exp(−v)), kept whole so the kernel evaluates it without overflow
    (:meth:`through_exp_of_minus_abs`)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def through_exp_of_minus_abs(self) -> sp.Expr:
        """σ(v) = 1/(1 + E) for v ≥ 0 and E/(1 + E) below (the same ratio times exp(v)/exp(v)),
        E = exp(−|v|) ≤ 1: neither form overflows, a tiny σ keeps its relative precision, and the
        choice is a select, so a loop over σ vectorises."""
        v, = self.args
        e = sp.exp(-sp.Abs(v))
        return sp.Piecewise((1 / (1 + e), v >= 0), (e / (1 + e), True))


def sigmoids_written_out(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every σ written through E = exp(−|v|), before common subexpressions are
    named: σ(v), σ(−v) and softplus's log1p(exp(−|v|)) then share one exponential, where a
    σ helper would compute one per call (three per element of a BCE-with-logits gradient)."""
    return expr.replace(lambda e: isinstance(e, Sigmoid), lambda e: e.through_exp_of_minus_abs())


class XLogX(sp.Function):
    """v·log v with its limit 0 at v = 0 (the 0·log 0 = 0 convention of entropy and torch's xlogy)."""

    nargs = 1


#: functions numba compiles from the math module, SymPy name → Python name (exp and log1p have
#: symce.runtime's)
MATH_FUNCTIONS = {
    "log": "math.log", "log1p": "math.log1p", "expm1": "math.expm1",
    "sqrt": "math.sqrt", "tanh": "math.tanh",
}

class KernelPrinter(PythonCodePrinter):
    """Prints a scalar SymPy expression as numba-compilable Python.

    ``names`` maps symbols to the code that reads them (``epsilon`` → ``label_smoothing``),
    ``arrays`` maps an IndexedBase to a format string with one ``{}`` for the index
    (``z`` → ``np.float64(logits[i, {}])``), ``fixed`` maps single elements to code that
    replaces the array read (a value loaded once, before the buffer it lives in is overwritten)
    and whole nodes to code that replaces them (a relation, a log1p computed ahead), and
    ``exponentials`` maps an element x to the code of exp(x) (an exponential computed once in
    the row's own dtype, or stored in an output buffer).
    """

    printmethod = "_numba_kernel"

    def __init__(self, names: Mapping[sp.Basic, str] | None = None,
                 arrays: Mapping[sp.IndexedBase, str] | None = None,
                 fixed: Mapping[sp.Basic, str] | None = None,
                 exponentials: Mapping[sp.Indexed, str] | None = None):
        super().__init__({"strict": True, "fully_qualified_modules": True})
        self._names = dict(names or {})
        self._arrays = dict(arrays or {})
        self._fixed = dict(fixed or {})
        self._exponentials = dict(exponentials or {})

    def with_elements(self, fixed: Mapping[sp.Basic, str] | None = None,
                      exponentials: Mapping[sp.Indexed, str] | None = None,
                      names: Mapping[sp.Basic, str] | None = None) -> "KernelPrinter":
        """This printer with more ``fixed`` elements (or relations), ``exponentials`` and ``names``
        (those given win)."""
        return KernelPrinter({**self._names, **(names or {})}, self._arrays, {**self._fixed, **(fixed or {})},
                             {**self._exponentials, **(exponentials or {})})

    def emptyPrinter(self, expr):
        raise UnsupportedNode(f"the kernel printer cannot print {type(expr).__name__}: {expr}")

    # ----- atoms ------------------------------------------------------------------------
    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)

    def _print_Relational(self, expr):
        if expr in self._fixed:
            return self._fixed[expr]
        return super()._print_Relational(expr)

    def _print_Dummy(self, expr):
        raise UnsupportedNode(f"dummy symbol {expr} in a kernel body")

    def _print_Indexed(self, expr):
        if expr in self._fixed:
            return self._fixed[expr]
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

    _print_log = _print_expm1 = _print_sqrt = _print_tanh = _print_math

    def _print_log1p(self, expr):
        if expr in self._fixed:
            return self._fixed[expr]
        return f"fast_log1p({self._print(expr.args[0])})"

    def _print_exp(self, expr):
        argument = expr.args[0]
        if argument in self._exponentials:
            return self._exponentials[argument]
        helper = "fast_exp_nonpositive" if argument.is_nonpositive else "fast_exp"
        return f"{helper}({self._print(argument)})"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(sp.Float(a) if a.is_Number else a) for a in expr.args) + ")"

    def _print_Min(self, expr):
        return "min(" + ", ".join(self._print(sp.Float(a) if a.is_Number else a) for a in expr.args) + ")"

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
