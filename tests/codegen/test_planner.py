"""symce.codegen.planner: what each kernel computes and keeps, decided from its SymPy expressions.

The expected values are the kernels' semantics (which rows need the argmax, which sums are needed
whole), and they are what the generator decided before the planner existed, by searching its own
output (/work/base's generated modules: each row function's ``a = …`` lines, run_exponentials'
``with_firsts`` and log1p arguments, the ``_streamed`` loops).
"""
from __future__ import annotations

import pytest
import sympy as sp

from symce.codegen import kernels, planner
from symce.codegen.program import argmax
from symce.codegen.rewrites import zs
from symce.spec.symbols import j, t, y

WEIGHT, SMOOTHING = "weight", "label_smoothing"
ALL_LEAVES = {frozenset({WEIGHT, SMOOTHING}), frozenset({WEIGHT}), frozenset({SMOOTHING}), frozenset()}


@pytest.fixture(scope="module")
def kernel():
    found = {k.function: k for specs in kernels.families().values() for family in specs.values() for k in family}
    return found.__getitem__


@pytest.fixture(scope="module")
def plan(kernel):
    plans = {}

    def planned(function: str) -> planner.RowPlan:
        if function not in plans:
            plans[function] = planner.plan_rows(kernel(function))
        return plans[function]
    return planned


class TestArgmax:
    @pytest.mark.parametrize("function, reading", [
        # the smoothed loss takes the weighted Σ_k w_k z_k apart at the argmax; unweighted it is C
        ("softmax_cross_entropy_with_integer_labels_forward", {frozenset()}),
        # the gradient of the smoothed loss at the argmax differs from the loop's formula
        ("softmax_cross_entropy_with_integer_labels_forward_backward", {frozenset({WEIGHT}), frozenset()}),
        # the loss reads Σ_k y_k whole, so nothing is pinned
        ("softmax_cross_entropy_forward", set()),
        # the gradient at the argmax needs Σ_{k≠a} y_k apart, in every specialisation
        ("softmax_cross_entropy_forward_backward", ALL_LEAVES),
        ("softmax_forward", set()), ("log_softmax_forward", set()), ("logsumexp_forward", set()),
    ])
    def test_the_argmax_is_read_exactly_where_a_formula_needs_it(self, plan, function, reading):
        assert set(plan(function).reading_firsts) == reading

    def test_rows_with_non_finite_maxima_never_read_it(self, plan):
        assert not any(block.reads_argmax for block in plan("softmax_cross_entropy_with_integer_labels_forward_backward").plain)

    def test_cross_entropy_reads_the_argmax_as_the_label_where_the_label_is_the_argmax(self, plan):
        """The gradient's branch t = a reads a as t (no search); only the branch where the label is
        not the argmax (t ≠ a) may override the class a, which the finite block then pins."""
        block = next(b for b in plan("softmax_cross_entropy_with_integer_labels_forward_backward").finite if b.defaults == {WEIGHT})
        (grad,) = block.vectors
        pinned = [branch for branch in grad.branches if branch.pins_label]
        others = [branch for branch in grad.branches if not branch.pins_label]
        assert pinned and others
        assert all(sp.Eq(t, argmax) in sp.And.make_args(branch.condition) or sp.Eq(argmax, t)
                   in sp.And.make_args(branch.condition) for branch in pinned)
        assert any(override.index == argmax for branch in others for override in branch.overrides)
        assert block.reads_argmax


class TestSums:
    def test_a_probability_target_sums_its_targets_whole_for_the_loss(self, plan):
        """Σ_k y_k appears in the loss only as y_a + Σ_{k≠a} y_k: summed whole, over every k."""
        for block in plan("softmax_cross_entropy_forward").finite:
            # Σ_k y_k (w_k y_k weighted): no exponential, no logit
            targets = [n for n, r in enumerate(block.reduction.reductions) if not r.body.has(sp.exp, zs)]
            assert targets, block.defaults
            assert not any(block.reduction.reductions[n].excludes_argmax or block.reduction.split[n] for n in targets)
            # only Σ_{k≠a} exp(z_k − m) keeps a second accumulator at the max
            assert list(block.reduction.split) == [r.body.has(sp.exp) for r in block.reduction.reductions]

    def test_the_gradient_keeps_the_targets_apart_at_the_argmax(self, plan):
        block = next(b for b in plan("softmax_cross_entropy_forward_backward").finite if b.defaults == frozenset())
        targets = [n for n, r in enumerate(block.reduction.reductions) if not r.body.has(sp.exp, zs)]
        assert targets and all(block.reduction.split[n] for n in targets)

    def test_a_sum_of_exponentials_stays_split(self, plan):
        (block,) = plan("softmax_forward").finite
        assert block.reduction.split == (True,) and block.reduction.exponential_sum is not None


