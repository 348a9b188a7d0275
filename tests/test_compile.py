"""symce.compile: a user's loss compiled once, loaded by later processes, with the built-in boundary.

One spec is compiled for the whole module, in a first process, into a cache folder under tmp
(SYMCE_CACHE_DIR): a weighted poly-1 loss, L = w_t (−log p_t + ε (1 − p_t)), which at ε = 0 *is*
cross-entropy. References are torch's and mpmath's, never symce.compile's own.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import compile_workloads
import symce
import symce.functional as sf

LOSSES = textwrap.dedent('''
    import sympy as sp
    from symce.spec import Input, Param, Spec, blocks
    from symce.spec.losses import CLASS_WEIGHTS, INT_LABELS, LOGITS
    from symce.spec.symbols import t, w, z

    eps = sp.Symbol("poly_epsilon", real=True)
    p_t = blocks.softmax(z, t)
    poly1 = Spec(name="poly1_weighted", expr=w[t] * (-blocks.log_softmax(z, t) + eps * (1 - p_t)),
                 inputs=(LOGITS, INT_LABELS),
                 params=(CLASS_WEIGHTS, Param("poly_epsilon", eps, "scalar", sp.Integer(0), "poly-1 weight")),
                 doc="Weighted poly-1 loss.")
    unweighted = Spec(name="poly1_unweighted", expr=-blocks.log_softmax(z, t) + eps * (1 - p_t),
                      inputs=(LOGITS, INT_LABELS),
                      params=(Param("poly_epsilon", eps, "scalar", sp.Integer(0), "poly-1 weight"),),
                      doc="Poly-1 loss.")
''')

#: what each process runs: every kernel signature the tests below call, and how many numba compiled
WORKLOAD = textwrap.dedent('''
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    from numba.core.event import install_recorder
    import symce
    from losses import poly1
    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(6, 4)), np.array([0, 3, 1, 2, 3, 0]), np.array([0.5, 1.0, 2.0, 1.5])
    start = time.perf_counter()
    with install_recorder("numba:compile") as compiled:
        loss = symce.compile(poly1)
        results = []
        for weight in (None, w):
            for reduction in ("none", "mean"):
                results.append(np.asarray(loss(x, y, weight=weight, reduction=reduction, poly_epsilon=0.5)).tolist())
                value, grad = loss.value_and_grad(x, y, weight=weight, reduction=reduction, poly_epsilon=0.5)
                results.append(grad.tolist())
        loss.value_and_grad(x, y, weight=w, out=np.empty_like(x))
    seconds = time.perf_counter() - start
    print(json.dumps({"compiled": len(compiled.buffer), "seconds": seconds, "results": results,
                      "generated": loss._loaded[1], "module": loss.kernels.__name__}))
''')


def run_workload(folder, cache) -> dict:
    return compile_workloads.run_workload(WORKLOAD, folder, cache)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The losses file, a cache compiled by a first process, and this process pointed at that cache."""
    with compile_workloads.compiled_first(tmp_path_factory, "losses", LOSSES, WORKLOAD) as prepared:
        yield prepared


@pytest.fixture(scope="module")
def poly1(setup):
    return symce.compile(setup["losses"].poly1)


def test_a_second_process_loads_the_kernels_without_compiling(setup):
    first, second = setup["first"], run_workload(setup["folder"], setup["cache"])
    assert first["generated"] and first["compiled"] > 0
    assert not second["generated"] and second["compiled"] == 0
    assert second["module"] == first["module"]  # the stable name numba's cache records
    assert second["results"] == first["results"]
    # the lookup and the first calls: numba loads machine code (the first call ~1.8 s with the
    # machine's 2 cores shared and loaded, as long as symce.functional.cross_entropy's first call there)
    assert second["seconds"] < first["seconds"] / 3


# ----- the boundary: symce.functional's validation, weights, ignore_index and reductions --------------

