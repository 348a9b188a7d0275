"""One benchmark run: every (case, shape, dtype) row timed, checked and measured, plus the
machine's copy bandwidth, the start-up time and the accuracy table, as one JSON-able report.

Per row, in this order (so that at most the logits, torch's gradient and one call's own arrays
are alive at a time): a copy of an array of the row's size (the bandwidth of its memory-traffic
bound), the forward of torch, its peers (torch.compile, JAX: :mod:`.peers`), NumPy and symce, then
forward+backward of torch, the peers, NumPy, symce with a fresh gradient, symce with ``out=`` a reused buffer, and symce in place
(``out=`` its input, restored untimed before each call). Each is warmed up once; the warm-up's
result is compared with torch's (loss, and the gradient element by element relative to torch's
largest entry), which also checks that every variant computes the same thing.
"""
from __future__ import annotations

import datetime
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from symce.bench import cases as bench_cases
from symce.bench import measure, peers, ratios
from symce.bench.cases import FORWARD, FORWARD_BACKWARD, PEERS, RIVALS, Case
from symce.bench.linear import measure_linear_cross_entropy

#: rows from this many elements (16 Mi) on are "large": fewer repeats of torch and NumPy, whose calls
#: take 1–10 s there; symce's (0.03–0.5 s) keep the default, as their medians are the ratios' other half
LARGE = 1 << 24
DEFAULT_REPEAT, LARGE_REPEAT, QUICK_REPEAT = 9, 3, 3
#: a full run's timings go on past their repeats until their calls add up to this (short calls:
#: up to measure.MOST_CALLS); --quick and an explicit --repeat time exactly their repeats
FILL_SECONDS = 0.25
BANDWIDTH_BYTES, QUICK_BANDWIDTH_BYTES = 1 << 30, 1 << 28
#: the kernels' accuracy goals: worst relative error against mpmath (tests/test_kernels.py TOLERANCE)
ACCURACY_GOALS = {"float64": 1e-13, "float32": 1e-5}
STARTUP_GOAL_S = 0.5
#: new processes per start-up series (--quick: QUICK_STARTUP_RUNS): the first may fill the caches,
#: and the median of the rest is the reading (two processes moved 0.5-0.9 s apart on a busy machine)
STARTUP_RUNS, QUICK_STARTUP_RUNS = 6, 2
#: --quick runs the linear + cross-entropy row at this size (default: 8192 × 1024 → 32000, float32)
QUICK_LINEAR_SHAPE = {"n": 512, "hidden": 128, "vocab": 4000}
#: --quick (which CI runs) compiles torch.compile on the forward+backward of its first row only: one
#: compilation takes 2-10 s (the first in a process the longest, with inductor's disk cache empty)
QUICK_COMPILE = "torch.compile: --quick compiles only the first row's forward+backward (2-10 s a compilation)"


@dataclass(frozen=True)
class Settings:
    """What to run: ``shapes`` None means each case's own (its quick ones with ``quick``);
    ``repeat`` None means DEFAULT_REPEAT (LARGE_REPEAT for torch and NumPy on large rows),
    QUICK_REPEAT with ``quick``."""

    cases: tuple[Case, ...] = bench_cases.CASES
    shapes: tuple[tuple[int, int], ...] | None = None
    dtypes: tuple[np.dtype, ...] = (np.dtype(np.float32), np.dtype(np.float64))
    repeat: int | None = None
    quick: bool = False
    seed: int = 0
    #: the chunked linear + cross-entropy row (symce.bench.linear); its shape is smaller with ``quick``
    linear: bool = True
    #: the peers timed besides torch eager (keys of cases.PEERS)
    peers: tuple[str, ...] = tuple(PEERS)

    def left_out(self, index: int) -> dict[str, dict[str, str]]:
        """part → peer → why the peer is not timed on the run's row ``index``."""
        chosen = {key: f"{PEERS[key]}: left out by --peers" for key in PEERS if key not in self.peers}
        compile_ = {"torch_compile": QUICK_COMPILE} if self.quick and "torch_compile" in self.peers else {}
        return {"forward": chosen | compile_, "forward_backward": chosen | (compile_ if index else {})}

    def shapes_of(self, case: Case) -> tuple[tuple[int, int], ...]:
        return self.shapes or (case.quick_shapes if self.quick else case.shapes)

    def repeats(self, shape: tuple[int, int]) -> dict[str, int]:
        """Timed calls per implementation key."""
        if self.repeat or self.quick:
            return dict.fromkeys(FORWARD_BACKWARD, self.repeat or QUICK_REPEAT)
        large = shape[0] * shape[1] >= LARGE
        return {key: LARGE_REPEAT if large and not key.startswith("symce") else DEFAULT_REPEAT
                for key in FORWARD_BACKWARD}

    @property
    def fill_seconds(self) -> float:
        """The timed seconds each measurement fills (see FILL_SECONDS); 0 for a fixed count."""
        return 0.0 if self.repeat or self.quick else FILL_SECONDS

    def as_json(self) -> dict:
        return {"cases": [case.name for case in self.cases], "shapes": self.shapes, "dtypes": [d.name for d in self.dtypes],
                "repeat": self.repeat, "quick": self.quick, "seed": self.seed, "large_elements": LARGE,
                "default_repeat": DEFAULT_REPEAT, "large_repeat": LARGE_REPEAT, "quick_repeat": QUICK_REPEAT,
                "fill_seconds": self.fill_seconds, "most_calls": measure.MOST_CALLS,
                "reduction": "mean", "peers": list(self.peers)}


