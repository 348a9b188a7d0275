"""One row of a C-contiguous (M, C) float array: its max, whether it is finite, the first index of
its max; and which rows a row function is compiled for (long_row).

These take (rows, i), not a slice rows[i] (a new array, reference-counted at each call), and the
per-row ones are inlined: they run once a row, so their cost shows on short rows.
"""
from __future__ import annotations

import numba
import numba.extending
import numpy as np

from symce.layout import LONG_ROWS
from symce.runtime.options import JIT_OPTIONS

#: first_index's block: long enough that its count vectorises, short enough to find the match soon after
SEARCH_BLOCK = 128


def long_row(run):
    """Whether a row function compiled for ``run``, the numba type of its row-length argument,
    works on long rows: None (pass 2 keeps the exponentials in the output row) or a scratch row
    (kept there, and the output row written with non-temporal stores: write_row); not for
    run_exponentials' result (short rows) or True (the in-place twin of a kernel without
    exponentials, on short rows)."""
    return isinstance(run, (numba.types.NoneType, numba.types.Array))


@numba.njit(**JIT_OPTIONS, inline='always')
def short_row_max(rows, i, lowest):
    """(max of row i, is it finite with no nan in the row?, the first index of its max) for a row
    too short for a vector loop: a plain loop, the index a select on the comparison the max makes
    anyway. ``lowest``: −inf in the rows' dtype, where the max starts."""
    largest, clean, first = lowest, rows.shape[1] > 0, 0
    for k in range(rows.shape[1]):
        value = rows[i, k]
        clean &= value == value  # not `and`: a branch per element costs more than the loop
        first = k if value > largest else first
        largest = value if value > largest else largest
    return largest, clean and -np.inf < largest < np.inf, first


@numba.njit(**JIT_OPTIONS, inline='always')
def short_row_largest(rows, i, lowest):
    """The max of row i for a row too short for a vector loop, nan skipped: short_row_max without
    its nan test and its first index, one select an element where that takes three.
    ``lowest``: −inf in the rows' dtype."""
    largest = lowest
    for k in range(rows.shape[1]):
        value = rows[i, k]
        largest = value if value > largest else largest
    return largest


def row_max(rows, i):
    """(max of row i, is it finite with no nan in the row?) of a C-contiguous float array."""
    return rows[i].max(), bool(np.isfinite(rows[i]).all())


@numba.extending.overload(row_max, inline='always')
def _row_max_typed(rows, i):
    """Long rows: one vectorised unsigned max over u = key(b) − key(−inf), key(b) = b ^ ((b >> s) &
    M) (an arithmetic shift by s = bits − 1, M the largest signed integer), which orders floats as
    integers (−nan < −inf < … < inf < nan); the subtraction wraps −nan above +nan, so u puts −inf
    at 0, every finite float above it in order, then +inf and both nans: the row is finite iff
    0 < max u < u(+inf). An integer max vectorises without fast-math flags, unlike a float max
    that must respect nan, and one reduction is half the work of a min and a max. Short rows: a
    plain loop, cheaper than setting that up."""
    float_type = np.float32 if rows.dtype == numba.types.float32 else np.float64
    signed, unsigned = (np.int32, np.uint32) if float_type is np.float32 else (np.int64, np.uint64)
    shift = 8 * np.dtype(float_type).itemsize - 1
    magnitude = unsigned((1 << shift) - 1)
    negative_infinity = unsigned(np.array(-np.inf, float_type).view(unsigned) ^ magnitude)
    positive_infinity = unsigned(np.array(np.inf, float_type).view(unsigned) - negative_infinity)

    def row_max_of(rows, i):
        n = rows.shape[1]
        if n < LONG_ROWS:
            largest, finite, _ = short_row_max(rows, i, float_type(-np.inf))
            return largest, finite
        bits = rows.view(unsigned)
        high = unsigned(0)
        for k in range(n):
            b = bits[i, k]
            key = b ^ (unsigned(signed(b) >> shift) & magnitude)
            high = max(high, unsigned(key - negative_infinity))
        key = unsigned(high + negative_infinity)
        largest = unsigned(key ^ (unsigned(signed(key) >> shift) & magnitude)).view(float_type)
        return largest, unsigned(0) < high < positive_infinity
    return row_max_of


@numba.njit(**JIT_OPTIONS)
def first_index(rows, i, value):
    """The first k with rows[i, k] == value (the pinned argmax; value is in the row). A search
    that stops at the first match cannot vectorise, so it counts the matches of each block of
    SEARCH_BLOCK in a loop that does, and searches element by element only the block that has one."""
    n = rows.shape[1]
    whole = n - n % SEARCH_BLOCK
    found = whole
    for block in range(0, whole, SEARCH_BLOCK):
        matches = 0
        for k in range(block, block + SEARCH_BLOCK):
            matches += rows[i, k] == value
        if matches:
            found = block
            break
    for k in range(found, n):
        if rows[i, k] == value:
            return k
    return 0
