"""A row kernel's source, rendered from its :class:`~symce.codegen.planner.RowPlan`.

A row kernel reads a (M, C) array row by row (``numba.prange`` over runs of rows): pass 1 finds
the row max (and the argmax only where the plan reads it), pass 2 accumulates every reduction in
one sweep, pass 3 writes the per-row outputs and, for each class, the per-class outputs — so a
fused forward+backward kernel reads each logit twice, stores exp(z_k − m) in the gradient and
reads it back once. Rows shorter than ``LONG_ROWS`` take pass 1, the exponentials of pass 2, their
sum and its log1p for a whole run of rows first, in flat loops; a long row's per-class output,
where it is Σ coefficient · (reads at j), is written by the runtime's ``write_row``, which
prefetches the next row and, into a large buffer of the caller's, stores past the cache (the
exponentials then kept in a scratch row).

A shifted row's reductions run in the row's own dtype (float32 rows vectorise at full width) and
are then widened; everything else is float64, rounded once into outputs of the rows' dtype.
"""
from __future__ import annotations

from typing import Sequence

import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce.codegen.planner import (SUMMED_OUTPUT, AffineTerm, BlockPlan, BranchPlan, Kernel, ReductionPass,
                                   RowPlan, ScalarPlan, VectorPlan, buffers, plan_rows)
from symce.codegen.printer import KernelPrinter
from symce.codegen.program import argmax
from symce.codegen.render import (IN_PLACE, INDENT, ROW_LOSS, assignments, bindings, decorator, docstring,
                                  formula, in_place_functions, in_place_outputs, inner_decorator, nested,
                                  python_condition, scaled, summed_kernel)
from symce.codegen.rewrites import zs
from symce.spec.symbols import j, k


class _Printers:
    """The printers of one row kernel: ``printer`` reads in float64, ``native`` in the rows' dtype;
    z_t is read before pass 2, which may overwrite the row (out=input)."""

    def __init__(self, kernel: Kernel):
        rows, label = kernel.arg("rows"), kernel.arg("label")
        fixed = {}
        if label is not None:
            fixed = {rows.symbol[label.symbol]: "np.float64(_zt)", zs[label.symbol]: "(np.float64(_zt) - m)"}
        self.printer = KernelPrinter(*bindings(kernel, "i"), fixed)
        self.native = KernelPrinter(*bindings(kernel, "i", native=True), fixed)
        self.rows, self.label = rows, label.symbol if label is not None else None

    def pass_three(self, block: BlockPlan) -> tuple[KernelPrinter, KernelPrinter | None]:
        """The printers of pass 3: in a shifted row t = a is tested by value, exp(z_j − m) read from
        the kept exponentials or taken below the max (no overflow clamp), the log1p of the exponential
        sum read from the run."""
        printer, label = self.printer, self.label
        if not block.shifted:
            return printer, None
        if label is not None:
            printer = printer.with_elements({sp.Eq(label, argmax): "(_zt == mx)", sp.Eq(argmax, label): "(_zt == mx)"})
        store = block.reduction.store if block.reduction is not None else None
        exponentials = {zs[j]: f"np.float64({self.exponential(store, 'j')})"}
        if label is not None:
            exponentials[zs[label]] = f"np.float64({self.exponential(store, 't')})" if store else \
                "np.float64(exp_below_max(_zt, mx, run, i - start, t))"
        total = block.reduction.exponential_sum if block.reduction is not None else None
        logs = {log1p(total.symbol): f"log1p_of_run({total.symbol}, run, i - start)"} if total else {}
        return (printer.with_elements(logs, exponentials=exponentials),
                self.native.with_elements(exponentials={zs[j]: self.exponential(store, "j")}))

    def exponential(self, store: str | None, index: str) -> str:
        if store:
            return f"stored_exponential({store}, i, {index}, run, i - start)"
        return f"exp_below_max({self.rows.name}[i, {index}], mx, run, i - start, {index})"

    def pass_two(self, reduction: ReductionPass) -> KernelPrinter:
        """The printer of pass 2's loop, which reads z_k once (``_zk``) and its exponential (``_ek``)."""
        rows = self.rows.symbol
        if reduction.shifted:
            return self.native.with_elements({rows[k]: "_zk", zs[k]: "(_zk - mx)"}, {zs[k]: "_ek"})
        return self.printer.with_elements({rows[k]: "np.float64(_zk)"}, {rows[k]: "np.float64(_ek)"})


