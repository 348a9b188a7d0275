"""Kernels as Python source: a :class:`Kernel` (what to compute) printed into a loop template.

Two templates serve every loss:

* **row** kernels read a (M, C) array row by row (``numba.prange`` over runs of rows): pass 1
  finds the row max (and the argmax only where a formula needs it), pass 2 accumulates every
  reduction in one sweep, pass 3 writes the per-row outputs and, for each class, the
  per-class outputs — so a fused forward+backward kernel reads each logit twice, stores
  exp(z_k − m) in the gradient and reads it back once. Rows shorter than ``LONG_ROWS`` take
  pass 1, the exponentials of pass 2, their sum and its log1p for a whole run of rows first,
  in flat loops; a long row's per-class output, where it is Σ coefficient · (reads at j), is
  written by the runtime's ``write_row``, which prefetches the next row and, into a large
  buffer of the caller's, stores past the cache (the exponentials then kept in a scratch row);
* **elementwise** kernels read flat (n,) arrays (``numba.prange`` over chunks of elements).

A shifted row's reductions run in the row's own dtype (float32 rows vectorise at full width)
and are then widened; everything else is float64 whatever the input dtype, rounded once into
outputs of the first array's dtype. Every kernel with an output buffer has an ``_in_place``
twin that writes it over the first input, and every kernel with a loss a ``_sum`` variant that
returns it summed per task (rows) or chunk (elements), which 'mean' and 'sum' run. Common
subexpressions become ``_tmp0 … _tmpN`` (``sympy.cse``), numbered in printing order, so the
output is deterministic.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce.codegen.printer import FASTMATH, JIT_OPTIONS, KernelPrinter, sigmoids_written_out
from symce.codegen.program import Case, Reduction, RowProgram, argmax
from symce.codegen.rewrites import zs
from symce.spec.symbols import j, k

INDENT = "    "

#: elements per task (a chunk of elements, or of rows: at least one row): large enough to amortise
#: the call, small enough that the two cores share the work evenly
CHUNK = 16384

#: the shortest row a row kernel treats as long. A long row takes its own exponentials, in a loop
#: over the row that vectorises, with 512-bit vectors (``prefer_wide_vectors``: rows of 1000 and
#: 32000 classes 5-30 % faster). A shorter row never reaches a vector loop's step: its run of rows
#: gets its exponentials from one flat loop first (``run_exponentials``: 1.4-2x faster at 10 and 16
#: classes, 1.2x at 32, slower from 64), and keeps the CPU's preferred vector width (512 bits made
#: rows of 10 or 16 up to 13 % slower).
LONG_ROWS = 32

#: the smallest buffer, and row, that a caller's buffer (``out=``) is streamed into (write_row's
#: non-temporal stores). Measured on this machine, float32 into a reused buffer (ms, ordinary
#: stores → streamed): 32 MiB stayed in cache and was slower streamed (256 × 32000: 2.1 → 2.6,
#: 2048 × 4000: 2.0 → 2.6); from 64 MiB it went to memory and was faster (512 × 32000: 6.5 → 5.2,
#: 4096 × 4000: 5.8 → 5.1, 8192 × 2000: 6.2 → 5.5, 8192 × 32000: 127-133 → 96-99), except rows
#: of 4 KiB (65536 × 1000: 26.6 → 29.3)
STREAMED_BYTES = 64 * 2 ** 20
STREAMED_ROW_BYTES = 8 * 2 ** 10


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
    #: the parameter's no-effect value (w = 1, ε = 0): the kernel has a specialised path for it,
    #: taken when an array argument is None or a scalar equals it
    default: sp.Expr | None = None

    @property
    def at_default(self) -> str:
        """The test for the specialised path: None for an array (numba prunes the other path at
        compile time), equality for a scalar."""
        if self.role == "scalar":
            return f"{self.name} == {float(self.default)!r}"
        return f"{self.name} is None"


@dataclass(frozen=True)
class Specialised:
    """A kernel's mathematics with some parameters at their defaults (fewer reads, fewer terms)."""

    program: RowProgram | None = None
    plain: RowProgram | None = None
    elementwise: Mapping[str, sp.Expr] = field(default_factory=dict)


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
    #: names of the arguments at their defaults → the specialised mathematics (every subset of
    #: the arguments with a default, the empty one being the general case)
    specialised: Mapping[frozenset[str], Specialised] = field(default_factory=dict)

    def specialisation(self, defaults: frozenset[str]) -> Specialised:
        if not defaults:
            return Specialised(self.program, self.plain, self.elementwise)
        return self.specialised[defaults]


def _arg(kernel: Kernel, role: str) -> Arg | None:
    return next((a for a in kernel.args if a.role == role), None)


def _bindings(kernel: Kernel, index: str, native: bool = False) -> tuple[dict, dict]:
    """(names, arrays) for the printer: how each spec symbol is read inside the loop — as float64,
    or with ``native`` in the arrays' own dtype (the vectorised pass over a row)."""
    names, arrays = {}, {}
    wrap = "{}" if native else "np.float64({})"
    for arg in kernel.args:
        if arg.symbol is None:
            continue
        if arg.role == "rows":
            arrays[arg.symbol] = wrap.format(f"{arg.name}[i, {{}}]")
        elif arg.role == "classes":
            arrays[arg.symbol] = wrap.format(f"{arg.name}[{{}}]")
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


def buffers(kernel: Kernel) -> tuple[str, ...]:
    """The outputs a caller may pass in (``out=``): per-class outputs of row kernels, gradients
    of elementwise ones. Each is an optional trailing argument, allocated when None."""
    if kernel.program is not None:
        return tuple(name for name, _ in kernel.program.vectors if name in kernel.outputs)
    return tuple(name for name in kernel.outputs if name in kernel.scale)


#: the public function that writes a kernel's buffer over its first input: ``<name>_in_place``
IN_PLACE = "{}_in_place"


