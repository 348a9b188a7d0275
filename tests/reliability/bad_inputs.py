"""Bad calls, each with the error it must raise: the catalogue that ``test_bad_inputs`` runs in child
processes (a crash or a hang there kills a child, not the test run).

Each entry maps a name to (call, exception type name, pattern its message must match). A call is a
function of no arguments; the pattern names the argument at fault, so the user knows what to fix.
"""
from __future__ import annotations

import numpy as np

import symce.functional as F

X = np.zeros((3, 4))
LABELS = np.array([0, 1, 2])
PROBS = np.full((3, 4), 0.25)
BIG = 2 ** 64


def _torch(name: str, *args, **kwargs):
    import torch
    import symce.torch as S
    converted = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    return getattr(S, name)(*converted, **kwargs)


def _meta_input():
    import torch
    import symce.torch as S
    return S.cross_entropy(torch.zeros(3, 4, device="meta"), torch.tensor([0, 1, 2]))


CASES = {
    # class-index targets
    "label above C": (lambda: F.cross_entropy(X, np.array([0, 4, 1])), "IndexError", r"target 4 .*out of bounds"),
    "negative label": (lambda: F.cross_entropy(X, np.array([0, -1, 1])), "IndexError", r"target -1 .*out of bounds"),
    "uint64 label that wraps onto ignore_index": (
        lambda: F.cross_entropy(X, np.array([0, BIG - 100, 1], dtype=np.uint64)), "IndexError",
        rf"target {BIG - 100} .*out of bounds"),
    "uint64 label that wraps, value_and_grad": (
        lambda: F.cross_entropy_value_and_grad(X, np.array([0, BIG - 100, 1], dtype=np.uint64)), "IndexError",
        r"out of bounds"),
    "uint64 label that wraps, nll_loss": (
        lambda: F.nll_loss(X, np.array([BIG - 1, 0, 1], dtype=np.uint64)), "IndexError", r"out of bounds"),
    "float labels of the wrong shape": (lambda: F.cross_entropy(X, np.zeros(3)), "TypeError", r"floating-point target"),
    "labels of the wrong shape": (lambda: F.cross_entropy(X, np.zeros(4, int)), "ValueError", r"target shape"),
    "string labels": (lambda: F.cross_entropy(X, np.array(["a", "b", "c"])), "TypeError", r"integer array"),
    "no classes": (lambda: F.cross_entropy(np.zeros((3, 0)), LABELS), "IndexError", r"out of bounds"),
    # ignore_index
    "ignore_index above int64": (lambda: F.cross_entropy(X, LABELS, ignore_index=BIG), "ValueError",
                                 r"ignore_index must fit in a 64-bit"),
    "ignore_index above int64, value_and_grad": (
        lambda: F.cross_entropy_value_and_grad(X, LABELS, ignore_index=BIG), "ValueError", r"ignore_index must fit"),
    "ignore_index below int64": (lambda: F.nll_loss(X, LABELS, ignore_index=-BIG), "ValueError", r"ignore_index must fit"),
    "ignore_index numpy uint64 max": (lambda: F.cross_entropy(X, LABELS, ignore_index=np.uint64(BIG - 1)), "ValueError",
                                      r"ignore_index must fit"),
    "ignore_index a float": (lambda: F.cross_entropy(X, LABELS, ignore_index=1.5), "TypeError", r"ignore_index must be an integer"),
    "ignore_index with probability targets": (lambda: F.cross_entropy(X, PROBS, ignore_index=0), "ValueError", r"ignore_index"),
    "ignore_index above int64, linear": (
        lambda: F.linear_cross_entropy(X, np.zeros((5, 4)), LABELS, ignore_index=BIG), "ValueError", r"ignore_index must fit"),
    # other options
    "weight of the wrong length": (lambda: F.cross_entropy(X, LABELS, weight=np.ones(3)), "ValueError", r"weight must have shape"),
    "label_smoothing above 1": (lambda: F.cross_entropy(X, LABELS, label_smoothing=1.5), "ValueError", r"label_smoothing"),
    "label_smoothing nan": (lambda: F.cross_entropy(X, LABELS, label_smoothing=float("nan")), "ValueError", r"label_smoothing"),
    "label_smoothing a string": (lambda: F.cross_entropy(X, LABELS, label_smoothing="0.1"), "TypeError", r"label_smoothing"),
    "unknown reduction": (lambda: F.cross_entropy(X, LABELS, reduction="avg"), "ValueError", r"reduction"),
    "kl_div log_target a string": (lambda: F.kl_div(X, PROBS, log_target="yes"), "TypeError", r"log_target must be a bool"),
    "kl_div log_target None": (lambda: F.kl_div(X, PROBS, log_target=None), "TypeError", r"log_target must be a bool"),
    # inputs
    "integer logits": (lambda: F.cross_entropy(np.zeros((3, 4), int), LABELS), "TypeError", r"input must be a floating"),
    "complex logits": (lambda: F.cross_entropy(np.zeros((3, 4), complex), LABELS), "TypeError", r"input must be a floating"),
    "object logits": (lambda: F.softmax(np.array([[None, 1.0]]), dim=1), "TypeError", r"input must be a floating"),
    "0-d logits": (lambda: F.cross_entropy(np.float64(1.0), np.int64(0)), "ValueError", r"0-dimensional"),
    "softmax dim out of range": (lambda: F.softmax(X, dim=2), "IndexError", r"dim 2 is out of range"),
    "softmax of a 0-d array, dim 1": (lambda: F.softmax(np.float64(1.0), dim=1), "IndexError", r"dim 1 is out of range"),
    "logsumexp over no dim": (lambda: F.logsumexp(X, dim=()), "ValueError", r"at least one dim"),
    "logsumexp dim twice": (lambda: F.logsumexp(X, dim=(1, -1)), "ValueError", r"names a dimension twice"),
    "masked logits": (lambda: F.cross_entropy(np.ma.masked_array(X, mask=X > 0), LABELS), "TypeError", r"input is a NumPy masked array"),
    "masked labels": (lambda: F.cross_entropy(X, np.ma.masked_array(LABELS, mask=[0, 1, 0])), "TypeError",
                      r"target is a NumPy masked array.*filled\(ignore_index\)"),
    "masked weight": (lambda: F.cross_entropy(X, LABELS, weight=np.ma.masked_array(np.ones(4))), "TypeError",
                      r"weight is a NumPy masked array"),
    "masked softmax input": (lambda: F.softmax(np.ma.masked_array(X), dim=1), "TypeError", r"masked array"),
    "masked bce target": (lambda: F.binary_cross_entropy_with_logits(X, np.ma.masked_array(PROBS)), "TypeError", r"target is a NumPy masked"),
    "bce probability above 1": (lambda: F.binary_cross_entropy(np.full(3, 1.5), np.ones(3)), "ValueError", r"input should be between 0 and 1"),
    "bce probability nan": (lambda: F.binary_cross_entropy(np.full(3, np.nan), np.ones(3)), "ValueError", r"between 0 and 1"),
    "bce shapes differ": (lambda: F.binary_cross_entropy_with_logits(X, np.zeros(4)), "ValueError", r"target size"),
    "pos_weight that does not broadcast": (lambda: F.binary_cross_entropy_with_logits(X, PROBS, pos_weight=np.ones(3)),
                                           "ValueError", r"pos_weight of shape"),
    # out= and grad_output
    "out of the wrong shape": (lambda: F.cross_entropy_value_and_grad(X, LABELS, out=np.empty((4, 3))), "ValueError", r"out must have"),
    "out of the wrong dtype": (lambda: F.cross_entropy_value_and_grad(X, LABELS, out=np.empty((3, 4), np.float32)), "TypeError", r"out must have"),
    "out read-only": (lambda: F.cross_entropy_value_and_grad(X, LABELS, out=np.broadcast_to(np.zeros(4), (3, 4))), "ValueError",
                      r"out must be writeable"),
    "out a list": (lambda: F.cross_entropy_value_and_grad(X, LABELS, out=[[0.0] * 4] * 3), "TypeError", r"out must be a NumPy array"),
    "out overlapping the targets": (lambda: F.binary_cross_entropy_with_logits_value_and_grad(X, PROBS, out=PROBS), "ValueError",
                                    r"out shares memory"),
    "grad_output of a reduced loss not a scalar": (lambda: F.cross_entropy_value_and_grad(X, LABELS, grad_output=np.ones(3)),
                                                   "ValueError", r"grad_output"),
    # linear_cross_entropy
    "linear dtypes differ": (lambda: F.linear_cross_entropy(X, np.zeros((5, 4), np.float32), LABELS), "TypeError", r"linear_weight has dtype"),
    "linear bias of the wrong shape": (lambda: F.linear_cross_entropy(X, np.zeros((5, 4)), LABELS, linear_bias=np.zeros(4)),
                                       "ValueError", r"linear_bias must have shape"),
    "linear chunk_size 0": (lambda: F.linear_cross_entropy(X, np.zeros((5, 4)), LABELS, chunk_size=0), "ValueError", r"chunk_size"),
    "linear probability targets": (lambda: F.linear_cross_entropy(X, np.zeros((5, 4)), PROBS), "TypeError", r"probability targets"),
    # symce.torch
    "torch input on another device": (_meta_input, "ValueError", r"CPU tensors only"),
    "torch float16 input": (lambda: _torch("cross_entropy", X.astype(np.float16), LABELS), "TypeError", r"float32 or float64"),
    "torch numpy target": (lambda: _torch("cross_entropy", X, [0, 1, 2]), "TypeError", r"target must be a torch.Tensor"),
    "torch ignore_index above int64": (lambda: _torch("cross_entropy", X, LABELS, ignore_index=BIG), "ValueError", r"ignore_index must fit"),
    "torch label above C": (lambda: _torch("cross_entropy", X, np.array([0, 9, 1])), "IndexError", r"target 9 .*out of bounds"),
    "torch unknown reduction": (lambda: _torch("binary_cross_entropy_with_logits", X, PROBS, reduction="avg"), "ValueError", r"reduction"),
    "torch linear chunk_size a float": (lambda: _torch("linear_cross_entropy", X, np.zeros((5, 4)), LABELS, chunk_size=2.0),
                                        "TypeError", r"chunk_size"),
}
