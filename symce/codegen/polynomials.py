"""A vectorisable ``exp`` and ``log1p`` for the kernels, their polynomials fitted and their errors
measured here.

numba calls libm's ``exp`` one element at a time (this llvmlite has no SVML), which caps a
kernel at a few GB/s. The generated modules instead define ``exp_float32``/``exp_float64``:
straight-line code that LLVM vectorises,

    exp(x) = 2^n · exp(r),  n = round(x / ln 2),  r = x − n·ln 2 ∈ [−ln 2/2, ln 2/2],

with ``r`` computed by Cody and Waite's two-part ln 2 (the high part has trailing zero bits, so
n·ln2_hi is exact), ``exp(r)`` by a polynomial fitted here to ``mpmath.exp`` on that interval
(Chebyshev interpolation, ``mpmath.chebyfit``, at 40 digits), and 2^n built from exponent bits so
that subnormal results round once, correctly: in two halves for ``exp``, and for
``exp_nonpositive`` (the softmax passes' exp) as 2^(n + K) · 2^−K with n rounded by adding a
constant, whose sum holds n in its low bits (``FloatFormat.rounding_constant``,
``FloatFormat.subnormal_offset``): five fewer vector instructions an element, which took a fused
softmax cross-entropy pass at 8192 × 32000 float32 from 94.9 to 83.2 ms (in place 81.8 → 71.3).
±inf, nan and overflow keep their IEEE meaning: x is clamped to just past the finite range, where
2^n over/underflows to inf/0, and nan passes through every operation.

:func:`measured_error` evaluates the printed helper (compiled by numba) against mpmath; the
tests hold it to the kernels' accuracy goals.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import mpmath
import numpy as np


def _ln2_remainder(high: float) -> float:
    with mpmath.workdps(40):
        return float(mpmath.log(2) - mpmath.mpf(high))


@dataclass(frozen=True)
class FloatFormat:
    """What the helpers need of an IEEE type: the two-part ln 2 and the bit layout."""

    #: ln 2 = ln2_high + ln2_low, ln2_high with trailing zero bits so that n·ln2_high is exact
    ln2_high: float
    ln2_low: float
    int_type: str
    mantissa_bits: int
    exponent_bias: int
    #: exp(x) above ``overflow`` is inf and below ``underflow`` 0 (x is clamped there, just outside)
    overflow: float
    underflow: float

    @property
    def rounding_constant(self) -> float:
        """1.5 · 2^mantissa_bits: y + it, for |y| < 2^(mantissa_bits − 1), is rounded to the
        integer n nearest y, and its bits are the constant's plus n."""
        return 1.5 * 2.0 ** self.mantissa_bits

    @property
    def subnormal_offset(self) -> int:
        """K: 2^(n + K) is a normal number for every n = round(x / ln 2) with underflow ≤ x ≤ 0."""
        return 1 - self.exponent_bias - math.floor(self.underflow / math.log(2))


FORMATS = {
    # Cody–Waite for float32: 0.693359375 has 9 significant bits, n·ln2_high is exact for |n| < 2^15
    "float32": FloatFormat(0.693359375, float(np.float32(_ln2_remainder(0.693359375))), "int32", 23, 127,
                           overflow=89.0, underflow=-104.0),
    # fdlibm's split: 32 significant bits, n·ln2_high is exact for |n| < 2^21
    "float64": FloatFormat(0.6931471803691238, _ln2_remainder(0.6931471803691238), "int64", 52, 1023,
                           overflow=710.0, underflow=-746.0),
}


@dataclass(frozen=True)
class Polynomial:
    """A polynomial fitted by symce for helper ``<name>_<dtype>``, coefficients highest degree first
    and rounded to ``dtype``; ``fit_error`` is its share of the helper's relative error."""

    name: str
    dtype: str
    degree: int
    coefficients: tuple[float, ...]
    fit_error: float

    @property
    def function(self) -> str:
        return f"{self.name}_{self.dtype}"