def _sum_formula(reduction, below: str = "") -> str:
    over = "k≠a" if reduction.excludes_argmax else "k"
    return f"Σ_{{{over}{below}}} {formula(reduction.body)}"


def _accumulators(reduction: ReductionPass, indent: str) -> list[str]:
    if not reduction.shifted:
        return [f"{indent}_s{n} = 0.0  # {_sum_formula(r)}" for n, r in enumerate(reduction.reductions)]
    lines = [f"{indent}_zero = mx - mx  # 0 in the row's dtype (mx is finite here)"]
    lines += [f"{indent}_s{n} = _zero  # {_sum_formula(r, ', z_k < max' if split else '')}"
              for n, (r, split) in enumerate(zip(reduction.reductions, reduction.split))]
    lines += [f"{indent}_u{n} = _zero  # Σ_{{z_k = max}} {formula(r.body)}"
              for n, (r, split) in enumerate(zip(reduction.reductions, reduction.split)) if split]
    return lines


def _reduction_lines(kernel: Kernel, reduction: ReductionPass, printers: _Printers, indent: str) -> list[str]:
    """Pass 2: every reduction in one branch-free sweep over the row, each element read once (``_zk``).

    A Σ_{k≠a} is accumulated over the classes below the max (``_s``) and, apart, over those at the
    max (``_u``): Σ_{k≠a} = _s + (_u − term at a). With one max, _u is that term and the bracket is
    exactly 0; with ties it adds the other maxima back. So a confident row (Σ_{k≠a} exp(z_k − m) ≪ 1,
    which log1p needs to the last digit) keeps every digit of its small sum, with no second pass.
    """
    inner, loop_printer = indent + INDENT, printers.pass_two(reduction)
    lines = [*_accumulators(reduction, indent), f"{indent}for k in range(C):",
             f"{inner}_zk = {printers.rows.name}[i, k]"]
    if reduction.takes_exp:
        # unshifted (a row with inf or nan, rare) the exponent is taken in float64 like every plain-row value
        lines.append(f"{inner}_ek = " + ("exp_below_max(_zk, mx, run, i - start, k)  # exp(z_k − m)"
                                         if reduction.shifted else "fast_exp(np.float64(_zk))  # exp(z_k)"))
        if reduction.store:
            lines.append(f"{inner}store_exponential({reduction.store}, i, k, _ek, run)")
    lines += assignments(loop_printer, reduction.intermediates, inner)
    for n, body in enumerate(reduction.bodies):
        code = loop_printer.doprint(body)
        if reduction.split[n]:
            lines += [f"{inner}_b{n} = {code}  # {formula(reduction.reductions[n].body)}",
                      f"{inner}_s{n} += _zero if _zk == mx else _b{n}", f"{inner}_u{n} += _b{n} if _zk == mx else _zero"]
        else:
            lines.append(f"{inner}_s{n} += {code}")
    return lines + _reduction_totals(reduction, printers.printer, indent)


def _reduction_totals(reduction: ReductionPass, printer: KernelPrinter, indent: str) -> list[str]:
    lines = []
    for n, r in enumerate(reduction.reductions):
        total = f"np.float64(_s{n})"
        if reduction.split[n]:
            total += f" + (np.float64(_u{n}) - {printer.doprint(reduction.argmax_terms[n])})"
        if r == reduction.exponential_sum:
            total = f"sum_below_max_of_run({total}, run, i - start)"
        lines.append(f"{indent}{r.symbol} = {total}  # {_sum_formula(r)}")
    return lines


def _row_loss_store(value: str, indent: str) -> list[str]:
    """Row i's loss into its slot, unless the kernel runs as its ``_sum`` variant (``summed``),
    whose loss array holds one total per task."""
    return [f"{indent}if not summed:", f"{indent}{INDENT}{SUMMED_OUTPUT}[i] = {value}"]


def _case_lines(kernel: Kernel, printer: KernelPrinter, target: str, scalar: ScalarPlan, indent: str) -> list[str]:
    """``target = value`` for each case, as an if/elif/else chain when there are several."""
    lines, several = [], len(scalar.cases) > 1
    body = indent + INDENT if several else indent
    for number, case in enumerate(scalar.cases):
        if case.condition is not None:
            lines.append(f"{indent}{'if' if number == 0 else 'elif'} {printer.doprint(case.condition)}:")
        elif several:
            lines.append(f"{indent}else:")
        case_printer = printer.with_elements(names={argmax: "t"}) if case.pins_label else printer
        lines += assignments(case_printer, case.intermediates, body)
        lines.append(f"{body}{target} = {scaled(kernel, scalar.output, case.value, case_printer)}")
    return lines


