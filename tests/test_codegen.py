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
        assert "first_index" not in source(cross_entropy._probability_labels_forward_rows)
        assert "first_index" in source(cross_entropy._probability_labels_forward_backward_rows)
        assert "_u0" in source(softmax._softmax_rows)

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

    @pytest.mark.parametrize("function", ["_integer_labels_forward_backward_rows",
                                          "_integer_labels_forward_backward_rows_in_place",
                                          "_probability_labels_forward_backward_rows",
                                          "_probability_labels_forward_backward_rows_in_place"])
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


class TestGeneratedFolder:
    def test_committed_tree_is_fresh(self):
        result = subprocess.run([sys.executable, "-m", "symce.cli", "regen", "--check"], capture_output=True,
                                text=True, cwd=ROOT)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_regeneration_is_deterministic(self):
        assert regen.render() == regen.render()

    def test_edited_missing_and_orphaned_files_are_detected(self, tmp_path):
        copy = tmp_path / "generated"
        shutil.copytree(ROOT / "generated", copy, ignore=shutil.ignore_patterns("__pycache__"))
        files = regen.render()
        assert regen.stale(copy, files) == []
        edited = copy / "cross_entropy.py"
        original = edited.read_text()
        edited.write_text(original.replace("fast_exp(", "math.exp(", 1))
        assert edited.read_text() != original
        (copy / "softmax.py").unlink()
        (copy / "leftover.py").write_text("x = 1\n")
        problems = regen.stale(copy, files)
        assert any("stale" in p and "cross_entropy.py" in p for p in problems)
        assert any("missing" in p and "softmax.py" in p for p in problems)
        assert any("orphaned" in p and "leftover.py" in p for p in problems)
        result = subprocess.run([sys.executable, "-m", "symce.cli", "regen", "--check", "--out", str(copy)],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 1 and "cross_entropy.py" in result.stdout

    def test_write_makes_the_folder_fresh(self, tmp_path):
        out = tmp_path / "gen"
        regen.write(out)
        assert regen.stale(out) == []

    def test_a_rewritten_module_loses_its_numba_cache(self, tmp_path):
        out = tmp_path / "gen"
        regen.write(out)
        cache = out / "__pycache__"
        cache.mkdir()
        stale_entries = [cache / "softmax.softmax-12.py311.nbi", cache / "softmax.softmax-12.py311.1.nbc"]
        kept = cache / "nll.nll_forward-9.py311.nbi"
        for path in stale_entries:
            path.write_bytes(b"old machine code")
        # a readable index of an unchanged module: numba's version, then its (source stamp, overloads)
        kept.write_bytes(pickle.dumps(version("numba")) + pickle.dumps(((0.0, 0), {})))
        (out / "softmax.py").write_text("# edited\n")
        assert regen.write(out) == ["softmax.py"]
        assert not any(path.exists() for path in stale_entries) and kept.exists()

    def test_header_names_the_spec_and_its_hash(self):
        text = (ROOT / "generated" / "cross_entropy.py").read_text()
        assert text.startswith("# Generated by `symce regen`") and "DO NOT EDIT" in text
        assert "softmax_cross_entropy_with_integer_labels: " in text

    def test_every_package_ships(self):
        config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
        packages = set(config["packages"])
        on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "symce").rglob("__init__.py")}
        assert on_disk <= packages, f"add to pyproject packages: {sorted(on_disk - packages)}"
        assert config["package-dir"]["symce.generated"] == "generated"


def test_generated_kernels_import_as_symce_generated():
    from symce.generated import cross_entropy

    loss = cross_entropy.integer_labels_forward(np.array([[40.0, 0.0, 0.0]]), np.array([0]), np.ones(3), 0.0, -100)
    assert loss[0] == pytest.approx(2 * np.exp(-40.0), rel=1e-14)
