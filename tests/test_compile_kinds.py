"""symce.compile beyond (logits, integer label): probability targets and elementwise losses, and
``.torch`` as torch custom operators (gradcheck, ``torch.compile(fullgraph=True)``, ``opcheck``).

The specs are compiled once for the module by a first process into a cache under tmp
(SYMCE_CACHE_DIR); a second process must load them without compiling. Two of them *are* built-in
losses (softmax cross-entropy on probability targets, sigmoid BCE), two are new (poly-1 on
probability targets, torchvision's sigmoid focal loss). References are torch's (torchvision's
formula written in torch) and the spec's own value in mpmath, never symce.compile's.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.library import opcheck

import compile_workloads
import symce
import symce.functional as sf
from symce.bench.accuracy import torchvision_sigmoid_focal_loss
from symce.compile import kinds
from symce.compile.torch import operators

LOSSES = textwrap.dedent('''
    import sympy as sp
    from symce.spec import Param, Spec, blocks
    from symce.spec.core import class_sum
    from symce.spec.losses import (BINARY_LABEL, BINARY_LOGIT, CLASS_WEIGHTS, LOGITS, POS_WEIGHT, PROB_LABELS,
                                   SAMPLE_WEIGHT, SMOOTHING)
    from symce.spec.symbols import b, epsilon, k, pos_weight, w, weight, x, y, z

    # softmax cross-entropy on probability targets, written again: torch's cross_entropy
    soft_ce = Spec(name="my_soft_cross_entropy",
                   expr=class_sum(w[k] * blocks.smoothed(y, k, epsilon) * -blocks.log_softmax(z, k)),
                   inputs=(LOGITS, PROB_LABELS), params=(CLASS_WEIGHTS, SMOOTHING), doc="Soft cross-entropy.")

    # poly-1 (Leng et al., 2022) on probability targets: CE + ε (1 − Σ_k y_k softmax_k)
    eps = sp.Symbol("poly_epsilon", real=True)
    poly1_soft = Spec(name="poly1_soft",
                      expr=class_sum(-y[k] * blocks.log_softmax(z, k)) + eps * (1 - class_sum(y[k] * blocks.softmax(z, k))),
                      inputs=(LOGITS, PROB_LABELS),
                      params=(Param("poly_epsilon", eps, "scalar", sp.Integer(1), "poly-1 weight"),),
                      doc="Poly-1 loss on probability targets.")

    # sigmoid BCE, written again: torch's binary_cross_entropy_with_logits
    sigma = blocks.sigmoid(x)
    bce = Spec(name="my_bce_with_logits",
               expr=-weight * (pos_weight * b * sp.log(sigma) + (1 - b) * sp.log(1 - sigma)),
               inputs=(BINARY_LOGIT, BINARY_LABEL), params=(SAMPLE_WEIGHT, POS_WEIGHT), doc="BCE on logits.")

    # torchvision.ops.sigmoid_focal_loss (alpha >= 0): alpha_t · BCE · (1 − p_t)^gamma
    alpha, gamma = sp.Symbol("alpha", nonnegative=True), sp.Symbol("gamma", nonnegative=True)
    p_t = sigma * b + (1 - sigma) * (1 - b)
    focal = Spec(name="sigmoid_focal",
                 expr=(alpha * b + (1 - alpha) * (1 - b)) * -(b * sp.log(sigma) + (1 - b) * sp.log(1 - sigma))
                 * (1 - p_t) ** gamma,
                 inputs=(BINARY_LOGIT, BINARY_LABEL),
                 params=(Param("alpha", alpha, "scalar", sp.Rational(1, 4), "weight of the positives"),
                         Param("gamma", gamma, "scalar", sp.Integer(2), "focusing exponent")),
                 doc="Sigmoid focal loss (Lin et al., 2017), as torchvision.ops.sigmoid_focal_loss.")
''')

#: what each process runs: compile every spec, and call each once with and without a gradient
WORKLOAD = textwrap.dedent('''
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    from numba.core.event import install_recorder
    import symce
    import kind_losses as losses
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(6, 4)), np.array([0.5, 1.0, 2.0, 1.5])
    y = rng.dirichlet(np.ones(4), 6)
    b = rng.uniform(size=(6, 4))
    seconds, results, generated = {}, [], []
    with install_recorder("numba:compile") as compiled:
        for name, target, weight in (("soft_ce", y, w), ("poly1_soft", y, None), ("bce", b, w), ("focal", b, None)):
            start = time.perf_counter()
            loss = symce.compile(getattr(losses, name))
            for reduction in ("none", "mean"):
                results.append(np.asarray(loss(x, target, weight=weight, reduction=reduction)).tolist())
                results.append(loss.value_and_grad(x, target, weight=weight, reduction=reduction)[1].tolist())
            seconds[name] = time.perf_counter() - start
            generated.append(loss._loaded[1])
    print(json.dumps({"compiled": len(compiled.buffer), "seconds": seconds, "results": results,
                      "generated": generated}))
''')


def run_workload(folder, cache) -> dict:
    return compile_workloads.run_workload(WORKLOAD, folder, cache)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The losses file (not "losses": test_compile.py's module of that name), a cache compiled by a first
    process, and this process pointed at that cache."""
    with compile_workloads.compiled_first(tmp_path_factory, "kind_losses", LOSSES, WORKLOAD) as prepared:
        yield prepared


