"""symce.codegen: the printer, the row programs, the generated files and their freshness."""
from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce.codegen import regen
from symce.codegen.printer import KernelPrinter, UnsupportedNode
from symce.codegen.program import argmax, row_program
from symce.spec import get
from symce.spec.symbols import j, k, t, z

ROOT = Path(__file__).resolve().parents[1]


class TestPrinter:
    def test_math_functions_and_constants(self):
        x = sp.Symbol("x", real=True)
        printer = KernelPrinter({x: "v"})
        # an argument SymPy proves ≤ 0 gets the exp without the overflow clamp
        assert printer.doprint(log1p(sp.exp(-sp.Abs(x)))) == "fast_log1p(fast_exp_nonpositive(-abs(v)))"
        assert printer.doprint(sp.exp(x)) == "fast_exp(v)"
        assert printer.doprint(sp.Rational(1, 3) * x) == "(1.0/3.0)*v"
        assert printer.doprint(sp.Max(x, 0)) == "max(0.0, v)"

    def test_indexed_reads_through_its_binding(self):
        printer = KernelPrinter(arrays={z: "np.float64(logits[i, {}])"})
        assert printer.doprint(sp.exp(z[j])) == "fast_exp(np.float64(logits[i, j]))"

    def test_fixed_elements_and_exponentials_replace_the_array_read(self):
        printer = KernelPrinter(arrays={z: "np.float64(logits[i, {}])"}).with_elements(
            fixed={z[t]: "_zt"}, exponentials={z[j]: "grad[i, j]"})
        assert printer.doprint(z[t] + sp.exp(z[j]) + sp.exp(z[t])) == "grad[i, j] + fast_exp(_zt) + _zt"

    @pytest.mark.parametrize("node", [sp.Sum(z[k], (k, 0, 3)), sp.Derivative(sp.Function("f")(k), k),
                                      sp.Function("f")(k)])
    def test_unsupported_nodes_fail_loudly(self, node):
        with pytest.raises((UnsupportedNode, Exception)) as error:
            KernelPrinter(arrays={z: "x[{}]"}).doprint(node)
        assert "cannot print" in str(error.value) or "not supported" in str(error.value).lower()

    def test_unbound_array_is_refused(self):
        with pytest.raises(UnsupportedNode, match="no array is bound"):
            KernelPrinter().doprint(z[k])


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


    def test_a_sum_used_only_whole_is_not_split_at_the_argmax(self):
        import inspect

        from symce.generated import cross_entropy, softmax

        def source(function):
            return inspect.getsource(function.py_func)
        # the loss of probability targets uses Σ_k y_k whole; the gradient at the argmax needs
        # Σ_{k≠a} y_k apart; softmax keeps Σ_{k≠a} e_k apart, which float32 sums more precisely
        assert "first_index" not in source(cross_entropy._softmax_cross_entropy_forward_rows)
        assert "first_index" in source(cross_entropy._softmax_cross_entropy_forward_backward_rows)
        assert "_u0" in source(softmax._softmax_forward_rows)

    def test_first_indices_are_asked_for_exactly_where_the_arguments_pick_rows_that_read_them(self):
        """emit._python_condition: for every choice of which arguments are at their defaults, the
        test it writes holds exactly when that choice is one of the given leaves (the rows reading
        the pinned argmax, for run_exponentials' ``with_firsts``), and it is simplified."""
        import itertools

        from symce.codegen.emit import Arg, _python_condition

        args = [Arg("weight", "classes", default=sp.S.One), Arg("label_smoothing", "scalar", default=sp.S.Zero)]
        names = [a.name for a in args]
        leaves = [frozenset(chosen) for size in range(3) for chosen in itertools.combinations(names, size)]
        for count in range(len(leaves) + 1):
            for picked in itertools.combinations(leaves, count):
                condition = _python_condition(args, picked)
                for weight, smoothing in itertools.product((None, np.ones(3)), (0.0, 0.1)):
                    at_default = frozenset(name for name, default in zip(names, (weight is None, smoothing == 0.0))
                                           if default)
                    held = eval(condition, {}, {"weight": weight, "label_smoothing": smoothing})  # noqa: S307
                    assert held == (at_default in picked), (condition, picked, weight, smoothing)
        smoothed = [leaf for leaf in leaves if "label_smoothing" not in leaf]
        assert _python_condition(args, smoothed) == "not (label_smoothing == 0.0)"
        assert _python_condition(args, leaves) == "True" and _python_condition(args, []) == "False"

    @pytest.mark.parametrize("function", ["_softmax_cross_entropy_with_integer_labels_forward_backward_rows",
                                          "_softmax_cross_entropy_with_integer_labels_forward_backward_rows_in_place",
                                          "_softmax_cross_entropy_forward_backward_rows",
                                          "_softmax_cross_entropy_forward_backward_rows_in_place"])
    def test_per_class_loops_of_finite_rows_run_in_the_rows_dtype(self, function):
        """softmax − smoothed target, weighted or soft: each per-class loop of a finite row is affine
        in its reads with row-level coefficients, so none converts an entry to float64 (a float32 row
        would run at half the vector width); the rare non-finite rows keep the formula as written."""
        import inspect

        from symce.generated import cross_entropy

        finite = inspect.getsource(getattr(cross_entropy, function).py_func).split("# nan, +inf")[0]
        lines = finite.splitlines()
        bodies = [lines[number + 1].strip() for number, line in enumerate(lines) if line.strip() == "for j in range(C):"]
        assert len(bodies) >= 4 and all(body.startswith("grad[i, j] = ") for body in bodies)
        assert not [body for body in bodies if "np.float64(" in body]
