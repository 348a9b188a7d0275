"""symce.codegen.polynomials: the fits, and the provenance the coefficients module records for them
(symce.generated.coefficients), measured again here against mpmath on the runtime's functions."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest

from symce.codegen import polynomials
from symce.generated import coefficients
from symce.runtime import fitted

ULP = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}

#: each runtime function, the exact function it approximates, and where it is measured
FUNCTIONS = {
    "exp": (mpmath.exp, lambda dtype: polynomials.exp_arguments(dtype)),
    "exp_nonpositive": (mpmath.exp, lambda dtype: polynomials.exp_arguments(dtype, nonpositive=True)),
    "log1p": (mpmath.log1p, lambda dtype: polynomials.log1p_arguments(dtype)),
}


def _polynomial_error(poly: polynomials.Polynomial, exact, points: int = 501) -> float:
    """Worst relative error of the (rounded) polynomial itself, evaluated in mpmath, on its interval."""
    worst = mpmath.mpf(0)
    with mpmath.workdps(40):
        for v in mpmath.linspace(*poly.interval, points):
            value = mpmath.polyval([mpmath.mpf(c) for c in poly.coefficients], v)
            worst = max(worst, abs(value / exact(v) - 1))
    return float(worst)


def _atanh_tail(w):
    """P(w) with 2·atanh(s) = 2s + s³·P(s²), written out here from its series where w is tiny."""
    if w < mpmath.mpf(10) ** -30:
        return mpmath.mpf(2) / 3 + 2 * w / 5
    s = mpmath.sqrt(w)
    return (mpmath.log((1 + s) / (1 - s)) - 2 * s) / s ** 3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exp_polynomial_fits_exp_well_below_half_an_ulp(dtype):
    poly = polynomials.exp_polynomial(dtype)
    assert poly.coefficients[-1] == 1.0  # exp(0) = 1 exactly
    with mpmath.workdps(40):
        assert mpmath.almosteq(mpmath.mpf(poly.interval[1]), mpmath.log(2) / 2, 1e-15)
    assert poly.fit_error < ULP[dtype] / 10
    assert _polynomial_error(poly, mpmath.exp) < ULP[dtype] / 4


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log1p_polynomial_fits_the_atanh_tail(dtype):
    poly = polynomials.log1p_polynomial(dtype)
    S2 = float(((mpmath.sqrt(2) - 1) / (mpmath.sqrt(2) + 1)) ** 2)
    assert poly.interval == (0.0, pytest.approx(S2, rel=1e-15))
    assert poly.fit_error < ULP[dtype] / 10
    # the polynomial's share of log f's error: its own relative error times s²/2 ≤ S²/2
    assert _polynomial_error(poly, _atanh_tail) * S2 / 2 < ULP[dtype] / 4


def test_an_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="float16"):
        polynomials.exp_polynomial("float16")


def test_the_coefficients_module_holds_the_fits_and_their_provenance():
    for poly in polynomials.fits():
        name = poly.function.upper()
        assert getattr(coefficients, name) == poly.coefficients
        record = coefficients.PROVENANCE[name]
        assert (record["function"], record["dtype"], record["degree"]) == (poly.name, poly.dtype, poly.degree)
        assert len(poly.coefficients) == poly.degree + 1
        assert tuple(record["interval"]) == poly.interval
        assert poly.fit_error <= record["fit_error"] <= 1.1 * poly.fit_error  # rounded up, to two digits


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_runtime_function_is_within_its_recorded_error_and_two_ulps(name, dtype):
    """The runtime's own function, on the module's coefficients, against mpmath: within the
    error the coefficients module records for its polynomial, and within 2 ulps (the kernels'
    accuracy goal)."""
    exact, arguments = FUNCTIONS[name]
    function = getattr(fitted, f"fast_{name}")
    error = polynomials.measured_error(function, dtype, exact, arguments(dtype))
    recorded = coefficients.PROVENANCE[f"{name.split('_')[0].upper()}_{dtype.upper()}"]["measured_error"]
    assert error <= recorded
    assert error <= 2 * ULP[dtype]
