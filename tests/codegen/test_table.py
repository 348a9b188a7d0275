"""symce.codegen.table: symce.generated.kernels holds every generated kernel under its spec's name,
and reading it (or importing symce.functional) imports no family module until a kernel runs."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _public_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}


def test_the_table_holds_every_public_kernel_under_its_spec_name():
    """Read from the generated text itself, not from the table's renderer: each public function of a
    family module is one field of the record of the spec whose name begins it, and nothing else is."""
    from symce.generated import kernels
    from symce.spec import SPECS

    specs = sorted(SPECS, key=len, reverse=True)  # the longest name that begins a function is its spec
    expected = {}
    for module in sorted(ROOT.glob("generated/*.py")):
        if module.stem in ("__init__", "kernels", "runtime"):
            continue
        for function in _public_functions(module):
            spec = next(name for name in specs if function.startswith(f"{name}_"))
            expected.setdefault(spec, {})[function.removeprefix(f"{spec}_")] = (module.stem, function)
    records = {name: value for name, value in vars(kernels).items() if type(value).__module__ == kernels.__name__}
    assert sorted(records) == sorted(expected)
    for spec, fields in expected.items():
        record_fields = {name for name, value in vars(type(records[spec])).items() if isinstance(value, property)}
        assert record_fields == set(fields), spec
        for field, (module, function) in fields.items():
            kernel = getattr(records[spec], field)
            assert (kernel.__module__, kernel.__name__) == (f"symce.generated.{module}", function)


def test_importing_functional_or_the_table_imports_no_kernel_module():
    code = ("import sys, symce.functional, symce.generated.kernels; "
            "print(sorted(m for m in sys.modules if m.startswith(('numba', 'symce.generated.'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "['symce.generated.kernels']"


def test_a_missing_family_module_is_a_clear_import_error():
    code = ("import sys, numpy as np, symce.functional as F; "
            "sys.modules['symce.generated.nll'] = None; "  # what importing a deleted module meets
            "F.nll_loss(np.zeros((2, 3)), np.array([0, 1]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert "ImportError: the symce.generated kernels are not generated or out of date" in result.stderr
    assert "run `symce regen`" in result.stderr
