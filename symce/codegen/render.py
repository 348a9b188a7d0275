"""The pieces every generated kernel's text is made of: the layout constants it uses by name, the
decorators, docstrings, if/else nests, scaled values and commented intermediates.

What to render comes from :mod:`symce.codegen.planner`; nothing here decides what a kernel computes.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping, Sequence

import sympy as sp
from sympy.printing.str import StrPrinter

from symce.codegen.planner import SUMMED_OUTPUT, Arg, Assignment, Kernel, buffers
from symce.codegen.printer import FASTMATH, JIT_OPTIONS, KernelPrinter
from symce.codegen.program import argmax
from symce.codegen.rewrites import zs
from symce.layout import CHUNK

INDENT = "    "

#: the public function that writes a kernel's buffer over its first input: ``<name>_in_place``
IN_PLACE = "{}_in_place"

#: a row's loss, before it is stored or added to its task's total
ROW_LOSS = "_loss"


# ----- comments: what an intermediate holds ----------------------------------------------------
class _MathPrinter(StrPrinter):
    """A one-line formula for a comment: z_k − m for a shifted logit, w_t for a read, a for the argmax."""

    printmethod = "_symce_formula"  # not Indexed's own _sympystr

    def _print_Indexed(self, expr):
        index = ", ".join(self._print(i) for i in expr.indices)
        if expr.base == zs:
            return f"(z_{index} − m)"
        return f"{expr.base}_{index}"

    def _print_exp(self, expr):
        argument = expr.args[0]
        if isinstance(argument, sp.Indexed) and argument.base == zs:
            return f"exp(z_{self._print(argument.indices[0])} − m)"
        return f"exp({self._print(argument)})"

    def _print_Symbol(self, expr):
        return "a" if expr == argmax else super()._print_Symbol(expr)


def formula(expr: sp.Basic) -> str:
    """``expr`` as a formula in a comment (Σ and ≠ where the caller writes them)."""
    return _MathPrinter().doprint(expr)


def assignments(printer: KernelPrinter, intermediates: Sequence[Assignment], indent: str) -> list[str]:
    """``_tmpN = value  # formula`` for each intermediate."""
    return [f"{indent}{a.symbol} = {printer.doprint(a.value)}  # {formula(a.value)}" for a in intermediates]


# ----- Python around the loops -----------------------------------------------------------------
def decorator() -> str:
    return f"@numba.njit({JIT_OPTIONS}, parallel=True, fastmath={FASTMATH})"


def inner_decorator() -> str:
    """A row's or a chunk's own function, called from the prange loop: numba's parfor lowering
    drops a prange body's fastmath flags, and with them the vectorised sums; a callee keeps its own."""
    return f"@numba.njit({JIT_OPTIONS}, fastmath={FASTMATH})"


def nested(args: Sequence[Arg], leaf: Callable[[frozenset[str], str], list[str]], indent: str,
           chosen: frozenset[str] = frozenset()) -> list[str]:
    """``leaf(chosen, indent)`` under one if/else per argument that may be at its default (the order of
    :func:`symce.codegen.planner.leaves`)."""
    if not args:
        return leaf(chosen, indent)
    first, rest = args[0], args[1:]
    return [f"{indent}if {first.at_default}:", *nested(rest, leaf, indent + INDENT, chosen | {first.name}),
            f"{indent}else:", *nested(rest, leaf, indent + INDENT, chosen)]


def python_condition(args: Sequence[Arg], chosen_sets: Sequence[frozenset[str]]) -> str:
    """The test, in the kernel's Python, that its arguments pick one of the :func:`nested` leaves
    ``chosen_sets`` (each the names of the arguments at their defaults there), simplified
    (sympy.simplify_logic): "True", "False", or e.g. "not (label_smoothing == 0.0)"."""
    at_default = {a.name: sp.Symbol(a.name) for a in args}
    tests = {symbol: a.at_default for a, symbol in zip(args, at_default.values())}
    condition = sp.logic.boolalg.simplify_logic(sp.Or(*[
        sp.And(*[symbol if name in chosen else sp.Not(symbol) for name, symbol in at_default.items()])
        for chosen in chosen_sets]))

    def python(expr) -> str:
        if expr in (sp.true, sp.false):
            return str(bool(expr))
        if isinstance(expr, sp.Symbol):
            return f"({tests[expr]})"
        if isinstance(expr, sp.Not):
            return f"not {python(expr.args[0])}"
        joiner = " and " if isinstance(expr, sp.And) else " or "
        return "(" + joiner.join(sorted(python(arg) for arg in expr.args)) + ")"
    return python(condition)