def _in_place_functions(kernel: Kernel, inner: str, parameters: Sequence[str], arguments: Sequence[str],
                        doc: str, body: Sequence[str], public, trailing: Sequence[str] = ()) -> list[str]:
    """``<name>_in_place``, which writes the kernel's buffer over its first input: a twin of the
    inner (row or chunk) function without the buffer argument (and with the ``trailing``
    parameters), and the public function that runs it.

    Passing the input as the buffer gives the same numbers, but LLVM cannot prove two arguments
    equal: each loop then checks at run time whether they overlap, finds that they do and runs
    its scalar version (3x slower here). One array under two names needs no check.
    ``public(name, twin, arguments)`` gives the functions that run the twin, the public one last.
    """
    buffer = _in_place_buffer(kernel)
    if buffer is None:
        return []
    twin = IN_PLACE.format(inner)
    kept = [name for name in arguments if name != buffer]
    return ["", "", _inner_decorator(),
            f"def {twin}({', '.join([*parameters, *kept, *trailing])}):",
            f'{INDENT}"""{doc.format(IN_PLACE.format(kernel.function))}"""',
            f"{INDENT}{buffer} = {kernel.args[0].name}  # in place: one array, so no overlap checks", *body,
            *public(IN_PLACE.format(kernel.function), twin, kept)]


def _in_place_outputs(kernel: Kernel) -> str:
    """What ``<name>_in_place`` returns: the kernel's outputs, its first input for the buffer."""
    buffer, first = _in_place_buffer(kernel), kernel.args[0].name
    return ", ".join(first if name == buffer else name for name in kernel.outputs)


class _Numbering:
    """Fresh ``_tmpN`` names across one kernel, in printing order."""

    def __init__(self):
        self.count = 0

    def cse(self, exprs: Sequence[sp.Expr], ignore=()) -> tuple[list, list]:
        symbols = sp.numbered_symbols("_tmp", start=self.count, real=True)
        replacements, reduced = sp.cse(list(exprs), symbols=symbols, ignore=ignore, order="canonical")
        self.count += len(replacements)
        return replacements, reduced

    def fresh(self) -> str:
        """The next ``_tmpN`` name, for a value the kernel computes without CSE."""
        self.count += 1
        return f"_tmp{self.count - 1}"


def _lines(printer: KernelPrinter, replacements, indent: str) -> list[str]:
    return [f"{indent}{sym} = {printer.doprint(value)}" for sym, value in replacements]


def _all_cases(program: RowProgram, outputs: Sequence[str]) -> list[Case]:
    return [c for name, cases in program.scalars + program.vectors if name in outputs for c in cases]


def _stores_exponentials(kernel: Kernel, program: RowProgram, outputs: Sequence[str], label) -> str | None:
    """The per-class output that pass 2 fills with exp(z_k − m), for pass 3 to read instead of
    recomputing it — or None.

    Only when pass 3 needs z solely through those exponentials (and z_t, loaded before pass 2):
    then the kernel stays correct when the output buffer *is* the logits (``out=input``).
    """
    vectors = [name for name, _ in program.vectors if name in outputs]
    if not (program.shifted and vectors):
        return None
    if not any(r.body.has(sp.exp(zs[k])) for r in program.reductions):
        return None
    rows = _arg(kernel, "rows").symbol
    vector_cases = [c for name, cases in program.vectors if name in outputs for c in cases]
    if not any(c.expr.has(sp.exp(zs[j])) for c in vector_cases):
        return None
    loaded = {zs[label], rows[label]} if label is not None else set()
    for expr in (c.expr for c in _all_cases(program, outputs)):
        rest = _without_exponentials(expr)
        if any(e not in loaded for e in rest.atoms(sp.Indexed) if e.base in (zs, rows)):
            return None
    return vectors[0]


def _without_exponentials(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, sp.exp) and isinstance(e.args[0], sp.Indexed)
                        and e.args[0].base == zs, lambda e: sp.S.One)


def _argmax_term(reduction) -> sp.Expr:
    """The term a reduction over k ≠ a leaves out: its body at the argmax, where z_a − m = 0."""
    if not reduction.excludes_argmax:
        return sp.S.Zero
    return reduction.body.subs(k, argmax).subs(zs[argmax], 0)


def _whole_sums(program: RowProgram, outputs: Sequence[str]) -> RowProgram:
    """``program`` with each Σ_{k≠a} of a body without exponentials that ``outputs`` only use as
    (term at a) + Σ_{k≠a}, summed over every k instead: pinning the argmax then costs a search
    for it and a second accumulator, for nothing (Σ_k y_k in the loss of probability targets;
    the gradient at the argmax still needs Σ_{k≠a} y_k apart). A sum of exponentials keeps its
    split even then: leaving exp(z_a − m) = 1 out keeps float32 partial sums small (softmax's
    worst error 8.4e-8 split, 1.1e-7 summed whole)."""
    reductions, whole = [], {}
    used = [c.expr for name, cases in program.scalars + program.vectors if name in outputs for c in cases]
    for reduction in program.reductions:
        term = _argmax_term(reduction)
        pair = term + reduction.symbol
        only_whole = not any(expr.subs(pair, sp.Dummy()).has(reduction.symbol) for expr in used)
        if term != 0 and not reduction.body.has(sp.exp) and only_whole:
            whole[pair] = reduction.symbol
            reduction = replace(reduction, excludes_argmax=False)
        reductions.append(reduction)
    if not whole:
        return program

    def summed(outputs_and_cases):
        # an output left out keeps its Σ_{k≠a}; it is not printed, and must not be misread
        return tuple((name, tuple(replace(c, expr=c.expr.subs(whole)) for c in cases)) if name in outputs
                     else (name, cases) for name, cases in outputs_and_cases)
    return replace(program, reductions=tuple(reductions), scalars=summed(program.scalars),
                   vectors=summed(program.vectors))


