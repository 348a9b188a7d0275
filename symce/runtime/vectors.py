"""Marking a function for 512-bit vectors: LLVM prefers 256-bit vectors on most AVX-512 CPUs (this
one included), and numba's way to change that (NUMBA_CPU_FEATURES) holds for every function in
the process; LLVM's per-function attribute "prefer-vector-width"="512" marks one function. A CPU
without AVX-512 ignores it.
"""
from __future__ import annotations

import numba
import numba.extending
from llvmlite import ir

from symce.runtime.rows import long_row

#: LLVM's per-function attribute for 512-bit vectors
WIDE_VECTORS = '"prefer-vector-width"="512"'


def mark_for_wide_vectors(function: ir.Function) -> None:
    """Adds WIDE_VECTORS to ``function``'s attributes. llvmlite has no API for LLVM's string
    attributes (key="value"): FunctionAttributes.add takes only LLVM's keyword attributes
    (llvmlite issue #1348), and prints every member as written, so the attribute goes into the
    set that FunctionAttributes is, past its check."""
    set.add(function.attributes, WIDE_VECTORS)


@numba.extending.intrinsic
def prefer_wide_vectors(typingctx):
    """Marks the calling function for 512-bit vectors (mark_for_wide_vectors)."""
    def codegen(context, builder, signature, args):
        mark_for_wide_vectors(builder.function)
        return context.get_dummy_value()
    return numba.types.none(), codegen


@numba.extending.intrinsic
def prefer_wide_vectors_if_long(typingctx, short):
    """prefer_wide_vectors() in a row function compiled for long rows (its row-length argument
    ``short`` None or a scratch row, see long_row), nothing in one compiled for short rows
    (``short`` run_exponentials' result, or True): on rows that short, 512-bit vectors were
    slower. Decided by the argument's type: numba prunes `if x is None` at compile time only for
    None and literal arguments, and run_exponentials' result is neither."""
    def codegen(context, builder, signature, args):
        if long_row(signature.args[0]):
            mark_for_wide_vectors(builder.function)
        return context.get_dummy_value()
    return numba.types.none(short), codegen
