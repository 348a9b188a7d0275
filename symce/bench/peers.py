"""The peers ``symce bench`` compares with besides torch eager: torch.compile and JAX + optax.

- ``torch_compile``: the eager column's own formula (``torch.nn.functional.<loss>``) through
  ``torch.compile(dynamic=False)`` (inductor), compiled afresh for each row and part, so that every
  row runs a kernel specialised to its shape and dtype, as a training loop with a fixed batch has.
- ``jax``: optax's losses (``softmax_cross_entropy_with_integer_labels``, ``softmax_cross_entropy``,
  ``sigmoid_binary_cross_entropy``) reduced to torch's mean, under ``jax.jit``; forward+backward is
  ``jax.jit(jax.value_and_grad(loss))``, and every call ends in ``jax.block_until_ready``.

A builder compiles its call with one first call, timed apart (``Call.compile_s``), so the medians
hold warm calls only. A peer that cannot run here (not installed, its compiler failing) raises
:class:`Unavailable` with the reason: its column is blank and the reason a note, never a failed run.
"""
from __future__ import annotations

import importlib.util
import os
import time
from typing import Callable

import numpy as np

from symce.bench.cases import Call, Case, Inputs, torch_functions

#: XLA names the threads of its CPU intra-op pool so (tsl's thread pool "XLAEigen")
XLA_POOL_THREAD = "tf_XLAEigen"


class Unavailable(Exception):
    """A peer cannot be timed here; the message says why."""


def first_call(call: Callable[[], object], what: str) -> Call:
    """The warm Call of a compiling peer, after its first call (the compilation), timed apart."""
    start = time.perf_counter()
    try:
        call()
    except Exception as error:  # a peer's failure is a blank column, not a failed run
        first_line = (str(error).strip().splitlines() or [""])[0]  # inductor's messages run to pages
        raise Unavailable(f"{what} failed here: {type(error).__name__}: {first_line}") from error
    return Call(call, compile_s=time.perf_counter() - start)


# --- torch.compile -------------------------------------------------------------------------------

def torch_compiled(function: Callable) -> Callable:
    """``function`` through inductor, with dynamo's caches emptied first: dynamo keeps its compiled
    graphs on the code object (F.cross_entropy's, shared by every row), and past its recompile limit
    (8) it would silently run eager; each row compiles its own graph instead."""
    import torch

    torch._dynamo.reset()
    return torch.compile(function, dynamic=False)


def torch_compile_calls(case: Case, inputs: Inputs) -> tuple[Callable[[], Call], Callable[[], Call]]:
    """Builders of torch.compile's forward (under no_grad) and forward+backward (a fresh leaf per
    call, ``.backward()``): the torch eager column's own calls, with its loss compiled."""
    import torch.nn.functional as TF

    def builder(part: int):
        def build():
            call = torch_functions(case, inputs, loss=torch_compiled(getattr(TF, case.loss)))[part]
            return first_call(call, "torch.compile")
        return build

    return builder(0), builder(1)


# --- JAX + optax ---------------------------------------------------------------------------------

def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # a finder refuses it (the bench's way of hiding a package from a process)
        return False


def jax_missing() -> str | None:
    """Why JAX cannot be timed here, or None."""
    missing = [name for name in ("jax", "optax") if not _installed(name)]
    if missing:
        return f"JAX: {' and '.join(missing)} not installed here (pip install 'symce[bench]')"
    return None


def start_jax(threads: int) -> None:
    """Start JAX's CPU client with an intra-op pool of ``threads`` threads, float64 enabled.

    XLA sizes that pool by the CPUs its creating thread may run on (tsl's MaxParallelism; its
    XLA_FLAGS have no thread count), and the pool's threads inherit that thread's affinity: so the
    calling thread is narrowed to ``threads`` CPUs while the client starts, then given its CPUs back.
    With ``threads`` equal to the usable cores (the default of numba, hence of torch here) nothing is
    narrowed. A client already started keeps its pool: :func:`xla_pool_threads` reports what it has."""
    import jax

    jax.config.update("jax_enable_x64", True)
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if allowed is not None and threads < len(allowed):
        os.sched_setaffinity(0, sorted(allowed)[:threads])
    try:
        jax.devices("cpu")
    finally:
        if allowed is not None:
            os.sched_setaffinity(0, allowed)


