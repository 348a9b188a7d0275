"""Shape normalisation: any array as contiguous (M, R) rows over some of its axes, and back.

The kernels see one layout only, one sample per row with the reduced axes (the classes) last.
torch's (N, C, d1, ..., dk) inputs, a softmax over any ``dim`` and a logsumexp over several
dims are all the same move: bring the row axes to the end, flatten the rest.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np


@dataclass(frozen=True)
class Rows:
    """How an array of ``shape`` maps to rows made of its ``axes`` (sorted, non-negative)."""

    shape: tuple[int, ...]
    axes: tuple[int, ...]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of one value per row: ``shape`` without ``axes``."""
        return tuple(size for axis, size in enumerate(self.shape) if axis not in self.axes)

    @property
    def row_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[axis] for axis in self.axes)

    @property
    def count(self) -> int:
        return prod(self.batch_shape)

    def _last(self) -> tuple[int, ...]:
        first = len(self.shape) - len(self.axes)
        return tuple(range(first, len(self.shape)))

    def to_rows(self, array: np.ndarray) -> np.ndarray:
        """(M, R): contiguous, so non-contiguous and transposed inputs reach the kernels as rows."""
        # rows already last (torch's (N, C) and (C,)) need no moveaxis, which costs 15 µs a call
        moved = array if self.axes == self._last() else np.moveaxis(array, self.axes, self._last())
        return np.ascontiguousarray(moved).reshape(self.count, prod(self.row_shape))

    def rows_view(self, array: np.ndarray) -> np.ndarray | None:
        """``array`` (of ``shape``) as (M, R) rows *without a copy*, or None where the layout needs one
        (row axes not last, or ``array`` not C-contiguous): a kernel can write into the view."""
        if self.axes != self._last() or not array.flags.c_contiguous:
            return None
        return array.reshape(self.count, prod(self.row_shape))

    def from_rows(self, rows: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_rows`, as a C-contiguous array of ``shape``."""
        moved = rows.reshape(self.batch_shape + self.row_shape)
        return np.asarray(np.moveaxis(moved, self._last(), self.axes), order="C")

    def per_row(self, values: np.ndarray, keepdim: bool = False) -> np.ndarray:
        """One value per row (M,) shaped as the batch, or with the row axes kept as size 1."""
        shaped = values.reshape(self.batch_shape)
        return np.expand_dims(shaped, self.axes) if keepdim else shaped


def class_rows(shape: tuple[int, ...]) -> Rows:
    """torch's loss layout: (C,) is one row, (N, C, d1, ..., dk) has its classes on axis 1."""
    return Rows(shape, (0,) if len(shape) == 1 else (1,))


def elements(shape: tuple[int, ...]) -> Rows:
    """Every element its own row of length 1: the layout of the elementwise (binary, KL) kernels."""
    return Rows(shape, ())


def flat(array: np.ndarray) -> np.ndarray:
    """An elementwise operand as the contiguous 1-D array the elementwise kernels take."""
    return np.ascontiguousarray(array).reshape(-1)