class TestLog1p:
    @pytest.mark.parametrize("function, takes", [
        ("softmax_forward", False), ("log_softmax_forward", True), ("logsumexp_forward", True), ("softmax_cross_entropy_with_integer_labels_forward", True),
        ("softmax_cross_entropy_with_integer_labels_forward_backward", True), ("softmax_cross_entropy_forward", True),
        ("softmax_cross_entropy_forward_backward", True),
    ])
    def test_log1p_of_the_exponential_sum_is_taken_where_a_formula_has_it(self, plan, function, takes):
        # softmax is exp(z_j − m)/(1 + Σ_{k≠a}): no log; the others' losses are log1p(Σ_{k≠a} …) − …
        assert plan(function).takes_log1p is takes


class TestStoresAndLengths:
    def test_pass_two_keeps_the_exponentials_in_the_gradient(self, plan):
        finite = plan("softmax_cross_entropy_with_integer_labels_forward_backward").finite
        assert {block.reduction.store for block in finite} == {"grad"}

    @pytest.mark.parametrize("function, streams", [
        # their per-class outputs are Σ coefficient · exp(z_j − m) (· w_j, y_ij): write_row writes them
        ("softmax_forward", True), ("softmax_cross_entropy_with_integer_labels_forward_backward", True), ("softmax_cross_entropy_forward_backward", True),
        # log-softmax's output reads z_j itself, not an array write_row is given
        ("log_softmax_forward", False),
        # no caller's buffer at all
        ("softmax_cross_entropy_with_integer_labels_forward", False), ("logsumexp_forward", False),
    ])
    def test_a_buffer_is_streamed_only_where_write_row_writes_it(self, plan, function, streams):
        assert ("streamed" in plan(function).lengths(in_place=False)) is streams
        assert "streamed" not in plan(function).lengths(in_place=True)

    def test_a_kernel_without_a_caller_buffer_has_no_streamed_length(self, plan, kernel):
        assert planner.buffers(kernel("softmax_cross_entropy_with_integer_labels_forward")) == ()
        assert plan("softmax_cross_entropy_with_integer_labels_forward").lengths(in_place=False) == ("short", "long")

    def test_a_kernel_without_exponentials_compiles_one_loop_and_its_twin_two(self, plan):
        assert plan("nll_loss_forward_backward").lengths(in_place=False) == ("into",)
        assert plan("nll_loss_forward_backward").lengths(in_place=True) == ("short", "long")
        assert plan("nll_loss_forward_backward").finite == ()


class TestLeavesAndNumbering:
    def test_leaves_come_in_the_order_of_the_nest(self):
        args = [planner.Arg(WEIGHT, "classes", default=sp.S.One), planner.Arg(SMOOTHING, "scalar", default=sp.S.Zero)]
        assert list(planner.leaves(args)) == [frozenset({WEIGHT, SMOOTHING}), frozenset({WEIGHT}),
                                              frozenset({SMOOTHING}), frozenset()]

    def test_intermediates_are_numbered_once_across_the_kernel(self, plan):
        names = []
        for block in plan("softmax_cross_entropy_with_integer_labels_forward_backward").finite + plan("softmax_cross_entropy_with_integer_labels_forward_backward").plain:
            names += [a.symbol.name for a in block.intermediates]
            for vector in block.vectors:
                for branch in vector.branches:
                    names += [o.symbol.name for o in branch.overrides] + [a.symbol.name for a in branch.affine or ()]
        assert len(names) == len(set(names)) and all(name.startswith("_tmp") for name in names)

    def test_an_affine_gradient_is_split_into_row_level_coefficients(self):
        value = sp.Symbol("c") * y[j] + sp.Symbol("d")
        assert planner.row_affine(value) == [(sp.Symbol("c"), y[j]), (sp.Symbol("d"), sp.S.One)]
        assert planner.row_affine(sp.log(y[j])) is None


class TestElementwise:
    def test_a_scaled_kernel_plans_each_specialisation_for_both_scales(self, kernel):
        plan = planner.plan_elementwise(kernel("sigmoid_binary_cross_entropy_forward_backward"))
        assert [b.defaults for b in plan.blocks] == [b.defaults for b in plan.scaled_once]
        assert len(plan.blocks) == 4 and {b.flag for b in plan.blocks} == {None}

    def test_a_flag_picks_one_of_two_variants(self, kernel):
        plan = planner.plan_elementwise(kernel("kl_divergence_forward"))
        assert [b.flag for b in plan.blocks] == [True, False] and plan.scaled_once == ()