def _as_numpy(value):
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


# --- one row -------------------------------------------------------------------------------------

def _time_part(part: str, keys: dict, builders: dict, repeats: dict, row: dict, fill_seconds: float) -> None:
    """Time every implementation of one part (forward or forward_backward) into ``row``, checking
    each warm-up result against torch's (timed first). Returns with nothing of the part alive."""
    torch_result = {}

    def compare(key):
        def check(result):
            loss, gradient = (result, None) if part == "forward" else result
            loss = _as_numpy(loss)
            gradient = None if gradient is None else _as_numpy(gradient)
            if key == "torch":
                torch_result.update(loss=loss, gradient=gradient)
                return
            agreement = {"loss": measure.relative_difference(loss, torch_result["loss"])}
            if gradient is not None:
                agreement["gradient"] = measure.gradient_difference(gradient, torch_result["gradient"])
            row["agreement"][part][key] = agreement
        return check

    for key in keys:
        build = builders.pop(key)
        try:
            call = build() if callable(build) else None
        except peers.Unavailable as error:  # a peer that fails to compile here
            call, build = None, str(error)
        if call is None:
            row[part][key] = None
            row["unavailable"][key] = build
            continue
        if call.compile_s is not None:
            row["compile_s"][part][key] = call.compile_s
        row[part][key] = measure.time_calls(call.run, repeats[key], before=call.before, check=compare(key),
                                            fill_seconds=fill_seconds).as_json()
        del call


def _builders(case: Case, inputs, settings: Settings, index: int) -> tuple[dict, dict]:
    """FORWARD and FORWARD_BACKWARD key → builder of the call, or why it does not run on this row."""
    peer_forward, peer_backward = peers.calls(case, inputs, settings.peers)
    left_out = settings.left_out(index)
    return (bench_cases.forward_calls(case, inputs) | peer_forward | left_out["forward"],
            bench_cases.forward_backward_calls(case, inputs) | peer_backward | left_out["forward_backward"])


def measure_row(case: Case, shape, dtype: np.dtype, settings: Settings, bandwidth: float,
                probe=None, index: int = 0) -> dict:
    """Timings, speed-ups, bandwidth fractions, agreement and peak memory of one (case, shape, dtype),
    the run's row ``index`` (Settings.left_out)."""
    inputs = bench_cases.make_inputs(case, shape, dtype, settings.seed)
    repeats = settings.repeats(shape)
    row = {"case": case.name, "title": case.title, "loss": case.loss, "shape": list(shape), "dtype": dtype.name,
           "elements": int(inputs.logits.size),
           "bytes": {"forward": inputs.bytes_forward, "forward_backward": inputs.bytes_forward_backward,
                     "gradient": inputs.logits.nbytes},
           "repeat": repeats, "forward": {}, "forward_backward": {}, "unavailable": {},
           "compile_s": {"forward": {}, "forward_backward": {}},
           "agreement": {"forward": {}, "forward_backward": {}}}
    # first, while only the logits are alive: the copy of an array of the row's size, its bound's bandwidth
    row_copy = measure.copy_bandwidth(inputs.logits.nbytes, repeats["torch"], source=inputs.logits,
                                      fill_seconds=settings.fill_seconds)
    forward, forward_backward = _builders(case, inputs, settings, index)
    _time_part("forward", FORWARD, forward, repeats, row, settings.fill_seconds)
    _time_part("forward_backward", FORWARD_BACKWARD, forward_backward, repeats, row, settings.fill_seconds)
    del inputs, forward, forward_backward  # the memory process rebuilds them: only one copy at a time
    _compare(row, bandwidth, row_copy)
    row["peak_extra_bytes"] = None
    if probe is not None:
        try:
            row["peak_extra_bytes"] = probe.measure(case.name, shape, dtype.name, settings.seed)
        except RuntimeError as error:  # reported, not fatal: the timings stand without it
            row["peak_memory_error"] = str(error)
    return row


