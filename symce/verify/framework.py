"""What a function reaches — the functions, classes and modules it names — and so its framework.

Real loss code reaches torch in many ways besides ``import torch``: through a class (an
``nn.Module``'s ``forward``, a ``__call__``), an alias module (``from d2l import torch as d2l``)
or only through tensor methods. ``reach`` follows functions, methods, classes and ``partial``\\ s
to the global values they name; ``Reach.framework`` reads the framework from those. When nothing names
one, the verifier runs the function on both (``verifier.choose_framework``).
"""
from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Callable

FRAMEWORKS = ("numpy", "torch")
#: top-level packages whose values mean NumPy code (scipy.special works on NumPy arrays)
NUMPY_PACKAGES = ("numpy", "scipy")


@dataclass
class Reach:
    """What a function reaches: the global values it names, the namespaces it names them in,
    and the classes whose methods it runs."""

    values: list = field(default_factory=list)
    namespaces: list = field(default_factory=list)
    classes: list = field(default_factory=list)
    functions: list = field(default_factory=list)

    def framework(self) -> str | None:
        """'torch' when what was reached is torch's (a class deriving from one of torch's, torch
        itself, or a module that imports it), 'numpy' for NumPy or scipy, None when nothing says."""
        packages = {_package(c) for c in self.classes} | {_package(v) for v in self.values}
        for value in self.values:
            if inspect.ismodule(value) and _package(value) not in FRAMEWORKS + NUMPY_PACKAGES:
                packages |= _aliases(value)
        if "torch" in packages:
            return "torch"
        if packages & set(NUMPY_PACKAGES):
            return "numpy"
        return None

    def small_literals(self) -> list[float]:
        """Small float literals (eps, clip bounds) in the source of the functions reached: the
        numeric check also looks beyond them, for code the tracer cannot follow."""
        found = set()
        for function in self.functions:
            try:
                tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
            except (OSError, TypeError, SyntaxError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, float) and 0 < node.value < 1e-3:
                    found.add(node.value)
        return sorted(found)


def _functions_of(target: object) -> tuple[list, list]:
    """The plain functions that calling ``target`` runs first, and the user classes involved."""
    if isinstance(target, functools.partial):
        return _functions_of(target.func)
    if inspect.ismethod(target):
        return [target.__func__], [type(target.__self__)] if not inspect.isclass(target.__self__) else [target.__self__]
    if inspect.isfunction(target):
        return [target], []
    cls = target if inspect.isclass(target) else type(target)
    own = [c for c in cls.__mro__ if not _library(c.__module__)]
    functions = [member for c in own for member in vars(c).values() if inspect.isfunction(member)]
    functions += [member.__func__ for c in own for member in vars(c).values()
                  if isinstance(member, (staticmethod, classmethod))]
    return functions, list(cls.__mro__)


def _library(module: str | None) -> bool:
    return isinstance(module, str) and module.split(".")[0] in ("builtins", "abc", "typing", "dataclasses",
                                                                  *FRAMEWORKS, *NUMPY_PACKAGES)


def reach(fn: Callable, depth: int = 3) -> Reach:
    """Follow ``fn`` (and the plain functions, methods and classes it calls) to the globals it names."""
    found = Reach()
    functions, found.classes = _functions_of(fn)
    seen: set = set()
    for _ in range(depth + 1):
        calls = []
        for function in functions:
            if function in seen:
                continue
            seen.add(function)
            found.functions.append(function)
            names = function.__globals__
            if not any(names is n for n in found.namespaces):
                found.namespaces.append(names)
            codes = [function.__code__]
            while codes:
                code = codes.pop()
                codes += [c for c in code.co_consts if inspect.iscode(c)]
                values = [names[n] for n in code.co_names if n in names]
                found.values += values
                for value in values:
                    more, classes = _functions_of(value) if callable(value) and not _library(
                        getattr(value, "__module__", None)) else ([], [])
                    calls += more
                    found.classes += classes
        functions = calls
    return found


def _package(value: object) -> str | None:
    name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
    return name.split(".")[0] if isinstance(name, str) else None


def _aliases(module: object) -> set[str]:
    """The frameworks a module the code names is a front for (``d2l.torch`` imports torch)."""
    return {_package(v) for v in vars(module).values() if inspect.ismodule(v) and _package(v) in FRAMEWORKS}