def _scalar_lines(kernel: Kernel, printer: KernelPrinter, scalar: ScalarPlan, indent: str) -> list[str]:
    if scalar.output != SUMMED_OUTPUT:
        return _case_lines(kernel, printer, f"{scalar.output}[i]", scalar, indent)
    return [*_case_lines(kernel, printer, ROW_LOSS, scalar, indent), f"{indent}_total += {ROW_LOSS}",
            *_row_loss_store(ROW_LOSS, indent)]


def _tuple(items: Sequence[str]) -> str:
    """A Python tuple of ``items`` (a 1-tuple with its comma)."""
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _row_writer(kernel: Kernel, name: str, affine: Sequence[AffineTerm], store: str | None) -> str:
    """The runtime's ``write_row(…)`` that writes row i of ``name`` = Σ coefficient · product, each
    product's factors given as the arrays it reads at j, and row i + 1 of every per-row input prefetched."""
    arrays = {arg.symbol: arg.name for arg in kernel.args if arg.role in ("rows", "classes")}

    def read(factor) -> str:
        return f"kept_exponentials({store}, run)" if isinstance(factor, sp.exp) else arrays[factor.base]
    terms = [_tuple([str(term.symbol), *(read(f) for f in sp.Mul.make_args(term.product) if term.product != 1)])
             for term in affine]
    ahead = [arg.name for arg in kernel.args if arg.role == "rows"]
    return f"write_row({name}, i, {_tuple(terms)}, {_tuple(ahead)}, run)"


def _affine_loop(kernel: Kernel, printer: KernelPrinter, native: KernelPrinter, name: str, branch: BranchPlan,
                 indent: str, store: str | None) -> list[str]:
    """The loop of an affine per-class value in the row's dtype, each row-level coefficient rounded to
    the dtype once; that adds an error of the order the float32 read exp(z_j − m) already carries."""
    lines, terms = [], []
    for term in branch.affine:
        what = "the row-level term" if term.product == 1 else f"the coefficient of {formula(term.product)}"
        lines.append(f"{indent}{term.symbol} = cast_like({scaled(kernel, name, term.coefficient, printer)}, mx)"
                     f"  # {what} in {name}")
        terms.append(str(term.symbol) if term.product == 1 else f"{term.symbol} * {native.doprint(term.product)}")
    loop = [f"{indent}for j in range(C):", f"{indent}{INDENT}{name}[i, j] = {' + '.join(terms)}"]
    if not branch.writes_row:
        return lines + loop
    return lines + [f"{indent}if not {_row_writer(kernel, name, branch.affine, store)}:",
                    *[INDENT + line for line in loop]]


def _branch_lines(kernel: Kernel, printer: KernelPrinter, native: KernelPrinter | None, name: str,
                  branch: BranchPlan, indent: str, store: str | None) -> list[str]:
    """One row branch of a per-class output: the overriding classes' values first (they may read the
    buffer the loop overwrites), then one branch-free loop, then the overrides."""
    branch_printer = printer.with_elements(names={argmax: "t"}) if branch.pins_label else printer
    lines = []
    for override in branch.overrides:
        lines += assignments(branch_printer, override.intermediates, indent)
        lines.append(f"{indent}{override.symbol} = {scaled(kernel, name, override.value, branch_printer)}"
                     f"  # {name}[i, {formula(override.index)}]")
    if branch.affine is not None:
        lines += _affine_loop(kernel, branch_printer, native, name, branch, indent, store)
    else:
        lines.append(f"{indent}for j in range(C):")
        lines += assignments(branch_printer, branch.loop_intermediates, indent + INDENT)
        lines.append(f"{indent}{INDENT}{name}[i, j] = {scaled(kernel, name, branch.loop_value, branch_printer)}")
    return lines + [f"{indent}{name}[i, {branch_printer.doprint(o.index)}] = {o.symbol}"
                    for o in reversed(branch.overrides)]


def _vector_lines(kernel: Kernel, printer: KernelPrinter, native: KernelPrinter | None, vector: VectorPlan,
                  indent: str, store: str | None) -> list[str]:
    """A per-class output, one if/elif/else arm per row branch."""
    lines, last = [], len(vector.branches) - 1
    for number, branch in enumerate(vector.branches):
        body = indent
        if branch.condition is not None:
            keyword = "if" if number == 0 else "elif" if number < last else "else"
            lines.append(f"{indent}{keyword} {printer.doprint(branch.condition)}:" if keyword != "else"
                         else f"{indent}else:")
            body = indent + INDENT
        lines += _branch_lines(kernel, printer, native, vector.output, branch, body, store)
    return lines


