"""Measuring: wall-clock timings, agreement with a reference, the machine's memory-copy bandwidth,
peak extra memory, start-up.

Peak memory is the process's resident-set high-water mark (``VmHWM`` of /proc/self/status) above
the resident set just before the call, after resetting the mark by writing ``5`` to
/proc/self/clear_refs (Linux ≥ 4.0). It counts every page the call touches, whoever allocates it:
NumPy, torch's allocator, numba's threads. It is measured in a separate process
(:mod:`symce.bench.memory`) whose malloc returns every block above 64 KiB to the system when it is
freed, so pages left over from earlier calls cannot hide a new allocation.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Timing:
    """The wall-clock seconds of repeated calls (after warm-up)."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def quartiles(self) -> tuple[float, float]:
        if len(self.times) < 2:
            return self.times[0], self.times[0]
        q1, _, q3 = statistics.quantiles(self.times, n=4, method="inclusive")
        return q1, q3

    @property
    def spread(self) -> float:
        """The interquartile range relative to the median."""
        q1, q3 = self.quartiles
        return (q3 - q1) / self.median if self.median > 0 else 0.0

    def as_json(self) -> dict:
        q1, q3 = self.quartiles
        return {"median_s": self.median, "q1_s": q1, "q3_s": q3, "min_s": min(self.times),
                "max_s": max(self.times), "spread": self.spread, "times_s": list(self.times)}


#: the most timed calls time_calls makes to fill its ``fill_seconds``
MOST_CALLS = 200


def time_calls(call: Callable[[], object], repeat: int, warmup: int = 1,
               before: Callable[[], object] | None = None,
               check: Callable[[object], object] | None = None, fill_seconds: float = 0.0) -> Timing:
    """Time ``repeat`` calls of ``call`` after ``warmup`` untimed ones, and more, up to MOST_CALLS,
    while the timed calls add up to less than ``fill_seconds``: a median of 9 calls of 1-2 ms
    moved by half between two variants of the same kernel on a 2-core machine, where one of
    hundreds does not. ``before`` runs untimed ahead of each call (to restore an input that the
    call overwrites); ``check`` receives the first warm-up's result (which is then dropped,
    before the timed calls)."""
    for index in range(warmup):
        if before is not None:
            before()
        result = call()
        if index == 0 and check is not None:
            check(result)
        del result
    times, timed = [], 0.0
    while len(times) < repeat or (timed < fill_seconds and len(times) < MOST_CALLS):
        if before is not None:
            before()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        timed += times[-1]
    return Timing(tuple(times))