def xla_pool_threads() -> int | None:
    """The threads of XLA's CPU intra-op pool in this process (Linux; None elsewhere)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    count = 0
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                count += comm.read().strip() == XLA_POOL_THREAD
        except OSError:  # the thread ended meanwhile
            pass
    return count


def _optax_cross_entropy(logits, target, weight=None, ignore_index=None, label_smoothing=0.0):
    """torch's F.cross_entropy(reduction='mean') in optax's terms, for the options the cases use:
    class indices (optionally ignored, weighted or smoothed) or probabilities (optionally weighted)."""
    import jax
    import jax.numpy as jnp
    import optax

    classes = logits.shape[-1]
    if jnp.issubdtype(target.dtype, jnp.floating):  # probabilities: torch's mean divides by N
        if label_smoothing:
            target = optax.smooth_labels(target, label_smoothing)
        return optax.softmax_cross_entropy(logits, target if weight is None else target * weight).mean()
    keep = None if ignore_index is None else target != ignore_index
    labels = target if keep is None else jnp.where(keep, target, 0)
    if label_smoothing:  # torch weights each class's term of the smoothed target
        smoothed = optax.smooth_labels(jax.nn.one_hot(labels, classes, dtype=logits.dtype), label_smoothing)
        losses = optax.softmax_cross_entropy(logits, smoothed if weight is None else smoothed * weight)
    else:
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        if weight is not None:
            losses = losses * weight[labels]
    if weight is None and keep is None:
        return losses.mean()
    # torch's weighted or ignoring mean divides by the sum of w[t] over the rows kept
    divisor = jnp.ones_like(losses) if weight is None else weight[labels]
    if keep is not None:
        losses, divisor = jnp.where(keep, losses, 0), jnp.where(keep, divisor, 0)
    return losses.sum() / divisor.sum()


def _optax_binary_cross_entropy_with_logits(logits, target):
    import optax

    return optax.sigmoid_binary_cross_entropy(logits, target).mean()


OPTAX_LOSSES = {"cross_entropy": _optax_cross_entropy,
                "binary_cross_entropy_with_logits": _optax_binary_cross_entropy_with_logits}


def jax_calls(case: Case, inputs: Inputs) -> tuple[Callable[[], Call], Callable[[], Call]]:
    """Builders of JAX's forward (``jax.jit(loss)``) and forward+backward
    (``jax.jit(jax.value_and_grad(loss))``, returning (loss, gradient)). A builder puts the inputs on
    the CPU device, outside the timed calls (as torch's tensors share the NumPy buffers), so that
    only one peer's copy of the logits is alive at a time."""
    reason = jax_missing() or (None if case.loss in OPTAX_LOSSES else f"JAX: no optax formula for {case.loss}")
    if reason:
        raise Unavailable(reason)
    import jax

    formula = OPTAX_LOSSES[case.loss]
    static = {key: value for key, value in inputs.options.items() if not isinstance(value, np.ndarray)}

    def loss(logits, target, arrays):
        return formula(logits, target, **arrays, **static)

    def builder(transform):
        def build():
            device = jax.devices("cpu")[0]
            logits, target = jax.device_put(inputs.logits, device), jax.device_put(inputs.target, device)
            arrays = {key: jax.device_put(value, device) for key, value in inputs.options.items()
                      if isinstance(value, np.ndarray)}
            compiled = jax.jit(transform(loss))
            return first_call(lambda: jax.block_until_ready(compiled(logits, target, arrays)), "jax.jit")
        return build

    return builder(lambda function: function), builder(jax.value_and_grad)


# --- what a row runs -------------------------------------------------------------------------------

#: peer key → the maker of its (forward, forward+backward) builders
MAKERS = {"torch_compile": torch_compile_calls, "jax": jax_calls}


def calls(case: Case, inputs: Inputs, peers: tuple[str, ...]) -> tuple[dict, dict]:
    """(forward, forward+backward): peer key → a builder that compiles and returns a warm Call (or
    raises Unavailable), or the reason the peer does not run here (a string)."""
    forward, forward_backward = {}, {}
    for key in peers:
        try:
            forward[key], forward_backward[key] = MAKERS[key](case, inputs)
        except Unavailable as error:
            forward[key] = forward_backward[key] = str(error)
    return forward, forward_backward
