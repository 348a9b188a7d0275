"""Kernels as Python source: a :class:`Kernel` (what to compute) printed into a loop template.

Two templates serve every loss:

* **row** kernels read a (M, C) array row by row (``numba.prange`` over rows): pass 1
  finds the row max and argmax (only when the program is shifted), pass 2 accumulates
  every reduction in one sweep, pass 3 writes the per-row outputs and, for each class, the
  per-class outputs — so a fused forward+backward kernel reads each logit three times and
  writes the gradient once;
* **elementwise** kernels read flat (n,) arrays (``numba.prange`` over elements).

All arithmetic is float64 whatever the input dtype (the float32 kernels round once, at
the end); outputs have the dtype of the first array argument. Common subexpressions
become ``_tmp0 … _tmpN`` (``sympy.cse``), numbered in printing order, so the output is
deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import sympy as sp

from symce.codegen.printer import KernelPrinter
from symce.codegen.program import RowProgram, argmax
from symce.codegen.rewrites import zs
from symce.spec.symbols import j, k

INDENT = "    "


@dataclass(frozen=True)
class Arg:
    """A kernel argument and the spec symbol it carries.

    ``role``: ``"rows"`` a (M, C) array (one row per sample), ``"label"`` (M,) int64 class
    indices, ``"classes"`` a (C,) array (class weights), ``"scalar"`` a number, ``"elements"``
    a flat (n,) array, ``"ignore_index"`` the label of ignored rows, ``"scale"`` the (M,)/(n,)
    factor of the gradient (grad_output), ``"flag"`` a bool choosing a variant.
    """

    name: str
    role: str
    symbol: sp.Basic | None = None


@dataclass(frozen=True)
class Kernel:
    """One generated function: its name, arguments, and what it computes.

    ``program`` is the row program (row kernels); ``plain`` the program for rows whose max
    is not finite; ``outputs`` names what it returns in order (a row program's scalar and
    vector output names, or the elementwise expressions of ``elementwise``).
    """

    function: str
    doc: str
    args: tuple[Arg, ...]
    outputs: tuple[str, ...]
    program: RowProgram | None = None
    plain: RowProgram | None = None
    elementwise: Mapping[str, sp.Expr] = field(default_factory=dict)
    #: elementwise outputs chosen by the ``"flag"`` argument: {True: exprs, False: exprs}
    variants: Mapping[bool, Mapping[str, sp.Expr]] = field(default_factory=dict)
    #: the outputs multiplied by the ``"scale"`` argument (the gradients)
    scale: frozenset[str] = frozenset()


def _arg(kernel: Kernel, role: str) -> Arg | None:
    return next((a for a in kernel.args if a.role == role), None)


def _bindings(kernel: Kernel, index: str) -> tuple[dict, dict]:
    """(names, arrays) for the printer: how each spec symbol is read inside the loop."""
    names, arrays = {}, {}
    for arg in kernel.args:
        if arg.symbol is None:
            continue
        if arg.role == "rows":
            arrays[arg.symbol] = f"np.float64({arg.name}[i, {{}}])"
        elif arg.role == "classes":
            arrays[arg.symbol] = f"np.float64({arg.name}[{{}}])"
        elif arg.role == "label":
            names[arg.symbol] = "t"
        elif arg.role == "scalar":
            names[arg.symbol] = f"np.float64({arg.name})"
        elif arg.role == "elements":
            names[arg.symbol] = f"np.float64({arg.name}[{index}])"
    rows = _arg(kernel, "rows")
    if rows is not None:
        arrays[zs] = f"(np.float64({rows.name}[i, {{}}]) - m)"
    names[argmax] = "a"
    return names, arrays


class _Numbering:
    """Fresh ``_tmpN`` names across one kernel, in printing order."""

    def __init__(self):
        self.count = 0

    def cse(self, exprs: Sequence[sp.Expr], ignore=()) -> tuple[list, list]:
        symbols = sp.numbered_symbols("_tmp", start=self.count, real=True)
        replacements, reduced = sp.cse(list(exprs), symbols=symbols, ignore=ignore, order="canonical")
        self.count += len(replacements)
        return replacements, reduced


def _lines(printer: KernelPrinter, replacements, indent: str) -> list[str]:
    return [f"{indent}{sym} = {printer.doprint(value)}" for sym, value in replacements]


def _row_block(kernel: Kernel, program: RowProgram, numbering: _Numbering, printer: KernelPrinter,
               indent: str, outputs: Sequence[str]) -> list[str]:
    """Passes 2 and 3 of a row: the reductions, then the outputs."""
    lines = []
    if program.reductions:
        lines += [f"{indent}{r.symbol} = 0.0" for r in program.reductions]
        lines.append(f"{indent}for k in range(C):")
        inner = indent + INDENT
        if any(r.excludes_argmax for r in program.reductions):
            lines.append(f"{inner}if k == a:")
            lines.append(f"{inner}{INDENT}continue")
        replacements, bodies = numbering.cse([r.body for r in program.reductions])
        lines += _lines(printer, replacements, inner)
        lines += [f"{inner}{r.symbol} += {printer.doprint(body)}" for r, body in zip(program.reductions, bodies)]
    scalars = [(name, cases) for name, cases in program.scalars if name in outputs]
    vectors = [(name, cases) for name, cases in program.vectors if name in outputs]
    # row-level common subexpressions (free of the class indices) are computed once per row
    replacements, reduced = numbering.cse([c.expr for _, cases in scalars + vectors for c in cases], ignore=(j, k))
    lines += _lines(printer, replacements, indent)
    reduced = iter(reduced)
    for name, cases in scalars:
        lines += _case_lines(kernel, printer, numbering, f"{name}[i]", cases, reduced, indent)
    for name, cases in vectors:
        lines.append(f"{indent}for j in range(C):")
        lines += _case_lines(kernel, printer, numbering, f"{name}[i, j]", cases, reduced, indent + INDENT)
    return lines


def _case_lines(kernel: Kernel, printer: KernelPrinter, numbering: _Numbering, target: str,
                cases, values, indent: str) -> list[str]:
    """``target = value`` for each case, as an if/elif/else chain when there are several."""
    lines = []
    name = target.split("[")[0]
    for number, case in enumerate(cases):
        value = next(values)
        body = indent + INDENT if len(cases) > 1 else indent
        if case.condition is not None:
            lines.append(f"{indent}{'if' if number == 0 else 'elif'} {printer.doprint(case.condition)}:")
        elif len(cases) > 1:
            lines.append(f"{indent}else:")
        local, (value,) = numbering.cse([value])
        lines += _lines(printer, local, body)
        lines.append(f"{body}{target} = {_scaled(kernel, name, printer.doprint(value))}")
    return lines


def _scaled(kernel: Kernel, output: str, code: str) -> str:
    scale = _arg(kernel, "scale")
    if scale is not None and output in kernel.scale:
        return f"{scale.name}[i] * ({code})"
    return code


def _signature(kernel: Kernel) -> str:
    return f"def {kernel.function}({', '.join(a.name for a in kernel.args)}):"


def _docstring(kernel: Kernel) -> list[str]:
    return [f'{INDENT}"""{line}' if n == 0 else f"{INDENT}{line}" if line else ""
            for n, line in enumerate(kernel.doc.strip().splitlines())] + [f'{INDENT}"""']


