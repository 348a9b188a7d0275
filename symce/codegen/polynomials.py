"""A vectorisable ``exp`` and ``log1p`` for the kernels, their polynomials fitted and their errors
measured here.

numba calls libm's ``exp`` one element at a time (this llvmlite has no SVML), which caps a
kernel at a few GB/s. The generated modules instead define ``exp_float32``/``exp_float64``:
straight-line code that LLVM vectorises,

    exp(x) = 2^n · exp(r),  n = round(x / ln 2),  r = x − n·ln 2 ∈ [−ln 2/2, ln 2/2],

with ``r`` computed by Cody and Waite's two-part ln 2 (the high part has trailing zero bits, so
n·ln2_hi is exact), ``exp(r)`` by a polynomial fitted here to ``mpmath.exp`` on that interval
(Chebyshev interpolation, ``mpmath.chebyfit``, at 40 digits), and 2^n built from exponent bits in
two halves so that subnormal results round once, correctly. ±inf, nan and overflow keep their
IEEE meaning: x is clamped to just past the finite range, where 2^n over/underflows to inf/0,
and nan passes through every operation.

:func:`measured_error` evaluates the printed helper (compiled by numba) against mpmath; the
tests hold it to the kernels' accuracy goals.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import mpmath
import numpy as np


@dataclass(frozen=True)
class ExpPolynomial:
    """exp on [−ln 2/2, ln 2/2] as a polynomial in one float type, with the constants of the reduction."""

    dtype: str
    degree: int
    #: highest degree first, rounded to ``dtype``
    coefficients: tuple[float, ...]
    #: max |p(r) − exp(r)| on the interval, from the fit (in exact arithmetic, before rounding)
    fit_error: float
    ln2_high: float
    ln2_low: float
    #: x above ``overflow`` gives inf and below ``underflow`` gives 0 (clamped there, just outside)
    overflow: float
    underflow: float
    int_type: str
    mantissa_bits: int
    exponent_bias: int

    @property
    def function(self) -> str:
        return f"exp_{self.dtype}"


@lru_cache(maxsize=None)
def _fit(degree: int) -> tuple[tuple[mpmath.mpf, ...], mpmath.mpf]:
    with mpmath.workdps(40):
        half = mpmath.log(2) / 2
        coefficients, error = mpmath.chebyfit(mpmath.exp, [-half, half], degree + 1, error=True)
    return tuple(coefficients), error


def _ln2_remainder(high: float) -> mpmath.mpf:
    with mpmath.workdps(40):
        return mpmath.log(2) - mpmath.mpf(high)


def exp_polynomial(dtype: str) -> ExpPolynomial:
    """The exp approximation for ``dtype`` ('float32' or 'float64').

    Degrees are the smallest whose fit error is well below half an ulp: 6 for float32 (2e-9
    against 6e-8), 11 for float64 (3e-18 against 1.1e-16).
    """
    if dtype == "float32":
        degree, to_float = 6, lambda v: float(np.float32(float(v)))
        # Cody–Waite for float32: 0.693359375 has 9 significant bits, so n·ln2_high is exact for |n| < 2^15
        ln2_high, ln2_low = 0.693359375, float(np.float32(float(_ln2_remainder(0.693359375))))
        return ExpPolynomial(dtype, degree, tuple(to_float(c) for c in _fit(degree)[0]), float(_fit(degree)[1]),
                             ln2_high, ln2_low, overflow=89.0, underflow=-104.0,
                             int_type="int32", mantissa_bits=23, exponent_bias=127)
    if dtype == "float64":
        degree = 11
        # fdlibm's split: ln2_high has 32 significant bits, so n·ln2_high is exact for |n| < 2^21
        ln2_high = 0.6931471803691238
        ln2_low = float(_ln2_remainder(ln2_high))
        return ExpPolynomial(dtype, degree, tuple(float(c) for c in _fit(degree)[0]), float(_fit(degree)[1]),
                             ln2_high, ln2_low, overflow=710.0, underflow=-746.0,
                             int_type="int64", mantissa_bits=52, exponent_bias=1023)
    raise ValueError(f"no exp polynomial for dtype {dtype!r}")


def _exact_one_at_zero(poly: ExpPolynomial) -> ExpPolynomial:
    # the kernels rely on exp(0) = 1 exactly (the argmax's term, z_a − m = 0): p(0) is the constant
    # coefficient and 2^0 = 1, so that coefficient must round to 1
    if poly.coefficients[-1] != 1.0:
        raise ValueError(f"the {poly.dtype} exp polynomial has p(0) = {poly.coefficients[-1]!r}, not 1")
    return poly


def exp_helper_source(poly: ExpPolynomial, decorator: str = "@numba.njit({JIT_OPTIONS}, fastmath={'contract'})") -> str:
    """The numba source of ``exp_<dtype>`` (see the module docstring)."""
    poly = _exact_one_at_zero(poly)
    f = f"np.{poly.dtype}"
    horner = [f"    p = {f}({poly.coefficients[0]!r})"]
    horner += [f"    p = p * r + {f}({c!r})" for c in poly.coefficients[1:]]
    return "\n".join([
        decorator,
        f"def {poly.function}(x):",
        f'    """exp(x) in {poly.dtype}: 2^n · p(r), p of degree {poly.degree} fitted to exp on [−ln 2/2, ln 2/2]',
        f'    (fit error {poly.fit_error:.1e}); vectorisable, unlike a libm call."""',
        f"    if x > {f}({poly.overflow!r}):",
        f"        x = {f}({poly.overflow!r})",
        f"    if x < {f}({poly.underflow!r}):",
        f"        x = {f}({poly.underflow!r})",
        f"    n = np.floor(x * {f}({float(1 / np.log(2))!r}) + {f}(0.5))",
        f"    r = (x - n * {f}({poly.ln2_high!r})) - n * {f}({poly.ln2_low!r})",
        *horner,
        "    # 2^n as two powers of two, so that a subnormal result is rounded once, by the last product",
        f"    e = np.{poly.int_type}(n)",
        "    half = e >> 1",
        f"    low = np.{poly.int_type}((half + {poly.exponent_bias}) << {poly.mantissa_bits}).view({f})",
        f"    high = np.{poly.int_type}((e - half + {poly.exponent_bias}) << {poly.mantissa_bits}).view({f})",
        "    return p * low * high",
    ]) + "\n"


