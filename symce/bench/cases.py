"""What ``symce bench`` times: one :class:`Case` per loss configuration, and its inputs.

Every case is a torch.nn.functional loss with reduction='mean' (a training step's), called the
same way on symce.functional, torch and the NumPy reference; a case fixes the targets and the
keyword arguments, a shape (N, C) the size. Inputs are a deterministic function of (case, shape,
dtype, seed), so the process that measures memory rebuilds exactly what was timed.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: the sizes of the issue: many short rows, ImageNet, a 32k and a 128k vocabulary
SHAPES = ((65536, 10), (4096, 1000), (8192, 32000), (2048, 128256))
#: the cross-entropy options are timed at a size of each kind of row the kernels have: short rows,
#: long rows that fit in L1/L2, and a vocabulary (2048 × 128256 runs the same long-row code as 32000)
OPTION_SHAPES = ((65536, 10), (4096, 1000), (8192, 32000))
#: binary cross-entropy with logits on 16M elements
BINARY_SHAPES = ((4096, 4096),)
QUICK_SHAPES = ((65536, 10), (1024, 1000))
QUICK_OPTION_SHAPES = ((1024, 1000),)
QUICK_BINARY_SHAPES = ((1024, 1024),)

IGNORE_INDEX = -100
#: logits are drawn from a pool of N(0, 3²) values repeated to the array's size: drawing 262M
#: normals takes longer than timing them, and the values' order does not change the work
POOL = (1 << 20) + 7


@dataclass(frozen=True)
class Case:
    """One configuration of one loss: ``loss`` names the function in all three implementations."""

    name: str
    title: str
    loss: str
    shapes: tuple[tuple[int, int], ...]
    quick_shapes: tuple[tuple[int, int], ...]
    targets: Callable[[tuple[int, int], np.dtype, np.random.Generator], np.ndarray]
    options: Callable[[tuple[int, int], np.dtype, np.random.Generator], dict]


@dataclass
class Inputs:
    """The arrays of one (case, shape, dtype): logits, targets, keyword arguments."""

    logits: np.ndarray
    target: np.ndarray
    options: dict

    @property
    def bytes_forward(self) -> int:
        """Bytes a forward pass must move: the logits and the targets, read once."""
        return self.logits.nbytes + self.target.nbytes

    @property
    def bytes_forward_backward(self) -> int:
        """Bytes a fused forward+backward must move: the forward's, and the gradient written once."""
        return self.bytes_forward + self.logits.nbytes


def _class_indices(shape, dtype, rng):
    return rng.integers(0, shape[1], shape[0])


def _class_indices_some_ignored(shape, dtype, rng):
    target = rng.integers(0, shape[1], shape[0])
    target[rng.random(shape[0]) < 0.1] = IGNORE_INDEX
    return target


def _probabilities(shape, dtype, rng):
    raw = _pool_filled(shape, dtype, rng)
    raw -= raw.max(axis=1, keepdims=True)
    np.exp(raw, out=raw)
    raw /= raw.sum(axis=1, keepdims=True)
    return raw


def _binary(shape, dtype, rng):
    return rng.integers(0, 2, shape).astype(dtype)


def _none(shape, dtype, rng):
    return {}


CASES = (
    Case("ce", "cross_entropy", "cross_entropy", SHAPES, QUICK_SHAPES, _class_indices, _none),
    Case("ce_smoothing", "cross_entropy label_smoothing=0.1", "cross_entropy", OPTION_SHAPES, QUICK_OPTION_SHAPES,
         _class_indices, lambda shape, dtype, rng: {"label_smoothing": 0.1}),
    Case("ce_ignore", "cross_entropy 10% ignore_index", "cross_entropy", OPTION_SHAPES, QUICK_OPTION_SHAPES,
         _class_indices_some_ignored, lambda shape, dtype, rng: {"ignore_index": IGNORE_INDEX}),
    Case("ce_probs", "cross_entropy probability targets", "cross_entropy", OPTION_SHAPES, QUICK_OPTION_SHAPES,
         _probabilities, _none),
    Case("ce_weights", "cross_entropy class weights", "cross_entropy", OPTION_SHAPES, QUICK_OPTION_SHAPES,
         _class_indices, lambda shape, dtype, rng: {"weight": rng.uniform(0.5, 2.0, shape[1]).astype(dtype)}),
    Case("bce_logits", "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", BINARY_SHAPES,
         QUICK_BINARY_SHAPES, _binary, _none),
)
BY_NAME = {case.name: case for case in CASES}


def _pool_filled(shape, dtype, rng) -> np.ndarray:
    """An array of ``shape`` filled with a pool of N(0, 3²) draws, repeated."""
    out = np.empty(shape, dtype)
    flat = out.reshape(-1)
    pool = rng.standard_normal(min(flat.size, POOL), dtype=np.dtype(dtype).type)
    pool *= 3
    for start in range(0, flat.size, pool.size):
        stop = min(start + pool.size, flat.size)
        flat[start:stop] = pool[:stop - start]
    return out


