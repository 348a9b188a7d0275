"""A vectorisable exp, written once for both float types: numba calls libm's exp one element at a
time (this llvmlite has no SVML), which caps a kernel at a few GB/s; this is straight-line code
that LLVM vectorises.

    exp(x) = 2^n · p(r),  n = round(x / ln 2),  r = x − n·ln 2 ∈ [−ln 2/2, ln 2/2],

r by Cody and Waite's two-part ln 2 (n·ln2_high is exact), p a polynomial fitted to exp on that
interval (symce.codegen.polynomials; symce.runtime.fitted applies these to its coefficients), and
2^n built from exponent bits so that a subnormal result rounds once, correctly. ±inf, nan and
overflow keep their IEEE meaning: x is clamped to just past the finite range, where 2^n
over/underflows to inf/0, and nan passes through every operation.
"""
from __future__ import annotations

import numba
import numpy as np

from symce.runtime.floats import bits_of, cast_like, constants_like, float_of_bits, horner, integer_like


@numba.njit(inline='always')
def exp_of(x, coefficients):
    """exp(x) in x's float type, p's ``coefficients`` highest degree first. 2^n is built as two
    powers of two, so that a subnormal result is rounded once, by the last product."""
    k = constants_like(x)
    if x > k.overflow:
        x = k.overflow
    if x < k.underflow:
        x = k.underflow
    n = np.floor(x * k.inverse_ln2 + cast_like(0.5, x))
    r = (x - n * k.ln2_high) - n * k.ln2_low
    p = horner(coefficients, r)
    e = integer_like(n, x)
    half = e >> 1
    low = float_of_bits((half + k.exponent_bias) << k.mantissa_bits, x)
    high = float_of_bits((e - half + k.exponent_bias) << k.mantissa_bits, x)
    return p * low * high


@numba.njit(inline='always')
def exp_nonpositive_of(x, coefficients):
    """exp(x) for x ≤ 0 (and nan), as exp_of without the overflow clamp (a shifted logit z − max,
    or −|v|), and with fewer vector instructions: n is rounded by adding a constant, whose sum t
    holds n in its low bits, and 2^(n + K) is built from t's bits, a normal number for every n
    here, then scaled by 2^−K: a subnormal result is rounded once, by the last product."""
    k = constants_like(x)
    if x < k.underflow:
        x = k.underflow
    t = x * k.inverse_ln2 + k.rounding
    n = t - k.rounding
    r = (x - n * k.ln2_high) - n * k.ln2_low
    p = horner(coefficients, r)
    scale = float_of_bits((bits_of(t) + k.scale_bias) << k.mantissa_bits, x)
    return p * scale * k.unscale