@lru_cache(maxsize=None)
def _chebyshev(function: Callable, low, high, degree: int) -> tuple[tuple[mpmath.mpf, ...], mpmath.mpf]:
    with mpmath.workdps(40):
        return mpmath.chebyfit(function, [low, high], degree + 1, error=True)


def _fitted(name: str, dtype: str, degree: int, function: Callable, interval: Callable,
            error_share: Callable = lambda error: error) -> Polynomial:
    if dtype not in FORMATS:
        raise ValueError(f"no {name} polynomial for dtype {dtype!r}")
    with mpmath.workdps(40):
        coefficients, error = _chebyshev(function, *interval(), degree)
        rounded = tuple(float(np.dtype(dtype).type(float(c))) for c in coefficients)
        return Polynomial(name, dtype, degree, rounded, float(error_share(error)))


def _horner(poly: Polynomial, variable: str) -> list[str]:
    """``p = p(variable)`` by Horner's rule, as helper source lines in the polynomial's dtype."""
    f = f"np.{poly.dtype}"
    return [f"    p = {f}({poly.coefficients[0]!r})"] + [f"    p = p * {variable} + {f}({c!r})"
                                                       for c in poly.coefficients[1:]]


# ----- exp ---------------------------------------------------------------------------------------
def exp_polynomial(dtype: str) -> Polynomial:
    """exp on [−ln 2/2, ln 2/2]. Degrees are the smallest whose fit error is well below half an
    ulp: 6 for float32 (2e-9 against 6e-8), 11 for float64 (3e-18 against 1.1e-16)."""
    return _fitted("exp", dtype, {"float32": 6, "float64": 11}.get(dtype, 0), mpmath.exp,
                   lambda: (-mpmath.log(2) / 2, mpmath.log(2) / 2))


def _exact_one_at_zero(poly: Polynomial) -> Polynomial:
    # the kernels rely on exp(0) = 1 exactly (the argmax's term, z_a − m = 0): p(0) is the constant
    # coefficient and 2^0 = 1, so that coefficient must round to 1
    if poly.coefficients[-1] != 1.0:
        raise ValueError(f"the {poly.dtype} exp polynomial has p(0) = {poly.coefficients[-1]!r}, not 1")
    return poly


def exp_helper_name(poly: Polynomial, nonpositive: bool = False) -> str:
    """``exp_<dtype>``, or ``exp_nonpositive_<dtype>`` for the helper of arguments known to be ≤ 0."""
    return f"exp_nonpositive_{poly.dtype}" if nonpositive else poly.function


def exp_helper_source(poly: Polynomial, decorator: str = "@numba.njit({JIT_OPTIONS}, fastmath={'contract'})",
                      nonpositive: bool = False) -> str:
    """The numba source of ``exp_<dtype>`` (see the module docstring); with ``nonpositive``, of
    ``exp_nonpositive_<dtype>``, the same without the overflow clamp, for x ≤ 0 (and nan): a
    shifted logit z − max or −|v|. Without that clamp a float32 softmax pass took 28.0 ms
    instead of 31.8 (1024×32000, one thread)."""
    poly = _exact_one_at_zero(poly)
    fmt = FORMATS[poly.dtype]
    f = f"np.{poly.dtype}"
    horner = _horner(poly, "r")
    over_ln2 = f"x * {f}({float(1 / np.log(2))!r})"
    overflow = [] if nonpositive else [f"    if x > {f}({fmt.overflow!r}):", f"        x = {f}({fmt.overflow!r})"]
    return "\n".join([
        decorator,
        f"def {exp_helper_name(poly, nonpositive)}(x):",
        f'    """exp(x{" ≤ 0" if nonpositive else ""}) in {poly.dtype}: 2^n · p(r), p of degree {poly.degree} '
        f'fitted to exp on [−ln 2/2, ln 2/2]',
        f'    (fit error {poly.fit_error:.1e}); vectorisable, unlike a libm call."""',
        *overflow,
        f"    if x < {f}({fmt.underflow!r}):",
        f"        x = {f}({fmt.underflow!r})",
        *(_nonpositive_rounding(fmt, f, over_ln2) if nonpositive else [f"    n = np.floor({over_ln2} + {f}(0.5))"]),
        f"    r = (x - n * {f}({fmt.ln2_high!r})) - n * {f}({fmt.ln2_low!r})",
        *horner,
        *(_nonpositive_scaling(fmt, f) if nonpositive else _two_power_scaling(fmt, f)),
    ]) + "\n"