@pytest.fixture(scope="module")
def compiled(setup):
    return {name: symce.compile(getattr(setup["losses"], name)) for name in ("soft_ce", "poly1_soft", "bce", "focal")}


def test_each_kind_gets_its_class(compiled):
    assert isinstance(compiled["soft_ce"], symce.compile.ProbabilityTargetLoss)
    assert isinstance(compiled["focal"], symce.compile.ElementwiseLoss)
    from symce.codegen.kernels import PER_ELEMENT
    assert set(kinds.ELEMENT_ARRAYS) == PER_ELEMENT  # the arrays the loss takes are the kernels' array arguments


def test_a_second_process_loads_the_kernels_without_compiling(setup):
    first, second = setup["first"], run_workload(setup["folder"], setup["cache"])
    assert all(first["generated"]) and first["compiled"] > 0
    assert not any(second["generated"]) and second["compiled"] == 0
    # the same machine code, but the process that compiles it got the focal gradient an ulp apart
    # (processes that load it agree bit for bit)
    for got, expected in zip(second["results"], first["results"]):
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def _rng(seed):
    return np.random.default_rng(seed)


# ----- probability targets: torch's cross_entropy with probability targets ---------------------------

def _soft_batch(seed=1, shape=(7, 5)):
    rng = _rng(seed)
    x = rng.normal(scale=3, size=shape)
    y = rng.dirichlet(np.ones(shape[1]), size=(shape[0], *shape[2:]))  # classes last, moved to axis 1
    return x, np.moveaxis(y, -1, 1).copy(), rng.uniform(0.2, 2, size=shape[1])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_a_spec_that_is_soft_cross_entropy_matches_the_built_in_and_torch(compiled, reduction, weighted, smoothing):
    loss = compiled["soft_ce"]
    x, y, w = _soft_batch()
    weight = w if weighted else None
    value, grad = loss.value_and_grad(x, y, weight=weight, reduction=reduction, label_smoothing=smoothing)
    expected = sf.cross_entropy_value_and_grad(x, y, weight=weight, reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_array_equal(value, expected[0])  # the same kernels' mathematics, the same boundary
    np.testing.assert_allclose(grad, expected[1], rtol=1e-15, atol=1e-17)
    logits = torch.tensor(x, requires_grad=True)
    reference = F.cross_entropy(logits, torch.tensor(y), None if weight is None else torch.tensor(weight),
                                reduction=reduction, label_smoothing=smoothing)
    reference.sum().backward()
    np.testing.assert_allclose(loss(x, y, weight=weight, reduction=reduction, label_smoothing=smoothing),
                               reference.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_soft_cross_entropy_on_the_n_c_d_layout(compiled):
    x, y, w = _soft_batch(2, shape=(3, 4, 5))
    logits = torch.tensor(x, requires_grad=True)
    reference = F.cross_entropy(logits, torch.tensor(y), torch.tensor(w), reduction="none")
    reference.sum().backward()
    value, grad = compiled["soft_ce"].value_and_grad(x, y, weight=w, reduction="none")
    assert value.shape == (3, 5)
    np.testing.assert_allclose(value, reference.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-12, atol=1e-15)


def _torch_poly1_soft(logits, target, eps, reduction):
    rows = F.cross_entropy(logits, target, reduction="none") + eps * (1 - (target * logits.softmax(1)).sum(1))
    return {"none": rows, "sum": rows.sum(), "mean": rows.sum() / rows.numel()}[reduction]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("eps", [1.0, -0.5])
def test_poly1_on_probability_targets_matches_torch(compiled, reduction, eps):
    x, y, _ = _soft_batch(3)
    logits = torch.tensor(x, requires_grad=True)
    reference = _torch_poly1_soft(logits, torch.tensor(y), eps, reduction)
    reference.sum().backward()
    value, grad = compiled["poly1_soft"].value_and_grad(x, y, reduction=reduction, poly_epsilon=eps)
    np.testing.assert_allclose(value, reference.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_poly1_on_confident_logits_is_finite_and_the_spec(compiled, setup):
    """Finite where the logits are far apart, and the spec's value to 1e-15 absolute: 1 − Σ_k y_k softmax_k
    is computed as written, so a loss of 1e-17 (the first row) keeps no relative digits."""
    x = np.array([[40.0, 0.0, 0.0], [800.0, 0.0, -800.0], [40.0, 0.0, 0.0], [1e4, 0.0, -1e4]])
    y = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [0.0, 0.5, 0.5]])
    got = compiled["poly1_soft"](x, y, reduction="none")
    spec = setup["losses"].poly1_soft
    expected = [float(spec.evaluate({"logits": list(row), "labels": list(target)}, {"poly_epsilon": 1})[0])
                for row, target in zip(x, y)]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


# ----- elementwise: torch's binary_cross_entropy_with_logits ----------------------------------------

def _binary_batch(seed=4, shape=(5, 4)):
    rng = _rng(seed)
    return (rng.normal(scale=4, size=shape), rng.uniform(size=shape), rng.uniform(0.2, 2, size=shape[-1:]),
            rng.uniform(0.5, 3, size=shape[-1:]))


# weights and pos_weight together or neither: each pattern of arrays and Nones is a numba specialisation
# compiled on first use (~5 s), of the compiled loss and of the built-in one
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weight+pos_weight"])
def test_a_spec_that_is_sigmoid_bce_matches_torch(compiled, reduction, weighted):
    loss = compiled["bce"]
    x, target, w, pw = _binary_batch()
    weight, pos_weight = (w, pw) if weighted else (None, None)
    value, grad = loss.value_and_grad(x, target, weight=weight, reduction=reduction, pos_weight=pos_weight)
    expected = sf.binary_cross_entropy_with_logits_value_and_grad(x, target, weight=weight, reduction=reduction,
                                                                  pos_weight=pos_weight)
    np.testing.assert_array_equal(value, expected[0])
    np.testing.assert_allclose(grad, expected[1], rtol=1e-15, atol=1e-17)
    logits = torch.tensor(x, requires_grad=True)
    tensors = {name: None if array is None else torch.tensor(array)
               for name, array in (("weight", weight), ("pos_weight", pos_weight))}
    reference = F.binary_cross_entropy_with_logits(logits, torch.tensor(target), reduction=reduction, **tensors)
    reference.sum().backward()
    np.testing.assert_allclose(loss(x, target, weight=weight, reduction=reduction, pos_weight=pos_weight),
                               reference.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("params", [{}, {"alpha": 0.6, "gamma": 1.5}, {"alpha": 0.0, "gamma": 0.0}])
@pytest.mark.parametrize("hard", [False, True])
def test_sigmoid_focal_loss_matches_torchvision(compiled, reduction, params, hard):
    x, target, _, _ = _binary_batch(5)
    target = np.round(target) if hard else target
    logits = torch.tensor(x, requires_grad=True)
    reference = torchvision_sigmoid_focal_loss(logits, torch.tensor(target), reduction=reduction, **params)
    reference.sum().backward()
    value, grad = compiled["focal"].value_and_grad(x, target, reduction=reduction, **params)
    # torch's binary_cross_entropy_with_logits takes a log, not a log1p: 1e-13 relative off on small losses
    np.testing.assert_allclose(value, reference.detach().numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(compiled["focal"](x, target, reduction=reduction, **params), value, rtol=1e-15)
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_sigmoid_focal_loss_keeps_its_digits_where_torchvision_rounds_to_zero(compiled, setup):
    """At x = 40, y = 1 torchvision's 1 − p_t is 1 − σ(40), which rounds to 0; the kernel's is σ(−40)."""
    x, target = np.array([40.0, -40.0, 100.0, -100.0, 3.0]), np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    spec = setup["losses"].focal
    expected = [float(spec.evaluate({"logits": v, "labels": t}, {"alpha": 0.25, "gamma": 2}, dps=200)[0])
                for v, t in zip(x, target)]
    got = compiled["focal"](x, target, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    assert torchvision_sigmoid_focal_loss(torch.tensor(x), torch.tensor(target))[0] == 0  # torch's, for contrast


# ----- bad inputs: the built-in losses' errors --------------------------------------------------------

def _message(call) -> tuple[type, str]:
    with pytest.raises(Exception) as raised:
        call()
    return raised.type, str(raised.value)


def test_probability_target_errors_are_the_built_in_ones(compiled):
    loss, (x, y, w) = compiled["soft_ce"], _soft_batch()
    assert _message(lambda: loss(x.astype(np.int64), y)) == _message(lambda: sf.cross_entropy(x.astype(np.int64), y))
    # the built-in's message goes on to class-index targets, which this loss does not take
    kind, text = _message(lambda: loss(x, y[:, :3]))
    assert kind is TypeError and _message(lambda: sf.cross_entropy(x, y[:, :3]))[1].startswith(text + ";")
    assert _message(lambda: loss(x, y, weight=w[:2])) == _message(lambda: sf.cross_entropy(x, y, weight=w[:2]))
    assert _message(lambda: loss(x, y, reduction="avg")) == _message(lambda: sf.cross_entropy(x, y, reduction="avg"))
    with pytest.raises(TypeError, match="probability targets must be a floating-point array"):
        loss(x, np.zeros(7, np.int64))
    with pytest.raises(TypeError, match="no class weights"):
        compiled["poly1_soft"](x, y, weight=w)
    with pytest.raises(TypeError, match="unexpected keyword argument.*gamma"):
        compiled["poly1_soft"](x, y, gamma=2.0)


def test_elementwise_errors_are_the_built_in_ones(compiled):
    loss, (x, target, w, pw) = compiled["bce"], _binary_batch()
    builtin = sf.binary_cross_entropy_with_logits
    assert _message(lambda: loss(x, target[:2])) == _message(lambda: builtin(x, target[:2]))
    assert _message(lambda: loss(x, target, weight=w[:2])) == _message(lambda: builtin(x, target, weight=w[:2]))
    assert _message(lambda: loss(x, target, pos_weight=pw[:3])) == _message(lambda: builtin(x, target,
                                                                                           pos_weight=pw[:3]))
    with pytest.raises(TypeError, match="sigmoid_focal has no parameter pos_weight"):
        compiled["focal"](x, target, pos_weight=pw)
    with pytest.raises(TypeError, match="parameter gamma must be a real number"):
        compiled["focal"](x, target, gamma="2")


def test_a_spec_of_another_kind_is_refused_naming_the_kinds():
    from symce.spec import Spec, blocks
    from symce.spec.losses import LOGITS
    from symce.spec.symbols import z

    with pytest.raises(symce.compile.UnsupportedSpec, match=r"\(logits, target probabilities\).*\('vector',\)"):
        symce.compile(Spec(name="lse", expr=blocks.logsumexp(z), inputs=(LOGITS,), doc="logsumexp"))


# ----- torch: custom operators --------------------------------------------------------------------------

def _tensors(compiled_name, seed=6):
    if compiled_name in ("soft_ce", "poly1_soft"):
        x, y, w = _soft_batch(seed, shape=(4, 3))
        return torch.tensor(x, requires_grad=True), torch.tensor(y), torch.tensor(w) if compiled_name == "soft_ce" \
            else None
    x, target, w, _ = _binary_batch(seed, shape=(3, 4))
    return torch.tensor(x, requires_grad=True), torch.tensor(target), torch.tensor(w) if compiled_name == "bce" else None


KINDS = ["soft_ce", "poly1_soft", "bce", "focal"]


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_torch_gradcheck(compiled, name, reduction):
    x, target, weight = _tensors(name)
    loss = compiled[name]
    assert torch.autograd.gradcheck(lambda z: loss.torch(z, target, weight, reduction=reduction), (x,))


def test_torch_values_are_torchs(compiled):
    x, target, weight = _tensors("focal")
    torch.testing.assert_close(compiled["focal"].torch(x, target, gamma=1.5),
                               torchvision_sigmoid_focal_loss(x, target, gamma=1.5, reduction="mean"), rtol=1e-13, atol=0)
    x, target, weight = _tensors("soft_ce")
    torch.testing.assert_close(compiled["soft_ce"].torch(x, target, weight, reduction="sum"),
                               F.cross_entropy(x, target, weight, reduction="sum"), rtol=1e-13, atol=0)


def _fullgraph(compiled, backend):
    soft_x, soft_y, soft_w = _tensors("soft_ce")
    bin_x, bin_t, bin_w = _tensors("bce")

    def losses(a, b):
        per_element = compiled["focal"].torch(b, bin_t, reduction="none", gamma=1.5)
        return (compiled["soft_ce"].torch(a, soft_y, soft_w) + compiled["poly1_soft"].torch(a, soft_y, poly_epsilon=2.0)
                + compiled["bce"].torch(b, bin_t, bin_w, reduction="sum") + (per_element * bin_t).sum())

    eager = losses(soft_x, bin_x)
    eager_grads = torch.autograd.grad(eager, (soft_x, bin_x))
    traced = torch.compile(losses, backend=backend, fullgraph=True)(soft_x, bin_x)
    grads = torch.autograd.grad(traced, (soft_x, bin_x))
    return eager, eager_grads, traced, grads


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_fullgraph_matches_eager(compiled, backend):
    torch._dynamo.reset()
    eager, eager_grads, traced, grads = _fullgraph(compiled, backend)
    torch.testing.assert_close(traced, eager, rtol=1e-14, atol=0)
    for got, expected in zip(grads, eager_grads):
        torch.testing.assert_close(got, expected, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_opcheck(compiled, name, reduction):
    x, target, weight = _tensors(name)
    ops = operators(compiled[name])
    params = list(compiled[name]._options({}))
    opcheck(ops.value_and_grad, (x, target, weight, None, -100, reduction, params))
    opcheck(ops.value, (x.detach(), target, None, None, -100, reduction, params))


def test_opcheck_integer_labels_and_the_operator_names(compiled):
    from symce.spec import blocks, Spec
    from symce.spec.losses import INT_LABELS, LOGITS
    from symce.spec.symbols import t, z

    loss = symce.compile(Spec(name="plain_ce", expr=-blocks.log_softmax(z, t), inputs=(LOGITS, INT_LABELS),
                              doc="cross-entropy"))
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 2, -100, 1, 1])
    opcheck(operators(loss).value_and_grad, (x, labels, None, None, -100, "none", []))
    assert operators(loss) is operators(symce.compile(loss.spec))  # registered once per process
    name = f"plain_ce_{loss.key[:16]}"
    assert getattr(torch.ops.symce_compiled, name).default is not None
    torch.testing.assert_close(loss.torch(x, labels, reduction="none"), F.cross_entropy(x, labels, reduction="none"),
                               rtol=1e-13, atol=0)
