"""A run of short rows, and what a row function reads of it.

A row too short for a vector loop of its own (fewer than symce.layout.LONG_ROWS classes) would take its
exponentials one scalar call at a time; run_exponentials computes those of a whole run of rows in
one flat loop, which vectorises. A row function is compiled once for long rows and once for a
run: its last argument ``run`` is None or a scratch row (long rows, see rows.long_row) or
run_exponentials' result, and each helper below reads, by that argument's type, either the row
itself or what the run found for it.
"""
from __future__ import annotations

import collections
import math

import numba
import numba.extending
import numpy as np

from symce.runtime.fitted import fast_exp_nonpositive, fast_log1p
from symce.runtime.options import FASTMATH, JIT_OPTIONS
from symce.runtime.rows import first_index, long_row, row_max, short_row_largest, short_row_max
from symce.runtime.vectors import prefer_wide_vectors

#: what run_exponentials finds for a run of short rows: each array indexed by the row's place in
#: the run (exponentials by that and the class)
Run = collections.namedtuple("Run", "exponentials maxima finite firsts below_max log1p_below_max")


# its fastmath flags stated, not inherited: numba compiles a function without them for its
# first caller when that is Python, and every kernel then reuses that slower build
@numba.njit(**JIT_OPTIONS, fastmath=FASTMATH)
def run_exponentials(rows, start, stop, scratch, with_log1p, with_firsts):
    """(exp(z − max) of rows start..stop, each row's max, whether each row is finite, the first
    index of each row's max where ``with_firsts`` (else an empty array), each row's
    Σ_{k≠a} exp(z_k − max), and log1p of it where ``with_log1p`` (else an empty array)) for rows
    too short for a vector loop of their own: the exponentials, and the log1p, of the whole run
    each in one flat loop, which vectorises (512-bit vectors).

    The max loop is one select an element (short_row_largest), and a row's finiteness is read
    from its sum: a nan in the row makes its exponential, and so the sum, nan; a max of ±inf or
    an all −inf row is not finite. A kernel whose rows read the first index of the max (the argmax
    a, pinned) asks for it with ``with_firsts``, and gets it from the max's own loop
    (short_row_max), not from a second pass over the shifted row.
    The sum adds the terms below 1 and the terms equal to 1 apart, as the kernels' own reduction
    pass does, so a confident row keeps every digit of its small sum. A row that is not finite
    gets exponentials that are never read (it takes the formula as written).
    The exponentials go into ``scratch`` (at least (stop − start) · C entries, the calling
    thread's own, reused from run to run, as an allocation per run goes through mmap and munmap).
    Measurements behind these choices: benchmarks/history/runtime.md."""
    prefer_wide_vectors()
    n, C = stop - start, rows.shape[1]
    exponentials = scratch[:n * C].reshape((n, C))
    maxima = np.full(n, -np.inf, rows.dtype)  # each row's max starts at −inf in the rows' dtype
    finite = np.empty(n, np.bool_)
    firsts = np.zeros(n if with_firsts else 0, np.intp)
    for r in range(n):
        if with_firsts:
            largest, _, firsts[r] = short_row_max(rows, start + r, maxima[r])
        else:
            largest = short_row_largest(rows, start + r, maxima[r])
        maxima[r] = largest
        for k in range(C):
            exponentials[r, k] = rows[start + r, k] - largest
    flat = exponentials.reshape(n * C)
    for e in range(n * C):
        flat[e] = fast_exp_nonpositive(flat[e])
    below_max = np.empty(n, np.float64)
    one = exponentials.dtype.type(1)
    for r in range(n):
        # exp(z_k − max) = 1 at the max, and where z_k is so close to it that exp rounds to 1:
        # either way Σ_{k≠a} = below + (ones − 1)
        below, ones = one - one, one - one
        for k in range(C):
            value = exponentials[r, k]
            below += one - one if value == one else value
            ones += value if value == one else one - one
        below_max[r] = np.float64(below) + (np.float64(ones) - 1)
    for r in range(n):
        finite[r] = -np.inf < maxima[r] < np.inf and below_max[r] == below_max[r]
    log1p_below_max = np.empty(n if with_log1p else 0, np.float64)
    for r in range(log1p_below_max.shape[0]):
        log1p_below_max[r] = fast_log1p(below_max[r])
    return Run(exponentials, maxima, finite, firsts, below_max, log1p_below_max)