def copy_bandwidth(nbytes: int, repeat: int, source: np.ndarray | None = None, fill_seconds: float = 0.0) -> dict:
    """Bytes per second that a copy of an ``nbytes`` buffer moves (read + write = 2·nbytes):
    ``np.copyto`` (one thread) and torch's ``Tensor.copy_`` (its intra-op threads); the reference
    bandwidth is the faster of the two. ``source``: copy that array (a row's logits) instead of a
    new buffer, saving one allocation of its size."""
    import torch

    source = np.ones(nbytes // 8) if source is None else source
    target = np.zeros_like(source)  # touched: its pages are mapped before the timed copies
    copyto = time_calls(lambda: np.copyto(target, source), repeat, fill_seconds=fill_seconds)
    torch_source, torch_target = torch.from_numpy(source), torch.from_numpy(target)
    copy_ = time_calls(lambda: torch_target.copy_(torch_source), repeat, fill_seconds=fill_seconds)
    moved = 2 * source.nbytes
    result = {"buffer_bytes": source.nbytes, "numpy_copyto": moved / copyto.median,
              "torch_copy": moved / copy_.median}
    result["reference"] = max(result["numpy_copyto"], result["torch_copy"])
    return result


# --- peak extra memory ---------------------------------------------------------------------------

# --- agreement with a reference (torch's result) ------------------------------------------------

def relative_difference(value, reference) -> float:
    """|value − reference| / |reference| (the absolute difference where the reference is 0)."""
    value, reference = float(value), float(reference)
    return abs(value - reference) / abs(reference) if reference else abs(value)


def gradient_difference(gradient: np.ndarray, reference: np.ndarray, sample: int = 1 << 22) -> float:
    """max |gradient − reference| / max |reference| over evenly spaced rows holding about ``sample``
    elements in all (every row of a smaller gradient), a block of rows at a time: checking a 2 GiB
    gradient costs little and makes no full-size temporaries."""
    a, b = gradient.reshape(len(gradient), -1), reference.reshape(len(reference), -1)
    rows = np.arange(0, len(a), max(1, a.size // sample))
    block = max(1, (1 << 20) // max(1, a.shape[1]))
    worst = scale = 0.0
    for start in range(0, len(rows), block):
        chosen = rows[start:start + block]
        x, y = a[chosen].astype(np.float64), b[chosen].astype(np.float64)
        worst = max(worst, float(np.max(np.abs(x - y), initial=0.0)))
        scale = max(scale, float(np.max(np.abs(y), initial=0.0)))
    return worst / scale if scale else worst


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def reset_peak() -> None:
    """Reset the resident-set high-water mark (VmHWM) to the current resident set."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_memory_supported() -> bool:
    try:
        reset_peak()
        _status_kib("VmHWM")
    except OSError:
        return False
    return True


def peak_extra_bytes(call: Callable[[], object]) -> int:
    """How far the resident set rises above its level before ``call`` while the call runs
    (the result it returns included, since it is alive when the mark is read). Memory that only a
    garbage collection would free before the call is not collected: collect first if that matters."""
    baseline = _status_kib("VmRSS")
    reset_peak()
    result = call()
    peak = _status_kib("VmHWM")
    del result
    return max(peak - baseline, 0) * 1024


# --- start-up ------------------------------------------------------------------------------------

#: a new process's start-up, timed inside it: from before ``imports`` to the end of ``call``
TIMED_START = """\
import time
start = time.perf_counter()
import numpy as np
{imports}
imported = time.perf_counter()
{call}
called = time.perf_counter()
import json
print(json.dumps({{"import_s": imported - start, "first_call_s": called - imported, "total_s": called - start}}))
"""
STARTUP_SCRIPT = TIMED_START.format(
    imports="import symce.functional as F",
    call="F.cross_entropy_value_and_grad(np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]), np.array([0, 2]))")

#: run ahead of STARTUP_SCRIPT to time a process on a machine without these packages
HIDE_PACKAGES = """\
import sys
class _Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ImportError(f"{{name}} is hidden for this measurement")
sys.meta_path.insert(0, _Hidden())
"""

#: numba imports SciPy's BLAS wrappers when SciPy is installed (for np.dot and np.linalg), about
#: 0.13-0.17 s here; symce needs neither, and does not install SciPy
OPTIONAL_IMPORTS = ("scipy",)


#: numba's own share of a start-up: the same two steps for a one-line cached njit function in a
#: module of its own (numba cannot cache a function defined in ``-c``), so the report shows how
#: much of symce's start-up any cached numba function pays in a new process
NUMBA_FLOOR_MODULE = """\
import numba


@numba.njit(cache=True)
def add_one(x):
    return x + 1.0
"""
NUMBA_FLOOR_SCRIPT = TIMED_START.format(imports="import numba_floor_probe",
                                        call="numba_floor_probe.add_one(np.float64(1.0))")


def startup(runs: int = 2, hidden: tuple[str, ...] = ()) -> list[dict]:
    """Seconds to import symce.functional and make the first kernel call, in ``runs`` new processes
    one after the other (the first may fill numba's cache, the later ones read it), timed inside
    each process from before the import; ``hidden`` packages cannot be imported there (as on a
    machine without them). A process that fails gives {"error": its last line}."""
    return _new_processes(STARTUP_SCRIPT, runs, hidden)


def numba_floor(runs: int = 2, hidden: tuple[str, ...] = ()) -> list[dict]:
    """:func:`startup` for numba alone: import numba and call a one-line cached njit function, in
    ``runs`` new processes sharing one fresh cache (the first fills it, the later ones read it)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="symce-numba-floor-") as directory:
        with open(os.path.join(directory, "numba_floor_probe.py"), "w") as module:
            module.write(NUMBA_FLOOR_MODULE)
        return _new_processes(f"import sys\nsys.path.insert(0, {directory!r})\n{NUMBA_FLOOR_SCRIPT}", runs, hidden)


def _new_processes(script: str, runs: int, hidden: tuple[str, ...]) -> list[dict]:
    """The JSON line ``script`` prints, from ``runs`` new processes one after the other, with the
    ``hidden`` packages unimportable; a process that fails gives {"error": its last line}.

    The processes write Python's bytecode cache as Python does by default, whatever this one's
    PYTHONDONTWRITEBYTECODE says: the first process fills it as it fills numba's, and the later
    ones start as a user's second run does. With the variable set (as in some sandboxes) every
    process compiled symce's sources again, 0.04 s (generated/cross_entropy.py alone 0.026 s)."""
    script = (HIDE_PACKAGES.format(hidden=set(hidden)) if hidden else "") + script
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    results = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment)
        if done.returncode:
            results.append({"error": (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]})
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def warm_median(runs: list[dict]) -> float | None:
    """The median total of the processes after the first (which may fill the caches), of those
    that did not fail; None where none is left."""
    totals = [run["total_s"] for run in runs[1:] if "total_s" in run]
    return statistics.median(totals) if totals else None


def installed_optional_imports() -> tuple[str, ...]:
    """The packages of OPTIONAL_IMPORTS installed here: numba imports them, symce does not need them."""
    import importlib.util

    return tuple(name for name in OPTIONAL_IMPORTS if importlib.util.find_spec(name) is not None)


# --- the machine ---------------------------------------------------------------------------------

def _version(package: str) -> str | None:
    """An installed distribution's version (without importing it), None where it is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    """CPU model, cores, memory and library versions (jax, jaxlib, optax: None where not installed)."""
    import numba
    import torch

    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "memory_bytes": None, "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "torch": torch.__version__,
            **{package: _version(package) for package in ("jax", "jaxlib", "optax")}}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
        with open("/proc/meminfo") as meminfo:
            info["memory_bytes"] = int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal"))) * 1024
    except (OSError, StopIteration):
        pass
    return info
