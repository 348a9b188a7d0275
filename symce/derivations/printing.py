"""Printers for derivations: a LaTeX ``align*`` block, a Markdown list, and terminal text.

Expressions go through SymPy printer subclasses (one ``_print_<Node>`` per node that needs
its own notation: abbreviations, sums over classes, Kronecker deltas, derivatives); the
layout of the steps is the only thing written here by hand.
"""
from __future__ import annotations

from typing import Callable

import sympy as sp
from sympy.printing.latex import LatexPrinter, greek_letters_set
from sympy.printing.str import StrPrinter

from symce.derivations.core import Derivation, Step
from symce.spec.symbols import C

#: prints a relation (a formula, a given) in one format's notation
Math = Callable[[sp.Basic], str]

FORMATS = ("latex", "markdown", "text")


class DerivationLatexPrinter(LatexPrinter):
    """LaTeX with a derivation's abbreviations printed as their names and ∂ for gradients."""

    def __init__(self, derivation: Derivation):
        super().__init__({"fold_short_frac": False})
        self.names = {a.symbol: a.latex for a in derivation.abbreviations}

    def _print_Symbol(self, expr, style="plain"):
        if expr in self.names:
            return self.names[expr]
        if len(expr.name) > 1 and expr.name.lower() not in greek_letters_set:
            # a parameter's name (keep, pos_weight) is a word, not a product of letters with a subscript
            return rf"\mathrm{{{_latex_text(expr.name)}}}"
        return super()._print_Symbol(expr, style)

    def _print_Indexed(self, expr):
        if expr.base in self.names:
            return f"{self.names[expr.base]}_{{{','.join(map(self._print, expr.indices))}}}"
        return f"{expr.base.label}_{{{','.join(map(self._print, expr.indices))}}}"

    def _print_KroneckerDelta(self, expr, exp=None):
        return r"\delta_{%s}" % "".join(map(self._print, expr.args))

    def _print_Derivative(self, expr):
        (variable, order), = expr.variable_count
        d = r"\partial" if isinstance(variable, sp.Indexed) else "d"
        of = self._print(expr.expr)
        if isinstance(expr.expr, (sp.Symbol, sp.Indexed)):
            return rf"\frac{{{d} {of}}}{{{d} {self._print(variable)}}}"
        return rf"\frac{{{d}}}{{{d} {self._print(variable)}}}\left[{of}\right]"


class DerivationStrPrinter(StrPrinter):
    """Terminal text: abbreviations by name, Σ_k for a sum over all classes, δ(j,k), ∂/∂z[j]."""

    # Indexed brings its own ``_sympystr``, which would win over ``_print_Indexed``
    printmethod = "_symce_str"

    def __init__(self, derivation: Derivation):
        super().__init__()
        self.names = {a.symbol: a.text for a in derivation.abbreviations}

    def _print_Symbol(self, expr):
        return self.names.get(expr) or super()._print_Symbol(expr)

    def _print_Indexed(self, expr):
        indices = ",".join(map(self._print, expr.indices))
        return f"{self.names[expr.base]}[{indices}]" if expr.base in self.names else f"{expr.base.label}[{indices}]"

    def _print_Sum(self, expr):
        (index, low, high), = expr.limits
        over = f"_{index}" if (low, high) == (0, C - 1) else f"_{{{index}={low}..{high}}}"
        return f"Σ{over}({self._print(expr.function)})"

    def _print_Equality(self, expr):
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_KroneckerDelta(self, expr):
        return "δ(%s)" % ",".join(map(self._print, expr.args))

    def _print_Derivative(self, expr):
        (variable, order), = expr.variable_count
        d = "∂" if isinstance(variable, sp.Indexed) else "d"
        of = self._print(expr.expr)
        if isinstance(expr.expr, (sp.Symbol, sp.Indexed)):
            return f"{d}{of}/{d}{self._print(variable)}"
        return f"{d}/{d}{self._print(variable)}[{of}]"


def _latex_text(text: str) -> str:
    """``text`` safe inside ``\\text{}``."""
    special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "%": r"\%", "&": r"\&",
               "#": r"\#", "$": r"\$", "^": r"\^{}", "~": r"\~{}"}
    return "".join(special.get(char, char) for char in text)


