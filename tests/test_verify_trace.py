"""The tracers: what a traced NumPy / PyTorch function computes equals what it computes in floats.

Each function runs twice — on SymbolicArray / SymbolicTensor inputs, and on float64 arrays —
and the traced expressions, evaluated at those floats, must match NumPy's / torch's own output.
"""
import numpy as np
import pytest
import scipy.special
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

from symce.verify import ops, patches, trace_numpy
from symce.verify.ops import TraceError

SHAPE = (2, 3)
SYMBOLS = np.array([[sp.Symbol(f"z{i}{k}", real=True) for k in range(SHAPE[1])] for i in range(SHAPE[0])],
                   dtype=object)
LABELS = np.array([2, 0])


def evaluate(expressions, values):
    subs = {SYMBOLS[index]: values[index] for index in np.ndindex(SHAPE)}
    function = sp.lambdify(list(subs), list(np.ravel(expressions)), modules=[ops.NUMERIC_FUNCTIONS, "mpmath"])
    return np.asarray([float(v) for v in function(*subs.values())]).reshape(np.shape(expressions))


def _updated(z, t):
    """Course-style gradient code: a copy, then element updates (fancy, and one at a time)."""
    grad = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    grad[range(len(t)), t] -= 1
    for i in range(len(t)):
        grad[i, 0] *= 2
    return grad


def _constructed(z, t):
    """What library code does to its inputs: converting, copying, products, dtype plumbing."""
    z = np.asarray(np.array(z, dtype=np.float64))
    eps = np.finfo(z.dtype).eps
    weights = np.full_like(z[0], 0.5)
    return np.ascontiguousarray(z).dot(weights) + np.dot(z, np.ones(3)) * eps + np.copy(z)[:, 0]


NUMPY_FUNCTIONS = {
    "exp_log1p_expm1": lambda z, t: np.log1p(np.exp(z)) + np.expm1(z / 4),
    "max_keepdims": lambda z, t: z - np.max(z, axis=1, keepdims=True),
    "amax_axis0": lambda z, t: np.amax(z, axis=0),
    "mean_sum": lambda z, t: z.mean(axis=1) + z.sum() / 3,
    "clip_maximum_abs": lambda z, t: np.clip(z, -0.5, 0.5) + np.maximum(z, 0) + np.abs(z),
    "where_symbolic": lambda z, t: np.where(z > 0, z, 2 * z),
    "sqrt_power": lambda z, t: np.sqrt(z ** 2 + 1) + np.power(np.exp(z), 0.5),
    "fancy_index": lambda z, t: z[np.arange(2), t],
    "take_along_axis": lambda z, t: np.take_along_axis(z, t[:, None], axis=1),
    "reshape_transpose": lambda z, t: z.T.reshape(-1)[::2] * z.reshape(3, 2)[:, 0],
    "logaddexp_broadcast": lambda z, t: np.logaddexp(z, z[:, :1]) - np.eye(3)[t],
    "matmul": lambda z, t: z @ np.ones(3),
    "constructed": _constructed,
    "element_updates": _updated,
    "scipy_special": lambda z, t: (scipy.special.logsumexp(z, axis=1) + scipy.special.softmax(z, axis=1)[:, 0]
                                   + scipy.special.log_softmax(z, axis=1)[:, 1]
                                   + scipy.special.xlogy(scipy.special.expit(z), scipy.special.expit(-z))[:, 2]),
    "labels_mask_and_astype": lambda z, t: z[t == 0].sum() + (z > 0).astype(np.float64).sum(axis=1),
}


@pytest.mark.parametrize("name", sorted(NUMPY_FUNCTIONS))
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2 ** 31))
def test_numpy_trace_matches_numpy(name, seed):
    function = NUMPY_FUNCTIONS[name]
    values = np.random.default_rng(seed).normal(0, 2, SHAPE)
    with patches.symbolic_library([globals()]):
        traced = trace_numpy.expressions(function(trace_numpy.symbolic(SYMBOLS), LABELS))
    np.testing.assert_allclose(evaluate(traced, values), function(values, LABELS), rtol=1e-12, atol=1e-12)


def test_untraceable_numpy_code_says_why():
    with pytest.raises(TraceError, match="branches"):
        trace_numpy.expressions((lambda z: z if z[0, 0] > 0 else -z)(trace_numpy.symbolic(SYMBOLS)))
    with pytest.raises(TraceError, match="float"):
        float(trace_numpy.symbolic(SYMBOLS)[0, 0])


def test_constants_become_the_fractions_the_code_meant():
    assert ops.to_sympy(0.1 / 3) == sp.Rational(1, 30)
    assert ops.to_sympy(0.9 * 1.0 + 0.05) == sp.Rational(19, 20)
    assert ops.to_sympy(1e-7) == sp.Rational(1, 10 ** 7)
    assert ops.to_sympy(1 - 1e-7) == sp.Rational(9999999, 10 ** 7)


def test_float32_constants_are_the_fractions_they_round():
    single = np.float32
    assert ops.to_sympy(single(0.9)) == sp.Rational(9, 10)
    assert ops.to_sympy(single(0.9) + single(0.025)) == sp.Rational(37, 40)   # two roundings away
    assert ops.to_sympy(single(1e-7)) == sp.Rational(1, 10 ** 7)
    assert ops.to_sympy(single(1) / single(3)) == sp.Rational(1, 3)
    with ops.noting() as notes:
        ops.to_sympy(single(0.1))
    assert "0.10000000149011612 as 1/10" in notes.texts[0]


F = torch.nn.functional

