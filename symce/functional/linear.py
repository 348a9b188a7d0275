r"""A linear layer followed by cross-entropy, without ever holding the (N, V) logits.

``linear_cross_entropy(input, linear_weight, target, ...)`` is
``cross_entropy(input @ linear_weight.T + linear_bias, target, ...)`` — torch's
``torch.nn.functional.linear_cross_entropy``, same arguments — for hidden states h (N, H), the
weight W (V, H) of an ``nn.Linear(H, V)`` and class indices t (N,). The logits z = h Wᵀ + b are
N·V numbers (1 GiB in float32 for 8192 tokens and a 32k vocabulary), but row i of the loss and
of G = ∂L/∂z depends on row i of z alone, and the gradients are sums over rows:

.. math::
    \frac{\partial L}{\partial h} = G\,W, \qquad
    \frac{\partial L}{\partial W} = \sum_c G_c^\top h_c, \qquad
    \frac{\partial L}{\partial b} = \sum_i G_i .

So the rows go through in chunks c of a few hundred: z_c = h_c Wᵀ + b is written into one
reused (chunk, V) buffer, the fused cross-entropy kernel writes G_c into a second one
(``cross_entropy_value_and_grad(..., out=)``), and G_c is multiplied into the three gradients,
the logits buffer, free by then, serving as scratch for the matrix products. Peak extra memory
is the two chunk buffers and the gradients themselves; never N·V. (Writing G_c over z_c, with
``out=z_c``, would save the second buffer, the products then needing only an H×chunk scratch.)

Reductions: each chunk runs with reduction='none' and an explicit per-row scale (``grad_output``),
so 'mean' divides by torch's denominator Σ_i keep_i·w[t_i] computed over the **whole** batch
before the first chunk (a chunk's own 'mean' would be wrong), and ignored rows get scale 0 (an
all-ignored batch: loss nan, gradients 0, as in torch).

References: torch.nn.functional.linear_cross_entropy (torch ≥ 2.13, whose chunked path does the
same with ``options=LinearCrossEntropyOptions()``); Wijmans et al., "Cut Your Losses in
Large-Vocabulary Language Models", arXiv:2411.09009 (2024); Hsu et al., "Liger Kernel: Efficient
Triton Kernels for LLM Training", arXiv:2410.10989 (2024), fused linear cross-entropy.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Iterator, TypedDict

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from symce.functional import _validate
from symce.functional._reduce import mean_denominator
from symce.functional._types import FloatArray, FloatDType, Labels, Loss, Reduction
from symce.functional.losses import cross_entropy, cross_entropy_value_and_grad

#: bytes of logits per chunk when ``chunk_size`` is None (two such buffers are alive). The three
#: matrix products are > 90% of the time and run faster the more rows they get: at N=2048,
#: H=1024, V=32000 float32 on 2 cores, chunks of 128 / 256 / 512 rows (16 / 32 / 64 MiB) took
#: 8.5 / 6.4 / 5.4 s; each switch between numba's and OpenBLAS's threads also costs a few ms
#: (see linear_cross_entropy_value_and_grad). 64 MiB is 512 rows there, 1/16 of the logits at N=8192.
CHUNK_BYTES = 64 << 20
#: no fewer rows per chunk than this (a 128k+ vocabulary): thinner matrix products lose speed
MIN_CHUNK_ROWS = 64

__all__ = ["linear_cross_entropy", "linear_cross_entropy_value_and_grad", "default_chunk_size"]


def default_chunk_size(classes: int, dtype: DTypeLike) -> int:
    """Rows per chunk when none is given: CHUNK_BYTES of logits, at least MIN_CHUNK_ROWS rows."""
    row_bytes = max(classes, 1) * np.dtype(dtype).itemsize
    return max(MIN_CHUNK_ROWS, CHUNK_BYTES // row_bytes)


# --- checks --------------------------------------------------------------------------------------

def _matrix(array: ArrayLike, name: str, dtype: FloatDType | None = None) -> FloatArray:
    """A float32/float64 2-D array, C-contiguous (one copy if it is not), of ``dtype`` if given."""
    array = _validate.plain_array(array, name)
    if array.dtype not in _validate.KERNEL_DTYPES:
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {array.dtype}")
    if dtype is not None and array.dtype != dtype:
        raise TypeError(f"{name} has dtype {array.dtype} but input has dtype {dtype}: they must match "
                        "(as torch's linear requires)")
    if array.ndim != 2:
        what = "(N, in_features)" if name == "input" else "(num_classes, in_features)"
        raise ValueError(f"{name} must have shape {what}, got shape {array.shape}")
    return np.ascontiguousarray(array)


def _bias(bias: ArrayLike | None, classes: int, dtype: FloatDType) -> FloatArray | None:
    if bias is None:
        return None
    bias = _validate.plain_array(bias, "linear_bias")
    if bias.dtype != dtype:
        raise TypeError(f"linear_bias has dtype {bias.dtype} but input has dtype {dtype}: they must match")
    if bias.shape != (classes,):
        raise ValueError(f"linear_bias must have shape ({classes},), one per row of linear_weight, "
                         f"got shape {bias.shape}")
    return bias


def _targets(target: ArrayLike, rows: int, classes: int, dtype: FloatDType, ignore: int) -> Labels:
    """Class indices (N,) as int64, each in [0, V) or ignore_index."""
    target = _validate.plain_array(target, "target")
    if target.dtype.kind == "f":
        raise TypeError("linear_cross_entropy takes class-index targets (an integer array of shape "
                        f"({rows},)); probability targets are not supported, got dtype {target.dtype}")
    if target.shape != (rows,):
        raise ValueError(f"target must have shape ({rows},), one class index per row of input, "
                         f"got shape {target.shape}")
    # class_targets reads only the logits' shape: a zero-stride view stands in for the N×V logits
    logits_shape = np.broadcast_to(np.zeros((), dtype), (rows, classes))
    return _validate.class_targets(target, logits_shape, ignore)


def _chunk_size(value: object, classes: int, dtype: FloatDType) -> int:
    if value is None:
        return default_chunk_size(classes, dtype)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"chunk_size must be a positive integer or None, got {value!r}")
    if value < 1:
        raise ValueError(f"chunk_size must be a positive integer or None, got {value}")
    return int(value)


# --- one call, checked ---------------------------------------------------------------------------

class _CrossEntropyOptions(TypedDict):
    """The keyword arguments every chunk's cross_entropy call takes."""

    weight: FloatArray | None
    ignore_index: int
    label_smoothing: float