def _block_lines(kernel: Kernel, printers: _Printers, block: BlockPlan, indent: str, pin: str) -> list[str]:
    """Passes 2 and 3 of a row: the reductions, then the outputs; the argmax ``a`` found (``pin``)
    only where the plan reads it."""
    lines = [f"{indent}a = {pin}  # the argmax (the label where it holds the max)"] * block.reads_argmax
    if block.reduction is not None:
        lines += _reduction_lines(kernel, block.reduction, printers, indent)
    printer, native = printers.pass_three(block)
    lines += assignments(printer, block.intermediates, indent)
    for scalar in block.scalars:
        lines += _scalar_lines(kernel, printer, scalar, indent)
    store = block.reduction.store if block.reduction is not None else None
    for vector in block.vectors:
        lines += _vector_lines(kernel, printer, native, vector, indent, store)
    return lines


def _ignored_row(kernel: Kernel, indent: str) -> list[str]:
    """An ignored row (keep = 0) has loss and gradient exactly 0, the spec's keep·(…) at keep = 0;
    its label is not a class index, so nothing is read with it."""
    ignore = kernel.arg("ignore_index")
    if ignore is None:
        return []
    lines = [f"{indent}if t == {ignore.name}:"]
    for name, _ in kernel.program.scalars:
        if name in kernel.outputs:
            lines += _row_loss_store("0.0", indent + INDENT) if name == SUMMED_OUTPUT else \
                [f"{indent}{INDENT}{name}[i] = 0.0"]
    for name in buffers(kernel):
        lines += [f"{indent}{INDENT}for j in range(C):", f"{indent}{INDENT * 2}{name}[i, j] = 0.0"]
    return lines + [f"{indent}{INDENT}continue"]


def _row_start(kernel: Kernel, indent: str) -> list[str]:
    """A row's label, its ignored case, z_t and its gradient's scale."""
    rows, label, scale = kernel.arg("rows"), kernel.arg("label"), kernel.arg("scale")
    lines = [f"{indent}t = {label.name}[i]"] if label is not None else []
    lines += _ignored_row(kernel, indent)
    if label is not None:
        lines.append(f"{indent}_zt = {rows.name}[i, t]  # z_t, read before pass 2 may overwrite the row")
    if scale is not None:
        # a reduced loss scales every row alike: one number, not an array with a value per row
        lines.append(f"{indent}_scale = {scale.name}[0] if {scale.name}.shape[0] == 1 else {scale.name}[i]")
    return lines


def _rows_body(plan: RowPlan, printers: _Printers) -> list[str]:
    """The loop over rows start..stop of the row function."""
    kernel, row = plan.kernel, INDENT * 2
    rows, label = kernel.arg("rows"), kernel.arg("label")
    # the pinned argmax may be any class holding the max; the label's own saves a search
    first = f"first_index_of_run({rows.name}, i, mx, start, run)"
    pin = f"t if _zt == mx else {first}" if label is not None else first
    lines = [f"{INDENT}C = {rows.name}.shape[1]", *[f"{INDENT}_total = 0.0"] * kernel.summable,
             f"{INDENT}for i in range(start, stop):", *_row_start(kernel, row)]
    return [*lines, *_row_passes(plan, printers, pin, row), *[f"{INDENT}return _total"] * kernel.summable]


def _row_passes(plan: RowPlan, printers: _Printers, pin: str, row: str) -> list[str]:
    """Each row's blocks, by specialisation: for finite rows and the rest, in a shifted kernel."""
    kernel, rows = plan.kernel, plan.kernel.arg("rows")
    plain = {block.defaults: block for block in plan.plain}
    plain_lines = nested(kernel.specialisable(arrays_only=True), lambda chosen, indent: _block_lines(
        kernel, printers, plain[chosen], indent, pin), row + INDENT * plan.shifted)
    if not plan.shifted:
        return plain_lines
    finite = {block.defaults: block for block in plan.finite}
    return [f"{row}mx, finite = row_max_of_run({rows.name}, i, start, run)  # the row max, and if it is finite",
            f"{row}m = np.float64(mx)", f"{row}if finite:",
            *nested(kernel.specialisable(), lambda chosen, indent: _block_lines(
                kernel, printers, finite[chosen], indent, pin), row + INDENT),
            f"{row}else:  # nan, +inf or an all −inf row: the formula as written, as torch evaluates it",
            *plain_lines]


