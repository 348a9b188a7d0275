"""A spec's expression as one readable line of unicode maths: ``−Σ_k p_k log p_k``.

:func:`formula` is what ``Spec.formula`` shows, so the text printed by ``symce specs`` and in
the generated kernels' docstrings is rendered from ``Spec.expr`` and cannot drift from it.
:class:`FormulaPrinter` has one ``_print_<Node>`` method per SymPy node a spec is built from;
it names the specs' building blocks where it sees them (``softmax(z)_j`` for
exp(z_j)/Σ_k exp(z_k), ``σ(x)`` for 1/(1 + exp(−x))), writes indices as subscripts (``p_k``),
Greek parameter names as letters (``ε``) and small powers as superscripts (``²``). A node it
has no method for is refused (:class:`UnprintableNode`), never printed some other way.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pretty.pretty_symbology import greek_unicode
from sympy.printing.printer import Printer

from symce.spec.symbols import C

#: how the specs' parameter names read in a formula (Greek names become their letters)
NAMES = {"pos_weight": "pw", "weight": "w", "epsilon_1": "ε₁", "alpha_1": "α₁", "alpha_0": "α₀"}
_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
MINUS = "−"


class UnprintableNode(TypeError):
    """The formula printer has no rule for this kind of node."""


def _softmax_parts(expr: sp.Basic):
    """(v, i) when ``expr`` is exp(v_i) / Σ_k exp(v_k) over all classes, else None."""
    if not (isinstance(expr, sp.Mul) and len(expr.args) == 2):
        return None
    numerator, denominator = sp.fraction(expr)
    if not (isinstance(numerator, sp.exp) and isinstance(numerator.args[0], sp.Indexed)
            and isinstance(denominator, sp.Sum) and isinstance(denominator.function, sp.exp)):
        return None
    entry, term = numerator.args[0], denominator.function.args[0]
    (index, _, _), = denominator.limits
    if not (isinstance(term, sp.Indexed) and term.base == entry.base and term.indices == (index,)):
        return None
    return entry.base, entry.indices[0]


def _sigmoid_argument(expr: sp.Basic):
    """v when ``expr`` is σ(v) = 1 / (1 + exp(−v)), else None."""
    if isinstance(expr, sp.Pow) and expr.exp == -1 and isinstance(expr.base, sp.Add) and len(expr.base.args) == 2:
        rest = expr.base - 1
        if isinstance(rest, sp.exp):
            return -rest.args[0]
    return None


def _is_named(expr: sp.Basic) -> bool:
    """A softmax entry or a sigmoid: printed as one name, like a symbol."""
    return _softmax_parts(expr) is not None or _sigmoid_argument(expr) is not None


def _factors(product: sp.Mul) -> tuple[list, list, list]:
    """The factors of ``product``: (the coefficient's, the functions and sums it multiplies, the
    denominator's)."""
    coefficient, applied, denominator = [], [], []
    for factor in product.as_ordered_factors():
        if isinstance(factor, sp.Pow) and factor.exp.is_negative and not _is_named(factor):
            denominator.append(1 / factor)
        elif isinstance(factor, (sp.Function, sp.Sum)) and not _is_named(factor):
            applied.append(factor)
        else:
            coefficient.append(factor)
    return coefficient, applied, denominator


class FormulaPrinter(Printer):
    """SymPy expressions as one line of unicode maths (see the module docstring)."""

    printmethod = "_symce_formula"

    def doprint(self, expr: sp.Basic) -> str:
        # Σ_k (−f_k) reads as −Σ_k f_k, and its sign then joins the term it is in
        return super().doprint(expr.replace(
            lambda e: isinstance(e, sp.Sum) and e.function.could_extract_minus_sign(),
            lambda e: -sp.Sum(-e.function, *e.limits)))

    def emptyPrinter(self, expr):
        raise UnprintableNode(f"the formula printer has no rule for {type(expr).__name__}: {expr}")

    def _wrap(self, expr: sp.Basic, level: int, strict: bool = False) -> str:
        """``expr`` printed, in parentheses where it binds less tightly than ``level``."""
        text = self._print(expr)
        inner = PRECEDENCE["Atom"] if _is_named(expr) else precedence(expr)
        return f"({text})" if inner < level or (strict and inner == level) else text

    def _is_atomic(self, expr: sp.Basic) -> bool:
        return expr.is_Atom or isinstance(expr, sp.Indexed) or _is_named(expr)

    # ----- atoms ----------------------------------------------------------------------------
    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return NAMES.get(expr.name) or greek_unicode.get(expr.name) or expr.name

    def _print_Dummy(self, expr: sp.Dummy) -> str:
        return self._print_Symbol(expr)

    def _print_IndexedBase(self, expr: sp.IndexedBase) -> str:
        return self._print(expr.label)

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        indices = ",".join(self._print(index) for index in expr.indices)
        subscript = indices if all(i.is_Atom for i in expr.indices) else f"{{{indices}}}"
        return f"{self._print(expr.base)}_{subscript}"

    def _print_Integer(self, expr: sp.Integer) -> str:
        return f"{MINUS}{-expr}" if expr < 0 else str(expr)

    def _print_Rational(self, expr: sp.Rational) -> str:
        return f"{self._print_Integer(sp.Integer(expr.p))}/{expr.q}"

    def _print_Float(self, expr: sp.Float) -> str:
        return str(expr).replace("-", MINUS)

    # ----- arithmetic -----------------------------------------------------------------------
    def _print_Add(self, expr: sp.Add) -> str:
        # positive terms first: σ(x) − b rather than −b + σ(x)
        terms = sorted(expr.as_ordered_terms(), key=lambda term: term.could_extract_minus_sign())
        out = ""
        for term in terms:
            negative = term.could_extract_minus_sign()
            text = self._wrap(-term if negative else term, PRECEDENCE["Add"], strict=negative)
            out += (f" {MINUS} " if out else MINUS) + text if negative else (" + " if out else "") + text
        return out

    def _print_Mul(self, expr: sp.Mul) -> str:
        if _softmax_parts(expr) is not None:
            vector, index = _softmax_parts(expr)
            return f"softmax({self._print(vector)})_{self._print(index)}"
        if expr.could_extract_minus_sign():
            return MINUS + self._wrap(-expr, PRECEDENCE["Mul"])
        coefficient, applied, denominator = _factors(expr)
        # the coefficient over its denominator, then the functions and sums it multiplies: ε/C Σ_k …
        lead = self._product(coefficient)
        if denominator:
            bottom = self._product(denominator)
            single = len(denominator) == 1 and self._is_atomic(denominator[0])
            lead = f"{lead or '1'}/{bottom if single else f'({bottom})'}"
        return " ".join(part for part in (lead, self._product(applied)) if part)

    def _product(self, factors: list[sp.Expr]) -> str:
        """Factors side by side; a function of an atom is written without parentheses
        (``p_k log p_k``) only where nothing follows it."""
        parts = []
        for position, factor in enumerate(factors):
            last = position == len(factors) - 1
            text = self._print(factor) if last else self._print_bracketed(factor)
            parts.append(self._wrap_text(factor, text))
        return " ".join(parts)

    def _wrap_text(self, factor: sp.Expr, text: str) -> str:
        inner = PRECEDENCE["Atom"] if _is_named(factor) else precedence(factor)
        return f"({text})" if inner < PRECEDENCE["Mul"] else text

    def _print_bracketed(self, expr: sp.Expr) -> str:
        """``expr`` with its function's argument in parentheses (it is followed by another factor)."""
        if isinstance(expr, (sp.log, sp.exp)) and not _is_named(expr):
            return f"{type(expr).__name__}({self._print(expr.args[0])})"
        if isinstance(expr, sp.Sum):
            return f"({self._print(expr)})"
        return self._print(expr)

    def _print_Pow(self, expr: sp.Pow) -> str:
        argument = _sigmoid_argument(expr)
        if argument is not None:
            return f"σ({self._print(argument)})"
        if expr.exp.is_negative:
            return self._print_Mul(sp.Mul(1, expr, evaluate=False)) if expr.exp == -1 else \
                f"1/{self._wrap(1 / expr, PRECEDENCE['Pow'])}"
        base = self._wrap(expr.base, PRECEDENCE["Pow"], strict=True)
        if expr.exp.is_Integer and expr.exp > 0:
            return base + str(expr.exp).translate(_SUPERSCRIPTS)
        return f"{base}^{self._wrap(expr.exp, PRECEDENCE['Pow'], strict=True)}"

    # ----- sums and functions ---------------------------------------------------------------
    def _print_Sum(self, expr: sp.Sum) -> str:
        (index, low, high), = expr.limits
        under = self._print(index) if (low, high) == (0, C - 1) else \
            f"{{{self._print(index)}={self._print(low)}}}^{{{self._print(high)}}}"
        return f"Σ_{under} {self._wrap(expr.function, PRECEDENCE['Mul'])}"

    def _function(self, name: str, argument: sp.Expr) -> str:
        text = self._print(argument)
        return f"{name} {text}" if self._is_atomic(argument) else f"{name}({text})"

    def _print_log(self, expr: sp.log) -> str:
        return self._function("log", expr.args[0])

    def _print_exp(self, expr: sp.exp) -> str:
        return f"exp({self._print(expr.args[0])})"

    def _print_log1p(self, expr: sp.Function) -> str:
        return f"log1p({self._print(expr.args[0])})"

    def _print_Max(self, expr: sp.Max) -> str:
        return f"max({', '.join(self._print(arg) for arg in sorted(expr.args, key=sp.default_sort_key))})"

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"|{self._print(expr.args[0])}|"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> str:
        return f"δ_{{{''.join(self._print(arg) for arg in expr.args)}}}"


def formula(expr: sp.Expr) -> str:
    """``expr`` as one line of unicode maths; a building block on its own (the softmax spec) by
    its definition, not its name."""
    printer = FormulaPrinter()
    if _is_named(expr):
        numerator, denominator = sp.fraction(expr)
        return f"{printer.doprint(numerator)}/{printer._wrap(denominator, PRECEDENCE['Mul'], strict=True)}"
    return printer.doprint(expr)
