"""The large-vocabulary case: a linear layer + cross-entropy, forward and backward, without the logits.

:func:`measure_linear_cross_entropy` times ``symce.functional.linear_cross_entropy_value_and_grad``
(chunked: never more than a chunk of the N×V logits) against torch's ``F.linear`` +
``F.cross_entropy`` differentiated by autograd (the N×V logits, their log-softmax and their
gradient all materialised), the same through ``torch.compile`` (compiled once, its compile time
reported apart) and, where this torch has it (2.13.0 has), torch's own chunked
``F.linear_cross_entropy(..., options=LinearCrossEntropyOptions())``, all on the same thread count;
it checks each against torch's loss and gradients and measures each one's peak extra memory in a
fresh process (``python -m symce.bench.linear JOB``) with :func:`symce.bench.measure.peak_extra_bytes`,
under the malloc setting of :mod:`symce.bench.memory`.

The inputs model a language-model head: hidden states h ~ N(0, 1) (N, H), weight W ~ N(0, 1/H)
(V, H), so the logits are of order 1, and targets uniform over the V classes; all are a
deterministic function of (n, hidden, vocab, dtype, seed), so the memory process rebuilds them.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Callable

import numpy as np

from symce.bench import measure, peers, ratios

#: the issue's shape: 8192 tokens, a 1024-wide hidden state, a 32k vocabulary (1 GiB of float32 logits)
DEFAULT_SHAPE = dict(n=8192, hidden=1024, vocab=32000, dtype="float32")
#: the implementations, in the order they are timed (torch first: it is the reference)
KEYS = ("torch", "symce", "torch_chunked", "torch_compile")
#: what symce is compared with: the fastest of these is the row's fastest peer
RIVALS = ("torch", "torch_chunked", "torch_compile")
NO_CHUNKED = "torch_chunked: this torch has no F.linear_cross_entropy with LinearCrossEntropyOptions"
NO_COMPILE = "torch_compile: left out of this run (--quick compiles one row only, or --peers leaves it out)"
WARM_UP = dict(n=8, hidden=16, vocab=64)
MIB = 1 << 20
#: as in symce.bench.memory: every block above 64 KiB is mapped afresh and unmapped when freed
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def make_inputs(n: int, hidden: int, vocab: int, dtype: str, seed: int = 0) -> dict:
    """{"hidden": (n, hidden), "weight": (vocab, hidden), "target": (n,)}, the same for the same seed."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    states = rng.standard_normal((n, hidden), dtype=dtype.type)
    weight = rng.standard_normal((vocab, hidden), dtype=dtype.type)
    weight *= dtype.type(1 / np.sqrt(hidden))
    return {"hidden": states, "weight": weight, "target": rng.integers(0, vocab, n)}


def calls(inputs: dict, chunk_size: int | None = None, compile: bool = False) -> dict[str, Callable[[], tuple] | None]:
    """KEYS → a call returning (loss, grad_hidden, grad_weight) as arrays or tensors; None where this
    torch lacks the implementation, or for torch_compile without ``compile`` (its first call
    compiles). torch gets fresh leaves per call, as a training step has."""
    import torch
    import torch.nn.functional as TF

    import symce.functional as F

    states, weight = torch.from_numpy(inputs["hidden"]), torch.from_numpy(inputs["weight"])
    target = torch.from_numpy(inputs["target"])

    def symce():
        loss, grad_hidden, grad_weight, _ = F.linear_cross_entropy_value_and_grad(
            inputs["hidden"], inputs["weight"], inputs["target"], chunk_size=chunk_size)
        return loss, grad_hidden, grad_weight

    def with_autograd(loss_of):
        def call():
            h, w = states.detach().requires_grad_(), weight.detach().requires_grad_()
            loss = loss_of(h, w)
            loss.backward()
            return loss.detach(), h.grad, w.grad
        return call

    chunked = None
    if hasattr(TF, "linear_cross_entropy") and hasattr(torch.nn, "LinearCrossEntropyOptions"):
        options = torch.nn.LinearCrossEntropyOptions()
        chunked = with_autograd(lambda h, w: TF.linear_cross_entropy(h, w, target, options=options))
    def unfused(h, w):
        return TF.cross_entropy(TF.linear(h, w), target)

    compiled = with_autograd(peers.torch_compiled(unfused)) if compile else None
    return {"torch": with_autograd(unfused), "symce": symce, "torch_chunked": chunked, "torch_compile": compiled}


# --- peak memory, in a process of its own ---------------------------------------------------------

def peak_memory(n: int, hidden: int, vocab: int, dtype: str, seed: int = 0, chunk_size: int | None = None) -> dict:
    """KEYS → bytes the resident set rises above its level before one call (its results included),
    after every implementation has been warmed up on a tiny input. Run in a fresh process."""
    import numba
    import torch

    torch.set_num_threads(numba.get_num_threads())
    for call in calls(make_inputs(**WARM_UP, dtype=dtype, seed=seed)).values():
        if call is not None:
            call()
    inputs = make_inputs(n, hidden, vocab, dtype, seed)
    peaks = {}
    for key, call in calls(inputs, chunk_size).items():
        gc.collect()
        peaks[key] = None if call is None else measure.peak_extra_bytes(call)
    return peaks


