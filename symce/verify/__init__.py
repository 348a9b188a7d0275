"""Verify hand-written loss code (NumPy or PyTorch) against the specs: ``symce verify``.

``verify(fn, spec=...)`` returns a :class:`Report`; ``assert_verified`` is the pytest helper.
Torch is imported only when a torch function is traced.
"""
from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Callable, Mapping, TypedDict

from symce.spec import Spec
from symce.verify.report import Report
from symce.verify.verifier import VerifyError, verify

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11


class VerifyOptions(TypedDict, total=False):
    """The keyword arguments of :func:`verify` after ``fn`` and ``spec``."""

    bind: Mapping[str, str] | None
    reduction: str | None
    params: Mapping[str, object] | None
    wrt: str | None
    framework: str | None
    seed: int


def assert_verified(fn: Callable[..., object], spec: str | Spec, **options: Unpack[VerifyOptions]) -> Report:
    """Fail (AssertionError with the full report as message) unless ``fn`` is equivalent to ``spec``."""
    report = verify(fn, spec, **options)
    if report.verdict != "equivalent":
        raise AssertionError("\n" + report.text())
    return report


__all__ = ["Report", "VerifyError", "assert_verified", "verify"]


class _CallableModule(types.ModuleType):
    """``symce.verify(fn, spec=...)`` works although ``symce.verify`` is also this package."""

    __call__ = staticmethod(verify)


sys.modules[__name__].__class__ = _CallableModule
