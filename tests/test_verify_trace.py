"""The tracers: what a traced NumPy / PyTorch function computes equals what it computes in floats.

Each function runs twice — on SymbolicArray / SymbolicTensor inputs, and on float64 arrays —
and the traced expressions, evaluated at those floats, must match NumPy's / torch's own output.
"""
import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

from symce.verify import ops, trace_numpy
from symce.verify.ops import TraceError

SHAPE = (2, 3)
SYMBOLS = np.array([[sp.Symbol(f"z{i}{k}", real=True) for k in range(SHAPE[1])] for i in range(SHAPE[0])],
                   dtype=object)
LABELS = np.array([2, 0])


def evaluate(expressions, values):
    subs = {SYMBOLS[index]: sp.Float(float(values[index]), 30) for index in np.ndindex(SHAPE)}
    return np.asarray([float(sp.sympify(e).xreplace(subs).evalf(30)) for e in np.ravel(expressions)]).reshape(
        np.shape(expressions))


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
}


@pytest.mark.parametrize("name", sorted(NUMPY_FUNCTIONS))
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2 ** 31))
def test_numpy_trace_matches_numpy(name, seed):
    function = NUMPY_FUNCTIONS[name]
    values = np.random.default_rng(seed).normal(0, 2, SHAPE)
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
    "softplus_logsigmoid": lambda z, t: F.softplus(z) + F.logsigmoid(z) + torch.logaddexp(z, -z),
    "indexing": lambda z, t: z[torch.arange(2), t] + z[:, 1],
}


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