PARTS = (("forward", FORWARD), ("forward_backward", FORWARD_BACKWARD))


def _compare(row: dict, bandwidth: float, row_copy: dict) -> None:
    """A row's ratios: symce over torch eager (median; torch's fastest call) and over the fastest of
    torch eager and the peers; each reading's fraction of the run's copy bandwidth and of the row's
    memory-traffic bound."""
    symce = {part: [key for key in keys if key.startswith("symce")] for part, keys in PARTS}
    row["speedup"] = {part: {key: ratios.speedup(row[part]["torch"], row[part][key]) for key in symce[part]}
                      for part, _ in PARTS}
    # torch's calls vary most (fresh multi-GiB temporaries, its allocator): its fastest call, a
    # conservative reading that noise on torch's side cannot inflate
    row["speedup_vs_fastest_torch"] = {
        part: {key: ratios.speedup(row[part]["torch"], row[part][key], "min_s") for key in symce[part]}
        for part, _ in PARTS}
    row["fastest_peer"] = {part: ratios.fastest(row[part], RIVALS) for part, _ in PARTS}
    row["speedup_vs_fastest_peer"] = {
        part: {key: ratios.speedup(row[part].get(row["fastest_peer"][part]), row[part][key]) for key in symce[part]}
        for part, _ in PARTS}
    row["bandwidth_fraction"] = {
        part: {key: (row["bytes"][part] / timing["median_s"] / bandwidth if timing else None)
               for key, timing in row[part].items()}
        for part, _ in PARTS}
    row["bound"] = {"copy": row_copy} | {
        part: ratios.traffic_bound(row["bytes"][part], row_copy["reference"], row[part]) for part, _ in PARTS}


# --- the whole run -------------------------------------------------------------------------------

def accuracy(dtypes) -> dict:
    """Worst relative error against the mpmath reference per kernel (symce.bench.accuracy)."""
    from symce.bench.accuracy import worst_errors

    rows = []
    for dtype in sorted(dtypes, key=lambda d: -d.itemsize):
        goal = ACCURACY_GOALS[dtype.name]
        for kernel, errors in worst_errors(dtype.type).items():
            rows.append({"kernel": kernel, "dtype": dtype.name, "symce": errors["symce"], "torch": errors["torch"],
                         "goal": goal, "symce_within_goal": max(errors["symce"]) <= goal})
    return {"goals": ACCURACY_GOALS, "rows": rows,
            "what": "worst relative error |got − true| / max(|true|, tiny) over symce.bench.accuracy's adversarial "
                    "inputs, true = the spec in mpmath at 50+ digits; [loss, gradient] (gradient element-wise)"}


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _threading_layer() -> str | None:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return None


def _warm_medians(runs: list[dict], runs_hidden: list[dict] | None) -> dict:
    return {"median_s": measure.warm_median(runs),
            "median_hidden_s": measure.warm_median(runs_hidden) if runs_hidden else None}


