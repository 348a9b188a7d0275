"""Input checks, run before any kernel: every bad argument becomes an exception naming it.

The exception types follow torch where torch's choice says something (an out-of-range class
index is an ``IndexError``, a shape mismatch a ``ValueError``); where torch raises a bare
``RuntimeError`` we raise ``ValueError`` (a bad value) or ``TypeError`` (a bad dtype).
The kernels in ``symce.generated`` assume what these functions establish: C-contiguous float32
or float64 arrays of matching shapes and labels that are in range or equal to ``ignore_index``.
"""
from __future__ import annotations

import math
import numbers
from typing import NoReturn, Sequence, overload

import numpy as np
from numpy.typing import ArrayLike

from symce.functional._types import REDUCTIONS, FloatArray, FloatDType, Labels, Reduction

#: dtypes the kernels are compiled for; float16 is computed in float32 and returned as float16.
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: the range of an int64 label, which ignore_index is compared with
INT64 = np.iinfo(np.int64)


def plain_array(value: ArrayLike, name: str) -> np.ndarray:
    """``np.asarray(value)``, refusing a masked array, whose mask ``np.asarray`` would drop silently."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name} is a NumPy masked array, and symce does not apply masks (the masked "
                        f"values would be used as if unmasked): pass {name}.filled(value) with the value "
                        "masked entries should take; for class-index targets, target.filled(ignore_index) "
                        "skips the masked samples")
    return np.asarray(value)


def floating(array: ArrayLike, name: str) -> tuple[FloatArray, FloatDType]:
    """``array`` as a float32/float64 ndarray, and the dtype the result should have.

    torch computes float16 losses on CPU (accumulating in float32) and refuses integer logits,
    so float16 is computed in float32 and cast back, and integer or bool input is refused.
    """
    array = plain_array(array, name)
    if array.dtype == np.float16:
        return array.astype(np.float32), array.dtype
    if array.dtype not in KERNEL_DTYPES:
        raise TypeError(f"{name} must be a floating-point array (float16, float32 or float64), "
                        f"got dtype {array.dtype}")
    return array, array.dtype


def as_dtype(array: ArrayLike, dtype: FloatDType, name: str) -> FloatArray:
    """A real-valued companion array (targets, weights) cast to the computation's dtype."""
    array = plain_array(array, name)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real-valued array, got dtype {array.dtype}")
    return array.astype(dtype, copy=False)


@overload
def reduction(value: str) -> Reduction: ...
@overload
def reduction(value: str, allowed: Sequence[str]) -> str: ...
def reduction(value: str, allowed: Sequence[str] = REDUCTIONS) -> str:
    """torch's reduction strings (or ``allowed``); torch raises ValueError('... is not a valid value
    for reduction')."""
    if value not in allowed:
        raise ValueError(f"{value!r} is not a valid value for reduction; expected one of "
                         f"{', '.join(map(repr, allowed))}")
    return value


def _real_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def label_smoothing(value: object) -> float:
    """ε must be a real number in [0, 1] (torch: 'label_smoothing must be between 0.0 and 1.0')."""
    number = _real_number(value, "label_smoothing")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {value}")
    return number


def finite_parameter(value: object, name: str, minimum: float | None = None) -> float:
    """A loss's scalar parameter (the focal loss's γ, poly-1's ε): a finite real number, ≥ ``minimum``
    where one is given; nan or inf would make every loss nan without saying why."""
    number = _real_number(value, name)
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name} must be a finite number{bound}, got {value}")
    return number


def ignore_index(value: object) -> int:
    """ignore_index is an integer of int64's range (it is compared with int64 class labels)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"ignore_index must be an integer, got {value!r}")
    if not INT64.min <= int(value) <= INT64.max:
        raise ValueError(f"ignore_index must fit in a 64-bit signed integer ([{INT64.min}, {INT64.max}]), "
                         f"as class labels do, got {value}")
    return int(value)


def flag(value: object, name: str) -> bool:
    """A bool argument (torch raises TypeError for anything else, a string such as 'yes' included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r} of type {type(value).__name__}")
    return bool(value)


def dim(value: object, ndim: int, name: str = "dim") -> int:
    """A dimension index in [-ndim, ndim) (0-d arrays accept -1 and 0, as torch does)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    span, index = max(ndim, 1), int(value)
    if not -span <= index < span:
        raise IndexError(f"{name} {value} is out of range for an array with {ndim} dimensions "
                         f"(expected to be in range of [{-span}, {span - 1}])")
    return index % span


def class_count(input: np.ndarray, what: str) -> int:
    """C for inputs laid out as torch's losses want them: (C,), (N, C) or (N, C, d1, ..., dk)."""
    if input.ndim == 0:
        raise ValueError(f"{what} input must have shape (C,), (N, C) or (N, C, d1, ..., dk), "
                         "got a 0-dimensional array")
    return int(input.shape[0] if input.ndim == 1 else input.shape[1])


