"""Peak extra memory, measured in a process of its own: ``python -m symce.bench.memory``.

The benchmark starts this process once (:class:`MemoryProbe`), waits until it is ready, and sends
it one job per timed row as a line of JSON; it rebuilds the row's inputs from the same seed, warms every call up on a few
rows of the same case, dtype and class count (numba's cache, torch's first-call set-up), then makes each call
once and replies with the bytes its resident set rose above the level before the call
(:func:`symce.bench.measure.peak_extra_bytes`). ``MALLOC_MMAP_THRESHOLD_=65536`` makes its malloc
map every block above 64 KiB afresh and unmap it when freed, so each call's arrays are counted
even where an earlier call's freed pages would otherwise be reused.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

from symce.bench.cases import BY_NAME, forward_backward_calls, forward_calls, make_inputs
from symce.bench.measure import peak_extra_bytes

#: rows of the warm-up input; it keeps the row's own class count, so that the calls measured next run
#: kernels already loaded: a row kernel's short- and long-row loops are compiled (and loaded from
#: numba's cache) apart, and loading one counted 0.5-3.9 MiB at 4096 x 1000, the first long rows
WARM_UP_ROWS = 4


#: forward is measured for torch and symce only (the NumPy reference's forward is not reported)
FORWARD_KEYS = ("torch", "symce")


def _run_all(case, inputs, measure) -> dict:
    result = {"forward": {}, "forward_backward": {}}
    forward = {key: build for key, build in forward_calls(case, inputs).items() if key in FORWARD_KEYS}
    for part, builders in (("forward", forward), ("forward_backward", forward_backward_calls(case, inputs))):
        for key, build in builders.items():
            if isinstance(build, str):
                result[part][key] = None
                continue
            call = build()
            if call.before is not None:
                call.before()
            result[part][key] = measure(call.run)
            del call
    return result


def measure_row(case: str, shape, dtype: str, seed: int) -> dict:
    """{"forward": {key: bytes}, "forward_backward": {key: bytes or None (no out=)}} for one row."""
    case = BY_NAME[case]
    gc.collect()
    _run_all(case, make_inputs(case, (WARM_UP_ROWS, *shape[1:]), dtype, seed), lambda run: run())
    return _run_all(case, make_inputs(case, tuple(shape), dtype, seed), peak_extra_bytes)


def serve() -> None:
    """Answer jobs from stdin, one JSON line each, on stdout; anything else printed goes to stderr."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import numba
    import torch

    torch.set_num_threads(numba.get_num_threads())
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    for line in sys.stdin:
        try:
            reply = {"ok": measure_row(**json.loads(line))}
        except Exception as error:  # reported in the table, not fatal to the benchmark
            reply = {"error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


class MemoryProbe:
    """The measuring process, started once; ``measure(...)`` sends a job and waits for the reply."""

    def __init__(self):
        # passive OpenMP threads: after a job they sleep at once instead of spinning for some
        # milliseconds on the cores the timings in the parent process need
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_WAIT_POLICY="passive")
        self.process = subprocess.Popen([sys.executable, "-m", "symce.bench.memory"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        # its start-up (imports, thread pools) takes a core for a second or two: the timings wait for it
        self._reply()

    def _reply(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the memory process exited with status {self.process.wait()}")
        return json.loads(line)

    def measure(self, case: str, shape, dtype: str, seed: int) -> dict:
        job = {"case": case, "shape": list(shape), "dtype": dtype, "seed": seed}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        reply = self._reply()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["ok"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    serve()
