"""x·log x, the term of an entropy."""
from __future__ import annotations

import math

import numba

from symce.runtime.options import JIT_OPTIONS


@numba.njit(**JIT_OPTIONS)
def xlogx(v):
    """v·log v, and 0 at v = 0 (its limit) — torch's xlogy(v, v)."""
    return 0.0 if v == 0.0 else v * math.log(v)