TORCH_FUNCTIONS = {
    "log_softmax_gather": lambda z, t: F.log_softmax(z, dim=1).gather(1, t.unsqueeze(1)),
    "softmax_logsumexp": lambda z, t: torch.softmax(z, dim=1) * torch.logsumexp(z, dim=1, keepdim=True),
    "cross_entropy_weighted_smoothed": lambda z, t: F.cross_entropy(
        z, t, weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), label_smoothing=0.2),
    "cross_entropy_ignore_index": lambda z, t: F.cross_entropy(z, t, ignore_index=0, reduction="sum"),
    "cross_entropy_probabilities": lambda z, t: F.cross_entropy(z, torch.softmax(z * 2, dim=1)),
    "nll_none": lambda z, t: F.nll_loss(z, t, reduction="none"),
    "bce_with_logits_pos_weight": lambda z, t: F.binary_cross_entropy_with_logits(
        z, torch.sigmoid(z.flip(1) if False else z * 0.5), pos_weight=torch.tensor(2.0, dtype=torch.float64)),
    "bce": lambda z, t: F.binary_cross_entropy(torch.sigmoid(z), torch.sigmoid(-z), reduction="sum"),
    "max_dim_clamp": lambda z, t: torch.max(z, dim=1).values + z.clamp(min=-0.5).sum(1) + z.amax(0).mean(),
    "where_scatter_onehot": lambda z, t: torch.where(z > 0, z, torch.zeros_like(z)).scatter(
        1, t.unsqueeze(1), 1.0) + F.one_hot(t, 3) * z,
    "arith_methods": lambda z, t: (1 - z).exp().log1p() / (2 + z.abs()) - z.sigmoid().pow(2) + z.expm1().t().t(),
    "softplus_logsigmoid": lambda z, t: F.softplus(z) + F.softplus(z, beta=2.0) + F.logsigmoid(z)
    + torch.logaddexp(z, -z),
    "indexing": lambda z, t: z[torch.arange(2), t] + z[:, 1],
}


def _guarded(z, t):
    """Type, device and dtype plumbing from library code."""
    if not (isinstance(z, torch.Tensor) and torch.is_tensor(z)):
        raise TypeError("expected a tensor")
    z = torch.as_tensor(z).to(z.device).detach().contiguous().data.double().clone()
    tiny = torch.finfo(z.dtype).eps
    return z.exp().add(tiny) + z.new_zeros(z.shape) + torch.empty_like(z).fill_(0.25)


def _written(z, t):
    """Constructors and in-place writes: scatter_, index_put_, masked_fill_, element updates."""
    grad = torch.softmax(z, dim=1)
    grad[range(len(t)), t] -= 1
    for i in range(len(t)):
        row = grad[i]
        row[t[i]] *= 3
    hot = torch.zeros_like(z).scatter_(1, t.unsqueeze(1), 1.0)
    marked = z.clone().index_put_((torch.arange(2), t), torch.tensor(0.5, dtype=torch.float64))
    filled = z.clone().masked_fill_(F.one_hot(t, 3).bool(), 0.0)
    return grad + hot * z + marked + filled + torch.full_like(z, 2.0) * torch.ones_like(z)


def _selected(z, t):
    """Reductions and selection: max/min with a dim as (values, indices), argmax, where, gather."""
    top, where = z.max(dim=1)
    low = z.min(1)[0]
    picked = F.one_hot(z.argmax(dim=1), 3) * z + F.one_hot(where, 3)
    return (torch.where(z > top[:, None] - 1, z, low[:, None]) + picked + z.gather(1, t[:, None])
            + z.max(dim=1).values[:, None])


def _torch_losses(z, t):
    """torch.nn.functional's own losses and activations, traced as torch documents them."""
    probs = F.softmax(z, dim=-1)
    return (F.nll_loss(F.log_softmax(z, dim=-1), t, reduction="none")
            + F.kl_div(F.log_softmax(z, dim=1), torch.softmax(2 * z, 1),
                       reduction="none").sum(1)
            + F.kl_div(F.log_softmax(z, 1), F.log_softmax(-z, 1), reduction="batchmean", log_target=True)
            + F.binary_cross_entropy(torch.sigmoid(z), probs, reduction="none").sum(1)
            + F.binary_cross_entropy_with_logits(z, probs, reduction="none").mean(1)
            + F.cross_entropy(z, t, reduction="none", label_smoothing=0.1))


def _loops(z, t):
    """A Python loop over the batch and over the classes."""
    total = 0.0
    for i, row in enumerate(z):
        norm = 0.0
        for k in range(row.shape[0]):
            norm = norm + torch.exp(row[k])
        total = total + torch.log(norm) - row[t[i]]
    return total / len(z)


TORCH_FUNCTIONS.update({"guarded": _guarded, "written": _written, "selected": _selected,
                        "torch_losses": _torch_losses, "loops": _loops})


@pytest.mark.parametrize("name", sorted(TORCH_FUNCTIONS))
def test_torch_trace_matches_torch(name):
    from symce.verify import trace_torch

    function = TORCH_FUNCTIONS[name]
    values = np.random.default_rng(len(name)).normal(0, 2, SHAPE)
    labels = torch.from_numpy(LABELS)
    traced = trace_torch.expressions(function(trace_torch.symbolic(SYMBOLS), labels))
    reference = function(torch.from_numpy(values), labels).detach().numpy()
    np.testing.assert_allclose(evaluate(traced, values), reference, rtol=1e-12, atol=1e-12)


def test_unknown_torch_op_names_itself():
    from symce.verify import trace_torch

    with pytest.raises(TraceError, match="topk"):
        torch.topk(trace_torch.symbolic(SYMBOLS), 1)
