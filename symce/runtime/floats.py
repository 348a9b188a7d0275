"""What the polynomial helpers need of an IEEE type, in that type: its constants, its bits, and
Horner's rule.

Every helper is written once for both float types; numba compiles it per type, and these
overloads supply the type's own constants and integer views, so a float32 helper never widens
to float64 (which would halve its vector width).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numba.extending
import numpy as np


class FloatConstants(NamedTuple):
    """An IEEE type's constants for exp and log1p, each in that type."""

    #: ln 2 = ln2_high + ln2_low (Cody and Waite), ln2_high with trailing zero bits, so that
    #: n·ln2_high is exact for every n an exp or log1p meets
    ln2_high: np.floating
    ln2_low: np.floating
    inverse_ln2: np.floating
    #: exp(x) above ``overflow`` is inf and below ``underflow`` 0: x is clamped there, just outside
    overflow: np.floating
    underflow: np.floating
    #: 1.5 · 2^mantissa_bits: y + it, for |y| < 2^(mantissa_bits − 1), is rounded to the integer n
    #: nearest y, and its bits are the constant's plus n
    rounding: np.floating
    #: 2^(n + K) is normal for every n = round(x / ln 2) with underflow ≤ x ≤ 0; its bits are
    #: those of the rounded sum plus ``scale_bias`` (bias + K − the constant's own bits), shifted
    scale_bias: np.integer
    #: 2^−K
    unscale: np.floating
    exponent_bias: np.integer
    mantissa_bits: np.integer
    mantissa_mask: np.integer
    sqrt2: np.floating


#: float32: 0.693359375 has 9 significant bits (n·ln2_high exact for |n| < 2^15); K = 25
FLOAT32 = FloatConstants(
    ln2_high=np.float32(0.693359375), ln2_low=np.float32(-0.00021219444170128554),
    inverse_ln2=np.float32(1.4426950408889634), overflow=np.float32(89.0), underflow=np.float32(-104.0),
    rounding=np.float32(12582912.0), scale_bias=np.int32(152), unscale=np.float32(2.9802322387695312e-08),
    exponent_bias=np.int32(127), mantissa_bits=np.int32(23), mantissa_mask=np.int32(8388607),
    sqrt2=np.float32(1.4142135623730951))

#: float64: fdlibm's split, 32 significant bits (n·ln2_high exact for |n| < 2^21); K = 55
FLOAT64 = FloatConstants(
    ln2_high=np.float64(0.6931471803691238), ln2_low=np.float64(1.9082149292705877e-10),
    inverse_ln2=np.float64(1.4426950408889634), overflow=np.float64(710.0), underflow=np.float64(-746.0),
    rounding=np.float64(6755399441055744.0), scale_bias=np.int64(1078), unscale=np.float64(2.7755575615628914e-17),
    exponent_bias=np.int64(1023), mantissa_bits=np.int64(52), mantissa_mask=np.int64(4503599627370495),
    sqrt2=np.float64(1.4142135623730951))

#: each float type's constants and the integer type of its width
_TYPES = {numba.types.float32: (FLOAT32, np.float32, np.int32), numba.types.float64: (FLOAT64, np.float64, np.int64)}


def cast_like(value, like):
    """value in the float type of like (numba picks float32 or float64 by type)."""
    return type(like)(value)


@numba.extending.overload(cast_like, inline='always')
def _cast_like_typed(value, like):
    if like == numba.types.float32:
        return lambda value, like: np.float32(value)
    return lambda value, like: np.float64(value)


def by_type(x, for_float32, for_float64):
    """``for_float32`` or ``for_float64``, by x's float type."""
    return for_float32 if isinstance(x, np.float32) else for_float64


@numba.extending.overload(by_type, inline='always')
def _by_type_typed(x, for_float32, for_float64):
    if x == numba.types.float32:
        return lambda x, for_float32, for_float64: for_float32
    return lambda x, for_float32, for_float64: for_float64


def constants_like(x):
    """The FloatConstants of x's float type."""
    raise NotImplementedError("numba-compiled code only")


@numba.extending.overload(constants_like, inline='always')
def _constants_like_typed(x):
    constants, _, _ = _TYPES[x]
    return lambda x: constants


def bits_of(x):
    """The bits of float x as the signed integer of its width."""
    raise NotImplementedError("numba-compiled code only")


@numba.extending.overload(bits_of, inline='always')
def _bits_of_typed(x):
    _, float_type, integer = _TYPES[x]
    return lambda x: float_type(x).view(integer)


def float_of_bits(bits, like):
    """The float of like's type whose bits are ``bits`` (wrapped to its width)."""
    raise NotImplementedError("numba-compiled code only")


@numba.extending.overload(float_of_bits, inline='always')
def _float_of_bits_typed(bits, like):
    _, float_type, integer = _TYPES[like]
    return lambda bits, like: integer(bits).view(float_type)


def integer_like(value, like):
    """value converted (truncated) to the signed integer of like's width."""
    raise NotImplementedError("numba-compiled code only")


@numba.extending.overload(integer_like, inline='always')
def _integer_like_typed(value, like):
    _, _, integer = _TYPES[like]
    return lambda value, like: integer(value)


def horner(coefficients, x):
    """p(x) for p's coefficients highest degree first, by Horner's rule in x's float type:
    ((c0·x + c1)·x + …)·x + c_last."""
    p = cast_like(coefficients[0], x)
    for c in coefficients[1:]:
        p = p * x + cast_like(c, x)
    return p


@numba.extending.overload(horner, jit_options={"fastmath": {"contract"}})
def _horner_typed(coefficients, x):
    # unrolled by type, one small function per length (which LLVM inlines): straight-line code
    # that LLVM vectorises in the caller's loop, where a loop over the tuple would have to be
    # unrolled first. Not inlined by numba: that types each length again per level above it.
    if len(coefficients) == 1:
        return lambda coefficients, x: cast_like(coefficients[0], x)
    return lambda coefficients, x: horner(coefficients[:-1], x) * x + cast_like(coefficients[-1], x)
