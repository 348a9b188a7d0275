"""Calling the generated kernels, whose family modules are imported only when a kernel is first run.

A kernel is named by a reference into the table :mod:`symce.generated.kernels`, written
``lambda: kernels.softmax.forward``: reading the field imports the family module, so symce.functional
imports without numba or the kernels, and go-to-definition follows the lambda to the kernel.
"""
from __future__ import annotations

import functools
from typing import Callable, Protocol, TypeVar

import numpy as np

from symce import kernel_cache, threading_layer

#: what a kernel returns (an array of losses; losses and gradient rows; values of an activation)
Result = TypeVar("Result")
#: a reference to a generated kernel, read when the kernel runs (``lambda: kernels.<spec>.<role>``)
KernelReference = Callable[[], Callable[..., Result]]
RowsKernel = Callable[..., np.ndarray]
#: a fused forward+backward kernel: (losses, gradient rows)
FusedKernel = Callable[..., "tuple[np.ndarray, np.ndarray]"]


class ForwardKernels(Protocol):
    """A spec's record in :mod:`symce.generated.kernels` as the activations and entropy read it."""

    @property
    def forward(self) -> RowsKernel: ...


class LossKernels(ForwardKernels, Protocol):
    """A loss's record: its forward and fused forward+backward kernels, the in-place twin, and the
    ``_sum`` variants (read only where a loss is bound with them: kl_divergence's record has none)."""

    @property
    def forward_backward(self) -> FusedKernel: ...
    @property
    def forward_backward_in_place(self) -> FusedKernel: ...
    @property
    def forward_sum(self) -> RowsKernel: ...
    @property
    def forward_backward_sum(self) -> FusedKernel: ...
    @property
    def forward_backward_sum_in_place(self) -> FusedKernel: ...


@functools.cache
def _prefer_tbb() -> None:
    """Ask numba for the fork-safe layer once, before the first kernel (and its first parallel loop) runs."""
    threading_layer.prefer_tbb()


def kernel(reference: KernelReference[Result]) -> Callable[..., Result]:
    """The kernel ``reference`` names, with a clear error where the kernels are not generated or
    cannot run in this process (see :func:`symce.threading_layer.check_fork`)."""
    _prefer_tbb()
    try:
        function = reference()
    except ImportError as error:  # a family module, or one of its kernels, is missing
        raise ImportError(f"the symce.generated kernels are not generated or out of date ({error}): "
                          "run `symce regen`") from error
    except RuntimeError as error:  # numba, when the module it imports has nowhere to cache its kernels
        raise (kernel_cache.no_cache_folder(error) or error) from error
    threading_layer.check_fork()
    return function


def _is_same_array(a: np.ndarray, b: object) -> bool:
    return (isinstance(b, np.ndarray) and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype)


def read_only(operand: object) -> object:
    """``operand`` as a read-only view where it is an array: numba compiles one specialisation per
    writeable flag, so a caller's read-only array (np.broadcast_to's, a frozen buffer's) would
    otherwise cost a second compilation of every kernel it reaches; the kernels never write an input."""
    if not isinstance(operand, np.ndarray) or not operand.flags.writeable:
        return operand
    view = operand.view()
    view.flags.writeable = False
    return view


def bind(reference: KernelReference[Result], *args: object,
         in_place: KernelReference[Result] | None = None) -> Callable[..., Result]:
    """The kernel ``reference`` names with its leading arguments bound, looked up only when called.

    Looking it up late lets every argument check (the reduction string included) run, and fail
    clearly, before the generated module is even imported. The bound kernel takes its output
    buffer as ``out=``: the first argument itself runs the ``in_place`` twin (the gradient written
    over the input); a buffer sharing memory with any other argument is refused, since the kernel
    would read what it has already overwritten. Every input reaches the kernel read-only (see
    ``read_only``) but the one the in-place twin writes over.
    """
    def call(*rest: object, out: np.ndarray | None = None) -> Result:
        inputs = tuple(map(read_only, (*args, *rest)))
        if out is None:
            return run(reference, *inputs)
        if in_place is not None and _is_same_array(out, args[0]):
            return run(in_place, args[0], *inputs[1:])
        for operand in (*args, *rest):
            if isinstance(operand, np.ndarray) and np.may_share_memory(out, operand) and np.shares_memory(out, operand):
                raise ValueError("out shares memory with the loss's input or target without being the input "
                                 "itself: pass a separate array, or the input to write the gradient in place")
        return run(reference, *inputs, out)
    return call


def run(reference: KernelReference[Result], *arguments: object) -> Result:
    """``kernel(reference)(*arguments)``, compiled again where numba's cache of it is unreadable.

    Retrying is safe: each generated entry point calls one compiled function, which numba loads
    (and fails to load) before it runs, so the failed call has written nothing. A retry can meet
    the unreadable cache of a function the kernel calls; each retry follows the removal of at
    least one file, so the loop ends.
    """
    while True:
        try:
            return kernel(reference)(*arguments)
        except Exception as error:
            if not kernel_cache.repair_after(error):
                raise
