"""symce.codegen.rewrites: each rewrite's identity is the one ``symce check`` proves, its result, its
equivalence, its accuracy, and the pipelines the row programs run."""
from __future__ import annotations

import dataclasses
import math

import mpmath
import pytest
import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce import identities
from symce.codegen import rewrites
from symce.spec import blocks
from symce.identities.core import Status
from symce.spec.core import class_sum
from symce.spec.symbols import C, gamma, j, k, m, t, x, y, z

a = sp.Symbol("a", real=True)
#: each rewrite's identity as the maths states it, written here by hand: (lhs, rhs) per claim
_COMPLEMENT = 1 - sp.exp(z[t]) / class_sum(sp.exp(z[k]))
_SHIFTED = class_sum(sp.exp(z[k] - m))
STATED = {
    "powers_combined": [(_COMPLEMENT ** gamma / _COMPLEMENT, _COMPLEMENT ** (gamma - 1))],
    "log_softmax_difference": [(sp.log(sp.exp(z[j]) / class_sum(sp.exp(z[k]))), z[j] - sp.log(class_sum(sp.exp(z[k]))))],
    "logsumexp_shift": [(sp.log(class_sum(sp.exp(z[k]))), m + sp.log(class_sum(sp.exp(z[k] - m))))],
    "softmax_target_complement": [(sp.exp(z[t] - m) / class_sum(sp.exp(z[k] - m)) - 1,
                                   (sp.exp(z[t] - m) - class_sum(sp.exp(z[k] - m))) / class_sum(sp.exp(z[k] - m)))],
    "softmax_targets_complement": [
        ((1 - sp.exp(z[t] - m) / _SHIFTED) * y[t] + (1 - sp.exp(z[j] - m) / _SHIFTED) * y[j] + y[t] * sp.log(_SHIFTED),
         y[t] * sp.log(_SHIFTED) + (y[t] * _SHIFTED + y[j] * _SHIFTED - y[t] * sp.exp(z[t] - m)
                                    - y[j] * sp.exp(z[j] - m)) / _SHIFTED)],
    "log1p_definition": [(sp.log(1 + a), log1p(a))],
    "log_sigmoid_softplus": [(sp.log(1 / (1 + sp.exp(-x))), -sp.log(1 + sp.exp(-x))),
                             (sp.log(1 - 1 / (1 + sp.exp(-x))), -sp.log(1 + sp.exp(x)))],
    "softplus_stable": [(sp.log(1 + sp.exp(x)), sp.Max(x, 0) + log1p(sp.exp(-sp.Abs(x))))],
}


def test_every_rewrite_is_stated_here_and_used_by_a_pipeline():
    assert {r.name for r in rewrites.ALL} == set(STATED)
    pipelines = rewrites.ONE_LOGIT + rewrites.ONE_PROBABILITY + tuple(
        r for row in (rewrites.SHIFTED_ROW, rewrites.PLAIN_ROW) for part in dataclasses.fields(row)
        for r in getattr(row, part.name))
    assert set(pipelines) == set(rewrites.ALL)


@pytest.mark.parametrize("rewrite", rewrites.ALL, ids=lambda r: r.name)
def test_the_identity_symce_check_proves_is_the_rewrites_own_statement(rewrite):
    identity = identities.get(rewrite.identity)
    assert identity.claims == rewrite.claims
    assert [(c.lhs, c.rhs) for c in identity.claims] == STATED[rewrite.name]
    result, = identities.establish_all([rewrite.identity])
    assert result.status.proven, f"{rewrite.identity}: {result.label}"


def _doubled(rewrite):
    """The rewrite with its right-hand side changed: twice what it gives."""
    return dataclasses.replace(rewrite, transform=lambda e: 2 * rewrite.transform(e))


def _abs_forgotten(expr):
    """softplus_stable as a slip would write it: max(x, 0) + log1p(exp(−x)), no |x|."""
    return rewrites.softplus_stable(expr).replace(sp.Abs, lambda v: v)


@pytest.mark.parametrize("edit", [_doubled(r) for r in rewrites.ALL]
                         + [dataclasses.replace(rewrites.softplus_stable, transform=_abs_forgotten)],
                         ids=[f"{r.name} doubled" for r in rewrites.ALL] + ["softplus_stable without |x|"])
def test_an_edited_rewrite_fails_its_proof(edit):
    identity = dataclasses.replace(identities.get(edit.identity), claims=edit.claims)
    result = identity.establish()
    assert result.status is Status.FAILED and "counterexample" in result.outcome.detail


def test_a_shifted_rewrite_means_what_its_symbols_stand_for():
    """logsumexp_shift introduces zs_k = z_k − m: its claim says so, and a wrong meaning is refused."""
    assert rewrites.logsumexp_shift.rhs == (m + sp.log(class_sum(sp.exp(rewrites.zs[k]))),)
    plus = dataclasses.replace(rewrites.logsumexp_shift, meaning=lambda e: e.subs(rewrites.zs[k], z[k] + m))
    identity = dataclasses.replace(identities.get("logsumexp_shift"), claims=plus.claims)
    assert identity.establish().status is Status.FAILED