def _annotation(step: Step, math: Math) -> tuple[str, str, str]:
    """A step's rule name, its formula and the relations the step gives, the last two printed
    by ``math`` ("" where there are none). A formula that is itself given (the assumption
    Σ_k y_k = 1 cited as the rule) is printed once, as a given: it is assumed, not proven."""
    formula = step.rule.formula
    stated = "" if formula is None or formula in step.given else math(formula)
    return step.rule.name, stated, ", ".join(map(math, step.given))


def _rule_latex(step: Step, printer: LatexPrinter) -> str:
    name, formula, givens = _annotation(step, printer.doprint)
    return (rf"\text{{({_latex_text(name)}}}" + (rf"\text{{: }} {formula}" if formula else "")
            + (rf"\text{{; given }} {givens}" if givens else "") + r"\text{)}")


def _rule_plain(step: Step, math: Math) -> str:
    """``name: formula; given g₁, g₂`` (the text and Markdown form)."""
    name, formula, givens = _annotation(step, math)
    return name + (f": {formula}" if formula else "") + (f"; given {givens}" if givens else "")


def checked(derivation: Derivation, math: Math) -> str:
    """One line on how SymPy checked the derivation, its givens printed by ``math``."""
    under = (f" under the givens {', '.join(map(math, derivation.givens))}"
             if derivation.givens else "")
    return (f"every step for {derivation.status}{under}; the result equals the known closed form "
            f"(checked for {derivation.target_status})")


def _link_status(derivation: Derivation, index: int) -> str:
    return f"checked for {derivation.checks[index].status}"


def to_latex(derivation: Derivation) -> str:
    """A complete ``align*`` block: ``lhs &= e₀ && (rule) \\\\ &= e₁ && (rule) …``.

    A LaTeX comment above it says what the derivation shows and how SymPy checked it (in the
    text notation: a comment is read, not typeset).
    """
    printer = DerivationLatexPrinter(derivation)
    lines = [f"% {derivation.title}",
             f"% checked by SymPy (symce): {checked(derivation, DerivationStrPrinter(derivation).doprint)}",
             r"\begin{align*}"]
    for index, step in enumerate(derivation.steps):
        left = printer.doprint(derivation.lhs) + " " if index == 0 else ""
        end = r" \\" if index < len(derivation.steps) - 1 else ""
        lines.append(f"{left}&= {printer.doprint(step.expr)} && {_rule_latex(step, printer)}{end}")
    lines.append(r"\end{align*}")
    return "\n".join(lines)


def to_markdown(derivation: Derivation) -> str:
    """A heading line, the left-hand side, then one numbered item per step: ``$= e$`` — rule."""
    printer = DerivationLatexPrinter(derivation)

    def math(relation: sp.Basic) -> str:
        return f"${printer.doprint(relation)}$"

    lines = [f"**{derivation.title}**", "",
             f"Checked by SymPy: {checked(derivation, math)}.", "",
             f"$${printer.doprint(derivation.lhs)}$$", ""]
    for index, step in enumerate(derivation.steps):
        lines.append(f"{index + 1}. $\\displaystyle = {printer.doprint(step.expr)}$ — *{_rule_plain(step, math)}* "
                     f"({_link_status(derivation, index)})")
    return "\n".join(lines)


def to_text(derivation: Derivation) -> str:
    """One step per line, ``= expression`` with ``[rule]`` aligned to the right of the longest."""
    printer = DerivationStrPrinter(derivation)
    expressions = [printer.doprint(step.expr) for step in derivation.steps]
    width = max(len(e) for e in expressions)
    lines = [derivation.title, f"(checked by SymPy: {checked(derivation, printer.doprint)})", "",
             printer.doprint(derivation.lhs)]
    for step, expression in zip(derivation.steps, expressions):
        lines.append(f"  = {expression:<{width}}   [{_rule_plain(step, printer.doprint)}]")
    return "\n".join(lines)


RENDERERS = {"latex": to_latex, "markdown": to_markdown, "text": to_text}


def render(derivation: Derivation, fmt: str) -> str:
    """``derivation`` in the format ``fmt`` (one of :data:`FORMATS`)."""
    try:
        return RENDERERS[fmt](derivation)
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