def _reduction_pass(kernel: Kernel, program: RowProgram, numbering: _Numbering, printer: KernelPrinter,
                    native: KernelPrinter, indent: str, store: str | None) -> list[str]:
    """Pass 2: every reduction in one branch-free sweep over the row, each element read once (``_zk``).

    In a shifted row everything is computed in the row's own dtype (``native``), so float32
    rows vectorise at full width. A Σ_{k≠a} is accumulated over the classes below the max
    (``_s``) and, apart, over those at the max (``_u``): Σ_{k≠a} = _s + (_u − term at a). With one
    max, _u is that term and the bracket is exactly 0; with ties it adds the other maxima back
    (exactly for exp(z_k − m) = 1). So a confident row (Σ_{k≠a} exp(z_k − m) ≪ 1, which
    log1p needs to the last digit) keeps every digit of its small sum, with no second pass.
    With ``store`` the exponentials are kept in that output for pass 3.
    """
    rows = _arg(kernel, "rows")
    inner = indent + INDENT
    shifted = program.shifted
    exponent = zs[k] if shifted else rows.symbol[k]
    uses_exp = any(r.body.has(sp.exp(exponent)) for r in program.reductions)
    split = [n for n, r in enumerate(program.reductions) if _argmax_term(r) != 0]
    if shifted:
        lines = [f"{indent}_zero = mx - mx  # 0 in the row's dtype (mx is finite here)"]
        lines += [f"{indent}_s{n} = _zero" for n, _ in enumerate(program.reductions)]
        lines += [f"{indent}_u{n} = _zero" for n in split]
        loop_printer = native.with_elements({rows.symbol[k]: "_zk", zs[k]: "(_zk - mx)"}, {zs[k]: "_ek"})
    else:
        lines = [f"{indent}_s{n} = 0.0" for n, _ in enumerate(program.reductions)]
        loop_printer = printer.with_elements({rows.symbol[k]: "np.float64(_zk)"}, {exponent: "np.float64(_ek)"})
    lines += [f"{indent}for k in range(C):", f"{inner}_zk = {rows.name}[i, k]"]
    if uses_exp:
        # unshifted (a row with inf or nan, rare) the exponent is taken in float64 like every plain-row value
        lines.append(f"{inner}_ek = " + ("exp_below_max(_zk, mx, run, i - start, k)" if shifted
                                         else "fast_exp(np.float64(_zk))"))
        if store:
            lines.append(f"{inner}store_exponential({store}, i, k, _ek, run)")
    replacements, bodies = numbering.cse([r.body for r in program.reductions])
    lines += _lines(loop_printer, replacements, inner)
    for n, body in enumerate(bodies):
        code = loop_printer.doprint(body)
        if n in split:
            lines += [f"{inner}_b{n} = {code}", f"{inner}_s{n} += _zero if _zk == mx else _b{n}",
                      f"{inner}_u{n} += _b{n} if _zk == mx else _zero"]
        else:
            lines.append(f"{inner}_s{n} += {code}")
    for n, r in enumerate(program.reductions):
        total = f"np.float64(_s{n})"
        if n in split:
            total += f" + (np.float64(_u{n}) - {printer.doprint(_argmax_term(r))})"
        if r == _exponential_sum(program):
            total = f"sum_below_max_of_run({total}, run, i - start)"
        lines.append(f"{indent}{r.symbol} = {total}")
    return lines


def _exponential_sum(program: RowProgram) -> Reduction | None:
    """The reduction Σ_{k≠a} exp(z_k − m) of a shifted program, or None: a short row reads it, and
    its log1p, from run_exponentials, which computes them for the whole run (the log1p in a loop
    that vectorises)."""
    return next((r for r in program.reductions if program.shifted and r.excludes_argmax
                 and r.body == sp.exp(zs[k])), None)


def _pinned(expr: sp.Expr) -> sp.Expr:
    return expr.subs(j, argmax).subs(zs[argmax], 0)


def _vector_plan(cases: Sequence[Case]):
    """For each row-level branch (conditions without j, e.g. t = a): the case that holds for
    every other class, and the single classes (j = a, j = t) that override it, by priority.

    Yields (branch condition or None, generic case number, [(class index, case number)]).
    """
    row_conditions = sorted({e for c in cases if c.condition is not None for e in c.condition.atoms(sp.Eq)
                             if not e.has(j)}, key=sp.default_sort_key)
    for truth in itertools.product((True, False), repeat=len(row_conditions)):
        values = {cond: sp.true if value else sp.false for cond, value in zip(row_conditions, truth)}
        overrides, generic = [], None
        for number, case in enumerate(cases):
            condition = sp.true if case.condition is None else case.condition.xreplace(values)
            if condition == sp.false:
                continue
            if condition == sp.true:
                generic = number
                break
            if not (isinstance(condition, sp.Eq) and j in condition.args):
                raise ValueError(f"a per-class case must be j = <class>, got {case.condition}")
            index = condition.args[1] if condition.args[0] == j else condition.args[0]
            if index not in [i for i, _ in overrides]:
                overrides.append((index, number))
        if generic is not None:
            # at the argmax the generic formula with exp(z_a − m) = 1 may already be the pinned one
            overrides = [(index, number) for index, number in overrides
                         if index != argmax or sp.expand(_pinned(cases[generic].expr) - cases[number].expr) != 0]
        branch = sp.And(*[c if v else sp.Not(c) for c, v in zip(row_conditions, truth)]) if row_conditions else None
        yield branch, generic, overrides


def _specialisable(kernel: Kernel, arrays_only: bool = False) -> list[Arg]:
    return [a for a in kernel.args if a.default is not None and not (arrays_only and a.role == "scalar")]


