"""symce's annotations: ``mypy --strict`` passes on the typed public API, and the PEP 561 marker ships.

``python -m mypy`` with no arguments, from the repository root, reads pyproject's ``[tool.mypy]``: the
files it checks (symce.functional, symce.torch, symce.verify's and symce.compile's entry points), strict
mode, and the third-party packages without types. Its cache (``.mypy_cache/``) makes a second run fast;
a cold run takes about 30 s.
"""
import subprocess
import sys
from pathlib import Path

import symce

ROOT = Path(__file__).resolve().parents[1]
#: seconds a cold mypy run may take on a slow, shared CI machine
MYPY_TIMEOUT = 600


def test_mypy_strict_passes():
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True,
                          timeout=MYPY_TIMEOUT)
    assert done.returncode == 0, f"mypy exited with {done.returncode}:\n{done.stdout}{done.stderr}"


def test_the_package_is_marked_typed():
    # the wheel ships it through [tool.setuptools] package-data (tests/test_installed.py checks the install)
    assert (Path(symce.__file__).parent / "py.typed").is_file()
