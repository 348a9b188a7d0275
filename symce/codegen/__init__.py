"""From specs to numba kernels: stability rewrites, a kernel printer, row programs, kernel plans, generated modules.

The built-in kernels are written into ``generated/`` (the package ``symce.generated``) by
``symce regen``; a user's own loss goes through the same machinery with
:func:`generate_kernel`::

    import sympy as sp
    from symce.codegen import generate_kernel
    from symce.spec import Input, Param, Spec, blocks
    from symce.spec.symbols import t, z

    gamma = sp.Symbol("gamma", nonnegative=True)
    p_t = blocks.softmax(z, t)
    focal = Spec(name="focal_loss", expr=-(1 - p_t) ** gamma * sp.log(p_t),
                 inputs=(Input("logits", z, "vector", "real", "logits"),
                         Input("labels", t, "label", "index", "class index")),
                 params=(Param("gamma", gamma, "scalar", sp.Integer(2), "focusing parameter"),),
                 doc="Focal loss (Lin et al. 2017).")
    kernels = generate_kernel(focal, "/tmp/my_kernels")
    loss, grad = kernels.focal_loss_forward_backward(logits, labels, 2.0, row_scale)

Arguments of a generated kernel are the spec's inputs then its parameters, in order (a
per-class parameter is a (C,) array, a scalar parameter a number; a ``keep`` parameter
becomes ``ignore_index``); the fused kernel takes one more, the gradient's per-row scale.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from symce.spec import Spec


def generate_kernel(spec: Spec, out: str | Path, prefix: str | None = None, module: str | None = None) -> ModuleType:
    """Write ``PREFIX_forward`` and ``PREFIX_forward_backward`` for ``spec`` into ``out/MODULE.py``; import it.

    ``prefix`` and ``module`` default to ``spec.name``. The forward kernel returns the loss
    per sample; the fused one ``(loss, row_scale · d loss / d input)``, the gradient derived
    by SymPy from ``spec.expr`` and printed with the same rewrites as the built-in losses.
    Regenerating an unchanged spec rewrites nothing, so numba's cache stays valid.
    """
    from symce.codegen.kernels import loss_kernels
    from symce.codegen.modules import module_source
    from symce.codegen.regen import write_if_changed
    from symce.threading_layer import prefer_tbb

    prefer_tbb()  # before the module's first parallel loop, as for the built-in kernels

    prefix = prefix or spec.name
    module = module or spec.name
    if not module.isidentifier() or not prefix.isidentifier():
        raise ValueError(f"module {module!r} and prefix {prefix!r} must be Python identifiers")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}.py"
    source = module_source(module, {spec.name: spec.expr}, loss_kernels(spec, prefix),
                           command="symce.codegen.generate_kernel")
    write_if_changed(path, source)
    name = f"symce_user_kernels.{module}_{abs(hash(str(path.resolve())))}"
    loader = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(loader)
    sys.modules[name] = loaded
    loader.loader.exec_module(loaded)
    return loaded


__all__ = ["generate_kernel"]