def _nonpositive_rounding(fmt: FloatFormat, f: str, over_ln2: str) -> list[str]:
    magic = f"{f}({fmt.rounding_constant!r})"
    return ["    # round(x / ln 2) in the low bits of t (|x / ln 2| is far below 2^(mantissa bits − 1))",
            f"    t = {over_ln2} + {magic}",
            f"    n = t - {magic}"]


def _nonpositive_scaling(fmt: FloatFormat, f: str) -> list[str]:
    offset = fmt.subnormal_offset
    int_type = f"np.{fmt.int_type}"
    return [f"    # 2^(n + {offset}) from t's bits, a normal number for every n here, then 2^-{offset}:",
            "    # a subnormal result is rounded once, by the last product",
            f"    scale = {int_type}(({f}(t).view({int_type}) + {int_type}({fmt.exponent_bias + offset})) "
            f"<< {int_type}({fmt.mantissa_bits})).view({f})",
            f"    return p * scale * {f}({2.0 ** -offset!r})"]


def _two_power_scaling(fmt: FloatFormat, f: str) -> list[str]:
    return ["    # 2^n as two powers of two, so that a subnormal result is rounded once, by the last product",
            f"    e = np.{fmt.int_type}(n)",
            "    half = e >> 1",
            f"    low = np.{fmt.int_type}((half + {fmt.exponent_bias}) << {fmt.mantissa_bits}).view({f})",
            f"    high = np.{fmt.int_type}((e - half + {fmt.exponent_bias}) << {fmt.mantissa_bits}).view({f})",
            "    return p * low * high"]


# ----- log1p -------------------------------------------------------------------------------------
def _atanh_tail(w):
    """P(w) with 2·atanh(s) = 2s + s³·P(s²): the part of log f a polynomial carries."""
    if w == 0:
        return mpmath.mpf(2) / 3
    s = mpmath.sqrt(w)
    return (2 * mpmath.atanh(s) - 2 * s) / s ** 3


def _log_interval():
    # f ∈ [√½, √2) gives s = (f − 1)/(f + 1) ∈ [−S, S], S = (√2 − 1)/(√2 + 1); P is fitted in w = s²
    return mpmath.mpf(0), ((mpmath.sqrt(2) - 1) / (mpmath.sqrt(2) + 1)) ** 2


def log1p_polynomial(dtype: str) -> Polynomial:
    """P on [0, S²]; its error times S²/2 is its share of log f's relative error. Degree 2 for
    float32 (3e-9 against 6e-8), 6 for float64 (5e-18 against 1.1e-16)."""
    return _fitted("log1p", dtype, {"float32": 2, "float64": 6}.get(dtype, 0), _atanh_tail, _log_interval,
                   lambda error: error * _log_interval()[1] / 2)


