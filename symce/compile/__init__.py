"""Your own loss, end to end: ``symce.compile(spec)`` → a proven gradient, a derivation, cached kernels.

::

    import symce
    focal = symce.compile(spec)            # a symce.spec.Spec over (logits, integer label), (logits,
                                           # target probabilities) or (logit, target) numbers
    focal = symce.compile(fn, like="softmax_cross_entropy_with_integer_labels", params={"gamma": 2.0})
    focal.spec, focal.gradient             # the spec, its closed-form gradient
    focal.derivation(format="latex")       # the checked derivation, as `symce derive` prints it
    focal(logits, labels, reduction="mean", ignore_index=-100, weight=None, gamma=2.0)
    focal.value_and_grad(logits, labels, out=None)
    focal.torch(logits_tensor, labels_tensor)   # a torch custom operator, differentiable by autograd

The spec's inputs decide its kind (:mod:`symce.compile.kinds`) and the signature of the compiled
loss: that of ``symce.functional.cross_entropy`` with class indices (:class:`IntegerLabelLoss`) or
with probabilities (:class:`ProbabilityTargetLoss`), or of ``binary_cross_entropy_with_logits``
(:class:`ElementwiseLoss`). The kernels are generated once per spec into a persistent cache
(:mod:`symce.compile.cache`), which every later process loads without compiling. Modules: ``kinds``
(the kinds of spec and the built-in boundary each gets), ``cache`` (the cache and its stable names),
``loss`` (the compiled objects), ``torch`` (their custom operators), ``trace`` (a loss from code),
``targets`` (``path.py:NAME``), ``cli`` (``symce compile``); ``_interfaces`` names what they use of
the rest of symce.
"""
from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # imported when first used, as below
    from symce.compile.cache import CacheDirError as CacheDirError
    from symce.compile.loss import CompiledLoss as CompiledLoss, UnsupportedSpec as UnsupportedSpec
    from symce.spec import Spec


def compile(  # noqa: A001 -- symce.compile, by design
        loss: Spec | Callable[..., object], like: Spec | str | None = None, params: dict[str, float] | None = None,
        name: str | None = None) -> CompiledLoss:
    """A :class:`~symce.compile.loss.CompiledLoss` for ``loss`` (of the subclass its inputs' kind calls
    for): a :class:`~symce.spec.Spec`, or a NumPy /
    torch function traced into one (``like``: the spec, or its name, whose inputs the function takes;
    ``params``: the function's own keyword arguments that become parameters, with their defaults)."""
    from symce.compile.loss import compiled
    from symce.spec import Spec

    if isinstance(loss, Spec):
        if like is not None or params is not None:
            raise TypeError("like= and params= are for a function; a Spec is compiled as it is")
        return compiled(loss)
    if callable(loss):
        from symce.compile.trace import spec_from_code

        spec, original = spec_from_code(loss, like, params or {}, name)
        return compiled(spec, origin=original)
    raise TypeError(f"symce.compile takes a symce.spec.Spec or a function, got {type(loss).__name__}")


def __getattr__(name: str) -> type:
    # the classes without importing the code generator at `import symce.compile.targets`
    if name in ("CompiledLoss", "IntegerLabelLoss", "ProbabilityTargetLoss", "ElementwiseLoss", "UnsupportedSpec"):
        from symce.compile import loss
        found: type = getattr(loss, name)
        return found
    if name == "CacheDirError":
        from symce.compile.cache import CacheDirError
        return CacheDirError
    raise AttributeError(f"module 'symce.compile' has no attribute {name!r}")


__all__ = ["CacheDirError", "CompiledLoss", "ElementwiseLoss", "IntegerLabelLoss", "ProbabilityTargetLoss",
           "UnsupportedSpec", "compile"]


class _CallableModule(types.ModuleType):
    """``symce.compile(spec)`` works although ``symce.compile`` is also this package."""

    __call__ = staticmethod(compile)


sys.modules[__name__].__class__ = _CallableModule
