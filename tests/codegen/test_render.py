"""symce.codegen.render: the pieces of every kernel's text."""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from symce.codegen.planner import Arg
from symce.codegen.program import argmax
from symce.codegen.render import formula, python_condition
from symce.codegen.rewrites import zs
from symce.spec.symbols import k, t, w


class TestPythonCondition:
    def test_first_indices_are_asked_for_exactly_where_the_arguments_pick_rows_that_read_them(self):
        """render.python_condition: for every choice of which arguments are at their defaults, the
        test it writes holds exactly when that choice is one of the given leaves (the rows reading
        the pinned argmax, for run_exponentials' ``with_firsts``), and it is simplified."""
        args = [Arg("weight", "classes", default=sp.S.One), Arg("label_smoothing", "scalar", default=sp.S.Zero)]
        names = [a.name for a in args]
        leaves = [frozenset(chosen) for size in range(3) for chosen in itertools.combinations(names, size)]
        for count in range(len(leaves) + 1):
            for picked in itertools.combinations(leaves, count):
                condition = python_condition(args, picked)
                for weight, smoothing in itertools.product((None, np.ones(3)), (0.0, 0.1)):
                    at_default = frozenset(name for name, default in zip(names, (weight is None, smoothing == 0.0))
                                           if default)
                    held = eval(condition, {}, {"weight": weight, "label_smoothing": smoothing})  # noqa: S307
                    assert held == (at_default in picked), (condition, picked, weight, smoothing)
        smoothed = [leaf for leaf in leaves if "label_smoothing" not in leaf]
        assert python_condition(args, smoothed) == "not (label_smoothing == 0.0)"
        assert python_condition(args, leaves) == "True" and python_condition(args, []) == "False"


class TestComments:
    def test_a_formula_reads_as_maths(self):
        # a shifted logit is z_k − m, a read is w_t, the argmax a
        assert formula(sp.exp(zs[k])) == "exp(z_k − m)"
        assert formula(w[argmax] + w[t]) == "w_a + w_t"
        assert formula(zs[t]) == "(z_t − m)"