def _row_arguments(kernel: Kernel) -> list[str]:
    """The row function's arguments after start, stop; ``summed``: the loss of rows start..stop is
    returned as one total instead of stored per row."""
    outputs = [name for name, _ in kernel.program.scalars + kernel.program.vectors if name in kernel.outputs]
    return [a.name for a in kernel.args] + outputs + ["summed"] * kernel.summable


def _run_rows(kernel: Kernel, indent: str, call: str) -> list[str]:
    if not kernel.summable:
        return [f"{indent}{call}"]
    return [f"{indent}_total = {call}", f"{indent}if summed:", f"{indent}{INDENT}{SUMMED_OUTPUT}[task] = _total"]


def _per_thread_loop(plan: RowPlan, function: str, called: Sequence[str], runs: bool) -> list[str]:
    """The tasks split into one part per thread, each with its scratch row: a run's exponentials
    (``runs``) or a streamed row's, allocated once a call (numba's prange splits statically too, and
    the thread count comes from Python: numba.get_num_threads() in a jitted function makes it
    uncacheable)."""
    rows = plan.kernel.arg("rows").name
    run = f"run_exponentials({rows}, start, stop, scratch, {plan.takes_log1p}, with_firsts)" if runs else "scratch"
    with_firsts = python_condition(plan.kernel.specialisable(), plan.reading_firsts)
    return [*[f"{INDENT}with_firsts = {with_firsts}  # whether a row reads the first index of its max"] * runs,
            f"{INDENT}parts = max(1, min(threads, tasks))", f"{INDENT}for part in numba.prange(parts):",
            f"{INDENT * 2}scratch = np.empty({'per_task * C' if runs else 'C'}, {rows}.dtype)",
            f"{INDENT * 2}for task in range(part * tasks // parts, (part + 1) * tasks // parts):",
            f"{INDENT * 3}start = task * per_task", f"{INDENT * 3}stop = min(rows, start + per_task)",
            *_run_rows(plan.kernel, INDENT * 3, f"{function}(start, stop, {', '.join(called)}, {run})"),
            *[f"{INDENT * 2}store_fence()"] * (not runs)]


def _length_loop(plan: RowPlan, public: str, function: str, parameters: Sequence[str], called: Sequence[str],
                 length: str, in_place: bool) -> list[str]:
    """``_<public>_<length>``: the parallel loop over the tasks of ``function`` for one row length."""
    kernel, rows = plan.kernel, plan.kernel.arg("rows").name
    runs = plan.shifted and length == "short"
    per_thread = runs or length == "streamed"
    lines = ["", "", decorator(), f"def _{public}_{length}({', '.join([*parameters, *['threads'] * per_thread])}):",
             f"{INDENT}rows, C = {rows}.shape", f"{INDENT}per_task = max(1, CHUNK // max(C, 1))",
             f"{INDENT}tasks = (rows + per_task - 1) // per_task",
             *[f"{INDENT}{name} = np.empty({'tasks if summed else rows' if name == SUMMED_OUTPUT else 'rows'}, "
               f"dtype={rows}.dtype)" for name, _ in kernel.program.scalars if name in kernel.outputs]]
    if per_thread:
        lines += _per_thread_loop(plan, function, called, runs)
    else:
        trailing = {"short": ["True"], "long": ["None"]}.get(length, [])
        lines += [f"{INDENT}for task in numba.prange(tasks):",
                  f"{INDENT * 2}start = task * per_task", f"{INDENT * 2}stop = min(rows, start + per_task)",
                  *_run_rows(kernel, INDENT * 2, f"{function}(start, stop, {', '.join([*called, *trailing])})")]
    return lines + [f"{INDENT}return {in_place_outputs(kernel) if in_place else ', '.join(kernel.outputs)}"]


