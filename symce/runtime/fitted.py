"""The runtime's exp and log1p on the polynomials ``symce regen`` fitted (the data module
symce.generated.coefficients), in the float type of their argument: numba compiles each for
float32 and for float64, with the polynomial of that type.

Each is compiled on its own, with its own fast-math flags (contract: FMA, but no reassociation of
the polynomial), and called from the kernels' loops, which LLVM vectorises through it.
"""
from __future__ import annotations

import numba

from symce.generated.coefficients import EXP_FLOAT32, EXP_FLOAT64, LOG1P_FLOAT32, LOG1P_FLOAT64
from symce.runtime.exp import exp_nonpositive_of, exp_of
from symce.runtime.floats import by_type
from symce.runtime.log1p import log1p_of
from symce.runtime.options import CONTRACT, JIT_OPTIONS


@numba.njit(**JIT_OPTIONS, fastmath=CONTRACT)
def fast_exp(x):
    """exp(x) in x's float type (exp_of)."""
    return exp_of(x, by_type(x, EXP_FLOAT32, EXP_FLOAT64))


@numba.njit(**JIT_OPTIONS, fastmath=CONTRACT)
def fast_exp_nonpositive(x):
    """exp(x) for x ≤ 0 (and nan), in x's float type (exp_nonpositive_of)."""
    return exp_nonpositive_of(x, by_type(x, EXP_FLOAT32, EXP_FLOAT64))


@numba.njit(**JIT_OPTIONS, fastmath=CONTRACT)
def fast_log1p(x):
    """log1p(x) in x's float type (log1p_of)."""
    return log1p_of(x, by_type(x, LOG1P_FLOAT32, LOG1P_FLOAT64))