@dataclass(frozen=True)
class _LinearRows:
    """One linear_cross_entropy call, checked: the operands, the options and the 'mean' divisor."""

    hidden: FloatArray          # (N, H)
    weight: FloatArray          # (V, H)
    bias: FloatArray | None     # (V,)
    labels: Labels              # (N,)
    class_weight: FloatArray | None
    ignore_index: int
    smoothing: float
    chunk: int
    mean_divisor: np.floating   # Σ keep·w[t], over the whole batch

    @property
    def dtype(self) -> FloatDType:
        return self.hidden.dtype

    def chunks(self) -> Iterator[slice]:
        """Row slices of at most ``chunk`` rows, covering the batch."""
        rows = self.hidden.shape[0]
        return (slice(start, min(start + self.chunk, rows)) for start in range(0, rows, self.chunk))

    def chunk_buffer(self) -> np.ndarray:
        """A flat buffer for one chunk's (chunk, V) block, reused by every chunk; also large enough
        for the chunk's (H, chunk) input gradient and a row of W (:func:`_input_gradient`, :func:`_accumulate`)."""
        classes, features = self.weight.shape
        return np.empty(max(min(self.chunk, self.hidden.shape[0]), 1) * max(classes, features), self.dtype)

    def block(self, rows: slice, buffer: np.ndarray) -> np.ndarray:
        """The (rows, V) view of ``buffer`` that holds the chunk ``rows``."""
        classes = self.weight.shape[0]
        return buffer[:(rows.stop - rows.start) * classes].reshape(-1, classes)

    def logits(self, rows: slice, buffer: np.ndarray) -> np.ndarray:
        """z_c = h_c Wᵀ + b, written into ``buffer`` (no temporary)."""
        z = self.block(rows, buffer)
        np.matmul(self.hidden[rows], self.weight.T, out=z)
        if self.bias is not None:
            z += self.bias
        return z

    def options(self) -> _CrossEntropyOptions:
        return dict(weight=self.class_weight, ignore_index=self.ignore_index, label_smoothing=self.smoothing)

    def reduce(self, losses: FloatArray, reduction: str) -> Loss:
        """The per-row losses (N,) under ``reduction``, as cross_entropy returns them."""
        if reduction == "none":
            return losses
        total: np.floating = losses.sum(dtype=self.dtype)
        if reduction == "sum":
            return total
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.dtype.type(total / self.mean_divisor)

    def row_scale(self, reduction: str, grad_output: ArrayLike | None) -> FloatArray:
        """s (N,): row i's gradient is s_i·∂ℓ_i/∂z_i. g/D for 'mean' (D over the whole batch), g for
        'sum', g_i for 'none'. Ignored rows need no care here: cross_entropy_value_and_grad zeroes
        their scale itself, even where g/D is inf or nan (an all-ignored batch)."""
        rows, dtype = self.hidden.shape[0], self.dtype
        shape = (rows,) if reduction == "none" else ()
        grad_output = np.ones(shape, dtype) if grad_output is None else _validate.as_dtype(
            grad_output, dtype, "grad_output")
        if reduction == "none":
            scale = _validate.broadcast_to(grad_output, shape, "grad_output")
        elif grad_output.size != 1:
            raise ValueError(f"grad_output of reduction={reduction!r} must be a scalar, got shape {grad_output.shape}")
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                divisor = self.mean_divisor if reduction == "mean" else dtype.type(1)
                scale = np.full(rows, grad_output.reshape(()) / divisor, dtype)
        return np.ascontiguousarray(scale, dtype)


