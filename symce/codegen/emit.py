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

from typing import Sequence

from symce.codegen.emit_elementwise import elementwise_kernel_source
from symce.codegen.emit_rows import row_kernel_source
from symce.codegen.planner import Kernel
from symce.codegen.render import constants_source


def kernel_source(kernel: Kernel) -> str:
    if kernel.program is not None:
        return row_kernel_source(kernel)
    source = elementwise_kernel_source(kernel)
    if kernel.summable:
        source += "\n\n" + elementwise_kernel_source(kernel, summed=True)
    return source


def module_constants(kernels: Sequence[Kernel]) -> str:
    """The layout constants the module's kernels use by name: every kernel splits its work into
    tasks of CHUNK elements; a row kernel picks its compiled row length by LONG_ROWS and streams a
    caller's buffer from STREAMED_BYTES (in rows of STREAMED_ROW_BYTES)."""
    rows = any(kernel.program is not None for kernel in kernels)
    return constants_source(["CHUNK", *(["LONG_ROWS", "STREAMED_BYTES", "STREAMED_ROW_BYTES"] * rows)])
