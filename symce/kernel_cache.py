"""numba's on-disk cache of the generated kernels: finding files it cannot read, and removing them.

numba caches each compiled kernel as an index (``.nbi``: a pickled version, then the pickled source
stamp and overloads) and data files (``.nbc``: a pickled library, with its LLVM bitcode) in the
module's ``__pycache__`` (https://numba.readthedocs.io/en/stable/developer/caching.html). numba
writes them atomically, but a full disk, a copied or synced folder or a flipped bit can leave one
truncated, empty or garbled, and numba then raises on every call (``UnpicklingError``,
``EOFError``, "LLVM bitcode parsing error") instead of compiling again. A missing cache file, on
the other hand, only costs a compilation. So:

* :func:`repair_after` reads, from the traceback of a failed call, which cache files numba was
  loading, removes them and says so once, and the caller runs the kernel again (compiled anew);
* :func:`unreadable` lists the files of a folder that do not unpickle (``symce regen --check``
  reports them, ``symce regen`` removes them with :func:`remove`).
"""
from __future__ import annotations

import pickle
import traceback
import warnings
from importlib.metadata import version
from pathlib import Path

#: the numba module whose frames load (and rebuild) cached kernels
_LOADER = Path("numba") / "core" / "caching.py"


class KernelCacheWarning(RuntimeWarning):
    """numba's cache of a kernel could not be read; it was removed and the kernel compiled again."""


def _function_files(index: Path) -> list[Path]:
    """A function's cache files: its index ``NAME.nbi`` and data files ``NAME.<n>.nbc``."""
    return [index, *index.parent.glob(f"{index.stem}.*.nbc")]


def _indexes_loading(error: BaseException) -> list[Path]:
    """The cache indexes of the functions numba was loading where ``error`` was raised."""
    indexes = []
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if Path(frame.f_code.co_filename).parts[-3:] != _LOADER.parts:
            continue
        cache_file = getattr(frame.f_locals.get("self"), "_cache_file", frame.f_locals.get("self"))
        index = getattr(cache_file, "_index_path", None)
        if index is not None and Path(index) not in indexes:
            indexes.append(Path(index))
    return indexes


def repair_after(error: BaseException) -> bool:
    """Remove the cache files numba failed to load when it raised ``error``; whether there were any.

    An error raised anywhere but in numba's cache loader (a kernel's own, a bad argument) names no
    cache file: nothing is removed, and the caller re-raises it.
    """
    removed = [path for index in _indexes_loading(error) for path in _function_files(index) if path.exists()]
    for path in removed:
        path.unlink(missing_ok=True)
    if removed:
        names = ", ".join(str(path) for path in removed)
        warnings.warn(f"numba's cache of a symce kernel could not be read ({type(error).__name__}: {error}); "
                      f"removed {names}, and the kernel is compiled again", KernelCacheWarning, stacklevel=3)
    return bool(removed)


def _readable(path: Path) -> bool:
    """Whether numba can unpickle ``path`` (an index of another numba version is skipped by numba, so fine)."""
    try:
        with open(path, "rb") as file:
            if path.suffix == ".nbi":
                if pickle.load(file) != version("numba"):
                    return True  # numba reads no further than another version's number, and recompiles
                stamp, overloads = pickle.loads(file.read())
                return isinstance(overloads, dict)
            pickle.loads(file.read())
            return True
    except Exception:  # noqa: BLE001 (a garbled pickle raises nearly anything)
        return False


def unreadable(folder: Path) -> list[Path]:
    """The numba cache files in ``folder/__pycache__`` that numba could not load."""
    cache = folder / "__pycache__"
    return sorted(path for pattern in ("*.nbi", "*.nbc") for path in cache.glob(pattern) if not _readable(path))


def remove(paths: list[Path]) -> None:
    """Remove cache files (a function's index with its data files, which it alone names)."""
    for path in paths:
        for file in _function_files(path) if path.suffix == ".nbi" else [path]:
            file.unlink(missing_ok=True)


#: what numba raises when it finds no folder to cache a function in (`cache=True`): neither beside
#: its source (an installed, read-only package) nor under the user's home (an unwritable HOME)
NO_CACHE_FOLDER = "no locator available"


def no_cache_folder(error: BaseException) -> RuntimeError | None:
    """The error to raise instead of numba's where it has nowhere to cache the kernels, else None."""
    if not (isinstance(error, RuntimeError) and NO_CACHE_FOLDER in str(error)):
        return None
    return RuntimeError("numba cannot cache symce's kernels: neither symce's own folder nor the home folder is "
                        "writable here. Give numba a writable folder, e.g. `export NUMBA_CACHE_DIR=/tmp/numba-cache`, "
                        f"before Python starts (numba: {error})")
