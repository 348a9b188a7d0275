"""Reductions as per-row scales: how one fused kernel serves every reduction and grad_output.

A kernel returns one loss per row, ``loss_i``, and with a row scale ``s_i`` the gradient rows
``s_i · ∂loss_i/∂input_i``. A reduction is a divisor ``D`` (1 for 'sum', torch's denominator for
'mean', the batch size for 'batchmean'): the value is ``Σ_i loss_i / D`` and its gradient under
an upstream ``grad_output`` g is ``s_i = g / D``, and the kernel's ``_sum`` variant hands back
Σ_i loss_i in parts (one per task of rows or chunk of elements) instead of each loss_i. With
``reduction='none'`` the value is the rows themselves and ``s_i = g_i``. Ignored rows
(``keep = 0``) get ``s_i = 0``, which is what torch's backward gives them even where ``D = 0``
(an all-ignored batch: value nan, gradient 0).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from symce.functional import _validate
from symce.functional._types import Divisor, FloatArray, FloatDType, Labels, Loss

Forward = Callable[[], np.ndarray]
#: (row scales, optional gradient rows to write into) → (losses, gradient rows)
ForwardBackward = Callable[..., "tuple[np.ndarray, np.ndarray]"]
Kernel = TypeVar("Kernel", Forward, ForwardBackward)


@dataclass(frozen=True)
class RowLoss:
    """One loss call, validated and laid out as rows, ready for its kernels.

    ``forward()`` gives the per-row losses (M,); ``forward_backward(scale)`` the losses and the
    gradient rows; ``divisors`` maps each reduction other than 'none' to its ``D``;
    ``loss_shape`` is the shape of the 'none' result; ``to_input`` lays gradient rows out as the
    input and ``rows_view`` views an input-shaped array as gradient rows (None: it needs a copy).
    """

    forward: Forward
    forward_backward: ForwardBackward
    loss_shape: tuple[int, ...]
    divisors: dict[str, Divisor]
    to_input: Callable[[np.ndarray], np.ndarray]
    rows_view: Callable[[np.ndarray], "np.ndarray | None"]
    input_shape: tuple[int, ...]
    dtype: FloatDType
    out_dtype: FloatDType
    warnings: dict[str, str] = field(default_factory=dict)
    #: kernels returning the loss summed per task of rows or chunk of elements: what 'mean' and
    #: 'sum' need, without a loss array as long as the batch (or as large as the input)
    forward_sum: Forward | None = None
    forward_backward_sum: ForwardBackward | None = None

    def _reduction(self, reduction: str) -> str:
        _validate.reduction(reduction, ("none", *self.divisors))
        if reduction in self.warnings:
            warnings.warn(self.warnings[reduction], UserWarning, stacklevel=4)
        return reduction

    def _reduce(self, rows: np.ndarray, reduction: str) -> Loss:
        if reduction == "none":
            return rows.reshape(self.loss_shape).astype(self.out_dtype, copy=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = rows.sum(dtype=self.dtype) / self.dtype.type(self.divisors[reduction])
        return self.out_dtype.type(value)

    def _scale(self, reduction: str, grad_output: ArrayLike | None) -> FloatArray:
        """The row scales s (M,) for ``grad_output`` (default: ones of the loss's shape), or one
        scale for every row (1,) where the reduction scales them alike; the kernels take either.
        Ignored rows need none: the kernels give them loss and gradient 0 whatever their scale."""
        count = math.prod(self.loss_shape)
        shape = self.loss_shape if reduction == "none" else ()
        if grad_output is None:
            grad_output = np.ones(shape, self.dtype)
        grad_output = _validate.as_dtype(grad_output, self.dtype, "grad_output")
        if reduction == "none":
            scale = _validate.broadcast_to(grad_output, shape, "grad_output").reshape(count)
        else:
            if grad_output.size != 1:
                raise ValueError(f"grad_output of reduction={reduction!r} must be a scalar, "
                                 f"got shape {grad_output.shape}")
            with np.errstate(divide="ignore", invalid="ignore"):
                step = grad_output.reshape(()) / self.dtype.type(self.divisors[reduction])
            scale = np.full(1, step, self.dtype)
        return np.ascontiguousarray(scale, self.dtype)

    @staticmethod
    def _kernel(reduction: str, per_row: Kernel, summed: Kernel | None) -> Kernel:
        """The per-chunk sums where the kernels have them and a total is wanted, else the per-row kernel."""
        return summed if summed is not None and reduction != "none" else per_row

    def value(self, reduction: str) -> Loss:
        """The loss under ``reduction``, as torch returns it (an array for 'none', a scalar otherwise)."""
        reduction = self._reduction(reduction)
        return self._reduce(self._kernel(reduction, self.forward, self.forward_sum)(), reduction)

    def value_and_grad(self, reduction: str, grad_output: ArrayLike | None = None,
                       out: np.ndarray | None = None) -> tuple[Loss, FloatArray]:
        """(loss, grad_output · d loss / d input) from one fused forward+backward kernel call.

        With ``out`` the gradient is written there and ``out`` is returned: directly by the kernel
        when ``out`` can be viewed as its rows (C-contiguous, classes last, the computation's dtype),
        else copied in. ``out`` may be the input itself.
        """
        reduction = self._reduction(reduction)
        out = _validate.gradient_buffer(out, self.input_shape, self.out_dtype)
        scale = self._scale(reduction, grad_output)
        if out is None and self.out_dtype == self.dtype:
            # NumPy asks Linux for huge pages on large arrays (madvise); a buffer that numba
            # allocates is faulted in 4 KiB at a time, which made a fresh 1 GiB gradient 2-4x slower.
            fresh = np.empty(self.input_shape, self.dtype)
            out = fresh if self.rows_view(fresh) is not None else None
        target = self.rows_view(out) if out is not None and out.dtype == self.dtype else None
        kernel = self._kernel(reduction, self.forward_backward, self.forward_backward_sum)
        rows, grad = kernel(scale, out=target)
        if out is None:
            return self._reduce(rows, reduction), self.to_input(grad).astype(self.out_dtype, copy=False)
        if target is None:
            np.copyto(out, self.to_input(grad), casting="same_kind")
        return self._reduce(rows, reduction), out


#: labels gathered at a time for the weights' sum in :func:`mean_denominator`: a bounded scratch
#: rather than a gathered copy as long as the batch (the peak memory the benchmark reports)
GATHERED = 16384


def mean_denominator(labels: Labels, ignore: int, weight: FloatArray | None, dtype: FloatDType) -> Divisor:
    """Σ_i keep_i · w[t_i] (``Spec.mean_weight``): the number of rows kept, or their weights' sum.

    The weights are gathered with ``take`` into one scratch of ``GATHERED`` values, from the
    labels themselves where none is ignored: a boolean-indexed copy of the labels and a
    fancy-indexed gather made this 0.1-0.15 ms of a 1.5 ms call at 65536 × 10 (0.29 ms with a
    tenth of the labels ignored, 0.11 ms gathered this way).
    """
    kept = labels != ignore
    count = np.count_nonzero(kept)
    if weight is None:
        return count
    gathered = np.empty(min(labels.size, GATHERED), weight.dtype)
    total = np.dtype(dtype).type(0)
    for start in range(0, labels.size, GATHERED):
        part = labels[start:start + GATHERED]
        if count < labels.size:
            part = part[kept[start:start + GATHERED]]
        # the kept labels are class indices (validated): mode 'clip' never clips them, and 'raise'
        # would gather into a copy of ``out``, not into ``out``
        total += weight.take(part, out=gathered[:part.size], mode="clip").sum(dtype=dtype)
    return total
