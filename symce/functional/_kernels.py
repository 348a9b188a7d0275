"""The generated kernels, imported when first called so symce.functional imports without them."""
from __future__ import annotations

import importlib


def kernel(family: str, name: str):
    """``symce.generated.<family>.<name>``, with a clear error where the kernels are not generated."""
    try:
        module = importlib.import_module(f"symce.generated.{family}")
    except ModuleNotFoundError as error:
        raise ImportError(f"the {family!r} kernels are not generated (symce.generated.{family} is "
                          "missing): run `symce regen`") from error
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f"symce.generated.{family} has no kernel {name!r}: run `symce regen`") from None


def bind(family: str, name: str, *args):
    """``kernel(family, name)`` with its leading arguments bound, looked up only when called.

    Looking it up late lets every argument check (the reduction string included) run, and fail
    clearly, before the generated module is even imported.
    """
    return lambda *rest: kernel(family, name)(*args, *rest)