def measured_error(dtype: str, points: int = 20001) -> float:
    """Worst relative error of the compiled ``exp_<dtype>`` against mpmath over its normal range.

    Subnormal results are left out: there a correctly rounded result itself has a large
    relative error (an ulp is the smallest subnormal).
    """
    import math

    import numba

    poly = exp_polynomial(dtype)
    namespace = {"numba": numba, "np": np, "math": math}
    source = exp_helper_source(poly, decorator="")
    exec(compile(source, f"<symce {poly.function}>", "exec"), namespace)  # noqa: S102
    compiled = numba.njit(fastmath={"contract"}, error_model="numpy")(namespace[poly.function])
    info = np.finfo(dtype)
    # a little inside the normal range, so that rounding x to dtype cannot step outside it
    low, high = math.log(float(info.tiny)) + 0.01, math.log(float(info.max)) - 0.01
    xs = np.concatenate([np.linspace(low, high, points), -np.logspace(-30, 0, 200), np.logspace(-30, 0, 200)])
    worst = mpmath.mpf(0)
    with mpmath.workdps(40):
        for x in xs.astype(dtype):
            exact = mpmath.exp(mpmath.mpf(float(x)))
            worst = max(worst, abs((mpmath.mpf(float(compiled(x))) - exact) / exact))
    return float(worst)


# ----- log1p -------------------------------------------------------------------------------------
#: f ∈ [√½, √2) gives s = (f − 1)/(f + 1) ∈ [−S, S] with S = (√2 − 1)/(√2 + 1)
def _atanh_tail(w):
    """P(w) with 2·atanh(s) = 2s + s³·P(s²): the part of log f a polynomial carries."""
    if w == 0:
        return mpmath.mpf(2) / 3
    s = mpmath.sqrt(w)
    return (2 * mpmath.atanh(s) - 2 * s) / s ** 3


@dataclass(frozen=True)
class Log1pPolynomial:
    """log1p in one float type: log f = 2s + s³·P(s²), P fitted on [0, S²]."""

    dtype: str
    degree: int
    coefficients: tuple[float, ...]
    #: max |P − exact| on the interval, times S²/2: its share of log f's relative error
    fit_error: float
    ln2_high: float
    ln2_low: float
    int_type: str
    mantissa_bits: int
    exponent_bias: int

    @property
    def function(self) -> str:
        return f"log1p_{self.dtype}"


@lru_cache(maxsize=None)
def _fit_log(degree: int) -> tuple[tuple[mpmath.mpf, ...], mpmath.mpf]:
    with mpmath.workdps(40):
        edge = ((mpmath.sqrt(2) - 1) / (mpmath.sqrt(2) + 1)) ** 2
        coefficients, error = mpmath.chebyfit(_atanh_tail, [0, edge], degree + 1, error=True)
        return tuple(coefficients), error * edge / 2


