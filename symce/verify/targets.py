"""What ``symce verify FILE.py:NAME`` checks: loss code in the shapes real code packages it.

``NAME`` is a function; a callable class (an ``nn.Module`` included), constructed with
``--init NAME=VALUE`` or its defaults; ``Class.method``, the method of an instance constructed
the same way (a staticmethod or classmethod needs no instance); or a module-level callable
object (``loss = LabelSmoother(0.1)``). Every problem with the request is a ``ValueError``
that names it; what the user's own code raises passes through unchanged.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping


@dataclass(frozen=True)
class Target:
    """The callable to verify — a function, a bound method or a callable object, which the
    verifier calls, binds and reads the framework of — and the name its report gives it."""

    fn: Callable
    name: str


def split_target(target: str) -> tuple[Path, str]:
    """``path/to/file.py:NAME`` → (the file, the dotted name in it)."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"expected path/to/file.py:NAME, got {target!r}")
    return Path(path), name


def parse_init(items: list[str]) -> dict[str, object]:
    """``["smoothing=0.1", "mode=mean"]`` → ``{"smoothing": 0.1, "mode": "mean"}``: each value a
    Python literal where it parses as one, else the string as written."""
    arguments: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--init: expected NAME=VALUE, got {item!r}")
        try:
            arguments[name.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            arguments[name.strip()] = text.strip()
    return arguments


def load_target(target: str, init: Mapping[str, object] | None = None) -> Target:
    """The callable ``target`` names, its classes constructed with ``init``."""
    file, name = split_target(target)
    module = import_file(file)
    init = dict(init or {})
    head, *rest = name.split(".")
    if head not in vars(module):
        raise ValueError(f"{file} defines no function {head!r}; its callables: {_callables(module)}")
    value, reached, constructed = vars(module)[head], head, False
    for attribute in rest:
        if inspect.isclass(value) and _needs_instance(value, attribute):
            value, constructed = construct(value, init), True
        if not hasattr(value, attribute):
            raise ValueError(f"{reached} has no attribute {attribute!r}")
        value, reached = getattr(value, attribute), f"{reached}.{attribute}"
    label = name
    if inspect.isclass(value):
        value, constructed = construct(value, init), True
        label = f"{name}({', '.join(f'{key}={argument!r}' for key, argument in init.items())})"
        if not callable(value):
            raise ValueError(f"{name} is a class whose instances are not callable (it defines no __call__)")
    if not callable(value):
        raise ValueError(f"{name} in {file} is a {type(value).__name__}, not a callable")
    if init and not constructed:
        kind = "function" if inspect.isroutine(value) else f"{type(value).__name__} object"
        raise ValueError(f"--init {', '.join(init)}: {name} is a {kind}, not a class or an instance method of "
                         "one, so nothing is constructed to take it")
    return Target(value, label)


def import_file(file: Path) -> types.ModuleType:
    """Import ``file`` as a module. Its folder goes first on sys.path and stays there: the
    module's own imports (``from mylib import ...`` next to it), lazy ones included, find it."""
    if not file.is_file():
        raise ValueError(f"no such file: {file}")
    file = file.resolve()
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))
    # registered in sys.modules, as an import would, so dataclasses and pickling find the
    # module; under a name of its own where its stem is taken (a file called losses.py next
    # to an installed 'losses')
    name = file.stem if file.stem not in sys.modules else f"_symce_target_{file.stem}"
    module_spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def construct(cls: type, init: Mapping[str, object]) -> object:
    """``cls(**init)``, after checking that ``init`` gives every argument the constructor
    needs and none it does not take."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # a signature Python cannot read: let the call decide
        return cls(**init)
    named = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not any(p.kind == p.VAR_KEYWORD for p in parameters):
        unknown = [key for key in init if key not in named]
        if unknown:
            raise ValueError(f"--init: {cls.__name__}() takes no argument {', '.join(map(repr, unknown))}; "
                             f"it takes {', '.join(named) or 'none'}")
    missing = [p.name for p in parameters if p.default is p.empty and p.name not in init
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if missing:
        raise ValueError(f"{cls.__name__}() needs {', '.join(missing)}: give "
                         f"{'it' if len(missing) == 1 else 'each'} with --init NAME=VALUE")
    return cls(**init)


def _needs_instance(cls: type, attribute: str) -> bool:
    """Whether ``cls.attribute`` is an instance method (a staticmethod, classmethod or nested
    class is reached from the class itself)."""
    return inspect.isfunction(inspect.getattr_static(cls, attribute, None))


def _callables(module: types.ModuleType) -> str:
    """The public callables ``module`` defines: its own functions and classes, and callable
    objects (of any class) it holds; imported functions, classes and modules left out."""
    names = [name for name, value in vars(module).items() if not name.startswith("_") and callable(value)
             and (getattr(value, "__module__", None) == module.__name__
                  or not (inspect.isclass(value) or inspect.isroutine(value)))]
    return ", ".join(names) or "none"
