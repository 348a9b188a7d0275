"""``symce bench``: symce.functional against torch on this machine, in the same run.

Both sides get the same thread count (torch.set_num_threads(numba.get_num_threads())), the same
inputs, and a warm-up (numba's JIT compilation and torch's first-call costs are excluded). Each
case prints the median of ``--repeat`` timed calls for each library and the ratio
torch / symce (above 1: symce is faster). Numbers are for reading, never asserted.
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

DEFAULT_SHAPES = ((4096, 1000), (65536, 10), (256, 32000))
QUICK_SHAPES = ((64, 10), (8, 100))
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Case:
    """One timed operation: ``prepare(logits)`` makes its extra inputs, then each side runs on them."""

    name: str
    prepare: Callable[[np.ndarray, np.random.Generator], tuple]
    symce: Callable[..., object]
    torch: Callable[..., object]


def _integer_labels(logits, rng):
    return (rng.integers(0, logits.shape[1], logits.shape[0]),)


def _probability_labels(logits, rng):
    raw = rng.standard_normal(logits.shape)
    probs = np.exp(raw - raw.max(axis=1, keepdims=True))
    return ((probs / probs.sum(axis=1, keepdims=True)).astype(logits.dtype),)


def _binary_labels(logits, rng):
    return (rng.integers(0, 2, logits.shape).astype(logits.dtype),)


def _no_extra(logits, rng):
    return ()


def _torch_forward(fn):
    """torch's forward only (no autograd graph), on tensors sharing the NumPy buffers."""
    import torch

    def run(logits, *extra):
        with torch.no_grad():
            return fn(logits, *extra)
    return run


def _torch_forward_backward(fn):
    """torch's forward and backward: the loss and d loss / d logits, as a training step computes them."""
    def run(logits, *extra):
        logits = logits.detach().requires_grad_()
        fn(logits, *extra).backward()
        return logits.grad
    return run


def cases() -> list[Case]:
    import torch.nn.functional as TF

    import symce.functional as F
    return [
        Case("cross_entropy fwd (int labels)", _integer_labels, F.cross_entropy, _torch_forward(TF.cross_entropy)),
        Case("cross_entropy fwd+bwd (int labels)", _integer_labels, F.cross_entropy_value_and_grad,
             _torch_forward_backward(TF.cross_entropy)),
        Case("cross_entropy fwd (prob labels)", _probability_labels, F.cross_entropy,
             _torch_forward(TF.cross_entropy)),
        Case("cross_entropy fwd+bwd (prob labels)", _probability_labels, F.cross_entropy_value_and_grad,
             _torch_forward_backward(TF.cross_entropy)),
        Case("bce_with_logits fwd", _binary_labels, F.binary_cross_entropy_with_logits,
             _torch_forward(TF.binary_cross_entropy_with_logits)),
        Case("bce_with_logits fwd+bwd", _binary_labels, F.binary_cross_entropy_with_logits_value_and_grad,
             _torch_forward_backward(TF.binary_cross_entropy_with_logits)),
        Case("log_softmax fwd", _no_extra, lambda x: F.log_softmax(x, 1),
             _torch_forward(lambda x: TF.log_softmax(x, 1))),
    ]


def median_seconds(fn, args, repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parse_shapes(text: str) -> tuple[tuple[int, int], ...]:
    """'4096x1000,65536x10' -> ((4096, 1000), (65536, 10))."""
    try:
        shapes = tuple(tuple(int(size) for size in item.lower().split("x")) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shapes must look like 4096x1000,65536x10, got {text!r}") from None
    if any(len(shape) != 2 or min(shape) < 1 for shape in shapes):
        raise argparse.ArgumentTypeError(f"each shape is NxC with N, C >= 1, got {text!r}")
    return shapes


def parse_dtypes(text: str) -> tuple[np.dtype, ...]:
    """'float32,float64' -> the dtypes; only those the kernels are compiled for."""
    names = tuple(text.split(","))
    if not set(names) <= set(DTYPES):
        raise argparse.ArgumentTypeError(f"dtypes must be among {', '.join(DTYPES)}, got {text!r}")
    return tuple(np.dtype(name) for name in names)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=positive_int, default=20, help="timed calls per case (median reported)")
    parser.add_argument("--shapes", type=parse_shapes, default=None,
                        help="comma-separated NxC logits shapes (default: 4096x1000,65536x10,256x32000)")
    parser.add_argument("--dtypes", type=parse_dtypes, default=DTYPES, help="comma-separated: float32,float64")
    parser.add_argument("--quick", action="store_true", help="tiny shapes and 3 repeats: a smoke run")


def run(args: argparse.Namespace) -> int:
    import numba
    import torch

    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    shapes = args.shapes or (QUICK_SHAPES if args.quick else DEFAULT_SHAPES)
    repeat = 3 if args.quick else args.repeat
    dtypes = [np.dtype(name) for name in args.dtypes]
    rng = np.random.default_rng(0)
    print(f"symce bench: {threads} threads (numba and torch), median of {repeat} runs after warm-up; "
          "ratio = torch / symce (> 1: symce faster)")
    header = f"{'case':<38} {'shape':>12} {'dtype':>8} {'symce ms':>10} {'torch ms':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for case in cases():
        for shape in shapes:
            for dtype in dtypes:
                logits = (rng.standard_normal(shape) * 3).astype(dtype)
                extra = case.prepare(logits, rng)
                ours = median_seconds(case.symce, (logits, *extra), repeat)
                theirs = median_seconds(case.torch, tuple(torch.from_numpy(a) for a in (logits, *extra)), repeat)
                print(f"{case.name:<38} {'x'.join(map(str, shape)):>12} {dtype.name:>8} "
                      f"{ours * 1e3:>10.3f} {theirs * 1e3:>10.3f} {theirs / ours:>7.2f}", flush=True)
    return 0
