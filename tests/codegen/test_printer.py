"""symce.codegen.printer: the numba printer of scalar SymPy expressions."""
from __future__ import annotations

import pytest
import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce.codegen.printer import KernelPrinter, UnsupportedNode
from symce.spec.symbols import j, k, t, z


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
                                      sp.Function("f")(k), sp.Integral(z[k], k)])
    def test_unsupported_nodes_fail_loudly(self, node):
        with pytest.raises(UnsupportedNode, match="the kernel printer cannot print"):
            KernelPrinter(arrays={z: "x[{}]"}).doprint(node)

    def test_unbound_array_is_refused(self):
        with pytest.raises(UnsupportedNode, match="no array is bound"):
            KernelPrinter().doprint(z[k])