def make_inputs(case: Case, shape: tuple[int, int], dtype, seed: int = 0) -> Inputs:
    """The inputs of ``case`` at ``shape`` and ``dtype``, the same for the same seed."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    logits = _pool_filled(shape, dtype, rng)
    return Inputs(logits, case.targets(shape, dtype, rng), case.options(shape, dtype, rng))


def symce_functions(case: Case) -> tuple[Callable, Callable]:
    """symce.functional's (loss, loss_value_and_grad) of the case."""
    import symce.functional as F

    return getattr(F, case.loss), getattr(F, f"{case.loss}_value_and_grad")


def reference_functions(case: Case) -> tuple[Callable, Callable]:
    """The NumPy reference's (loss, loss_value_and_grad) of the case."""
    from symce.bench import reference

    return getattr(reference, case.loss), getattr(reference, f"{case.loss}_value_and_grad")


def torch_functions(case: Case, inputs: Inputs, loss: Callable | None = None) -> tuple[Callable[[], object],
                                                                                   Callable[[], object]]:
    """torch's forward (no autograd graph) and forward+backward (a fresh leaf per call, as a
    training step has: ``logits.detach().requires_grad_()``, then ``.backward()``), as closures
    over tensors sharing the NumPy buffers; forward+backward returns (loss, gradient). ``loss``:
    the function called in place of torch.nn.functional's (the torch.compile peer's compiled one)."""
    import torch
    import torch.nn.functional as TF

    loss = loss or getattr(TF, case.loss)
    logits, target = torch.from_numpy(inputs.logits), torch.from_numpy(inputs.target)
    options = {key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value
               for key, value in inputs.options.items()}

    def forward():
        with torch.no_grad():
            return loss(logits, target, **options)

    def forward_backward():
        leaf = logits.detach().requires_grad_()
        value = loss(leaf, target, **options)
        value.backward()
        return value.detach(), leaf.grad

    return forward, forward_backward


# --- the timed calls -----------------------------------------------------------------------------

#: the other frameworks, timed right after torch eager (their calls: symce.bench.peers)
PEERS = {"torch_compile": "torch.compile", "jax": "JAX"}
#: the implementations symce is compared with: torch eager and the peers
RIVALS = ("torch", *PEERS)
#: implementation keys, in table order, with their labels
FORWARD = {"torch": "torch", **PEERS, "numpy": "NumPy", "symce": "symce"}
FORWARD_BACKWARD = {"torch": "torch", **PEERS, "numpy": "NumPy", "symce": "symce", "symce_out": "symce out=",
                    "symce_inplace": "symce in-place"}


@dataclass(frozen=True)
class Call:
    """A ready call; ``before`` (untimed) restores what the previous call overwrote; ``compile_s``: the
    seconds of a compiling peer's first call, made by its builder (kept out of the timings)."""

    run: Callable[[], object]
    before: Callable[[], object] | None = None
    compile_s: float | None = None


def accepts_out(function: Callable) -> bool:
    """Whether a symce ``*_value_and_grad`` takes ``out=`` (a buffer that receives the gradient)."""
    return "out" in inspect.signature(function).parameters


def forward_calls(case: Case, inputs: Inputs) -> dict[str, Callable[[], Call]]:
    """FORWARD key → a builder of the call (the loss only)."""
    x, target, options = inputs.logits, inputs.target, inputs.options
    symce, _ = symce_functions(case)
    reference, _ = reference_functions(case)
    return {"torch": lambda: Call(torch_functions(case, inputs)[0]),
            "numpy": lambda: Call(lambda: reference(x, target, **options)),
            "symce": lambda: Call(lambda: symce(x, target, **options))}


def forward_backward_calls(case: Case, inputs: Inputs) -> dict[str, Callable[[], Call] | str]:
    """FORWARD_BACKWARD key → a builder of the call returning (loss, gradient), or why it is not
    available. A builder allocates what its call reuses (the ``out=`` buffer, the in-place copy),
    so only one variant's buffers exist at a time.

    ``symce_out`` passes ``out=`` a buffer allocated once; ``symce_inplace`` passes ``out=`` its own
    input, a copy of the logits restored (untimed) before every call, so each call sees the same
    logits although the previous one overwrote them with its gradient."""
    x, target, options = inputs.logits, inputs.target, inputs.options
    _, symce = symce_functions(case)
    _, reference = reference_functions(case)
    calls = {"torch": lambda: Call(torch_functions(case, inputs)[1]),
             "numpy": lambda: Call(lambda: reference(x, target, **options)),
             "symce": lambda: Call(lambda: symce(x, target, **options))}
    if accepts_out(symce):
        def reused():
            out = np.zeros_like(x)
            out.fill(0)  # touched: its pages belong to the caller, not to the call
            return Call(lambda: symce(x, target, **options, out=out))

        def in_place():
            work = np.empty_like(x)
            return Call(lambda: symce(work, target, **options, out=work), before=lambda: np.copyto(work, x))
        calls.update(symce_out=reused, symce_inplace=in_place)
    else:
        missing = f"symce.functional.{case.loss}_value_and_grad has no out= argument"
        calls.update(symce_out=missing, symce_inplace=missing)
    return calls
