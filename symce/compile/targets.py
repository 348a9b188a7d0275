"""``NAME`` or ``path/to/file.py:NAME`` on the command line: a built-in spec, a user's Spec, or a
function traced into one (``like``), for ``symce compile``, ``symce derive`` and ``symce verify --spec``."""
from __future__ import annotations

from symce.spec import Spec, get


def is_path(text: str) -> bool:
    """Whether ``text`` names something in a file (``file.py:NAME``) rather than a built-in spec."""
    path, sep, _ = text.rpartition(":")
    return bool(sep) and path.endswith(".py")


def load(text: str):
    """The Spec or function ``file.py:NAME`` names (the file imported as symce verify imports targets)."""
    from symce.verify.targets import import_file, split_target

    file, name = split_target(text)
    module = import_file(file)
    if name not in vars(module):
        specs = sorted(key for key, value in vars(module).items() if isinstance(value, Spec))
        raise ValueError(f"{file} defines no {name!r}; its specs: {', '.join(specs) or 'none'}")
    return vars(module)[name]


def spec(text: str, like: str | None = None, params: dict | None = None) -> Spec:
    """The spec ``text`` names: a built-in name, a Spec in a file, or a function in a file traced with ``like``."""
    if not is_path(text):
        return get(text)
    value = load(text)
    if isinstance(value, Spec):
        return value
    if callable(value):
        from symce.compile.trace import spec_from_code

        return spec_from_code(value, like, params or {})[0]
    raise ValueError(f"{text} is a {type(value).__name__}, neither a symce.spec.Spec nor a function")
