"""From specs to numba kernels: stability rewrites, a kernel printer, row programs, kernel plans, generated modules.

The built-in kernels are written into ``generated/`` (the package ``symce.generated``) by
``symce regen``. A user's own loss goes through the same machinery with :func:`symce.compile`,
which adds the built-in losses' boundary (label checks, ``ignore_index``, weights, reductions,
torch); :func:`generate_kernel` is its kernel step alone.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

from symce.spec import Spec


def generate_kernel(spec: Spec, out: str | Path | None = None) -> ModuleType:
    """The module of ``spec``'s kernels, ``<name>_forward`` and ``<name>_forward_backward`` (and their
    ``_sum`` and ``_in_place`` variants), from the persistent kernel cache (:mod:`symce.compile.cache`;
    ``out``: the cache folder instead of the default), generated there first if need be.

    Arguments of a kernel are the spec's inputs then its parameters, in order (a per-class
    parameter is a (C,) array or None, a scalar parameter a number; a ``keep`` parameter becomes
    ``ignore_index``); the fused kernel takes one more, the gradient's per-row scale. The kernels
    check nothing: labels must be in range. :func:`symce.compile` checks them and adds ``keep``.
    """
    from symce.compile import cache

    return cache.load(spec, None if out is None else Path(out))[0]


__all__ = ["generate_kernel"]
