"""An elementwise kernel's source, rendered from its :class:`~symce.codegen.planner.ElementwisePlan`.

An elementwise kernel reads flat (n,) arrays: a chunk function (a vectorised loop, fastmath kept,
as for rows) called from a ``numba.prange`` over chunks of ``CHUNK`` elements. Its ``_sum`` variant
returns the loss summed per chunk (float64) instead of one loss per element — what a 'mean' or
'sum' reduction needs, without an input-sized array.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import sympy as sp

from symce.codegen.planner import SUMMED_OUTPUT, Arg, ElementBlock, ElementwisePlan, Kernel, buffers, plan_elementwise
from symce.codegen.printer import JIT_OPTIONS, KernelPrinter
from symce.codegen.render import (INDENT, allocate, assignments, bindings, decorator, docstring, in_place_functions,
                                  in_place_outputs, inner_decorator, nested, scaled, summed_kernel)


def _stored(plan: ElementwisePlan) -> list[str]:
    """The outputs stored per element (a ``_sum`` variant adds its loss up instead)."""
    return [name for name in plan.kernel.outputs if not (plan.summed and name == SUMMED_OUTPUT)]


def _loop(plan: ElementwisePlan, printer: KernelPrinter, block: ElementBlock, indent: str,
          scale_code: str | None) -> list[str]:
    # an unsigned index: numba wraps a signed one that might be negative (i < 0: i + n), which
    # hides the addresses from LLVM; written in place, the loop then ran unvectorised
    stored = _stored(plan)
    lines = [f"{indent}for i in range(np.uint64(start), np.uint64(stop)):",
             *assignments(printer, block.intermediates, indent + INDENT)]
    for name, value in zip(plan.kernel.outputs, block.values):
        code = scaled(plan.kernel, name, value, printer, scale_code)
        lines.append(f"{indent}{INDENT}{name}[i] = {code}" if name in stored else f"{indent}{INDENT}_total += {code}")
    return lines


def _variants(plan: ElementwisePlan, printer: KernelPrinter, blocks: Sequence[ElementBlock], indent: str,
              scale_code: str | None = None) -> list[str]:
    """The loops of every variant (by the flag) or specialisation (by the arguments at defaults)."""
    flag = plan.kernel.arg("flag")
    if flag is not None:
        chosen = {block.flag: block for block in blocks}
        return [f"{indent}if {flag.name}:", *_loop(plan, printer, chosen[True], indent + INDENT, scale_code),
                f"{indent}else:", *_loop(plan, printer, chosen[False], indent + INDENT, scale_code)]
    chosen = {block.defaults: block for block in blocks}
    return nested(plan.kernel.specialisable(), lambda defaults, inner: _loop(
        plan, printer, chosen[defaults], inner, scale_code), indent)


def _chunk_body(plan: ElementwisePlan) -> list[str]:
    """The chunk function's body; a chunk is one long loop, faster with 512-bit vectors."""
    kernel, printer = plan.kernel, KernelPrinter(*bindings(plan.kernel, "i"))
    scale = kernel.arg("scale")
    lines = [f"{INDENT}prefer_wide_vectors()", *[f"{INDENT}_total = 0.0"] * plan.summed]
    if scale is None:
        lines += _variants(plan, printer, plan.blocks, INDENT)
    else:
        # a reduced loss scales every element alike: one number, not an array as large as the input
        lines += [f"{INDENT}if {scale.name}.shape[0] == 1:", f"{INDENT * 2}_scale = {scale.name}[0]",
                  *_variants(plan, printer, plan.scaled_once, INDENT * 2, "_scale"), f"{INDENT}else:",
                  *_variants(plan, printer, plan.blocks, INDENT * 2)]
    return lines + [f"{INDENT}return _total"] * plan.summed


def _chunks_loop(plan: ElementwisePlan, first: Arg, function: str, called: Sequence[str]) -> list[str]:
    """The parallel loop over the chunks, allocating the outputs that are not buffers."""
    chunks = "(n + CHUNK - 1) // CHUNK"
    call = f"{function}(chunk * CHUNK, min(n, (chunk + 1) * CHUNK), {', '.join(called)})"
    return [f"{INDENT}n = {first.name}.shape[0]",
            *[allocate(name, "n", first.name, INDENT) for name in _stored(plan) if name not in buffers(plan.kernel)],
            *[f"{INDENT}{SUMMED_OUTPUT} = np.empty({chunks}, dtype=np.float64)"] * plan.summed,
            f"{INDENT}for chunk in numba.prange({chunks}):",
            f"{INDENT * 2}{SUMMED_OUTPUT}[chunk] = {call}" if plan.summed else f"{INDENT * 2}{call}"]


def _entry(kernel: Kernel, shapes: Mapping[str, str], like: str) -> list[str]:
    """The public function: allocates the output buffers not passed in, then runs ``_<name>_into``.

    Two calls rather than `if out is None: out = np.empty(…)`, after which numba would type the
    buffer as Optional and check it at every element, which stops the loops from vectorising.
    """
    into = f"_{kernel.function}_into"
    lines = [f"@numba.njit({JIT_OPTIONS})", f"def {kernel.function}({_parameters(kernel)}):", *docstring(kernel)]
    optional = list(buffers(kernel))
    args = [a.name for a in kernel.args]

    def call(chosen: frozenset[str], indent: str) -> list[str]:
        given = [name if name not in chosen else f"np.empty({shapes[name]}, dtype={like}.dtype)" for name in optional]
        return [f"{indent}return {into}({', '.join(args + given)})"]

    lines += nested([Arg(name, "buffer", default=sp.S.Zero) for name in optional], call, INDENT)
    return lines + ["", "", decorator(), f"def {into}({', '.join(args + optional)}):"]


def _parameters(kernel: Kernel) -> str:
    # an absent array parameter is None (its default everywhere), as in torch's signatures
    return ", ".join([a.name for a in kernel.args] + [f"{name}=None" for name in buffers(kernel)])


def elementwise_kernel_source(kernel: Kernel, summed: bool = False) -> str:
    """The source of an elementwise kernel, or with ``summed`` of its ``<name>_sum`` variant."""
    if summed:
        kernel = summed_kernel(kernel)
    plan = plan_elementwise(kernel, summed)
    first = kernel.arg("elements")
    argument_names = [a.name for a in kernel.args] + _stored(plan)
    chunk_function = f"_{kernel.function}_chunk"
    body = _chunk_body(plan)
    source = [inner_decorator(), f"def {chunk_function}(start, stop, {', '.join(argument_names)}):",
              f'{INDENT}"""Elements start..stop of {kernel.function}."""', *body, "", ""]
    source += _entry(kernel, {name: f"{first.name}.shape" for name in buffers(kernel)}, first.name)
    source += [*_chunks_loop(plan, first, chunk_function, argument_names), f"{INDENT}return {', '.join(kernel.outputs)}"]

    def in_place(public: str, twin: str, kept: Sequence[str]) -> list[str]:
        return ["", "", decorator(), f"def {public}({', '.join(a.name for a in kernel.args)}):",
                *docstring(kernel, in_place=True), *_chunks_loop(plan, first, twin, kept),
                f"{INDENT}return {in_place_outputs(kernel)}"]
    source += in_place_functions(kernel, chunk_function, argument_names, "Elements start..stop of {}.", body, in_place)
    return "\n".join(source) + "\n"