def row_kernel_source(kernel: Kernel) -> str:
    """The source of a row kernel (see the module docstring)."""
    rows = _arg(kernel, "rows")
    label = _arg(kernel, "label")
    ignore = _arg(kernel, "ignore_index")
    names, arrays = _bindings(kernel, "i")
    printer = KernelPrinter(names, arrays)
    numbering = _Numbering()
    vector_outputs = [name for name, _ in kernel.program.vectors if name in kernel.outputs]
    scalar_outputs = [name for name, _ in kernel.program.scalars if name in kernel.outputs]
    lines = ["@numba.njit(cache=True, parallel=True, fastmath=False)", _signature(kernel), *_docstring(kernel)]
    body = INDENT
    lines.append(f"{body}rows, C = {rows.name}.shape")
    for name in scalar_outputs:
        lines.append(f"{body}{name} = np.empty(rows, dtype={rows.name}.dtype)")
    for name in vector_outputs:
        lines.append(f"{body}{name} = np.empty((rows, C), dtype={rows.name}.dtype)")
    lines.append(f"{body}for i in numba.prange(rows):")
    row = body + INDENT
    if label is not None:
        lines.append(f"{row}t = {label.name}[i]")
    if ignore is not None:
        # an ignored row (keep = 0) has loss and gradient exactly 0, the spec's keep·(…) at keep = 0;
        # its label is not a class index, so nothing is read with it
        lines.append(f"{row}if t == {ignore.name}:")
        lines += [f"{row}{INDENT}{name}[i] = 0.0" for name in scalar_outputs]
        lines += [f"{row}{INDENT}{name}[i, :] = 0.0" for name in vector_outputs]
        lines.append(f"{row}{INDENT}continue")
    if kernel.program.shifted:
        lines += [f"{row}m = -math.inf", f"{row}a = 0",
                  f"{row}for k in range(C):",
                  f"{row}{INDENT}v = np.float64({rows.name}[i, k])",
                  f"{row}{INDENT}if v > m or v != v:  # the first max, or the first nan (which stays)",
                  f"{row}{INDENT * 2}m = v", f"{row}{INDENT * 2}a = k",
                  f"{row}if math.isfinite(m):"]
        lines += _row_block(kernel, kernel.program, numbering, printer, row + INDENT, kernel.outputs)
        lines.append(f"{row}else:  # ±inf or nan in the row: the formula as written, as torch evaluates it")
        lines += _row_block(kernel, kernel.plain, numbering, printer, row + INDENT, kernel.outputs)
    else:
        lines += _row_block(kernel, kernel.program, numbering, printer, row, kernel.outputs)
    lines.append(f"{body}return {', '.join(kernel.outputs)}")
    return "\n".join(lines) + "\n"