def peak_memory_in_new_process(**job) -> dict:
    """:func:`peak_memory` in a new Python process, with malloc unmapping every large block it frees."""
    done = subprocess.run([sys.executable, "-m", "symce.bench.linear", json.dumps(job)], capture_output=True,
                          text=True, env=dict(os.environ, **MALLOC_ENV))
    if done.returncode:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise RuntimeError(f"the memory process failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the measurement --------------------------------------------------------------------------------

def _agreement(result, reference) -> dict:
    """Relative difference of the loss, and max |Δ| / max |reference| of each gradient."""
    loss, grad_hidden, grad_weight = (value.numpy() if hasattr(value, "numpy") else value for value in result)
    return {"loss": measure.relative_difference(loss, reference[0]),
            "grad_hidden": measure.gradient_difference(grad_hidden, reference[1]),
            "grad_weight": measure.gradient_difference(grad_weight, reference[2])}


def _time_all(inputs: dict, chunk_size, repeat: int, compile: bool) -> tuple[dict, dict, dict, dict]:
    """KEYS → Timing JSON (or None), → agreement with torch from each one's checked warm-up,
    → compile seconds (torch_compile's first call), → why an implementation was not timed."""
    timings, agreement, compile_s, unavailable, reference = {}, {}, {}, {}, []

    def check(key):
        def compare(result):
            if key == "torch":
                # copies: the tensors' storage belongs to torch
                reference.extend(np.array(value.numpy() if hasattr(value, "numpy") else value) for value in result)
            else:
                agreement[key] = _agreement(result, reference)
        return compare

    for key, call in calls(inputs, chunk_size, compile).items():
        if key == "torch_compile" and call is not None:
            try:
                warm = peers.first_call(call, "torch.compile")
                call, compile_s[key] = warm.run, warm.compile_s
            except peers.Unavailable as error:
                call, unavailable[key] = None, str(error)
        if call is None:
            unavailable.setdefault(key, NO_CHUNKED if key == "torch_chunked" else NO_COMPILE)
        timings[key] = None if call is None else measure.time_calls(call, repeat, check=check(key)).as_json()
    return timings, agreement, compile_s, unavailable


def measure_linear_cross_entropy(n: int = DEFAULT_SHAPE["n"], hidden: int = DEFAULT_SHAPE["hidden"],
                                 vocab: int = DEFAULT_SHAPE["vocab"], dtype: str = DEFAULT_SHAPE["dtype"],
                                 repeat: int = 3, seed: int = 0, chunk_size: int | None = None,
                                 memory: bool = True, compile: bool = True) -> dict:
    """symce's chunked linear + cross-entropy (loss and both gradients) against torch's, timed and measured.

    Each implementation is called once untimed (its result checked against torch's) and then
    ``repeat`` times; with ``memory`` (and Linux's /proc) each one's peak extra memory is measured
    once in a fresh process (not torch_compile's: it would compile again there); ``compile``: time
    torch.compile too. Returns a JSON-able dict: see the keys below and "what".
    """
    import numba
    import torch

    from symce.functional.linear import default_chunk_size

    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    itemsize = np.dtype(dtype).itemsize
    rows = min(n, chunk_size or default_chunk_size(vocab, dtype))
    result = {
        "shape": {"n": n, "hidden": hidden, "vocab": vocab, "dtype": np.dtype(dtype).name},
        "logits_mib": n * vocab * itemsize / MIB,
        "chunk_size": rows, "chunk_mib": rows * vocab * itemsize / MIB,
        "threads": {"numba": threads, "torch": torch.get_num_threads()},
        "repeat": repeat,
    }
    timings, agreement, compile_s, unavailable = _time_all(make_inputs(n, hidden, vocab, dtype, seed), chunk_size,
                                                           repeat, compile)
    result["time"], result["compile_s"], result["unavailable"] = timings, compile_s, unavailable
    result["speedup_vs_torch"] = {key: timings["torch"]["median_s"] / timings[key]["median_s"]
                                  for key in KEYS[1:] if timings[key] is not None}
    result["fastest_peer"] = ratios.fastest(timings, RIVALS)
    result["speedup_vs_fastest_peer"] = ratios.speedup(timings.get(result["fastest_peer"]), timings["symce"])
    result["agreement"] = agreement
    result["peak_extra_mib"] = None
    if memory and measure.peak_memory_supported():
        try:
            peaks = peak_memory_in_new_process(n=n, hidden=hidden, vocab=vocab, dtype=dtype, seed=seed,
                                               chunk_size=chunk_size)
            result["peak_extra_mib"] = {key: None if peak is None else peak / MIB for key, peak in peaks.items()}
        except RuntimeError as error:  # reported: the timings stand without it
            result["peak_memory_error"] = str(error)
    result["what"] = {
        "time": "seconds of one loss + gradient of hidden states and weight (torch: F.linear + F.cross_entropy, "
                "forward and autograd backward; torch_compile: the same through torch.compile (inductor), "
                "compiled by a first call timed apart (compile_s); torch_chunked: F.linear_cross_entropy with "
                "LinearCrossEntropyOptions(); symce: linear_cross_entropy_value_and_grad), reduction='mean', "
                "same thread count; median, quartiles and spread (IQR / median) of `repeat` calls after one "
                "untimed, checked call",
        "peak_extra_mib": "resident-set high-water mark above the level before one call, its results "
                          "(the two gradients) included, in a fresh process after a warm-up",
        "agreement": "against torch: relative difference of the loss, max |Δ| / max |torch| of each gradient",
    }
    return result


def main(argv: list[str]) -> None:
    """``python -m symce.bench.linear JOB`` (the memory process; JOB is JSON), or with no argument the
    default measurement, printed as JSON."""
    if argv:
        replies = os.dup(1)
        os.dup2(2, 1)  # anything the libraries print goes to stderr; the reply alone to stdout
        reply = json.dumps(peak_memory(**json.loads(argv[0])))
        os.write(replies, (reply + "\n").encode())
    else:
        print(json.dumps(measure_linear_cross_entropy(), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