def _dispatch(plan: RowPlan, public: str, call: Sequence[str], buffers_passed: Sequence[str],
              lengths: Sequence[str]) -> list[str]:
    """The public function's body after its buffers: the compiled row length to run."""
    rows = plan.kernel.arg("rows").name
    plain, threaded = f"({', '.join(call)})", f"({', '.join([*call, 'numba.get_num_threads()'])})"
    if "into" in lengths:
        return [f"{INDENT}return _{public}_into{plain}"]
    lines = [f"{INDENT}if {rows}.shape[1] < LONG_ROWS:",
             f"{INDENT * 2}return _{public}_short{threaded if plan.shifted else plain}"]
    if "streamed" in lengths:
        lines += [f"{INDENT}if passed_in and {buffers_passed[0]}.nbytes >= STREAMED_BYTES and "
                  f"{rows}.shape[1] * {rows}.itemsize >= STREAMED_ROW_BYTES:",
                  f"{INDENT * 2}return _{public}_streamed{threaded}"]
    return lines + [f"{INDENT}return _{public}_long{plain}"]


def _public_functions(plan: RowPlan, public: str, parameters: Sequence[str], optional: Sequence[str],
                      in_place: bool) -> list[str]:
    """``public`` (and its ``_sum`` variant): Python functions that allocate the buffers not passed in
    (by NumPy, which asks Linux for huge pages on a large array; numba does not) and run a loop."""
    kernel, rows = plan.kernel, plan.kernel.arg("rows").name
    lengths = plan.lengths(in_place)
    signature = [a.name for a in kernel.args] + [f"{name}=None" for name in optional]
    summed_public = IN_PLACE.format(f"{kernel.function}_sum") if in_place else f"{kernel.function}_sum"
    lines = []
    for name, documented, flag in [(public, kernel, "False"), *[(summed_public, summed_kernel(kernel), "True")]
                                   * kernel.summable]:
        lines += ["", "", f"def {name}({', '.join(signature)}):", *docstring(documented, in_place=in_place)]
        if "streamed" in lengths:
            lines.append(f"{INDENT}passed_in = {' and '.join(f'{buffer} is not None' for buffer in optional)}")
        for buffer in optional:
            lines += [f"{INDENT}if {buffer} is None:", f"{INDENT * 2}{buffer} = np.empty({rows}.shape, dtype={rows}.dtype)"]
        call = [flag if parameter == "summed" else parameter for parameter in parameters]
        lines += _dispatch(plan, public, call, optional, lengths)
    return lines


def _entry(plan: RowPlan, public: str, function: str, called: Sequence[str], in_place: bool) -> list[str]:
    """The parallel loops over the tasks of ``function``, one per row length, and ``public``, a Python
    function that picks one (and ``public``'s ``_sum`` variant, when the kernel has one).

    The row function takes a trailing argument, None for long rows, so numba compiles it once per
    row length: ``run`` (shifted rows) is run_exponentials' result for short ones and the thread's
    scratch row for streamed ones, and the helpers that read it are chosen by its type; ``short``
    (the in-place twin of a kernel without exponentials) is True. Picked in Python, a caller
    compiles only the length it is given. The ``_sum`` variant runs the same loops with ``summed``
    True: a run-time flag, so it shares their compiled code. Long rows written into buffers the
    caller passed (``out=``) run ``streamed`` where the buffer and its rows are large enough; a
    fresh buffer or the input itself is written with ordinary stores.
    """
    kernel = plan.kernel
    optional = [] if in_place else list(buffers(kernel))
    parameters = [a.name for a in kernel.args] + optional + ["summed"] * kernel.summable
    lines = []
    for length in plan.lengths(in_place):
        lines += _length_loop(plan, public, function, parameters, called, length, in_place)
    return lines + _public_functions(plan, public, parameters, optional, in_place)


def row_kernel_source(kernel: Kernel) -> str:
    """The source of a row kernel (see the module docstring)."""
    plan = plan_rows(kernel)
    row_function, arguments = f"_{kernel.function}_rows", _row_arguments(kernel)
    body = _rows_body(plan, _Printers(kernel))
    # long rows (the row-length argument None) run with 512-bit vectors; without exponentials there
    # is no run, and only the in-place twin is compiled for each row length
    length = "run" if plan.shifted else "short"
    wide = [f"{INDENT}prefer_wide_vectors_if_long({length})"]
    own_length, own_wide = ([length], wide) if plan.shifted else ([], [])
    source = [inner_decorator(), f"def {row_function}(start, stop, {', '.join(arguments + own_length)}):",
              f'{INDENT}"""Rows start..stop of {kernel.function}."""', *own_wide, *body]
    source += _entry(plan, kernel.function, row_function, arguments, in_place=False)
    source += in_place_functions(kernel, row_function, arguments, "Rows start..stop of {}.", [*wide, *body],
                                 lambda public, twin, kept: _entry(plan, public, twin, kept, in_place=True),
                                 trailing=[length])
    return "\n".join(source) + "\n"
