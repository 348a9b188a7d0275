"""The polynomials of symce.runtime's exp and log1p, fitted here to mpmath, and the errors of the
runtime functions built on them, measured here against mpmath.

``symce regen`` writes what :func:`fits` returns into the data module symce.generated.coefficients
(symce.codegen.modules.coefficients_source), which the runtime reads:

* exp(x) = 2^n · exp(r) with r ∈ [−ln 2/2, ln 2/2] (symce.runtime.exp): exp(r) by a polynomial
  fitted to ``mpmath.exp`` on that interval;
* log f = 2s + s³·P(s²) for f ∈ [√½, √2), s = (f − 1)/(f + 1) (symce.runtime.log1p): P fitted in
  w = s² on [0, S²], S = (√2 − 1)/(√2 + 1).

Each by Chebyshev interpolation (``mpmath.chebyfit``, at 40 digits), of the smallest degree whose
fit error is well below half an ulp, its coefficients rounded to the dtype. :func:`measured_error`
runs the runtime's own algorithm (symce.runtime.exp.exp_of, …) with given coefficients, compiled by
numba as the runtime compiles it, against mpmath.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import mpmath
import numpy as np

#: the degree of each polynomial: the smallest whose fit error is well below half an ulp
DEGREES = {
    # exp: 2e-9 against 6e-8 (float32), 3e-18 against 1.1e-16 (float64)
    "exp": {"float32": 6, "float64": 11},
    # log1p: 3e-9 against 6e-8, 5e-18 against 1.1e-16 (the fit error times S²/2, its share of log f's)
    "log1p": {"float32": 2, "float64": 6},
}


@dataclass(frozen=True)
class Polynomial:
    """A polynomial fitted by symce for the runtime's ``<name>_<dtype>``, coefficients highest degree
    first and rounded to ``dtype``, fitted on ``interval`` (of its variable: r for exp, w = s² for
    log1p); ``fit_error`` is its share of the function's relative error."""

    name: str
    dtype: str
    degree: int
    interval: tuple[float, float]
    coefficients: tuple[float, ...]
    fit_error: float

    @property
    def function(self) -> str:
        return f"{self.name}_{self.dtype}"


@lru_cache(maxsize=None)
def _chebyshev(function: Callable, low, high, degree: int) -> tuple[tuple[mpmath.mpf, ...], mpmath.mpf]:
    with mpmath.workdps(40):
        return mpmath.chebyfit(function, [low, high], degree + 1, error=True)


def _fitted(name: str, dtype: str, function: Callable, interval: Callable,
            error_share: Callable = lambda error: error) -> Polynomial:
    if dtype not in DEGREES[name]:
        raise ValueError(f"no {name} polynomial for dtype {dtype!r}")
    degree = DEGREES[name][dtype]
    with mpmath.workdps(40):
        low, high = interval()
        coefficients, error = _chebyshev(function, low, high, degree)
        rounded = tuple(float(np.dtype(dtype).type(float(c))) for c in coefficients)
        return Polynomial(name, dtype, degree, (float(low), float(high)), rounded, float(error_share(error)))


# ----- exp ---------------------------------------------------------------------------------------
def exp_polynomial(dtype: str) -> Polynomial:
    """exp on [−ln 2/2, ln 2/2]; its constant coefficient must round to 1 (exp_of's exp(0) = 1)."""
    poly = _fitted("exp", dtype, mpmath.exp, lambda: (-mpmath.log(2) / 2, mpmath.log(2) / 2))
    # the kernels rely on exp(0) = 1 exactly (the argmax's term, z_a − m = 0): p(0) is the constant
    # coefficient and 2^0 = 1
    if poly.coefficients[-1] != 1.0:
        raise ValueError(f"the {dtype} exp polynomial has p(0) = {poly.coefficients[-1]!r}, not 1")
    return poly


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
    """P on [0, S²]; its error times S²/2 is its share of log f's relative error."""
    return _fitted("log1p", dtype, _atanh_tail, _log_interval, lambda error: error * _log_interval()[1] / 2)


def fits() -> list[Polynomial]:
    """Every polynomial the runtime reads, in a fixed order."""
    return [fit(dtype) for fit in (exp_polynomial, log1p_polynomial) for dtype in ("float32", "float64")]


# ----- measured errors ---------------------------------------------------------------------------
def _compiled(algorithm, coefficients: tuple[float, ...]):
    """``algorithm(x, coefficients)`` compiled as the runtime compiles its exp and log1p, the
    coefficients frozen into the code as the runtime's are."""
    import numba

    from symce.runtime.options import CONTRACT, JIT_OPTIONS

    options = {name: value for name, value in JIT_OPTIONS.items() if name != "cache"}
    return numba.njit(**options, fastmath=CONTRACT)(lambda x: algorithm(x, coefficients))


def measured_error(function: Callable, dtype: str, exact: Callable, xs: np.ndarray) -> float:
    """Worst relative error of ``function`` (a numba-compiled runtime function of one ``dtype``
    argument) against ``exact`` (mpmath) at ``xs``."""
    worst = mpmath.mpf(0)
    with mpmath.workdps(40):
        for x in xs.astype(dtype):
            value = exact(mpmath.mpf(float(x)))
            if value != 0:
                worst = max(worst, abs((mpmath.mpf(float(function(x))) - value) / value))
    return float(worst)


def exp_arguments(dtype: str, points: int = 20001, nonpositive: bool = False) -> np.ndarray:
    """Where an exp is measured: its normal range (a little inside, so that rounding x to dtype
    cannot step outside it) and small |x| on a log scale; only x ≤ 0 for ``nonpositive``.
    Subnormal results are left out: there a correctly rounded result itself has a large relative
    error (an ulp is the smallest subnormal)."""
    info = np.finfo(dtype)
    low, high = math.log(float(info.tiny)) + 0.01, 0.0 if nonpositive else math.log(float(info.max)) - 0.01
    return np.concatenate([np.linspace(low, high, points), -np.logspace(-30, 0, 200)]
                          + ([] if nonpositive else [np.logspace(-30, 0, 200)]))


def log1p_arguments(dtype: str, points: int = 20001) -> np.ndarray:
    """Where a log1p is measured: (−1, max), densest near −1, 0 and on a log scale."""
    info = np.finfo(dtype)
    return np.concatenate([-1 + np.logspace(np.log10(float(info.eps)), -0.01, points // 4),
                           np.linspace(-0.99, 10, points // 4),
                           np.logspace(1, np.log10(float(info.max)) - 1, points // 4),
                           np.logspace(np.log10(float(info.tiny)), -1, points // 4),
                           -np.logspace(np.log10(float(info.tiny)), -1, points // 4)])


@lru_cache(maxsize=None)
def measured_fit_error(poly: Polynomial, points: int = 20001) -> float:
    """Worst relative error, against mpmath, of the runtime functions built on ``poly`` (exp_of and
    exp_nonpositive_of, or log1p_of) with its coefficients."""
    if poly.name == "exp":
        from symce.runtime.exp import exp_nonpositive_of, exp_of

        return max(measured_error(_compiled(algorithm, poly.coefficients), poly.dtype, mpmath.exp,
                                  exp_arguments(poly.dtype, points, nonpositive))
                   for algorithm, nonpositive in ((exp_of, False), (exp_nonpositive_of, True)))
    from symce.runtime.log1p import log1p_of

    return measured_error(_compiled(log1p_of, poly.coefficients), poly.dtype, mpmath.log1p,
                          log1p_arguments(poly.dtype, points))
