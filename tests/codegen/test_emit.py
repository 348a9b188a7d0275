"""symce.codegen.emit, emit_rows, emit_elementwise: the generated text renders the plan.

These read the committed generated modules (``symce.generated``), which ``symce regen --check``
keeps equal to what the emitter renders now.
"""
from __future__ import annotations

import ast
import inspect
import re

import pytest

from symce.layout import CHUNK, LONG_ROWS, STREAMED_BYTES, STREAMED_ROW_BYTES
from symce.generated import cross_entropy, softmax


def _source(function) -> str:
    return inspect.getsource(function.py_func)


class TestRowKernels:
    def test_a_sum_used_only_whole_is_not_split_at_the_argmax(self):
        # the loss of probability targets uses Σ_k y_k whole; the gradient at the argmax needs
        # Σ_{k≠a} y_k apart; softmax keeps Σ_{k≠a} e_k apart, which float32 sums more precisely
        assert "first_index" not in _source(cross_entropy._softmax_cross_entropy_forward_rows)
        assert "first_index" in _source(cross_entropy._softmax_cross_entropy_forward_backward_rows)
        assert "_u0" in _source(softmax._softmax_forward_rows)

    @pytest.mark.parametrize("function", ["_softmax_cross_entropy_with_integer_labels_forward_backward_rows",
                                          "_softmax_cross_entropy_with_integer_labels_forward_backward_rows_in_place",
                                          "_softmax_cross_entropy_forward_backward_rows",
                                          "_softmax_cross_entropy_forward_backward_rows_in_place"])
    def test_per_class_loops_of_finite_rows_run_in_the_rows_dtype(self, function):
        """softmax − smoothed target, weighted or soft: each per-class loop of a finite row is affine
        in its reads with row-level coefficients, so none converts an entry to float64 (a float32 row
        would run at half the vector width); the rare non-finite rows keep the formula as written."""
        finite = _source(getattr(cross_entropy, function)).split("# nan, +inf")[0]
        lines = finite.splitlines()
        bodies = [lines[number + 1].strip() for number, line in enumerate(lines) if line.strip() == "for j in range(C):"]
        assert len(bodies) >= 4 and all(body.startswith("grad[i, j] = ") for body in bodies)
        assert not [body for body in bodies if "np.float64(" in body]


class TestReadableModules:
    """Each named intermediate says what it holds, and the layout constants are used by name."""

    @pytest.fixture(scope="class")
    def modules(self):
        from symce.codegen import kernels, modules

        return {family: modules.module_source(family, {}, [kernel for found in specs.values() for kernel in found])
                for family, specs in kernels.families().items()}

    def test_every_intermediate_is_commented(self, modules):
        for family, text in modules.items():
            named = [line.strip() for line in text.splitlines()
                     if re.match(r"\s+(_tmp\d+|_[rsu]\d+) = ", line)]
            assert named, family
            assert all(re.search(r" = .+  # \S", line) for line in named), family

    def test_the_reductions_say_what_they_sum(self, modules):
        assert "_r0 = sum_below_max_of_run(np.float64(_s0) + (np.float64(_u0) - 1), run, i - start)  " \
               "# Σ_{k≠a} exp(z_k − m)" in modules["softmax"]

    def test_constants_come_from_symce_layout_and_are_used_by_name(self, modules):
        for family, text in modules.items():
            imported = {alias.name for node in ast.parse(text).body if isinstance(node, ast.ImportFrom)
                        and node.module == "symce.layout" for alias in node.names}
            assert "CHUNK" in imported, family
            assert not [node for node in ast.parse(text).body if isinstance(node, ast.Assign)], family
            functions = [node for node in ast.parse(text).body if isinstance(node, ast.FunctionDef)]
            literals = {node.value for function in functions for node in ast.walk(function)
                        if isinstance(node, ast.Constant) and isinstance(node.value, int)}
            assert not literals & {CHUNK, CHUNK - 1, LONG_ROWS, STREAMED_BYTES, STREAMED_ROW_BYTES}, family