def scaled(kernel: Kernel, output: str, value: sp.Expr, printer: KernelPrinter, scale_code: str | None = None) -> str:
    """``value``, printed, times the output's scale: ``scale_code`` when given, a row's ``_scale``
    (row kernels), else element i's.

    A value that is identically 0 stays 0 whatever the scale, as torch's gradients are (an nll
    gradient off the target class under an infinite 'mean' scale is 0, not 0 · inf = nan).
    """
    scale = kernel.arg("scale")
    is_scaled = scale is not None and output in kernel.scale
    if is_scaled and value == 0:
        return "0.0"
    code = printer.doprint(value)
    if is_scaled:
        return f"{scale_code or ('_scale' if kernel.program is not None else f'{scale.name}[i]')} * ({code})"
    return code


def in_place_buffer(kernel: Kernel) -> str | None:
    """The buffer that ``<name>_in_place`` writes over the first input: the kernel's only one."""
    found = buffers(kernel)
    if len(found) > 1:
        raise ValueError(f"{kernel.function} has buffers {found}: an in-place twin writes one")
    return found[0] if found else None


def in_place_outputs(kernel: Kernel) -> str:
    """What ``<name>_in_place`` returns: the kernel's outputs, its first input for the buffer."""
    buffer, first = in_place_buffer(kernel), kernel.args[0].name
    return ", ".join(first if name == buffer else name for name in kernel.outputs)


def in_place_functions(kernel: Kernel, inner: str, arguments: Sequence[str], doc: str, body: Sequence[str],
                       public: Callable, trailing: Sequence[str] = ()) -> list[str]:
    """``<name>_in_place``, which writes the kernel's buffer over its first input: a twin of the
    inner (row or chunk) function without the buffer argument (and with the ``trailing``
    parameters), and the public function that runs it.

    Passing the input as the buffer gives the same numbers, but LLVM cannot prove two arguments
    equal: each loop then checks at run time whether they overlap, finds that they do and runs
    its scalar version. One array under two names needs no check.
    ``public(name, twin, arguments)`` gives the functions that run the twin, the public one last.
    """
    buffer = in_place_buffer(kernel)
    if buffer is None:
        return []
    twin = IN_PLACE.format(inner)
    kept = [name for name in arguments if name != buffer]
    return ["", "", inner_decorator(),
            f"def {twin}({', '.join(['start', 'stop', *kept, *trailing])}):",
            f'{INDENT}"""{doc.format(IN_PLACE.format(kernel.function))}"""',
            f"{INDENT}{buffer} = {kernel.args[0].name}  # in place: one array, so no overlap checks", *body,
            *public(IN_PLACE.format(kernel.function), twin, kept)]


def summed_kernel(kernel: Kernel) -> Kernel:
    """``kernel``'s ``_sum`` variant: the loss summed per task or chunk instead of one per row or element."""
    if kernel.program is not None:
        what = (f"the sum over each task of rows (max(1, {CHUNK} // C) rows a task), in the rows' dtype "
                "(one per task)")
    else:
        what = f"the sum over each chunk of {CHUNK} elements, in float64 (one per chunk)"
    return replace(kernel, function=f"{kernel.function}_sum", doc=f"{kernel.doc.strip()}\n\n{SUMMED_OUTPUT}: {what}.")


def docstring(kernel: Kernel, in_place: bool = False) -> list[str]:
    text = kernel.doc.strip()
    buffer, first = in_place_buffer(kernel), kernel.args[0].name
    if in_place:
        text += f"\n\n{buffer}: written over {first}, which is returned in its place."
    elif buffer is not None:
        text += (f"\n\n{buffer}: optional output buffer, allocated when None; it may be {first} itself, "
                 f"but {IN_PLACE.format(kernel.function)} is faster at that.")
    return [f'{INDENT}"""{line}' if n == 0 else f"{INDENT}{line}" if line else ""
            for n, line in enumerate(text.splitlines())] + [f'{INDENT}"""']


def allocate(name: str, shape: str, like: str, indent: str) -> str:
    return f"{indent}{name} = np.empty({shape}, dtype={like}.dtype)"


def bindings(kernel: Kernel, index: str, native: bool = False) -> tuple[dict, dict]:
    """(names, arrays) for the printer: how each spec symbol is read inside the loop — as float64,
    or with ``native`` in the arrays' own dtype (the vectorised pass over a row)."""
    names, arrays = {}, {}
    wrap = "{}" if native else "np.float64({})"
    reads: Mapping[str, tuple[dict, str]] = {
        "rows": (arrays, wrap.format("{name}[i, {{}}]")), "classes": (arrays, wrap.format("{name}[{{}}]")),
        "label": (names, "t"), "scalar": (names, "np.float64({name})"),
        "elements": (names, f"np.float64({{name}}[{index}])")}
    for arg in kernel.args:
        if arg.symbol is not None and arg.role in reads:
            table, code = reads[arg.role]
            table[arg.symbol] = code.format(name=arg.name)
    rows = kernel.arg("rows")
    if rows is not None:
        arrays[zs] = f"(np.float64({rows.name}[i, {{}}]) - m)"
    names[argmax] = "a"
    return names, arrays