def _linear_rows(input: ArrayLike, linear_weight: ArrayLike, target: ArrayLike, linear_bias: ArrayLike | None,
                 weight: ArrayLike | None, ignore_index: int | None, label_smoothing: float,
                 chunk_size: int | None) -> _LinearRows:
    hidden = _matrix(input, "input")
    matrix = _matrix(linear_weight, "linear_weight", hidden.dtype)
    if matrix.shape[1] != hidden.shape[1]:
        raise ValueError(f"input has {hidden.shape[1]} features per row but linear_weight has "
                         f"{matrix.shape[1]} (shape {matrix.shape}): input (N, in_features) needs "
                         "linear_weight (num_classes, in_features)")
    classes, dtype = matrix.shape[0], hidden.dtype
    if classes == 0:
        raise ValueError("linear_weight has no rows: cross-entropy needs at least one class")
    # torch's linear_cross_entropy defaults ignore_index to None, meaning -100 for class indices
    ignore = _validate.ignore_index(-100 if ignore_index is None else ignore_index)
    labels = _targets(target, hidden.shape[0], classes, dtype, ignore)
    class_weight = _validate.class_weight(weight, classes, dtype)
    divisor = mean_denominator(labels, ignore, class_weight, dtype)
    return _LinearRows(hidden, matrix, _bias(linear_bias, classes, dtype), labels, class_weight, ignore,
                       _validate.label_smoothing(label_smoothing), _chunk_size(chunk_size, classes, dtype),
                       dtype.type(divisor))


# --- the gradients of one chunk ------------------------------------------------------------------

