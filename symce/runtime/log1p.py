"""A vectorisable log1p, written once for both float types (numba would call libm's, one element
at a time): u = 1 + x = 2^e·f,
log u = e·ln 2 + log f with log f = 2s + s³·P(s²), s = (f − 1)/(f + 1), P fitted by ``symce regen``
(symce.codegen.polynomials; symce.runtime.fitted applies this to its coefficients), and
log1p(x) = log(u)·x/(u − 1), which corrects the rounding of u (Goldberg's trick; x where u = 1).
"""
from __future__ import annotations

import numba
import numpy as np

from symce.runtime.floats import bits_of, cast_like, constants_like, float_of_bits, horner


@numba.njit(inline='always')
def log1p_of(x, coefficients):
    """log1p(x) in x's float type, P's ``coefficients`` highest degree first."""
    k = constants_like(x)
    one = cast_like(1.0, x)
    u = one + x
    bits = bits_of(u)
    e = (bits >> k.mantissa_bits) - k.exponent_bias
    # the mantissa f in [1, 2); above √2 halve it, so that |s| stays small
    f = float_of_bits((bits & k.mantissa_mask) | (k.exponent_bias << k.mantissa_bits), x)
    high = f > k.sqrt2
    f = f * cast_like(0.5, x) if high else f
    e = e + 1 if high else e
    s = (f - one) / (f + one)
    w = s * s
    p = horner(coefficients, w)
    n = cast_like(e, x)
    log_u = n * k.ln2_high + (n * k.ln2_low + (s + s) + s * w * p)
    result = x if u == one else log_u * (x / (u - one))
    # the ends: log1p(inf) = inf, log1p(−1) = −inf, below −1 nan (nan itself passes through)
    result = x if x == cast_like(np.inf, x) else result
    result = cast_like(-np.inf, x) if u == cast_like(0.0, x) else result
    return cast_like(np.nan, x) if x < -one else result