def log1p_polynomial(dtype: str) -> Log1pPolynomial:
    """Degree 2 for float32 (3e-9 against 6e-8), 6 for float64 (5e-18 against 1.1e-16)."""
    if dtype == "float32":
        coefficients, error = _fit_log(2)
        return Log1pPolynomial(dtype, 2, tuple(float(np.float32(float(c))) for c in coefficients), float(error),
                               0.693359375, float(np.float32(float(_ln2_remainder(0.693359375)))),
                               "int32", 23, 127)
    if dtype == "float64":
        coefficients, error = _fit_log(6)
        return Log1pPolynomial(dtype, 6, tuple(float(c) for c in coefficients), float(error),
                               0.6931471803691238, float(_ln2_remainder(0.6931471803691238)), "int64", 52, 1023)
    raise ValueError(f"no log1p polynomial for dtype {dtype!r}")


def log1p_helper_source(poly: Log1pPolynomial,
                        decorator: str = "@numba.njit({JIT_OPTIONS}, fastmath={'contract'})") -> str:
    """The numba source of ``log1p_<dtype>``: u = 1 + x = 2^e·f, log u = e·ln 2 + log f, and
    log1p(x) = log(u)·x/(u − 1), which corrects the rounding of u (Goldberg's trick; x where u = 1)."""
    f = f"np.{poly.dtype}"
    it = f"np.{poly.int_type}"
    horner = [f"    p = {f}({poly.coefficients[0]!r})"]
    horner += [f"    p = p * w + {f}({c!r})" for c in poly.coefficients[1:]]
    mask = (1 << poly.mantissa_bits) - 1
    return "\n".join([
        decorator,
        f"def {poly.function}(x):",
        f'    """log1p(x) in {poly.dtype}: log f = 2s + s³·P(s²), P of degree {poly.degree} fitted on',
        f'    s ∈ [−(√2−1)/(√2+1), (√2−1)/(√2+1)] (fit error {poly.fit_error:.1e}); vectorisable."""',
        f"    u = {f}(1.0) + x",
        f"    bits = {f}(u).view({it})",
        f"    e = (bits >> {poly.mantissa_bits}) - {poly.exponent_bias}",
        "    # the mantissa f in [1, 2); above √2 halve it, so that |s| stays small",
        f"    f = {it}((bits & {it}({mask})) | {it}({poly.exponent_bias} << {poly.mantissa_bits})).view({f})",
        f"    high = f > {f}({float(np.sqrt(2))!r})",
        f"    f = f * {f}(0.5) if high else f",
        "    e = e + 1 if high else e",
        f"    s = (f - {f}(1.0)) / (f + {f}(1.0))",
        "    w = s * s",
        *horner,
        f"    n = {f}(e)",
        f"    log_u = n * {f}({poly.ln2_high!r}) + (n * {f}({poly.ln2_low!r}) + (s + s) + s * w * p)",
        f"    result = x if u == {f}(1.0) else log_u * (x / (u - {f}(1.0)))",
        "    # the ends: log1p(inf) = inf, log1p(−1) = −inf, below −1 nan (nan itself passes through)",
        f"    result = x if x == {f}(np.inf) else result",
        f"    result = {f}(-np.inf) if u == {f}(0.0) else result",
        f"    return {f}(np.nan) if x < {f}(-1.0) else result",
    ]) + "\n"


def measured_log1p_error(dtype: str, points: int = 20001) -> float:
    """Worst relative error of the compiled ``log1p_<dtype>`` against mpmath on (−1, max)."""
    import numba

    poly = log1p_polynomial(dtype)
    namespace = {"numba": numba, "np": np}
    exec(compile(log1p_helper_source(poly, decorator=""), f"<symce {poly.function}>", "exec"), namespace)  # noqa: S102
    compiled = numba.njit(fastmath={"contract"}, error_model="numpy")(namespace[poly.function])
    info = np.finfo(dtype)
    xs = np.concatenate([-1 + np.logspace(np.log10(float(info.eps)), -0.01, points // 4),
                         np.linspace(-0.99, 10, points // 4), np.logspace(1, np.log10(float(info.max)) - 1, points // 4),
                         np.logspace(np.log10(float(info.tiny)), -1, points // 4),
                         -np.logspace(np.log10(float(info.tiny)), -1, points // 4)])
    worst = mpmath.mpf(0)
    with mpmath.workdps(40):
        for x in xs.astype(dtype):
            exact = mpmath.log1p(mpmath.mpf(float(x)))
            if exact != 0:
                worst = max(worst, abs((mpmath.mpf(float(compiled(x))) - exact) / exact))
    return float(worst)
