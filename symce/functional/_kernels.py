"""The generated kernels, imported when first called so symce.functional imports without them."""
from __future__ import annotations

import functools
import importlib

import numpy as np

from symce import kernel_cache, threading_layer


@functools.cache
def _family(family: str):
    """``symce.generated.<family>``, imported once numba has been asked for the fork-safe layer."""
    threading_layer.prefer_tbb()
    try:
        return importlib.import_module(f"symce.generated.{family}")
    except ModuleNotFoundError as error:
        raise ImportError(f"the {family!r} kernels are not generated (symce.generated.{family} is "
                          "missing): run `symce regen`") from error


def kernel(family: str, name: str):
    """``symce.generated.<family>.<name>``, with a clear error where the kernels are not generated
    or cannot run in this process (see :func:`symce.threading_layer.check_fork`)."""
    module = _family(family)
    threading_layer.check_fork()
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f"symce.generated.{family} has no kernel {name!r}: run `symce regen`") from None


def _is_same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype)


def _read_only(operand):
    """``operand`` as a read-only view where it is an array: numba compiles one specialisation per
    writeable flag, so a caller's read-only array (np.broadcast_to's, a frozen buffer's) would
    otherwise cost a second compilation of every kernel it reaches; the kernels never write an input."""
    if not isinstance(operand, np.ndarray) or not operand.flags.writeable:
        return operand
    view = operand.view()
    view.flags.writeable = False
    return view


def bind(family: str, name: str, *args):
    """``kernel(family, name)`` with its leading arguments bound, looked up only when called.

    Looking it up late lets every argument check (the reduction string included) run, and fail
    clearly, before the generated module is even imported. The bound kernel takes its output
    buffer as ``out=``: the first argument itself runs the generated ``<name>_in_place`` twin
    (the gradient written over the input); a buffer sharing memory with any other argument is
    refused, since the kernel would read what it has already overwritten. Every input reaches the
    kernel read-only (see ``_read_only``) but the one the in-place twin writes over.
    """
    def call(*rest, out=None):
        inputs = tuple(map(_read_only, (*args, *rest)))
        if out is None:
            return run(family, name, *inputs)
        if _is_same_array(out, args[0]):
            return run(family, f"{name}_in_place", args[0], *inputs[1:])
        for operand in (*args, *rest):
            if isinstance(operand, np.ndarray) and np.may_share_memory(out, operand) and np.shares_memory(out, operand):
                raise ValueError("out shares memory with the loss's input or target without being the input "
                                 "itself: pass a separate array, or the input to write the gradient in place")
        return run(family, name, *inputs, out)
    return call


def run(family: str, name: str, *arguments):
    """``kernel(family, name)(*arguments)``, compiled again where numba's cache of it is unreadable.

    Retrying is safe: each generated entry point calls one compiled function, which numba loads
    (and fails to load) before it runs, so the failed call has written nothing. A retry can meet
    the unreadable cache of a function the kernel calls; each retry follows the removal of at
    least one file, so the loop ends.
    """
    while True:
        try:
            return kernel(family, name)(*arguments)
        except Exception as error:
            if not kernel_cache.repair_after(error):
                raise
