"""Verify hand-written loss code (NumPy or PyTorch) against the specs: ``symce verify``.

``verify(fn, spec=...)`` returns a :class:`Report`; ``assert_verified`` is the pytest helper.
Torch is imported only when a torch function is traced.
"""
import sys
import types

from symce.verify.report import Report
from symce.verify.verifier import VerifyError, verify


def assert_verified(fn, spec, **options) -> Report:
    """Fail (AssertionError with the full report as message) unless ``fn`` is equivalent to ``spec``."""
    report = verify(fn, spec, **options)
    if report.verdict != "equivalent":
        raise AssertionError("\n" + report.text())
    return report


__all__ = ["Report", "VerifyError", "assert_verified", "verify"]


class _CallableModule(types.ModuleType):
    """``symce.verify(fn, spec=...)`` works although ``symce.verify`` is also this package."""

    def __call__(self, *args, **kwargs) -> Report:
        return verify(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
