"""The helpers that symce's generated kernels call: ordinary numba functions, overloads and
intrinsics, one job a module.

- :mod:`~symce.runtime.exp`, :mod:`~symce.runtime.log1p`: a vectorisable exp and log1p, written
  once for both float types over :mod:`~symce.runtime.floats`; :mod:`~symce.runtime.fitted`: them
  in each type, on the polynomials ``symce regen`` fitted (symce.generated.coefficients);
- :mod:`~symce.runtime.rows`: a row's max, finiteness and first index of its max;
- :mod:`~symce.runtime.runs`: a run of short rows' exponentials, and what a row function reads of it;
- :mod:`~symce.runtime.write_row`: a long row's output as LLVM IR (prefetch, non-temporal stores);
- :mod:`~symce.runtime.vectors`: 512-bit vectors for one function;
- :mod:`~symce.runtime.entropy`: x·log x.

Every generated module imports each name of ``__all__``.
"""
from symce.runtime.entropy import xlogx
from symce.runtime.fitted import fast_exp, fast_exp_nonpositive, fast_log1p
from symce.runtime.floats import cast_like
from symce.runtime.runs import (exp_below_max, first_index_of_run, kept_exponentials, log1p_of_run,
                                row_max_of_run, run_exponentials, store_exponential, stored_exponential,
                                sum_below_max_of_run)
from symce.runtime.vectors import prefer_wide_vectors, prefer_wide_vectors_if_long
from symce.runtime.write_row import store_fence, write_row

__all__ = [
    "cast_like", "exp_below_max", "fast_exp", "fast_exp_nonpositive", "fast_log1p", "first_index_of_run",
    "kept_exponentials", "log1p_of_run", "prefer_wide_vectors", "prefer_wide_vectors_if_long", "row_max_of_run",
    "run_exponentials", "store_exponential", "store_fence", "stored_exponential", "sum_below_max_of_run",
    "write_row", "xlogx",
]
