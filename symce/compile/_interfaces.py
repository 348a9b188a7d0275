"""What symce.compile uses of the code generator and of symce.functional, named in one place.

The code generator and the functional layer are being redesigned (issue #25); what this package
needs from them is imported here and nowhere else in it, so that a rename touches this file only.
Beyond these: ``symce.spec`` (Spec, Param, KEEP), ``symce.derivations`` (``generic_gradient``,
``gradient_closed_form``, ``render``), ``symce.verify`` (its tracer, ``compare.trace``, in
``trace.py``; its ``path.py:NAME`` loader, in ``targets.py``) and ``symce.torch``'s boundary checks,
``setup_context`` and chain rule (in ``torch.py``).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from types import ModuleType
from typing import Any

from numpy.typing import ArrayLike

import symce
from symce.functional._reduce import RowLoss
from symce.functional.losses import _integer_label_rows, _logit_elementwise_rows, _probability_label_rows
from symce.threading_layer import prefer_tbb  # noqa: F401


# The code generator is imported only to generate: a process that finds its kernels in the cache
# never imports it (0.14 s). Its version is in symce/codegen/modules.py, whose text every cache
# key hashes (generator_sources).
def module_source(*args, **kwargs) -> str:
    from symce.codegen.modules import module_source

    return module_source(*args, **kwargs)


def loss_kernels(*args, **kwargs):
    from symce.codegen.kernels import loss_kernels

    return loss_kernels(*args, **kwargs)


def write_if_changed(*args, **kwargs) -> bool:
    from symce.codegen.regen import write_if_changed

    return write_if_changed(*args, **kwargs)

#: the package of the built-in kernels, whose fitted coefficients the runtime reads
GENERATED_PACKAGE = "symce.generated"
#: the prefix of a user module's import name, ``symce_compiled_<spec name>_<key>``: a top-level name,
#: the same in every process, which is what numba's cache records
MODULE_PREFIX = "symce_compiled"


def generator_sources() -> list[Path]:
    """The files whose text decides what the generator prints and what the kernels run: the codegen
    package, the runtime package the kernels import, the layout constants and the fitted coefficients. Their
    digest is part of every cache key, so an edited generator or runtime, or refitted coefficients,
    never meet kernels built with the old ones."""
    import importlib.util

    root = Path(symce.__file__).resolve().parent
    files = sorted((root / "codegen").glob("*.py")) + sorted((root / "runtime").glob("*.py"))
    files += [root / "layout.py"] if (root / "layout.py").exists() else []
    coefficients = importlib.util.find_spec(f"{GENERATED_PACKAGE}.coefficients")
    if coefficients is not None and coefficients.origin:
        files.append(Path(coefficients.origin))
    return files


@contextlib.contextmanager
def recording_rewrites():
    """A list that fills, while the block runs, with the name of every stability rewrite
    (:class:`symce.codegen.rewrites.Rewrite`) that changes the expression it is applied to."""
    from symce.codegen.rewrites import Rewrite

    applied: list[str] = []
    original = Rewrite.__call__

    def recording(self, expr):
        result = original(self, expr)
        if result != expr and self.name not in applied:
            applied.append(self.name)
        return result

    Rewrite.__call__ = recording
    try:
        yield applied
    finally:
        Rewrite.__call__ = original


def derived_spec(like, **changes):
    """``like`` with ``changes`` (a new name, expression, parameters, ...); its formula is rendered
    from the new expression."""
    import dataclasses

    return dataclasses.replace(like, **changes)


class KernelRecord:
    """A generated module's kernels of one spec as ``symce.generated.kernels`` holds the built-in
    ones: ``record.<role>`` is the function ``<name>_<role>`` (forward, forward_backward, their
    ``_sum`` variants and ``_in_place`` twins)."""

    def __init__(self, module: ModuleType, name: str) -> None:
        self._module, self._name = module, name

    def __getattr__(self, role: str) -> Any:  # a numba dispatcher
        return getattr(self._module, f"{self._name}_{role}")


def integer_label_rows(module: ModuleType, name: str, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None,
                       ignore_index: int, *options: float, weighted: bool) -> RowLoss:
    """symce.functional's integer-label loss (validation, rows, 'mean' denominator, reductions) over the
    kernels ``<name>_forward`` and ``<name>_forward_backward`` of the generated ``module``."""
    return _integer_label_rows(KernelRecord(module, name), name, input, target, weight, ignore_index, *options,
                               weighted=weighted)


def probability_label_rows(module: ModuleType, name: str, input: ArrayLike, target: ArrayLike,
                           weight: ArrayLike | None, ignore_index: int, *options: float, weighted: bool) -> RowLoss:
    """symce.functional's cross-entropy on probability targets ('mean' over the samples), over ``module``'s
    kernels of ``name``."""
    return _probability_label_rows(KernelRecord(module, name), name, input, target, weight, ignore_index,
                                   *options, weighted=weighted)


def logit_elementwise_rows(module: ModuleType, name: str, input: ArrayLike, target: ArrayLike,
                           arrays: dict[str, ArrayLike | None], options: tuple[float, ...]) -> RowLoss:
    """symce.functional's binary_cross_entropy_with_logits boundary (weight and pos_weight broadcast,
    'mean' over the elements), over ``module``'s kernels of ``name``."""
    return _logit_elementwise_rows(KernelRecord(module, name), input, target, arrays, options)