def _batch(seed=1, n=7, c=5):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=3, size=(n, c)), rng.integers(0, c, size=n), rng.uniform(0.2, 2, size=c)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_at_epsilon_zero_it_is_cross_entropy(poly1, reduction, weighted):
    x, y, w = _batch()
    y[[1, 4]] = -100
    weight = w if weighted else None
    got = poly1(x, y, weight=weight, reduction=reduction)
    value, grad = poly1.value_and_grad(x, y, weight=weight, reduction=reduction)
    expected = sf.cross_entropy(x, y, weight=weight, reduction=reduction)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(value, expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(grad, sf.cross_entropy_value_and_grad(x, y, weight=weight, reduction=reduction)[1],
                               rtol=1e-14, atol=1e-17)
    logits = torch.tensor(x, requires_grad=True)
    reference = torch.nn.functional.cross_entropy(logits, torch.tensor(y), None if weight is None
                                                  else torch.tensor(weight), reduction=reduction)
    reference.sum().backward()
    np.testing.assert_allclose(got, reference.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-12, atol=1e-15)


def _torch_poly1(logits, labels, weight, eps, reduction, ignore_index=-100):
    """The reference: torch's cross_entropy plus ε w_t (1 − p_t), reduced as torch's weighted mean."""
    kept = labels != ignore_index
    safe = torch.where(kept, labels, 0)
    w = torch.ones(logits.shape[1], dtype=logits.dtype) if weight is None else weight
    p_t = torch.softmax(logits, 1).gather(1, safe[:, None])[:, 0]
    rows = torch.nn.functional.cross_entropy(logits, labels, weight, reduction="none", ignore_index=ignore_index)
    rows = rows + torch.where(kept, eps * w[safe] * (1 - p_t), 0)
    if reduction == "none":
        return rows
    return rows.sum() if reduction == "sum" else rows.sum() / (w[safe] * kept).sum()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_poly1_matches_torch_with_weights_and_ignore_index(poly1, reduction):
    x, y, w = _batch(2)
    y[2] = 3
    y[5] = 3
    logits = torch.tensor(x, requires_grad=True)
    reference = _torch_poly1(logits, torch.tensor(y), torch.tensor(w), 0.7, reduction, ignore_index=3)
    reference.sum().backward()
    value, grad = poly1.value_and_grad(x, y, weight=w, ignore_index=3, reduction=reduction, poly_epsilon=0.7)
    np.testing.assert_allclose(value, reference.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert np.all(grad[[2, 5]] == 0)


def test_value_and_grad_writes_into_out(poly1):
    x, y, w = _batch(3)
    out = np.full_like(x, np.nan)
    value, grad = poly1.value_and_grad(x, y, weight=w, out=out, poly_epsilon=0.5)
    assert grad is out
    np.testing.assert_array_equal(out, poly1.value_and_grad(x, y, weight=w, poly_epsilon=0.5)[1])


@pytest.mark.parametrize("label", [9, 4, -1, -100])
def test_out_of_range_and_negative_labels_are_refused(poly1, label):
    x, y, _ = _batch(n=6, c=4)
    y[3] = label
    with pytest.raises(IndexError, match=rf"target {label} at index \(3,\) is out of bounds"):
        poly1(x, y, ignore_index=-7)
    with pytest.raises(IndexError, match=rf"target {label} at index \(3,\)"):
        poly1.value_and_grad(x, y, ignore_index=-7)


def test_bad_arguments_are_named(poly1, setup):
    x, y, w = _batch()
    with pytest.raises(TypeError, match="floating-point"):
        poly1(x.astype(np.int64), y)
    with pytest.raises(ValueError, match="target shape"):
        poly1(x, y[:3])
    with pytest.raises(ValueError, match=r"weight must have shape \(5,\)"):
        poly1(x, y, weight=w[:2])
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        poly1(x, y, reduction="avg")
    with pytest.raises(TypeError, match="unexpected keyword argument.*gamma"):
        poly1(x, y, gamma=2.0)
    with pytest.raises(TypeError, match="no class weights"):
        symce.compile(setup["losses"].unweighted)(x, y, weight=w)


def test_all_ignored_mean_is_nan_with_zero_gradient(poly1):
    x, y, _ = _batch()
    y[:] = -100
    value, grad = poly1.value_and_grad(x, y)
    assert np.isnan(value) and np.all(grad == 0)


# ----- the mathematics: spec, gradient, derivation ---------------------------------------------------

def test_gradient_is_the_closed_form_of_the_derivative(poly1):
    import sympy as sp
    from symce.spec.symbols import j

    x, y, w = _batch(4, n=1, c=3)
    assert not poly1.gradient.has(sp.Derivative)
    logits = torch.tensor(x, requires_grad=True)
    _torch_poly1(logits, torch.tensor(y), torch.tensor(w), 0.3, "sum").backward()
    values, params = {"logits": list(x[0]), "labels": int(y[0])}, {"weight": list(w), "poly_epsilon": 0.3}
    closed = [float(poly1.spec.evaluate(values, params, expr=poly1.gradient.subs(j, index))[0]) for index in range(3)]
    np.testing.assert_allclose(closed, logits.grad.numpy()[0], rtol=1e-13)


def test_derivation_prints_and_its_steps_check(poly1):
    text = poly1.derivation()
    assert text.startswith("Gradient of poly1_weighted with respect to logits")
    assert "checked by SymPy" in text
    assert all(check.status for check in poly1._derivation.checks)
    assert "\\frac" in poly1.derivation(format="latex") or "\\sum" in poly1.derivation(format="latex")


def test_the_stability_rewrites_are_named(poly1):
    assert "log_softmax_difference" in poly1.rewrites and "logsumexp_shift" in poly1.rewrites


# ----- torch ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_torch_gradcheck(poly1, reduction):
    x, y, w = _batch(5, n=4, c=4)
    y[1] = -100
    logits = torch.tensor(x, requires_grad=True)
    labels, weight = torch.tensor(y), torch.tensor(w)
    assert torch.autograd.gradcheck(lambda z: poly1.torch(z, labels, weight, reduction=reduction, poly_epsilon=0.5),
                                    (logits,))
    loss = poly1.torch(logits, labels, weight, reduction=reduction, poly_epsilon=0.5)
    reference = _torch_poly1(logits, labels, weight, 0.5, reduction)
    torch.testing.assert_close(loss, reference, rtol=1e-13, atol=0)


def test_torch_training_step(poly1):
    x, y, w = _batch(6)
    model = torch.nn.Linear(5, 5, dtype=torch.float64)
    inputs = torch.tensor(x)
    loss = poly1.torch(model(inputs), torch.tensor(y), poly_epsilon=1.0)
    loss.backward()
    reference_model = torch.nn.Linear(5, 5, dtype=torch.float64)
    reference_model.load_state_dict(model.state_dict())
    _torch_poly1(reference_model(inputs), torch.tensor(y), None, 1.0, "mean").backward()
    torch.testing.assert_close(model.weight.grad, reference_model.weight.grad, rtol=1e-12, atol=1e-14)


# ----- the command line -------------------------------------------------------------------------------

def _symce(*args, env=None):
    command = [sys.executable, "-m", "symce.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def test_cli_compile_prints_gradient_rewrites_and_kernels(setup):
    done = _symce("compile", f"{setup['folder'] / 'losses.py'}:poly1", "--out", str(setup["cache"]))
    assert done.returncode == 0, done.stderr
    assert "gradient" in done.stdout and "log_softmax_difference" in done.stdout
    assert str(setup["cache"]) in done.stdout and "(cached)" in done.stdout


def test_cli_derive_takes_a_path(setup):
    done = _symce("derive", f"{setup['folder'] / 'losses.py'}:poly1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Gradient of poly1_weighted")


def test_cli_verify_takes_a_spec_path(setup, tmp_path):
    (tmp_path / "mine.py").write_text(textwrap.dedent('''
        import numpy as np
        def poly1(logits, labels):
            z = logits - logits.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            picked = log_p[np.arange(len(labels)), labels]
            return np.mean(-picked + 0.25 * (1 - np.exp(picked)))
    '''))
    done = _symce("verify", f"{tmp_path / 'mine.py'}:poly1", "--spec", f"{setup['folder'] / 'losses.py'}:unweighted",
                  "--param", "poly_epsilon=0.25")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: EQUIVALENT" in done.stdout
