"""Running an example file shows the verdicts its docstrings state (examples/losses_*.py)."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stated_verdict(example) -> str:
    """The verdict an example's docstring states ("Verdict: unstable.", "Verdict with --wrt logits: ...")."""
    return re.search(r"Verdict[^:]*:\s*(\w+)", " ".join(example.__doc__.split())).group(1)


@pytest.mark.parametrize("file", ["losses_numpy", "losses_torch"])
def test_every_example_has_a_check(file):
    module = _load(file)
    examples = {name for name, value in vars(module).items() if callable(value) and not name.startswith("_")
                and getattr(value, "__module__", None) == file}
    assert examples == set(module.CHECKS)


@pytest.mark.parametrize("file, names", [("losses_numpy", ["bce_with_logits", "cross_entropy_eps_in_log"]),
                                         ("losses_torch", ["LabelSmoothingLoss", "cross_entropy_naive_softmax"])])
def test_running_an_example_file_prints_the_verdicts_its_docstrings_state(file, names):
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{file}.py"), *names], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    module = _load(file)
    assert done.stdout.splitlines() == [f"{name}: {_stated_verdict(getattr(module, name))}" for name in names]
