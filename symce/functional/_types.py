"""The types of symce.functional's API: reductions, floating-point arrays and losses."""
from __future__ import annotations

from typing import Literal, Union

import numpy as np
from numpy.typing import NDArray

#: the reductions of torch's losses, and kl_div's 'batchmean' (the sum over the batch size)
Reduction = Literal["none", "mean", "sum"]
KLReduction = Literal["none", "mean", "sum", "batchmean"]
REDUCTIONS: tuple[Reduction, ...] = ("none", "mean", "sum")

#: the arrays the kernels compute in and return (float32 or float64; float16 results are cast back)
FloatArray = NDArray[np.floating]
FloatDType = np.dtype[np.floating]
#: class-index labels as the kernels read them
Labels = NDArray[np.int64]
#: a loss as torch returns it: an array for reduction='none', a NumPy scalar of the input's dtype otherwise
Loss = Union[FloatArray, np.floating]
#: a reduction's divisor D: a count (the batch size, numel, the labels kept) or a sum of class weights
Divisor = Union[int, np.integer, np.floating]