def run(settings: Settings, log=print) -> dict:
    """The report of one benchmark run; ``log`` receives a progress line per step."""
    import numba
    import torch

    started = time.perf_counter()
    load_before = _load_average()
    # first, before this process compiles anything: how long a new process takes to start
    runs = QUICK_STARTUP_RUNS if settings.quick else STARTUP_RUNS
    startup = measure.startup(runs=runs)
    optional = measure.installed_optional_imports()
    startup_hidden = measure.startup(runs=runs, hidden=optional) if optional else None
    floor = measure.numba_floor(runs=runs)
    floor_hidden = measure.numba_floor(runs=runs, hidden=optional) if optional else None
    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    if "jax" in settings.peers and not peers.jax_missing():
        peers.start_jax(threads)
    log("start-up: " + ", ".join(f"{run['total_s']:.2f} s" if "total_s" in run else run["error"]
                                 for run in startup + (startup_hidden or [])))
    bandwidth = measure.copy_bandwidth(QUICK_BANDWIDTH_BYTES if settings.quick else BANDWIDTH_BYTES,
                                       repeat=QUICK_REPEAT if settings.quick else DEFAULT_REPEAT)
    log(f"copy bandwidth: {bandwidth['reference'] / 1e9:.1f} GB/s")
    probe = None
    if measure.peak_memory_supported():
        from symce.bench.memory import MemoryProbe
        probe = MemoryProbe()
    rows = []
    try:
        for case in settings.cases:
            for shape in settings.shapes_of(case):
                for dtype in settings.dtypes:
                    start = time.perf_counter()
                    rows.append(measure_row(case, shape, dtype, settings, bandwidth["reference"], probe,
                                            index=len(rows)))
                    log(f"{case.title} {shape[0]}x{shape[1]} {dtype.name}: {time.perf_counter() - start:.1f} s")
    finally:
        if probe is not None:
            probe.close()
    linear = None
    if settings.linear:

        start = time.perf_counter()
        shape = QUICK_LINEAR_SHAPE if settings.quick else {}
        # --quick leaves torch.compile out of it (QUICK_COMPILE)
        compiled = "torch_compile" in settings.peers and not settings.quick
        linear = measure_linear_cross_entropy(**shape, repeat=QUICK_REPEAT if settings.quick else LARGE_REPEAT,
                                              compile=compiled)
        log(f"linear + cross-entropy: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    try:
        accuracy_table = accuracy(settings.dtypes)
    except Exception as error:  # reported: the timings of the run stand without it
        accuracy_table = {"goals": ACCURACY_GOALS, "rows": [], "error": f"{type(error).__name__}: {error}"}
    log(f"accuracy: {time.perf_counter() - start:.1f} s")
    return {
        "schema": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "machine": measure.machine() | {"numba_threading_layer": _threading_layer()},
        "load_average": {"before": load_before, "after": _load_average(),
                         "what": "1-minute load average of the machine (os.getloadavg) before and after the run: "
                                 "other processes on the same cores disturb the timings"},
        "threads": {"numba": threads, "torch": torch.get_num_threads(), "numpy": 1,
                    "jax": peers.xla_pool_threads() if "jax" in settings.peers and not peers.jax_missing() else None},
        "settings": settings.as_json(),
        "bandwidth": bandwidth,
        "startup": {"runs": startup, "goal_s": STARTUP_GOAL_S,
                    "hidden": list(optional), "runs_hidden": startup_hidden,
                    **_warm_medians(startup, startup_hidden),
                    "what": "seconds inside a new process from before `import symce.functional` to the end of its "
                            f"first cross_entropy_value_and_grad call; {runs} processes one after the other, each "
                            "writing Python's bytecode cache as Python does by default; median_s: the median of "
                            "all but the first, which may fill numba's and Python's caches; "
                            "runs_hidden: the same with the packages in 'hidden' made unimportable, as on a machine "
                            "without them (numba imports SciPy when it is installed; symce does not need it)",
                    "numba_floor": {"runs": floor, "runs_hidden": floor_hidden, **_warm_medians(floor, floor_hidden),
                                    "what": "the same, for numba alone: import numba and call a one-line cached "
                                            "njit function, new processes sharing a fresh cache (the first "
                                            "fills it); what any cached numba function costs to start"}},
        "peak_memory": {"measured": probe is not None,
                        "what": "resident-set high-water mark above the level before the call (VmHWM after "
                                "/proc/self/clear_refs), one call, in a separate process"},
        "rows": rows,
        "linear_cross_entropy": linear,
        "accuracy": accuracy_table,
        "seconds": time.perf_counter() - started,
    }
