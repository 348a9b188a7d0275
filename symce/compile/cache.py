"""The persistent kernel cache: one generated module per spec, under a stable name, shared by processes.

A compiled loss's kernels live in ``<cache>/kernels/<spec name>-<key>/kernels.py``, with numba's
own cache of their machine code in the ``__pycache__`` beside it. ``<cache>`` is
``$SYMCE_CACHE_DIR`` or else the platform's user cache folder (``$XDG_CACHE_HOME/symce`` or
``~/.cache/symce`` on Linux, ``~/Library/Caches/symce`` on macOS, ``%LOCALAPPDATA%\\symce\\Cache``
on Windows). ``<key>`` is a sha256 of the spec (its expression, inputs, parameters and mean
weight, each as ``srepr``), of the generator version and of the text of the generator itself
(:func:`symce.compile._interfaces.generator_sources`): an edited generator gets new folders and
never meets kernels the old one printed.

Every process imports a module under the same name, ``symce_compiled_<name>_<key>``:
numba's cache records the module a kernel belongs to, and a name that changed from process to
process made every later process fail to load it (``ModuleNotFoundError``).

A module is written once and never rewritten (numba keys its cache on the file's modification
time), atomically (a temporary file renamed into place, so no process reads a torn module), and
under an exclusive lock where the platform has ``fcntl``: of two processes compiling the same new
spec at once, one generates the module and the other waits for it, then both load it.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import uuid
from pathlib import Path
from types import ModuleType

import sympy as sp

from symce.compile import _interfaces
from symce.spec import Spec

#: the environment variable that overrides the cache folder
ENVIRONMENT = "SYMCE_CACHE_DIR"
#: characters of the sha256 kept in folder and module names
KEY_LENGTH = 16


class CacheDirError(OSError):
    """The kernel cache folder cannot be created or written."""


def default_root() -> Path:
    """The platform's user cache folder for symce (``SYMCE_CACHE_DIR`` not consulted)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "symce" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "symce"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "symce"


def root() -> Path:
    """The cache folder, created if missing: ``$SYMCE_CACHE_DIR``, else :func:`default_root`.

    Raises :class:`CacheDirError`, saying what to do, where it cannot be created or written
    (a read-only or missing home).
    """
    try:
        folder = Path(os.environ[ENVIRONMENT]) if os.environ.get(ENVIRONMENT) else default_root()
    except RuntimeError as error:  # Path.home() without a home
        raise CacheDirError(f"symce cannot find a folder for its kernel cache ({error}): set {ENVIRONMENT} "
                            "to a writable folder") from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"{folder} is not writable")
    except OSError as error:
        raise CacheDirError(f"symce cannot write its kernel cache to {folder} ({error}); set {ENVIRONMENT} "
                            "to a writable folder, e.g. SYMCE_CACHE_DIR=/tmp/symce-cache") from None
    return folder


def key(spec: Spec) -> str:
    """The sha256 (hex) naming ``spec``'s kernels: the spec and the text of the generator (its version,
    ``GENERATOR_VERSION`` in symce/codegen/modules.py, included) and of the runtime."""
    digest = hashlib.sha256()
    parts = [spec.name, sp.srepr(spec.expr), sp.srepr(spec.mean_weight)]
    parts += [f"{item.name}|{sp.srepr(item.symbol)}|{item.kind}" for item in spec.inputs]
    parts += [f"{item.name}|{sp.srepr(item.symbol)}|{item.kind}|{sp.srepr(item.default)}" for item in spec.params]
    digest.update("\n".join(parts).encode())
    for path in _interfaces.generator_sources():
        digest.update(path.read_bytes())
    return digest.hexdigest()


def module_name(spec: Spec, spec_key: str) -> str:
    """The stable import name of ``spec``'s module: the same in every process."""
    return f"{_interfaces.MODULE_PREFIX}_{spec.name}_{spec_key[:KEY_LENGTH]}"


def folder(spec: Spec, spec_key: str, base: Path | None = None) -> Path:
    """Where ``spec``'s module and numba's cache of it live."""
    return (root() if base is None else Path(base)) / "kernels" / f"{spec.name}-{spec_key[:KEY_LENGTH]}"


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (created), held for the block; no lock where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # Windows: the atomic, no-clobber write below still keeps every file whole
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_once(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it exists, atomically; returns whether it wrote.

    The text goes to a temporary file in the same folder (itself written atomically, as ``symce
    regen`` writes) that is then hard-linked to ``path``, which fails if ``path`` exists: a reader
    sees no file or the whole file, and a module that exists is never replaced (numba's cache of it
    stays valid).
    """
    if path.exists():
        return False
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        _interfaces.write_if_changed(temporary, text)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            if path.exists():
                return False
            os.replace(temporary, path)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def source(spec: Spec) -> tuple[str, list[str]]:
    """The module text of ``spec``'s kernels (``<name>_forward``, ``<name>_forward_backward`` and
    their ``_sum`` and ``_in_place`` variants, as ``symce regen`` prints the built-in ones), and the
    names of the stability rewrites that changed an expression on the way."""
    with _interfaces.recording_rewrites() as applied:
        text = _interfaces.module_source(spec.name, {spec.name: spec.expr},
                                         _interfaces.loss_kernels(spec, spec.name), command="symce compile")
    return text, applied


#: the file beside a module that lists the rewrites applied while it was generated, one a line
REWRITES = "rewrites.txt"


def _import(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(loader)
    sys.modules[name] = module
    try:
        loader.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load(spec: Spec, base: Path | None = None) -> tuple[ModuleType, bool]:
    """``spec``'s kernel module, generated into the cache first if it is not there; and whether it was.

    A module already in the cache is imported without running SymPy or the generator; numba then
    loads each kernel's machine code from its cache on the first call instead of compiling.
    """
    _interfaces.prefer_tbb()  # before the module's first parallel loop, as for the built-in kernels
    spec_key = key(spec)
    name = module_name(spec, spec_key)
    if name in sys.modules:
        return sys.modules[name], False
    place = folder(spec, spec_key, base)
    path = place / "kernels.py"
    generated = False
    if not path.exists():
        place.mkdir(parents=True, exist_ok=True)
        with _locked(place / ".lock"):
            if not path.exists():
                text, applied = source(spec)
                write_once(place / REWRITES, "".join(f"{name}\n" for name in applied))
                generated = write_once(path, text)
    return _import(name, path), generated


def rewrites_applied(spec: Spec, base: Path | None = None) -> tuple[str, ...]:
    """The stability rewrites recorded when ``spec``'s module was generated (generating it if need be)."""
    load(spec, base)
    listing = folder(spec, key(spec), base) / REWRITES
    return tuple(listing.read_text().split()) if listing.exists() else ()
