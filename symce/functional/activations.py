"""softmax, log_softmax and logsumexp along any dim(s), as torch computes them, on NumPy arrays."""
from __future__ import annotations

import warnings

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from symce.functional import _validate
from symce.functional._kernels import ForwardKernels, bind
from symce.functional._layout import Rows
from symce.functional._types import FloatArray, FloatDType
from symce.generated import kernels


def _implicit_dim(name: str, ndim: int) -> int:
    """torch's legacy choice when ``dim`` is omitted (deprecated there, warned about here too)."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated (as in torch). "
                  "Change the call to include dim=X as an argument.", UserWarning, stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


def _rows_along(input: ArrayLike, dims: Sequence[int],
               dtype: DTypeLike | None = None) -> tuple[Rows, np.ndarray, FloatDType]:
    """The layout of ``input`` with ``dims`` as rows, its rows, and the result's dtype.

    A 0-d input is one row of one element, as torch treats it (dim -1 or 0): softmax 1, log_softmax
    0, logsumexp the value itself; the callers shape the result back with :func:`_shaped`.
    """
    input = _validate.plain_array(input, "input")
    input, out_dtype = _validate.floating(input if dtype is None else input.astype(dtype), "input")
    axes = tuple(sorted({_validate.dim(d, input.ndim) for d in dims}))
    if len(axes) != len(dims):
        raise ValueError(f"dim {tuple(dims)} names a dimension twice")
    layout = Rows(input.shape or (1,), axes)
    return layout, layout.to_rows(input), out_dtype


def _shaped(result: np.ndarray, input: ArrayLike, out_dtype: FloatDType) -> FloatArray:
    """A result computed on a 0-d input's one-element row, back as 0-d (other shapes pass through)."""
    result = result.reshape(()) if np.ndim(input) == 0 else result
    return result.astype(out_dtype, copy=False)


def _rowwise(name: str, values: ForwardKernels, input: ArrayLike, dim: int | None,
             dtype: DTypeLike | None) -> FloatArray:
    """``values``, the record of spec ``name`` in :mod:`symce.generated.kernels`, along ``dim``."""
    dim = _implicit_dim(name, np.ndim(input)) if dim is None else dim
    layout, rows, out_dtype = _rows_along(input, (dim,), dtype)
    return _shaped(layout.from_rows(bind(lambda: values.forward, rows)()), input, out_dtype)


def softmax(input: ArrayLike, dim: int | None = None, dtype: DTypeLike | None = None) -> FloatArray:
    r"""softmax(z)_k = exp(z_k - m) / Σ_j exp(z_j - m), m = max_j z_j, along ``dim`` (spec ``softmax``)."""
    return _rowwise("softmax", kernels.softmax, input, dim, dtype)


def log_softmax(input: ArrayLike, dim: int | None = None, dtype: DTypeLike | None = None) -> FloatArray:
    r"""log softmax(z)_k = z_k - logsumexp(z) along ``dim`` (spec ``log_softmax``)."""
    return _rowwise("log_softmax", kernels.log_softmax, input, dim, dtype)


def logsumexp(input: ArrayLike, dim: int | tuple[int, ...] | list[int], keepdim: bool = False) -> FloatArray:
    r"""log Σ exp(z) over ``dim`` (an int or a tuple of ints), max-shifted (spec ``logsumexp``).

    As ``torch.logsumexp``: the reduced dims are removed, or kept with size 1 when ``keepdim``.
    """
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if not dims:
        raise ValueError("logsumexp needs at least one dim to reduce over, got dim=()")
    layout, rows, out_dtype = _rows_along(input, dims)
    return _shaped(layout.per_row(bind(lambda: kernels.logsumexp.forward, rows)(), keepdim), input, out_dtype)
