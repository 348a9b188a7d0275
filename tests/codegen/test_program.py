"""symce.codegen.program: sums sifted and named, the rewrite pipelines run, outputs split into cases,
and the row program's values against the spec in mpmath (the reference, never the program)."""
from __future__ import annotations

import dataclasses

import mpmath
import pytest
import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce.codegen import program as row_programs
from symce.codegen import rewrites
from symce.codegen.program import argmax, row_program, sift_sums
from symce.spec import get
from symce.spec.core import class_sum
from symce.spec.symbols import C, j, k, m, t, y, z

c, d = sp.symbols("c d", real=True)
CE = get("softmax_cross_entropy_with_integer_labels")


class TestSiftSums:
    def test_a_sum_splits_into_single_terms_with_constants_taken_out(self):
        out = sift_sums(class_sum(c * sp.exp(z[k]) + sp.log(y[k])))
        assert out == c * class_sum(sp.exp(z[k])) + class_sum(sp.log(y[k]))

    def test_a_kronecker_delta_picks_its_term_and_a_constant_counts_the_classes(self):
        assert sift_sums(class_sum(sp.exp(z[k]) * sp.KroneckerDelta(j, k))) == sp.exp(z[j])
        assert sift_sums(class_sum(c)) == C * c

    def test_terms_on_the_same_logits_keep_one_coefficient(self):
        """(c·y_k + d)·z_k stays one sum: split, z_k = −inf with y_k = 0 would give 0·(−inf) = nan."""
        out = sift_sums(class_sum((c * y[k] + d) * z[k]))
        assert out.atoms(sp.Sum) == {class_sum((c * y[k] + d) * z[k])}


def _plain_and_shifted(spec_name):
    spec = get(spec_name)
    value = spec.with_params({}, spec.expr)
    return (row_program({"loss": value}, {}, shift=False), row_program({"loss": value}, {}, shift=True))


class TestPipelines:
    def test_logsumexp_shifted_is_m_plus_log1p_of_the_other_classes(self):
        plain, shifted = _plain_and_shifted("logsumexp")
        (reduction,), ((_, (case,)),) = shifted.reductions, shifted.scalars
        assert reduction.body == sp.exp(rewrites.zs[k]) and reduction.excludes_argmax
        assert case.condition is None and case.expr == m + log1p(reduction.symbol)
        (reduction,), ((_, (case,)),) = plain.reductions, plain.scalars
        assert reduction.body == sp.exp(z[k]) and not reduction.excludes_argmax
        assert case.expr == sp.log(reduction.symbol)

    def test_the_program_runs_the_named_pipelines(self, monkeypatch):
        """Without log1p after naming, the shifted loss keeps log(1 + Σ_{k≠a}); the pipeline is what runs."""
        monkeypatch.setattr(row_programs, "SHIFTED_ROW",
                            dataclasses.replace(rewrites.SHIFTED_ROW, after_naming=()))
        _, shifted = _plain_and_shifted("logsumexp")
        (reduction,), ((_, (case,)),) = shifted.reductions, shifted.scalars
        assert case.expr == m + sp.log(1 + reduction.symbol)

    @pytest.mark.parametrize("at_the_argmax", [True, False])
    def test_softmax_target_complement_cancels_the_ones_at_the_pinned_argmax(self, monkeypatch, at_the_argmax):
        if not at_the_argmax:
            monkeypatch.setattr(row_programs, "SHIFTED_ROW",
                                dataclasses.replace(rewrites.SHIFTED_ROW, at_the_argmax=()))
        grad = CE.with_params({}, CE.gradient())
        program = row_program({}, {"grad": grad}, shift=True, label=t)
        others = next(r.symbol for r in program.reductions if r.body.has(sp.exp))
        cases = {case.condition: case.expr for case in program.vectors[0][1]}
        at_target = cases[sp.And(sp.Eq(j, argmax), sp.Eq(t, argmax))]
        # softmax_a − 1 = −O/(1 + O): no constant 1 left to cancel in floating point
        assert (at_target == -others / (1 + others)) is at_the_argmax
        assert sp.simplify(at_target - (-others / (1 + others))) == 0

    def test_the_cases_are_pinned_in_order_with_the_other_classes_last(self):
        grad = CE.with_params({}, CE.gradient())
        program = row_program({}, {"grad": grad}, shift=True, label=t)
        conditions = [case.condition for case in program.vectors[0][1]]
        assert conditions == [sp.And(sp.Eq(j, argmax), sp.Eq(t, argmax)), sp.Eq(j, argmax), sp.Eq(t, argmax),
                              sp.Eq(j, t), None]