def row_max_of_run(rows, i, start, run):
    """row_max(rows, i), or what run_exponentials found for it (run: its result; a long row's
    None or scratch row, see long_row)."""
    return row_max(rows, i)


@numba.extending.overload(row_max_of_run, inline='always')
def _row_max_of_run_typed(rows, i, start, run):
    if long_row(run):
        return lambda rows, i, start, run: row_max(rows, i)
    return lambda rows, i, start, run: (run.maxima[i - start], run.finite[i - start])


def first_index_of_run(rows, i, mx, start, run):
    """first_index(rows, i, mx), or what run_exponentials found for it (run: its result; a long
    row's None or scratch row)."""
    return first_index(rows, i, mx)


@numba.extending.overload(first_index_of_run, inline='always')
def _first_index_of_run_typed(rows, i, mx, start, run):
    if long_row(run):
        return lambda rows, i, mx, start, run: first_index(rows, i, mx)
    return lambda rows, i, mx, start, run: run.firsts[i - start]


def sum_below_max_of_run(total, run, r):
    """Σ_{k≠a} exp(z_k − max) of a row, ``total`` as its reduction pass found it, or what
    run_exponentials found for it (run: its result; a long row's None or scratch row), row r of
    its run. With a run, the pass's own sum is never read, and LLVM drops it."""
    return total


@numba.extending.overload(sum_below_max_of_run, inline='always')
def _sum_below_max_of_run_typed(total, run, r):
    if long_row(run):
        return lambda total, run, r: total
    return lambda total, run, r: run.below_max[r]


def log1p_of_run(value, run, r):
    """log1p(value) for value a row's Σ_{k≠a} exp(z_k − max), or what run_exponentials found for
    it (run: its result; a long row's None or scratch row), row r of its run."""
    return math.log1p(value)


@numba.extending.overload(log1p_of_run, inline='always')
def _log1p_of_run_typed(value, run, r):
    if long_row(run):
        return lambda value, run, r: fast_log1p(value)
    return lambda value, run, r: run.log1p_below_max[r]


def store_exponential(buffer, i, k, value, run):
    """Keeps value, an exponential pass 2 computes for pass 3: in buffer[i, k] for a long row
    (run None), in run[k] for a long row whose output is streamed (run its scratch row); a short
    row's stay in run_exponentials' result (run), where copying them would cost a pass."""
    buffer[i, k] = value


@numba.extending.overload(store_exponential, inline='always')
def _store_exponential_typed(buffer, i, k, value, run):
    if isinstance(run, numba.types.NoneType):
        def store(buffer, i, k, value, run):
            buffer[i, k] = value
        return store
    if isinstance(run, numba.types.Array):
        def keep(buffer, i, k, value, run):
            run[k] = value
        return keep
    return lambda buffer, i, k, value, run: None


def stored_exponential(buffer, i, k, run, r):
    """The exponential store_exponential kept: buffer[i, k], run[k] (a scratch row), or entry
    (r, k) of run_exponentials' result."""
    return buffer[i, k]


@numba.extending.overload(stored_exponential, inline='always')
def _stored_exponential_typed(buffer, i, k, run, r):
    if isinstance(run, numba.types.NoneType):
        return lambda buffer, i, k, run, r: buffer[i, k]
    if isinstance(run, numba.types.Array):
        return lambda buffer, i, k, run, r: run[k]
    return lambda buffer, i, k, run, r: run.exponentials[r, k]


def kept_exponentials(buffer, run):
    """The array store_exponential keeps a long row's exponentials in: buffer (read at [i, k]) or
    the scratch row run (read at [k]); run_exponentials' for short rows."""
    return buffer


@numba.extending.overload(kept_exponentials, inline='always')
def _kept_exponentials_typed(buffer, run):
    if isinstance(run, numba.types.NoneType):
        return lambda buffer, run: buffer
    if isinstance(run, numba.types.Array):
        return lambda buffer, run: run
    return lambda buffer, run: run.exponentials


def exp_below_max(value, mx, run, r, k):
    """exp(value − mx) for value ≤ mx, or the same number from run_exponentials (run: its result;
    a long row's None or scratch row), entry (r, k) of its run."""
    return math.exp(value - mx)


@numba.extending.overload(exp_below_max, inline='always')
def _exp_below_max_typed(value, mx, run, r, k):
    if long_row(run):
        return lambda value, mx, run, r, k: fast_exp_nonpositive(value - mx)
    return lambda value, mx, run, r, k: run.exponentials[r, k]