def elementwise_kernel_source(kernel: Kernel) -> str:
    """The source of an elementwise kernel over flat arrays."""
    first = next(a for a in kernel.args if a.role == "elements")
    flag = _arg(kernel, "flag")
    names, arrays = _bindings(kernel, "i")
    printer = KernelPrinter(names, arrays)
    numbering = _Numbering()
    lines = ["@numba.njit(cache=True, parallel=True, fastmath=False)", _signature(kernel), *_docstring(kernel)]
    body = INDENT
    lines.append(f"{body}n = {first.name}.shape[0]")
    lines += [f"{body}{name} = np.empty(n, dtype={first.name}.dtype)" for name in kernel.outputs]
    lines.append(f"{body}for i in numba.prange(n):")
    loop = body + INDENT

    def block(exprs: Mapping[str, sp.Expr], indent: str) -> list[str]:
        replacements, reduced = numbering.cse([exprs[name] for name in kernel.outputs])
        out = _lines(printer, replacements, indent)
        return out + [f"{indent}{name}[i] = {_scaled(kernel, name, printer.doprint(value))}"
                      for name, value in zip(kernel.outputs, reduced)]

    if flag is not None:
        lines.append(f"{loop}if {flag.name}:")
        lines += block(kernel.variants[True], loop + INDENT)
        lines.append(f"{loop}else:")
        lines += block(kernel.variants[False], loop + INDENT)
    else:
        lines += block(kernel.elementwise, loop)
    lines.append(f"{body}return {', '.join(kernel.outputs)}")
    return "\n".join(lines) + "\n"


def kernel_source(kernel: Kernel) -> str:
    return row_kernel_source(kernel) if kernel.program is not None else elementwise_kernel_source(kernel)


# ----- modules -------------------------------------------------------------------------------
#: bump when the generator's output changes for the same specs (it is part of every hash)
GENERATOR_VERSION = "1"


def spec_hash(spec_expr: sp.Expr) -> str:
    """sha256 of the spec's expression (``srepr``, exact) and the generator version."""
    import hashlib

    return hashlib.sha256(f"{GENERATOR_VERSION}\n{sp.srepr(spec_expr)}".encode()).hexdigest()


def module_source(family: str, specs: Mapping[str, sp.Expr], kernels: Sequence[Kernel],
                  command: str = "symce regen") -> str:
    """A whole generated module: header, imports, helpers, kernels."""
    from symce.codegen.printer import helpers_for

    header = [f"# Generated by `{command}` (symce.codegen, generator version {GENERATOR_VERSION}). DO NOT EDIT:",
              "# edit the spec and regenerate. Specs and the sha256 of each (srepr of its expression + generator",
              "# version):"]
    header += [f"#   {name}: {spec_hash(expr)}" for name, expr in specs.items()]
    functions = ", ".join(kernel.function for kernel in kernels)
    doc = [f'"""Numba kernels for the {family} family, derived from the spec(s) {", ".join(specs)}.', "",
           f"Functions: {functions}.", "Generated: do not edit; see symce.codegen.", '"""']
    exprs = []
    for kernel in kernels:
        if kernel.program is not None:
            for program in filter(None, (kernel.program, kernel.plain)):
                exprs += [c.expr for _, cases in program.scalars + program.vectors for c in cases]
        exprs += list(kernel.elementwise.values()) + [e for v in kernel.variants.values() for e in v.values()]
    code = [*helpers_for(exprs), *(kernel_source(kernel) for kernel in kernels)]
    imports = ("import math\n\n" if any("math." in part for part in code) else "") + "import numba\nimport numpy as np"
    parts = ["\n".join(header + doc), imports, *code]
    return "\n\n\n".join(part.rstrip("\n") for part in parts) + "\n"