def _value(expr, point, dps=60):
    with mpmath.workdps(dps):
        return sp.N(expr.xreplace({s: sp.Float(v, dps) for s, v in point.items()}), dps)


class TestLogSoftmaxDifference:
    def test_symbolic(self):
        out = rewrites.log_softmax_difference(blocks.log_softmax(z, 0))
        assert out == z[0] - blocks.logsumexp(z)

    def test_equivalent_and_finite_where_the_ratio_underflows(self):
        out = rewrites.log_softmax_difference(blocks.log_softmax(z, 0)).subs(C, 2).doit()
        naive = blocks.log_softmax(z, 0).subs(C, 2).doit()
        point = {z[0]: -1.0, z[1]: 2.0}
        assert abs(_value(out, point) - _value(naive, point)) < 1e-40
        far = (-800.0, 0.0)
        as_float = sp.lambdify([z[0], z[1]], naive, "math")
        with pytest.raises((ValueError, OverflowError, ZeroDivisionError)):
            as_float(*far)  # log(exp(−800)/…) = log(0)
        assert sp.lambdify([z[0], z[1]], out.subs(C, 2), "mpmath")(*far) == pytest.approx(-800.0)


class TestLogsumexpShift:
    def test_symbolic(self):
        out = rewrites.logsumexp_shift(blocks.logsumexp(z))
        assert out == m + sp.log(sp.Sum(sp.exp(rewrites.zs[k]), (k, 0, C - 1)))

    def test_no_overflow(self):
        out = rewrites.logsumexp_shift(blocks.logsumexp(z)).subs(C, 2).doit()
        shifted = out.subs({rewrites.zs[0]: z[0] - m, rewrites.zs[1]: z[1] - m})
        f = sp.lambdify([z[0], z[1], m], shifted, "math")
        assert f(1000.0, 999.0, 1000.0) == pytest.approx(1000.0 + math.log1p(math.exp(-1.0)), rel=1e-15)
        with pytest.raises(OverflowError):
            sp.lambdify([z[0], z[1]], blocks.logsumexp(z).subs(C, 2).doit(), "math")(1000.0, 999.0)


class TestLog1p:
    def test_symbolic_equivalent_accurate(self):
        o = sp.Symbol("o", positive=True)
        out = rewrites.log1p_definition(sp.log(1 + o))
        assert out == log1p(o)
        assert abs(_value(out, {o: 1e-18}) - _value(sp.log(1 + o), {o: 1e-18})) < 1e-50
        assert math.log(1 + 1e-18) == 0.0 and math.log1p(1e-18) == pytest.approx(1e-18, rel=1e-15)


class TestSoftmaxTargetComplement:
    def test_the_ones_cancel(self):
        o = sp.Symbol("o", positive=True)
        out = rewrites.softmax_target_complement(1 / (1 + o) - 1)
        assert out == -o / (1 + o)
        value = 4.2e-18
        assert 1 / (1 + value) - 1 == 0.0  # the naive form loses every digit
        assert float(sp.lambdify(o, out)(value)) == pytest.approx(-value, rel=1e-15)


class TestBinary:
    def test_log_sigmoid_softplus_symbolic(self):
        assert rewrites.log_sigmoid_softplus(sp.log(blocks.sigmoid(x))) == -blocks.softplus(-x)
        assert rewrites.log_sigmoid_softplus(sp.log(1 - blocks.sigmoid(x))) == -blocks.softplus(x)

    def test_softplus_stable_symbolic_equivalent_accurate(self):
        out = rewrites.softplus_stable(blocks.softplus(x))
        assert out == sp.Max(x, 0) + log1p(sp.exp(-sp.Abs(x)))
        for point in (-50.0, -1.0, 0.0, 2.5, 800.0):
            assert abs(_value(out, {x: point}) - _value(blocks.softplus(x), {x: point})) < 1e-40
        stable = sp.lambdify(x, out, "math")
        with pytest.raises(OverflowError):
            sp.lambdify(x, blocks.softplus(x), "math")(800.0)
        assert stable(800.0) == 800.0
        assert stable(-50.0) == pytest.approx(math.exp(-50.0), rel=1e-15)

    def test_loss_on_a_logit_keeps_precision(self):
        loss = -sp.log(1 - blocks.sigmoid(x))
        out = rewrites.optimize(loss, rewrites.ONE_LOGIT)
        f = sp.lambdify(x, out, "math")
        assert f(-40.0) == pytest.approx(math.exp(-40.0), rel=1e-15)
        assert sp.lambdify(x, loss, "math")(-40.0) == pytest.approx(0.0, abs=1e-16)  # naive: 4e-18 lost