# ----- the program's values against the spec -------------------------------------------------------------

def _holds(condition, point) -> bool:
    return condition is None or bool(condition.subs(point))


def _value(expr, reductions, row, point):
    """``expr`` of a row program at a concrete row (the argmax and shift as the kernels choose them)."""
    shift = max(row)
    values = {z[n]: sp.Float(v, 50) for n, v in enumerate(row)}
    values |= {rewrites.zs[n]: sp.Float(v, 50) - sp.Float(shift, 50) for n, v in enumerate(row)}
    values[m] = sp.Float(shift, 50)
    for reduction in reductions:
        classes = [n for n in range(len(row)) if not (reduction.excludes_argmax and n == point[argmax])]
        total = sum((reduction.body.subs(k, n) for n in classes), sp.Integer(0))
        values[reduction.symbol] = total.xreplace(values)
    return sp.N(expr.subs(point).xreplace(values), 40)


def _first_case(cases, point):
    return next(case.expr for case in cases if _holds(case.condition, point))


ROWS = [([40.0, 0.0, 0.0], 0), ([0.5, 0.2, -0.3], 2), ([1.0, 3.0, 2.0], 1), ([-3.0, 700.0, 690.0, 0.0], 2)]


@pytest.mark.parametrize("shift", [True, False], ids=["shifted", "plain"])
@pytest.mark.parametrize("row, label", ROWS)
def test_cross_entropy_and_its_gradient_agree_with_the_spec_in_mpmath(row, label, shift):
    program = row_program({"loss": CE.with_params({}, CE.expr)}, {"grad": CE.with_params({}, CE.gradient())},
                          shift=shift, label=t)
    point = {t: label, argmax: row.index(max(row))}
    inputs = {"logits": row, "labels": label}
    (loss,) = CE.evaluate(inputs)
    gradient = CE.evaluate(inputs, expr=CE.with_params({}, CE.gradient()))
    with mpmath.workdps(40):
        got = _value(_first_case(program.scalars[0][1], point), program.reductions, row, point)
        assert abs(mpmath.mpf(got) - loss) <= 1e-30 * max(1, abs(loss))
        for n, expected in enumerate(gradient):
            at = point | {j: n}
            got = _value(_first_case(program.vectors[0][1], at), program.reductions, row, at)
            assert abs(mpmath.mpf(got) - expected) <= 1e-30 * max(1, abs(expected)), (n, got, expected)


class TestRowProgram:
    def test_cross_entropy_is_log1p_of_the_other_classes_and_cancels_at_the_argmax(self):
        spec = get("softmax_cross_entropy_with_integer_labels")
        value = spec.with_params({}, spec.expr)
        grad = spec.with_params({}, spec.gradient())
        program = row_program({"loss": value}, {"grad": grad}, shift=True, label=t)
        (name, loss_cases), = program.scalars
        assert all(c.expr.has(log1p) and not c.expr.has(sp.log) for c in loss_cases)
        others = next(r.symbol for r in program.reductions if r.body.has(sp.exp))
        cases = dict((c.condition, c.expr) for c in program.vectors[0][1])
        at_target = cases[sp.And(sp.Eq(j, argmax), sp.Eq(t, argmax))]
        # softmax_a − 1 = −O/(1 + O): no constant 1 left to cancel numerically
        assert sp.simplify(at_target - (-others / (1 + others))) == 0