def _python_condition(args: Sequence[Arg], chosen_sets: Sequence[frozenset[str]]) -> str:
    """The test, in the kernel's Python, that its arguments pick one of the :func:`_nested` leaves
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


def _nested(args: Sequence[Arg], leaf, indent: str, chosen: frozenset[str] = frozenset()) -> list[str]:
    """``leaf(chosen, indent)`` under one if/else per argument that may be at its default."""
    if not args:
        return leaf(chosen, indent)
    first, rest = args[0], args[1:]
    return [f"{indent}if {first.at_default}:", *_nested(rest, leaf, indent + INDENT, chosen | {first.name}),
            f"{indent}else:", *_nested(rest, leaf, indent + INDENT, chosen)]


#: the output a kernel's ``_sum`` variant adds up per task (of rows) or chunk (of elements) instead
#: of storing one per row or element: what 'mean' and 'sum' need, without an array per row
SUMMED_OUTPUT = "loss"

#: a row's loss, before it is stored or added to its task's total
ROW_LOSS = "_loss"


def _summable(kernel: Kernel) -> bool:
    """Whether a kernel has a ``_sum`` variant: it returns a loss per row or element."""
    return SUMMED_OUTPUT in kernel.outputs


def _row_loss_store(value: str, indent: str) -> list[str]:
    """Row i's loss into its slot, unless the kernel runs as its ``_sum`` variant (``summed``),
    whose loss array holds one total per task."""
    return [f"{indent}if not summed:", f"{indent}{INDENT}{SUMMED_OUTPUT}[i] = {value}"]


def _row_block(kernel: Kernel, program: RowProgram, numbering: _Numbering, printer: KernelPrinter,
               native: KernelPrinter, indent: str, outputs: Sequence[str], label, pin: str) -> list[str]:
    """Passes 2 and 3 of a row: the reductions, then the outputs; the argmax ``a`` found (``pin``)
    only where the code uses it (the label's own row max is tested by value)."""
    program = _whole_sums(program, outputs)
    store = _stores_exponentials(kernel, program, outputs, label)
    lines = _reduction_pass(kernel, program, numbering, printer, native, indent, store) \
        if program.reductions else []
    rows = _arg(kernel, "rows")
    if program.shifted and label is not None:
        printer = printer.with_elements({sp.Eq(label, argmax): "(_zt == mx)", sp.Eq(argmax, label): "(_zt == mx)"})
    if program.shifted:
        # a shifted logit z − max is ≤ 0: its exp needs no overflow clamp
        read = (lambda index: f"stored_exponential({store}, i, {index}, run, i - start)") if store else \
            (lambda index: f"exp_below_max({rows.name}[i, {index}], mx, run, i - start, {index})")
        exponentials = {zs[j]: f"np.float64({read('j')})"}
        if label is not None:
            exponentials[zs[label]] = f"np.float64({read('t')})" if store else \
                "np.float64(exp_below_max(_zt, mx, run, i - start, t))"
        total = _exponential_sum(program)
        logs = {log1p(total.symbol): f"log1p_of_run({total.symbol}, run, i - start)"} if total else {}
        printer = printer.with_elements(logs, exponentials=exponentials)
        native = native.with_elements(exponentials={zs[j]: read("j")})
    else:
        native = None
    scalars = [(name, cases) for name, cases in program.scalars if name in outputs]
    vectors = [(name, cases) for name, cases in program.vectors if name in outputs]
    # a case that holds only where the label is the argmax reads a as t before the row-level common
    # subexpressions are hoisted: hoisted, w_a would make every row search for a
    pinned = {argmax: label} if label is not None else {}
    exprs = [c.expr.xreplace(pinned) if c.condition is not None and label_pins(c.condition) else c.expr
             for _, cases in scalars + vectors for c in cases]
    # row-level common subexpressions (free of the class indices) are computed once per row
    replacements, reduced = numbering.cse(exprs, ignore=(j, k))
    lines += _lines(printer, replacements, indent)
    reduced = iter(reduced)
    for name, cases in scalars:
        if name == SUMMED_OUTPUT:
            lines += _case_lines(kernel, printer, numbering, ROW_LOSS, cases, reduced, indent)
            lines += [f"{indent}_total += {ROW_LOSS}", *_row_loss_store(ROW_LOSS, indent)]
        else:
            lines += _case_lines(kernel, printer, numbering, f"{name}[i]", cases, reduced, indent)
    for name, cases in vectors:
        values = [next(reduced) for _ in cases]
        lines += _vector_lines(kernel, printer, native, numbering, name, cases, values, indent, store)
    if program.shifted and any(re.search(r"\ba\b", line) for line in lines):
        lines.insert(0, f"{indent}a = {pin}")
    return lines


def label_pins(branch: sp.Basic) -> bool:
    """Whether ``branch`` asserts that the label is the argmax (so ``a`` may be read as ``t``)."""
    return any(isinstance(e, sp.Eq) and argmax in e.args and not e.has(j) for e in sp.And.make_args(branch))


def _row_affine(value: sp.Expr) -> list[tuple[sp.Expr, sp.Expr]] | None:
    """[(factor, product), …] with ``value`` = Σ factor · product, each factor row-level and each
    product a product of per-class reads (exp(z_j − m), w_j, y_ij, …) or 1, at least one not 1;
    None when a per-class value is not of that form (a sum or a function of the reads)."""
    terms: dict[sp.Expr, sp.Expr] = {}
    for term in sp.Add.make_args(sp.expand(value)):
        factor, product = term.as_independent(j, as_Add=False)
        if product != 1 and not all(isinstance(f, sp.Indexed) or (isinstance(f, sp.exp) and f.args[0] == zs[j])
                                    for f in sp.Mul.make_args(product)):
            return None
        terms[product] = terms.get(product, sp.S.Zero) + factor
    if set(terms) <= {sp.S.One}:
        return None
    # per-class products first, the row-level constant last, in a fixed order
    return sorted(((sp.factor_terms(factor), product) for product, factor in terms.items()),
                  key=lambda term: (term[1] == 1, sp.default_sort_key(term[1])))


def _vector_lines(kernel: Kernel, printer: KernelPrinter, native: KernelPrinter | None, numbering: _Numbering,
                  name: str, cases: Sequence[Case], values: Sequence[sp.Expr], indent: str,
                  kept: str | None = None) -> list[str]:
    """A per-class output: for each row branch, the overriding classes' values first (they may
    read the buffer the loop overwrites), then one branch-free loop, then the overrides.

    With a ``native`` printer (a shifted row), a loop whose value is affine in products of
    per-class reads (softmax − target, a scaled exp(z_j − m), …) runs in the row's dtype, twice as
    wide as in float64: each row-level coefficient is rounded to the dtype once. That adds an error
    of the order the float32 read exp(z_j − m) already carries, which a cancellation (softmax_j
    close to y_j) amplifies alike in either precision; the accuracy table measures the result.
    Where every product reads arrays at j (``kept``: the output pass 2 kept exp(z_j − m) in),
    a long row is written by the runtime's write_row instead, and the loop runs for short ones.
    """
    lines = []
    plan = list(_vector_plan(cases))
    for number, (branch, generic, overrides) in enumerate(plan):
        body = indent
        if branch is not None:
            keyword = "if" if number == 0 else "elif" if number < len(plan) - 1 else "else"
            lines.append(f"{indent}{keyword} {printer.doprint(branch)}:" if keyword != "else" else f"{indent}else:")
            body = indent + INDENT
        branch_printer = printer.with_elements(names={argmax: "t"}) \
            if branch is not None and label_pins(branch) else printer
        held = []
        for index, case in overrides:
            local, (value,) = numbering.cse([values[case]])
            lines += _lines(branch_printer, local, body)
            symbol = numbering.fresh()
            lines.append(f"{body}{symbol} = {_scaled(kernel, name, value, branch_printer)}")
            held.append((branch_printer.doprint(index), symbol))
        affine = _row_affine(values[generic]) if native is not None else None
        if affine is not None:
            terms, coefficients = [], []
            for factor, product in affine:
                symbol = numbering.fresh()
                lines.append(f"{body}{symbol} = cast_like({_scaled(kernel, name, factor, branch_printer)}, mx)")
                terms.append(symbol if product == 1 else f"{symbol} * {native.doprint(product)}")
                coefficients.append((symbol, product))
            loop = [f"{body}for j in range(C):", f"{body}{INDENT}{name}[i, j] = {' + '.join(terms)}"]
            writer = _row_writer(kernel, name, coefficients, kept)
            lines += [f"{body}if not {writer}:", *[INDENT + line for line in loop]] if writer else loop
        else:
            local, (value,) = numbering.cse([values[generic]])
            lines.append(f"{body}for j in range(C):")
            lines += _lines(branch_printer, local, body + INDENT)
            lines.append(f"{body}{INDENT}{name}[i, j] = {_scaled(kernel, name, value, branch_printer)}")
        lines += [f"{body}{name}[i, {index}] = {symbol}" for index, symbol in reversed(held)]
    return lines


def _row_writer(kernel: Kernel, name: str, coefficients: Sequence[tuple[str, sp.Expr]], kept: str | None) -> str | None:
    """The runtime's ``write_row(…)`` that writes row i of ``name`` = Σ coefficient · product, each
    product's factors given as the arrays it reads at j, and row i + 1 of every per-row input
    prefetched; None where a factor is not such a read (the loop alone runs)."""
    arrays = {arg.symbol: arg.name for arg in kernel.args if arg.role in ("rows", "classes")}
    terms = []
    for coefficient, product in coefficients:
        factors = []
        for factor in sp.Mul.make_args(product) if product != 1 else ():
            if isinstance(factor, sp.exp) and factor.args[0] == zs[j] and kept is not None:
                factors.append(f"kept_exponentials({kept}, run)")
            elif isinstance(factor, sp.Indexed) and factor.indices == (j,) and factor.base in arrays:
                factors.append(arrays[factor.base])
            else:
                return None
        terms.append(_tuple([coefficient, *factors]))
    ahead = [arg.name for arg in kernel.args if arg.role == "rows"]
    return f"write_row({name}, i, {_tuple(terms)}, {_tuple(ahead)}, run)"


def _tuple(items: Sequence[str]) -> str:
    """A Python tuple of ``items`` (a 1-tuple with its comma)."""
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _case_lines(kernel: Kernel, printer: KernelPrinter, numbering: _Numbering, target: str,
                cases, values, indent: str) -> list[str]:
    """``target = value`` for each case, as an if/elif/else chain when there are several."""
    lines = []
    name = target.split("[")[0]
    for number, case in enumerate(cases):
        value = next(values)
        body = indent + INDENT if len(cases) > 1 else indent
        case_printer = printer
        if case.condition is not None:
            lines.append(f"{indent}{'if' if number == 0 else 'elif'} {printer.doprint(case.condition)}:")
            if label_pins(case.condition):
                case_printer = printer.with_elements(names={argmax: "t"})
        elif len(cases) > 1:
            lines.append(f"{indent}else:")
        local, (value,) = numbering.cse([value])
        lines += _lines(case_printer, local, body)
        lines.append(f"{body}{target} = {_scaled(kernel, name, value, case_printer)}")
    return lines


def _scaled(kernel: Kernel, output: str, value: sp.Expr, printer, scale_code: str | None = None) -> str:
    """``value``, printed, times the output's scale: ``scale_code`` when given, a row's ``_scale``
    (row kernels), else element i's.

    A value that is identically 0 stays 0 whatever the scale, as torch's gradients are (an nll
    gradient off the target class under an infinite 'mean' scale is 0, not 0 · inf = nan).
    """
    scale = _arg(kernel, "scale")
    scaled = scale is not None and output in kernel.scale
    if scaled and value == 0:
        return "0.0"
    code = printer.doprint(value)
    if scaled:
        return f"{scale_code or ('_scale' if kernel.program is not None else f'{scale.name}[i]')} * ({code})"
    return code


def _decorator() -> str:
    return f"@numba.njit({JIT_OPTIONS}, parallel=True, fastmath={FASTMATH})"


def _inner_decorator() -> str:
    """A row's or a chunk's own function, called from the prange loop: numba's parfor lowering
    drops a prange body's fastmath flags, and with them the vectorised sums; a callee keeps its own."""
    return f"@numba.njit({JIT_OPTIONS}, fastmath={FASTMATH})"


def _signature(kernel: Kernel) -> str:
    optional = buffers(kernel)
    # an absent array parameter is None (its default everywhere), as in torch's signatures
    names = [a.name for a in kernel.args] + [f"{name}=None" for name in optional]
    return f"def {kernel.function}({', '.join(names)}):"


def _in_place_buffer(kernel: Kernel) -> str | None:
    """The buffer that ``<name>_in_place`` writes over the first input: the kernel's only one."""
    found = buffers(kernel)
    if len(found) > 1:
        raise ValueError(f"{kernel.function} has buffers {found}: an in-place twin writes one")
    return found[0] if found else None


def _docstring(kernel: Kernel, in_place: bool = False) -> list[str]:
    text = kernel.doc.strip()
    buffer, first = _in_place_buffer(kernel), kernel.args[0].name
    if in_place:
        text += f"\n\n{buffer}: written over {first}, which is returned in its place."
    elif buffer is not None:
        text += (f"\n\n{buffer}: optional output buffer, allocated when None; it may be {first} itself, "
                 f"but {IN_PLACE.format(kernel.function)} is faster at that.")
    return [f'{INDENT}"""{line}' if n == 0 else f"{INDENT}{line}" if line else ""
            for n, line in enumerate(text.splitlines())] + [f'{INDENT}"""']


def _allocate(name: str, shape: str, like: str, indent: str) -> str:
    return f"{indent}{name} = np.empty({shape}, dtype={like}.dtype)"


def _entry(kernel: Kernel, shapes: Mapping[str, str], like: str) -> list[str]:
    """The public function: allocates the output buffers not passed in, then runs ``_<name>_into``.

    Two calls rather than `if out is None: out = np.empty(…)`, after which numba would type the
    buffer as Optional and check it at every element, which stops the loops from vectorising.
    """
    into = f"_{kernel.function}_into"
    lines = [f"@numba.njit({JIT_OPTIONS})", _signature(kernel), *_docstring(kernel)]
    optional = list(buffers(kernel))
    args = [a.name for a in kernel.args]

    def call(chosen: frozenset[str], indent: str) -> list[str]:
        given = [name if name not in chosen else f"np.empty({shapes[name]}, dtype={like}.dtype)" for name in optional]
        return [f"{indent}return {into}({', '.join(args + given)})"]

    lines += _nested([Arg(name, "buffer", default=sp.S.Zero) for name in optional], call, INDENT)
    return lines + ["", "", _decorator(), f"def {into}({', '.join(args + optional)}):"]


def row_kernel_source(kernel: Kernel) -> str:
    """The source of a row kernel (see the module docstring)."""
    rows = _arg(kernel, "rows")
    label = _arg(kernel, "label")
    ignore = _arg(kernel, "ignore_index")
    names, arrays = _bindings(kernel, "i")
    label_symbol = label.symbol if label is not None else None
    shifted = kernel.program.shifted
    fixed = {}
    if label is not None:
        # z_t is read before pass 2, which may overwrite the row (out=input)
        fixed = {rows.symbol[label.symbol]: "np.float64(_zt)", zs[label.symbol]: "(np.float64(_zt) - m)"}
    printer = KernelPrinter(names, arrays, fixed)
    numbering = _Numbering()
    vector_outputs = [name for name, _ in kernel.program.vectors if name in kernel.outputs]
    scalar_outputs = [name for name, _ in kernel.program.scalars if name in kernel.outputs]
    outputs = scalar_outputs + vector_outputs
    row_function = f"_{kernel.function}_rows"
    summable = _summable(kernel)
    # ``summed``: the loss of rows start..stop is returned as one total instead of stored per row
    argument_names = [a.name for a in kernel.args] + outputs + ["summed"] * summable
    # a task is a run of rows, not one: a call passes every array, a cost that short rows would
    # pay per row
    lines = [f"{INDENT}C = {rows.name}.shape[1]", *[f"{INDENT}_total = 0.0"] * summable,
             f"{INDENT}for i in range(start, stop):"]
    row = INDENT * 2
    if label is not None:
        lines.append(f"{row}t = {label.name}[i]")
    if ignore is not None:
        # an ignored row (keep = 0) has loss and gradient exactly 0, the spec's keep·(…) at keep = 0;
        # its label is not a class index, so nothing is read with it
        lines.append(f"{row}if t == {ignore.name}:")
        for name in scalar_outputs:
            lines += _row_loss_store("0.0", row + INDENT) if name == SUMMED_OUTPUT else [f"{row}{INDENT}{name}[i] = 0.0"]
        lines += [line for name in vector_outputs
                  for line in (f"{row}{INDENT}for j in range(C):", f"{row}{INDENT * 2}{name}[i, j] = 0.0")]
        lines.append(f"{row}{INDENT}continue")
    if label is not None:
        lines.append(f"{row}_zt = {rows.name}[i, t]")
    scale = _arg(kernel, "scale")
    if scale is not None:
        # a reduced loss scales every row alike: one number, not an array with a value per row
        lines.append(f"{row}_scale = {scale.name}[0] if {scale.name}.shape[0] == 1 else {scale.name}[i]")
    native_names, native_arrays = _bindings(kernel, "i", native=True)
    native = KernelPrinter(native_names, native_arrays, fixed)
    # the pinned argmax may be any class holding the max; the label's own saves a search
    pin = f"t if _zt == mx else first_index_of_run({rows.name}, i, mx, start, run)" if label is not None \
        else f"first_index_of_run({rows.name}, i, mx, start, run)"

    # the specialisations (their arguments at defaults) whose finite rows read the pinned argmax
    pinning: list[frozenset[str]] = []

    def block(program_of, indent, pinned_by=None):
        def leaf(chosen, indent=indent):
            block_lines = _row_block(kernel, program_of(kernel.specialisation(chosen)), numbering, printer, native,
                                     indent, kernel.outputs, label_symbol, pin)
            if pinned_by is not None and any("first_index_of_run(" in line for line in block_lines):
                pinned_by.append(chosen)
            return block_lines
        return leaf
    if shifted:
        lines += [f"{row}mx, finite = row_max_of_run({rows.name}, i, start, run)", f"{row}m = np.float64(mx)",
                  f"{row}if finite:"]
        lines += _nested(_specialisable(kernel), block(lambda v: v.program, row + INDENT, pinning), row + INDENT)
        lines.append(f"{row}else:  # nan, +inf or an all −inf row: the formula as written, as torch evaluates it")
        # rare rows: specialised only where an absent (None) array must not be read
        lines += _nested(_specialisable(kernel, arrays_only=True), block(lambda v: v.plain, row + INDENT),
                         row + INDENT)
    else:
        lines += _nested(_specialisable(kernel, arrays_only=True), block(lambda v: v.program, row), row)
    if summable:
        lines.append(f"{INDENT}return _total")
    # run_exponentials takes the log1p of each short row's sum only for a kernel that reads it, and
    # each row's first index of its max only where the arguments choose rows that read it
    takes_log1p = any("log1p_of_run(" in line for line in lines)
    takes_firsts = _python_condition(_specialisable(kernel), pinning)
    # a buffer of the caller's is streamed (write_row's non-temporal stores) from a scratch row
    streams = any("write_row(" in line for line in lines)

    def entry(public: str, function: str, called: Sequence[str], in_place: bool) -> list[str]:
        """The parallel loops over the tasks of ``function``, and ``public``, a Python function that
        runs one of them (and ``public``'s ``_sum`` variant, when the kernel has one).

        The row function takes a trailing argument, None for long rows, so numba compiles it once
        per row length: ``run`` (shifted rows) is run_exponentials' result for short ones and the
        thread's scratch row for streamed ones, and the helpers that read it are chosen by its
        type; ``short`` (the in-place twin of a kernel without exponentials) is True. One parallel loop per row length, picked in Python, means a
        caller compiles only the length it is given. The ``_sum`` variant runs the same loops with
        ``summed`` True: a run-time flag, so it shares their compiled code. Long rows written into
        buffers the caller passed (``out=``) run ``streamed``: pass 2 keeps each row's exponentials
        in its thread's scratch row, and write_row streams the output past the cache, where the
        buffer and its rows are large enough (STREAMED_BYTES); a fresh buffer or the input itself
        is written with ordinary stores.
        """
        optional = [] if in_place else list(buffers(kernel))
        parameters = [a.name for a in kernel.args] + optional + ["summed"] * summable
        lengths = ("short", "long") if shifted or in_place else ("into",)
        streamed = streams and bool(optional) and not in_place
        lengths += ("streamed",) * streamed

        def run_rows(indent: str, call: str) -> list[str]:
            if not summable:
                return [f"{indent}{call}"]
            return [f"{indent}_total = {call}", f"{indent}if summed:", f"{indent}{INDENT}{SUMMED_OUTPUT}[task] = _total"]

        lines = []
        for length in lengths:
            runs = shifted and length == "short"
            per_thread = runs or length == "streamed"
            lines += ["", "", _decorator(), f"def _{public}_{length}({', '.join(parameters + ['threads'] * per_thread)}):",
                      f"{INDENT}rows, C = {rows.name}.shape",
                      f"{INDENT}per_task = max(1, {CHUNK} // max(C, 1))",
                      f"{INDENT}tasks = (rows + per_task - 1) // per_task",
                      *[_allocate(name, "tasks if summed else rows" if name == SUMMED_OUTPUT else "rows", rows.name, INDENT)
                        for name in scalar_outputs]]
            if per_thread:
                # a run's exponentials (a streamed row's) go into its thread's scratch row,
                # allocated once a call: a thread's share of the tasks is one part (numba's prange
                # splits statically too), and the thread count comes from Python
                # (numba.get_num_threads() in a jitted function makes it uncacheable)
                run = f"run_exponentials({rows.name}, start, stop, scratch, {takes_log1p}, with_firsts)" if runs \
                    else "scratch"
                lines += [*[f"{INDENT}with_firsts = {takes_firsts}"] * runs,
                          f"{INDENT}parts = max(1, min(threads, tasks))",
                          f"{INDENT}for part in numba.prange(parts):",
                          f"{INDENT * 2}scratch = np.empty({'per_task * C' if runs else 'C'}, {rows.name}.dtype)",
                          f"{INDENT * 2}for task in range(part * tasks // parts, (part + 1) * tasks // parts):",
                          f"{INDENT * 3}start = task * per_task", f"{INDENT * 3}stop = min(rows, start + per_task)",
                          *run_rows(INDENT * 3, f"{function}(start, stop, {', '.join(called)}, {run})"),
                          *[f"{INDENT * 2}store_fence()"] * (not runs)]
            else:
                trailing = {"short": ["True"], "long": ["None"]}.get(length, [])
                lines += [f"{INDENT}for task in numba.prange(tasks):",
                          f"{INDENT * 2}start = task * per_task", f"{INDENT * 2}stop = min(rows, start + per_task)",
                          *run_rows(INDENT * 2, f"{function}(start, stop, {', '.join([*called, *trailing])})")]
            lines.append(f"{INDENT}return {_in_place_outputs(kernel) if in_place else ', '.join(kernel.outputs)}")
        signature = [a.name for a in kernel.args] + [f"{name}=None" for name in optional]
        summed_public = IN_PLACE.format(f"{kernel.function}_sum") if in_place else f"{kernel.function}_sum"
        for name, documented, flag in [(public, kernel, "False"), *[(summed_public, _summed(kernel), "True")] * summable]:
            lines += ["", "", f"def {name}({', '.join(signature)}):", *_docstring(documented, in_place=in_place)]
            if streamed:
                lines.append(f"{INDENT}passed_in = {' and '.join(f'{buffer} is not None' for buffer in optional)}")
            for buffer in optional:
                # allocated by NumPy, which asks Linux for huge pages on a large array (numba does not)
                lines += [f"{INDENT}if {buffer} is None:",
                          f"{INDENT * 2}{buffer} = np.empty({rows.name}.shape, dtype={rows.name}.dtype)"]
            arguments = [flag if parameter == "summed" else parameter for parameter in parameters]
            call = f"({', '.join(arguments)})"
            if "into" in lengths:
                lines.append(f"{INDENT}return _{public}_into{call}")
                continue
            threaded = f"({', '.join(arguments + ['numba.get_num_threads()'])})"
            lines += [f"{INDENT}if {rows.name}.shape[1] < {LONG_ROWS}:",
                      f"{INDENT * 2}return _{public}_short{threaded if shifted else call}"]
            if streamed:
                lines += [f"{INDENT}if passed_in and {optional[0]}.nbytes >= {STREAMED_BYTES} and "
                          f"{rows.name}.shape[1] * {rows.name}.itemsize >= {STREAMED_ROW_BYTES}:",
                          f"{INDENT * 2}return _{public}_streamed{threaded}"]
            lines.append(f"{INDENT}return _{public}_long{call}")
        return lines

    # long rows (the row-length argument None) run with 512-bit vectors; without exponentials there
    # is no run, and only the in-place twin is compiled for each row length
    length = "run" if shifted else "short"
    wide = [f"{INDENT}prefer_wide_vectors_if_long({length})"]
    own_length, own_wide = ([length], wide) if shifted else ([], [])
    source = [_inner_decorator(), f"def {row_function}(start, stop, {', '.join(argument_names + own_length)}):",
              f'{INDENT}"""Rows start..stop of {kernel.function}."""', *own_wide, *lines]
    source += entry(kernel.function, row_function, argument_names, in_place=False)
    source += _in_place_functions(kernel, row_function, ["start", "stop"], argument_names, "Rows start..stop of {}.",
                                  [*wide, *lines], lambda public, twin, kept: entry(public, twin, kept, in_place=True),
                                  trailing=[length])
    return "\n".join(source) + "\n"


def _summed(kernel: Kernel) -> Kernel:
    """``kernel``'s ``_sum`` variant: the loss summed per task or chunk instead of one per row or element."""
    if kernel.program is not None:
        what = (f"the sum over each task of rows (max(1, {CHUNK} // C) rows a task), in the rows' dtype "
                "(one per task)")
    else:
        what = f"the sum over each chunk of {CHUNK} elements, in float64 (one per chunk)"
    return replace(kernel, function=f"{kernel.function}_sum", doc=f"{kernel.doc.strip()}\n\n{SUMMED_OUTPUT}: {what}.")


def elementwise_kernel_source(kernel: Kernel, summed: bool = False) -> str:
    """The source of an elementwise kernel over flat arrays: a chunk function (a vectorised
    loop, fastmath kept, as for rows) called from a prange over chunks.

    ``summed``: the ``<name>_sum`` variant, which returns the loss summed per chunk (float64)
    instead of one loss per element — what a 'mean' or 'sum' reduction needs, without an
    input-sized array.
    """
    if summed:
        kernel = _summed(kernel)
    first = next(a for a in kernel.args if a.role == "elements")
    flag = _arg(kernel, "flag")
    names, arrays = _bindings(kernel, "i")
    printer = KernelPrinter(names, arrays)
    numbering = _Numbering()
    stored = [name for name in kernel.outputs if not (summed and name == SUMMED_OUTPUT)]
    argument_names = [a.name for a in kernel.args] + stored
    arguments = ", ".join(argument_names)
    chunk_function = f"_{kernel.function}_chunk"
    scale = _arg(kernel, "scale")

    def block(exprs: Mapping[str, sp.Expr], indent: str, scale_code: str | None) -> list[str]:
        replacements, reduced = numbering.cse([sigmoids_written_out(exprs[name]) for name in kernel.outputs])
        # an unsigned index: numba wraps a signed one that might be negative (i < 0: i + n), which
        # hides the addresses from LLVM; written in place, the loop then ran unvectorised (4x slower)
        out = [f"{indent}for i in range(np.uint64(start), np.uint64(stop)):"]
        out += _lines(printer, replacements, indent + INDENT)
        for name, value in zip(kernel.outputs, reduced):
            code = _scaled(kernel, name, value, printer, scale_code)
            out.append(f"{indent}{INDENT}_total += {code}" if name not in stored else f"{indent}{INDENT}{name}[i] = {code}")
        return out

    def variants(indent: str, scale_code: str | None = None) -> list[str]:
        if flag is not None:
            return [f"{indent}if {flag.name}:", *block(kernel.variants[True], indent + INDENT, scale_code),
                    f"{indent}else:", *block(kernel.variants[False], indent + INDENT, scale_code)]
        return _nested(_specialisable(kernel), lambda chosen, inner: block(
            kernel.specialisation(chosen).elementwise, inner, scale_code), indent)

    # a chunk is one long loop: 512-bit vectors measured 25-30 % faster than 256-bit here
    lines = [f"{INDENT}prefer_wide_vectors()"]
    if summed:
        lines.append(f"{INDENT}_total = 0.0")
    if scale is None:
        lines += variants(INDENT)
    else:
        # a reduced loss scales every element alike: one number, not an array as large as the input
        lines += [f"{INDENT}if {scale.name}.shape[0] == 1:", f"{INDENT * 2}_scale = {scale.name}[0]",
                  *variants(INDENT * 2, "_scale"), f"{INDENT}else:", *variants(INDENT * 2)]
    if summed:
        lines.append(f"{INDENT}return _total")

    def chunks_loop(function: str, called: Sequence[str]) -> list[str]:
        chunks = f"(n + {CHUNK - 1}) // {CHUNK}"
        call = f"{function}(chunk * {CHUNK}, min(n, (chunk + 1) * {CHUNK}), {', '.join(called)})"
        return [f"{INDENT}n = {first.name}.shape[0]",
                *[_allocate(name, "n", first.name, INDENT) for name in stored if name not in buffers(kernel)],
                *([f"{INDENT}{SUMMED_OUTPUT} = np.empty({chunks}, dtype=np.float64)"] if summed else []),
                f"{INDENT}for chunk in numba.prange({chunks}):",
                f"{INDENT * 2}{SUMMED_OUTPUT}[chunk] = {call}" if summed else f"{INDENT * 2}{call}"]

    source = [_inner_decorator(), f"def {chunk_function}(start, stop, {arguments}):",
              f'{INDENT}"""Elements start..stop of {kernel.function}."""', *lines, "", ""]
    source += _entry(kernel, {name: f"{first.name}.shape" for name in buffers(kernel)}, first.name)
    source += [*chunks_loop(chunk_function, argument_names), f"{INDENT}return {', '.join(kernel.outputs)}"]
    def in_place(public: str, twin: str, kept: Sequence[str]) -> list[str]:
        return ["", "", _decorator(), f"def {public}({', '.join(a.name for a in kernel.args)}):",
                *_docstring(kernel, in_place=True), *chunks_loop(twin, kept), f"{INDENT}return {_in_place_outputs(kernel)}"]
    source += _in_place_functions(kernel, chunk_function, ["start", "stop"], argument_names,
                                  "Elements start..stop of {}.", lines, in_place)
    return "\n".join(source) + "\n"


def kernel_source(kernel: Kernel) -> str:
    if kernel.program is not None:
        return row_kernel_source(kernel)
    source = elementwise_kernel_source(kernel)
    if _summable(kernel):
        source += "\n\n" + elementwise_kernel_source(kernel, summed=True)
    return source