def sample_shape(input: np.ndarray) -> tuple[int, ...]:
    """The input's shape without the class dimension: the shape of class-index targets."""
    return () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]


def class_weight(weight: ArrayLike | None, classes: int, dtype: FloatDType) -> FloatArray | None:
    """Class weights of shape (C,); None stays None (the kernels' unweighted path reads no weights)."""
    if weight is None:
        return None
    weight = as_dtype(weight, dtype, "weight")
    if weight.shape != (classes,):
        raise ValueError(f"weight must have shape ({classes},), one weight per class, "
                         f"got shape {weight.shape}")
    return np.ascontiguousarray(weight)


def is_probability_target(input: np.ndarray, target: np.ndarray) -> bool:
    """torch's rule: a floating-point target of the input's own shape holds class probabilities."""
    return target.dtype.kind == "f" and target.shape == input.shape


def class_targets(target: np.ndarray, input: np.ndarray, ignore: int) -> Labels:
    """Class-index targets as int64, of the input's shape without the class dimension, in range.

    A label is valid when 0 <= label < C or label == ignore_index; the first invalid one is
    named (torch: IndexError 'Target 5 is out of bounds.'), so no kernel reads out of bounds.
    """
    classes, expected = class_count(input, "class-index"), sample_shape(input)
    if target.dtype.kind == "f":
        raise TypeError(f"{_probabilities_expected(target, input)}; class-index targets must be an "
                        f"integer array of shape {expected}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"class-index targets must be an integer array, got dtype {target.dtype}")
    if target.shape != expected:
        raise ValueError(f"target shape {target.shape} does not match input shape {input.shape}: "
                         f"class-index targets need shape {expected} (the input's shape without "
                         f"dimension {min(input.ndim - 1, 1)}), probability targets shape {input.shape}")
    if target.dtype == np.uint64 and target.size and target.max() > INT64.max:
        # the int64 cast below would wrap such a label round to a negative one, ignore_index even
        where = tuple(int(i) for i in np.argwhere(target > INT64.max)[0])
        _out_of_bounds(int(target[where]), where, classes, ignore)
    labels = np.ascontiguousarray(target, dtype=np.int64)
    if labels.size == 0 or (labels.min() >= 0 and labels.max() < classes):
        # the common case, every label a class index, in two fast reductions
        return labels
    valid = ((labels >= 0) & (labels < classes)) | (labels == ignore)
    if not valid.all():
        where = tuple(int(i) for i in np.argwhere(~valid)[0])
        _out_of_bounds(int(target[where]), where, classes, ignore)
    return labels


def _out_of_bounds(label: int, where: tuple[int, ...], classes: int, ignore: int) -> NoReturn:
    raise IndexError(f"target {label} at index {where} is out of bounds: class-index targets must "
                     f"satisfy 0 <= target < {classes} (the number of classes) or equal ignore_index ({ignore})")


def _probabilities_expected(target: np.ndarray, input: np.ndarray) -> str:
    return (f"a floating-point target must hold class probabilities with the input's shape {input.shape}, "
            f"got shape {target.shape}")


def probability_targets(target: np.ndarray, input: np.ndarray) -> None:
    """Probability targets: a floating-point array of the input's shape (torch's rule)."""
    if target.dtype.kind != "f":
        raise TypeError(f"probability targets must be a floating-point array of the input's shape "
                        f"{input.shape}, got dtype {target.dtype}")
    if not is_probability_target(input, target):
        raise TypeError(_probabilities_expected(target, input))


def probability_targets_allowed(ignore: int) -> None:
    """torch refuses a non-negative ignore_index with probability targets (there is no label to compare)."""
    if ignore >= 0:
        raise ValueError(f"ignore_index is not supported for floating point target (probability "
                         f"targets); got ignore_index={ignore}, which must be negative")


def same_shape(target: np.ndarray, input: np.ndarray, name: str = "target") -> None:
    """Elementwise losses pair each input element with one target element (torch: ValueError)."""
    if target.shape != input.shape:
        raise ValueError(f"{name} size {target.shape} must be the same as input size {input.shape}")


def broadcast_to(array: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``array`` broadcast to the input's shape; it may not enlarge the result (torch refuses that too)."""
    try:
        return np.broadcast_to(array, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {array.shape} cannot be broadcast to the input's shape "
                         f"{shape}") from None


def unit_interval(array: np.ndarray, name: str) -> None:
    """Every element in [0, 1] (NaN fails, as it does in torch's check); the first offender is named."""
    inside = (array >= 0) & (array <= 1)
    if not inside.all():
        where = tuple(int(i) for i in np.argwhere(~inside)[0])
        raise ValueError(f"all elements of {name} should be between 0 and 1, but {name}{list(where)} "
                         f"= {array[where]}")


def gradient_buffer(out: object, shape: tuple[int, ...], dtype: FloatDType) -> np.ndarray | None:
    """``out=``: a writeable ndarray of the input's shape and the gradient's dtype (it may be the
    input itself), or None."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out must have the input's shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"out must have the gradient's dtype {dtype}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    return out
