"""Which numba threading layer runs symce's parallel kernels, chosen so that they survive ``fork``.

numba runs ``prange`` loops on one of three layers (https://numba.readthedocs.io/en/stable/user/threading-layer.html):

* ``tbb``: safe under concurrent calls from Python threads and in forked children. symce
  depends on the ``tbb`` package wherever it has wheels, and asks numba for this layer.
* ``omp``: with GNU OpenMP (Linux), a child forked after a parallel region ran cannot run one:
  numba kills it with "Terminating: fork() called from a process already using GNU OpenMP",
  which hangs a ``multiprocessing.Pool`` and kills torch ``DataLoader`` workers.
* ``workqueue``: fork-safe, but it aborts the process on concurrent calls from two threads.

:func:`prefer_tbb` runs before the first kernel is looked up. It leaves alone a layer the user
chose (``NUMBA_THREADING_LAYER``, or ``numba.config.THREADING_LAYER`` set before symce ran) and one
that is already running. Where it cannot get ``tbb``, the kernels run on numba's default, and
:func:`check_fork` turns GNU OpenMP's kill in a forked child into an error that names the fix.
numba is imported only by :func:`prefer_tbb`, so that importing symce.functional stays cheap.
"""
from __future__ import annotations

import os
import sys

FORK_FIX = ("install tbb (pip install tbb) so that numba runs symce's kernels on its fork-safe tbb layer "
            "(and leave NUMBA_THREADING_LAYER unset, or set it to tbb), or start worker processes with the "
            "'spawn' or 'forkserver' method (multiprocessing.set_start_method, "
            "DataLoader(multiprocessing_context='spawn'))")

#: set in a child forked from a process that had run a GNU OpenMP parallel region
_forked_after_gnu_openmp = False


def _user_chose_a_layer() -> bool:
    import numba
    return "NUMBA_THREADING_LAYER" in os.environ or str(numba.config.THREADING_LAYER).lower() != "default"


def tbb_available() -> bool:
    """Whether numba's tbb layer can load here (the library present and of a version numba takes)."""
    from numba.np.ufunc import parallel
    try:
        parallel._check_tbb_version_compatible()
        from numba.np.ufunc import tbbpool  # noqa: F401  (the layer itself: it links the library)
    except ImportError:
        return False
    return True


def prefer_tbb() -> str:
    """Ask numba for the tbb layer unless the user chose a layer or one is running; returns the request."""
    import numba
    from numba.np.ufunc import parallel
    if not parallel._is_initialized and not _user_chose_a_layer() and tbb_available():
        numba.config.THREADING_LAYER = "tbb"
    return str(numba.config.THREADING_LAYER)


def _note_fork() -> None:
    global _forked_after_gnu_openmp
    parallel = sys.modules.get("numba.np.ufunc.parallel")  # not imported: no parallel region ran
    if parallel is not None and parallel._is_initialized and parallel._threading_layer == "omp":
        from numba.np.ufunc import omppool
        _forked_after_gnu_openmp = omppool.openmp_vendor == "GNU"


def check_fork() -> None:
    """Raise, instead of being killed, in a child forked after GNU OpenMP ran a parallel region."""
    if _forked_after_gnu_openmp:
        raise RuntimeError("symce's kernels cannot run in this process: it was forked from one that had "
                           "already run numba's OpenMP threading layer (GNU OpenMP), under which a forked "
                           f"child is killed at its first parallel loop. To fix it, {FORK_FIX}")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork)
