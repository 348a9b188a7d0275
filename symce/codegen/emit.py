"""Kernels as Python source: a :class:`~symce.codegen.planner.Kernel` planned
(:mod:`symce.codegen.planner`) and its plan rendered into a loop template.

Two templates serve every loss: **row** kernels (:mod:`symce.codegen.emit_rows`) read a (M, C)
array row by row, **elementwise** kernels (:mod:`symce.codegen.emit_elementwise`) flat (n,)
arrays. Every kernel with an output buffer has an ``_in_place`` twin that writes it over the first
input, and every kernel with a loss a ``_sum`` variant that returns it summed per task (rows) or
chunk (elements), which 'mean' and 'sum' run. Common subexpressions become ``_tmp0 … _tmpN``
(``sympy.cse``), numbered in printing order, each commented with what it holds, so the output is
deterministic and readable.
"""
from __future__ import annotations

from symce.codegen.emit_elementwise import elementwise_kernel_source
from symce.codegen.emit_rows import row_kernel_source
from symce.codegen.planner import Kernel


def kernel_source(kernel: Kernel) -> str:
    if kernel.program is not None:
        return row_kernel_source(kernel)
    source = elementwise_kernel_source(kernel)
    if kernel.summable:
        source += "\n\n" + elementwise_kernel_source(kernel, summed=True)
    return source