def _input_gradient(g: np.ndarray, weight: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    """out = g W, formed as (Wᵀ gᵀ)ᵀ in ``scratch`` and copied out transposed.

    The same product, but OpenBLAS (0.3.31, AVX-512) runs it 2–4× faster with this operand layout
    than as ``g @ W`` (chunk 256, V = 32000, H = 1024: 116 against 29 GFLOP/s in float32); the
    transposed copy moves only chunk·H numbers.
    """
    product = scratch[:out.size].reshape(out.shape[1], out.shape[0])
    np.matmul(weight.T, g.T, out=product)
    out[...] = product.T


def _accumulate(grad_weight: np.ndarray, g: np.ndarray, h: np.ndarray, scratch: np.ndarray) -> None:
    """grad_weight += gᵀ h, a block of grad_weight's rows at a time, each product formed in ``scratch``.

    NumPy's matmul has no ``C += A B`` (BLAS's beta = 1), and gᵀ h whole would be a second
    grad_weight-sized temporary; a block of it fits in the scratch (the spent logits buffer).
    """
    classes, features = grad_weight.shape
    block = min(classes, scratch.size // max(features, 1))
    products = scratch[:block * features].reshape(block, features)
    for start in range(0, classes, block):
        part = slice(start, min(start + block, classes))
        product = products[:part.stop - part.start]
        np.matmul(g[:, part].T, h, out=product)
        grad_weight[part] += product


# --- the public API --------------------------------------------------------------------------------

def linear_cross_entropy(input: ArrayLike, linear_weight: ArrayLike, target: ArrayLike, *,
                         linear_bias: ArrayLike | None = None, weight: ArrayLike | None = None,
                         reduction: Reduction = "mean", ignore_index: int | None = None, label_smoothing: float = 0.0,
                         chunk_size: int | None = None) -> Loss:
    r"""Cross-entropy of a linear layer's output, as ``torch.nn.functional.linear_cross_entropy``,
    a chunk of rows at a time.

    .. math::
        L = \mathrm{cross\_entropy}(h W^\top + b,\; t), \qquad
        \ell_i = \mathrm{keep}_i\,[(1-\varepsilon)\,w_{t_i}\,(-\log\mathrm{softmax}(z_i)_{t_i})
                 + \tfrac{\varepsilon}{V}\textstyle\sum_k w_k\,(-\log\mathrm{softmax}(z_i)_k)]

    with z_i = W h_i + b (spec ``softmax_cross_entropy_with_integer_labels``; 'mean' divides by
    Σ keep·w[t] over the whole batch). Only one (chunk_size, V) block of logits exists at a time.

    Args:
      input: hidden states h, (N, H), float32 or float64.
      linear_weight: W, (V, H) — an ``nn.Linear(H, V)``'s weight — of the input's dtype.
      target: class indices (N,), each in [0, V) or ``ignore_index``.
      linear_bias: b (V,) or None. weight: class weights (V,) or None.
      reduction: 'none' | 'mean' | 'sum'. ignore_index: label whose rows are skipped (None: -100).
      label_smoothing: ε in [0, 1].
      chunk_size: rows per chunk; None: :func:`default_chunk_size` (64 MiB of logits).
    Returns: the loss, (N,) for 'none', a scalar of the input's dtype otherwise.

    Reference: https://pytorch.org/docs/stable/generated/torch.nn.functional.linear_cross_entropy.html

    >>> h, W = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[2.0, 0.0], [0.0, 0.0], [0.0, -0.5]])
    >>> float(linear_cross_entropy(h, W, np.array([0, 1]))) == float(cross_entropy(h @ W.T, np.array([0, 1])))
    True
    """
    reduction = _validate.reduction(reduction)
    problem = _linear_rows(input, linear_weight, target, linear_bias, weight, ignore_index, label_smoothing,
                           chunk_size)
    losses = np.empty(problem.labels.shape, problem.dtype)
    logits = problem.chunk_buffer()
    for rows in problem.chunks():
        losses[rows] = cross_entropy(problem.logits(rows, logits), problem.labels[rows], reduction="none",
                                     **problem.options())
    return problem.reduce(losses, reduction)


def linear_cross_entropy_value_and_grad(input: ArrayLike, linear_weight: ArrayLike, target: ArrayLike, *,
                                        linear_bias: ArrayLike | None = None, weight: ArrayLike | None = None,
                                        reduction: Reduction = "mean", ignore_index: int | None = None,
                                        label_smoothing: float = 0.0, chunk_size: int | None = None,
                                        grad_output: ArrayLike | None = None
                                        ) -> tuple[Loss, FloatArray, FloatArray, FloatArray | None]:
    """(loss, ∂/∂input, ∂/∂linear_weight, ∂/∂linear_bias or None) of :func:`linear_cross_entropy`,
    each gradient times ``grad_output`` (default: ones of the loss's shape), from one pass over the
    chunks: logits, then the fused cross-entropy kernel, then three matrix products.

    Per chunk c with gradient rows G_c:
    ∂/∂input[c] = G_c W, ∂/∂W += G_cᵀ h_c, ∂/∂b += Σ_rows G_c. Gradients have the input's dtype;
    ignored rows contribute nothing (an all-ignored batch: loss nan for 'mean', gradients 0).

    Small chunks are slow for a reason outside symce: each chunk hands the cores from OpenBLAS's
    threads to numba's and back. On numba's OpenMP layer those threads also keep spinning for some
    milliseconds after a kernel, slowing the next matrix product (``OMP_WAIT_POLICY=passive``, set
    before start-up, removes that cost); symce asks numba for its tbb layer (symce.threading_layer).
    """
    reduction = _validate.reduction(reduction)
    problem = _linear_rows(input, linear_weight, target, linear_bias, weight, ignore_index, label_smoothing,
                           chunk_size)
    scale = problem.row_scale(reduction, grad_output)
    losses = np.empty(problem.labels.shape, problem.dtype)
    grad_input = np.empty_like(problem.hidden)
    grad_weight = np.zeros_like(problem.weight)
    grad_bias = None if problem.bias is None else np.zeros_like(problem.bias)
    logits, gradient = problem.chunk_buffer(), problem.chunk_buffer()
    for rows in problem.chunks():
        z = problem.logits(rows, logits)
        losses[rows], g = cross_entropy_value_and_grad(z, problem.labels[rows], reduction="none",
                                                       grad_output=scale[rows], out=problem.block(rows, gradient),
                                                       **problem.options())
        _input_gradient(g, problem.weight, grad_input[rows], scratch=logits)
        _accumulate(grad_weight, g, problem.hidden[rows], scratch=logits)
        if grad_bias is not None:
            grad_bias += g.sum(axis=0)
    return problem.reduce(losses, reduction), grad_input, grad_weight, grad_bias