def log1p_helper_source(poly: Polynomial,
                        decorator: str = "@numba.njit({JIT_OPTIONS}, fastmath={'contract'})") -> str:
    """The numba source of ``log1p_<dtype>``: u = 1 + x = 2^e·f, log u = e·ln 2 + log f, and
    log1p(x) = log(u)·x/(u − 1), which corrects the rounding of u (Goldberg's trick; x where u = 1)."""
    fmt = FORMATS[poly.dtype]
    f = f"np.{poly.dtype}"
    it = f"np.{fmt.int_type}"
    horner = _horner(poly, "w")
    mask = (1 << fmt.mantissa_bits) - 1
    return "\n".join([
        decorator,
        f"def {poly.function}(x):",
        f'    """log1p(x) in {poly.dtype}: log f = 2s + s³·P(s²), P of degree {poly.degree} fitted on',
        f'    s ∈ [−(√2−1)/(√2+1), (√2−1)/(√2+1)] (fit error {poly.fit_error:.1e}); vectorisable."""',
        f"    u = {f}(1.0) + x",
        f"    bits = {f}(u).view({it})",
        f"    e = (bits >> {fmt.mantissa_bits}) - {fmt.exponent_bias}",
        "    # the mantissa f in [1, 2); above √2 halve it, so that |s| stays small",
        f"    f = {it}((bits & {it}({mask})) | {it}({fmt.exponent_bias} << {fmt.mantissa_bits})).view({f})",
        f"    high = f > {f}({float(np.sqrt(2))!r})",
        f"    f = f * {f}(0.5) if high else f",
        "    e = e + 1 if high else e",
        f"    s = (f - {f}(1.0)) / (f + {f}(1.0))",
        "    w = s * s",
        *horner,
        f"    n = {f}(e)",
        f"    log_u = n * {f}({fmt.ln2_high!r}) + (n * {f}({fmt.ln2_low!r}) + (s + s) + s * w * p)",
        f"    result = x if u == {f}(1.0) else log_u * (x / (u - {f}(1.0)))",
        "    # the ends: log1p(inf) = inf, log1p(−1) = −inf, below −1 nan (nan itself passes through)",
        f"    result = x if x == {f}(np.inf) else result",
        f"    result = {f}(-np.inf) if u == {f}(0.0) else result",
        f"    return {f}(np.nan) if x < {f}(-1.0) else result",
    ]) + "\n"


# ----- measured errors ---------------------------------------------------------------------------
def _worst_relative_error(poly: Polynomial, source: str, exact: Callable, xs: np.ndarray,
                          function: str | None = None) -> float:
    """Compile ``source`` (a helper without its decorator, named ``function``, by default the
    polynomial's) and compare it with ``exact`` in mpmath."""
    import numba

    function = function or poly.function
    namespace = {"numba": numba, "np": np, "math": math}
    exec(compile(source, f"<symce {function}>", "exec"), namespace)  # noqa: S102
    compiled = numba.njit(fastmath={"contract"}, error_model="numpy")(namespace[function])
    worst = mpmath.mpf(0)
    with mpmath.workdps(40):
        for x in xs.astype(poly.dtype):
            value = exact(mpmath.mpf(float(x)))
            if value != 0:
                worst = max(worst, abs((mpmath.mpf(float(compiled(x))) - value) / value))
    return float(worst)


def measured_error(dtype: str, points: int = 20001, nonpositive: bool = False) -> float:
    """Worst relative error of the compiled ``exp_<dtype>`` (``exp_nonpositive_<dtype>``: for
    x ≤ 0 only) against mpmath over its normal range.

    Subnormal results are left out: there a correctly rounded result itself has a large
    relative error (an ulp is the smallest subnormal).
    """
    poly = exp_polynomial(dtype)
    info = np.finfo(dtype)
    # a little inside the normal range, so that rounding x to dtype cannot step outside it
    low, high = math.log(float(info.tiny)) + 0.01, 0.0 if nonpositive else math.log(float(info.max)) - 0.01
    xs = np.concatenate([np.linspace(low, high, points), -np.logspace(-30, 0, 200)]
                        + ([] if nonpositive else [np.logspace(-30, 0, 200)]))
    source = exp_helper_source(poly, decorator="", nonpositive=nonpositive)
    return _worst_relative_error(poly, source, mpmath.exp, xs, exp_helper_name(poly, nonpositive))


def measured_log1p_error(dtype: str, points: int = 20001) -> float:
    """Worst relative error of the compiled ``log1p_<dtype>`` against mpmath on (−1, max)."""
    poly = log1p_polynomial(dtype)
    info = np.finfo(dtype)
    xs = np.concatenate([-1 + np.logspace(np.log10(float(info.eps)), -0.01, points // 4),
                         np.linspace(-0.99, 10, points // 4), np.logspace(1, np.log10(float(info.max)) - 1, points // 4),
                         np.logspace(np.log10(float(info.tiny)), -1, points // 4),
                         -np.logspace(np.log10(float(info.tiny)), -1, points // 4)])
    return _worst_relative_error(poly, log1p_helper_source(poly, decorator=""), mpmath.log1p, xs)
