"""The generated kernels against the spec in mpmath (accuracy) and against torch (semantics)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from symce import layout
from symce.bench import accuracy
from symce.codegen import planner
from symce.functional._kernels import read_only
from symce.spec.symbols import j

TOLERANCE = {np.float64: 1e-13, np.float32: 1e-5}


def _frozen(*arrays: np.ndarray):
    """The arrays read-only, as symce.functional hands every input to a kernel (``read_only``): numba
    compiles one specialisation per writeable flag, so writeable inputs would compile each kernel
    these tests call a second time, for the tests alone. One array is returned bare."""
    views = [read_only(np.asarray(array)) for array in arrays]
    return views[0] if len(views) == 1 else views


@pytest.fixture(scope="module", params=[np.float64, np.float32], ids=["float64", "float32"])
def worst(request):
    return request.param, accuracy.worst_errors(request.param)


def test_accuracy_against_the_spec_over_the_adversarial_domain(worst):
    dtype, table = worst
    for kernel, errors in table.items():
        assert max(errors["symce"]) <= TOLERANCE[dtype], f"{kernel}: {errors['symce']}"


def test_confident_prediction_is_not_rounded_to_zero():
    from symce.generated import cross_entropy

    loss, grad = cross_entropy.softmax_cross_entropy_with_integer_labels_forward_backward(
        *_frozen(np.array([[40.0, 0.0, 0.0]]), np.array([0]), np.ones(3)), 0.0, -100, _frozen(np.ones(1)))
    assert loss[0] == pytest.approx(8.496708510583178e-18, rel=1e-15)
    assert grad[0, 0] == pytest.approx(-8.496708510583178e-18, rel=1e-15)


def _torch_ce(x, target, weight, smoothing, ignore_index=-100):
    tx = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(tx, torch.tensor(target), weight=torch.tensor(weight),
                                             ignore_index=ignore_index, reduction="none", label_smoothing=smoothing)
    loss.sum().backward()
    return loss.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_integer_labels_match_torch_with_weights_smoothing_and_ignore(dtype):
    from symce.generated import cross_entropy

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(7, 5)) * 4).astype(dtype)
    labels = np.array([0, 4, -100, 2, 1, -100, 3])
    weight = rng.uniform(0.2, 2.0, size=5).astype(dtype)
    x, labels, weight, scale = _frozen(x, labels, weight, np.ones(7, dtype))
    loss, grad = cross_entropy.softmax_cross_entropy_with_integer_labels_forward_backward(x, labels, weight, 0.15, -100, scale)
    expected_loss, expected_grad = _torch_ce(x, labels, weight, 0.15)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert loss.dtype == dtype and grad.dtype == dtype
    np.testing.assert_allclose(loss, expected_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, expected_grad, rtol=tol, atol=tol)
    forward = cross_entropy.softmax_cross_entropy_with_integer_labels_forward(x, labels, weight, 0.15, -100)
    # the two kernels' sums may associate differently (fastmath reassoc): a few ulps apart at most
    np.testing.assert_allclose(forward, loss, rtol=4 * np.finfo(dtype).eps, atol=0)


def test_probability_labels_match_torch():
    from symce.generated import cross_entropy

    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4)) * 3
    y = rng.dirichlet(np.ones(4), size=6)
    weight = rng.uniform(0.5, 1.5, size=4)
    scale = rng.uniform(0.5, 2.0, size=6)
    loss, grad = cross_entropy.softmax_cross_entropy_forward_backward(x, y, weight, 0.1, scale)
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(tx, torch.tensor(y), weight=torch.tensor(weight), reduction="none",
                                                 label_smoothing=0.1)
    (expected * torch.tensor(scale)).sum().backward()
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("in_place", [False, True])
def test_short_rows_over_many_tasks_and_threads_match_torch(in_place):
    """Rows shorter than LONG_ROWS, enough of them for several tasks per thread: each thread's
    runs share its scratch row, so a task that read another's exponentials would show here."""
    from symce.generated import cross_entropy

    rng = np.random.default_rng(3)
    classes = layout.LONG_ROWS // 2
    rows = 5 * (layout.CHUNK // classes) + 3
    x = rng.normal(size=(rows, classes)) * 4
    y = rng.dirichlet(np.ones(classes), size=rows)
    x, y, scale = _frozen(x, y, np.full(1, 1.0 / rows))
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(tx, torch.tensor(y))
    expected.backward()
    if in_place:
        grad = x.copy()
        loss = cross_entropy.softmax_cross_entropy_forward_backward_in_place(grad, y, None, 0.0, scale)[0]
    else:
        loss, grad = cross_entropy.softmax_cross_entropy_forward_backward(x, y, None, 0.0, scale)
    assert loss.mean() == pytest.approx(expected.item(), rel=1e-12)  # the loss unscaled, row by row
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10, atol=1e-18)


def test_nll_and_softmax_family_match_torch():
    from symce.generated import nll, softmax

    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3)) * 5
    labels = np.array([0, 2, 1, -1, 2])
    x, labels, weight, scale = _frozen(x, labels, np.array([0.5, 1.0, 2.0]), np.ones(5))
    loss, grad = nll.nll_loss_forward_backward(x, labels, weight, -1, scale)
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.nll_loss(tx, torch.tensor(labels), weight=torch.tensor(weight), ignore_index=-1,
                                            reduction="none")
    expected.sum().backward()
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(softmax.softmax_forward(x), torch.softmax(torch.tensor(x), -1).numpy(), rtol=1e-14)
    np.testing.assert_allclose(softmax.log_softmax_forward(x), torch.log_softmax(torch.tensor(x), -1).numpy(), rtol=1e-14)
    np.testing.assert_allclose(softmax.logsumexp_forward(x), torch.logsumexp(torch.tensor(x), -1).numpy(), rtol=1e-14)


def test_non_finite_rows_follow_torch():
    from symce.generated import softmax

    # (a row with +inf: torch's softmax is nan everywhere, these kernels give the formula's [nan, 0])
    rows = _frozen(np.array([[-np.inf, -np.inf], [np.nan, 1.0]]))
    t = torch.tensor(rows)
    np.testing.assert_array_equal(softmax.logsumexp_forward(rows), torch.logsumexp(t, -1).numpy())
    np.testing.assert_array_equal(softmax.softmax_forward(rows), torch.softmax(t, -1).numpy())


def test_binary_kernels_match_torch():
    from symce.generated import binary

    rng = np.random.default_rng(3)
    x = rng.normal(size=9) * 10
    y = rng.uniform(size=9)
    x, y, w, pw, scale = _frozen(x, y, rng.uniform(0.5, 2, size=9), rng.uniform(0.5, 3, size=9),
                                 rng.uniform(0.5, 2, size=9))
    loss, grad = binary.sigmoid_binary_cross_entropy_forward_backward(x, y, w, pw, scale)
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        tx, torch.tensor(y), weight=torch.tensor(w), pos_weight=torch.tensor(pw), reduction="none")
    (expected * torch.tensor(scale)).sum().backward()
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12)
    r = np.array([0.0, 1.0, 1e-13, 0.3, 1 - 1e-13])
    b = np.array([1.0, 0.0, 0.5, 0.2, 0.9])
    loss, grad = binary.binary_cross_entropy_forward_backward(*_frozen(r, b, np.ones(5), np.ones(5)))
    tr = torch.tensor(r, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy(tr, torch.tensor(b), reduction="none")
    expected.sum().backward()
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, tr.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_and_entropy_match_torch(log_target):
    from symce.generated import information

    rng = np.random.default_rng(4)
    log_q = np.log(rng.dirichlet(np.ones(6)))
    target = rng.dirichlet(np.ones(6))
    target[1] = 0.0
    target = np.log(target + 1e-3) if log_target else target
    log_q, target, scale = _frozen(log_q, target, rng.uniform(0.5, 2, size=6))
    out, grad = information.kl_divergence_forward_backward(log_q, target, log_target, scale)
    tq = torch.tensor(log_q, requires_grad=True)
    expected = torch.nn.functional.kl_div(tq, torch.tensor(target), reduction="none", log_target=log_target)
    (expected * torch.tensor(scale)).sum().backward()
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(grad, tq.grad.numpy(), rtol=1e-13)
    np.testing.assert_array_equal(information.kl_divergence_forward(log_q, target, log_target), out)
    p = rng.dirichlet(np.ones(4), size=3)
    p[0] = [1.0, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(information.entropy_forward(_frozen(p)), torch.special.entr(torch.tensor(p)).sum(-1).numpy(), rtol=1e-14)


@pytest.fixture(scope="module")
def custom_kernels(tmp_path_factory):
    """The kernels of examples/custom_losses.py, generated once for this module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "custom_losses.py"
    loader = importlib.util.spec_from_file_location("custom_losses_example", path)
    example = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(example)
    from symce.codegen import generate_kernel

    out = tmp_path_factory.mktemp("custom_kernels")
    return {spec.name: generate_kernel(spec, out) for spec in (example.focal_loss, example.poly1_loss)}


def test_custom_losses_match_torch_autograd(custom_kernels):
    kernels = custom_kernels
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 4)) * 3
    labels = rng.integers(0, 4, size=6)
    scale = rng.uniform(0.5, 2, size=6)
    for name, parameter, reference in (
            ("focal_loss", 2.0, lambda lp, pt: -(1 - pt) ** 2.0 * lp),
            ("poly1_loss", 0.7, lambda lp, pt: -lp + 0.7 * (1 - pt))):
        loss, grad = getattr(kernels[name], f"{name}_forward_backward")(x, labels, parameter, scale)
        tx = torch.tensor(x, requires_grad=True)
        log_p = torch.log_softmax(tx, -1).gather(1, torch.tensor(labels)[:, None])[:, 0]
        expected = reference(log_p, log_p.exp())
        (expected * torch.tensor(scale)).sum().backward()
        np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10, atol=1e-14)
        forward = getattr(kernels[name], f"{name}_forward")(x, labels, parameter)
        np.testing.assert_allclose(forward, loss, rtol=1e-15)


def test_custom_loss_stays_finite_on_confident_predictions(custom_kernels):
    kernels = custom_kernels
    x = np.array([[400.0, 0.0, 0.0], [40.0, 0.0, 0.0], [0.0, 40.0, 0.0]])
    labels = np.array([0, 0, 0])
    loss, grad = kernels["focal_loss"].focal_loss_forward_backward(x, labels, 2.0, np.ones(3))
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    # [40, 0, 0], label 0: 1 − p_t = 2e^{-40}/(1 + 2e^{-40}) and the loss is (1 − p_t)² · log1p(2e^{-40})
    o = 2 * np.exp(-40.0)
    assert loss[1] == pytest.approx((o / (1 + o)) ** 2 * np.log1p(o), rel=1e-13)


# ----- the paths a kernel takes: parameter defaults, out buffers (in place), confident rows ---------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_default_parameters_take_the_specialised_path_with_the_same_values(dtype):
    from symce.generated import binary, cross_entropy

    rng = np.random.default_rng(3)
    x = (rng.normal(size=(6, 9)) * 5).astype(dtype)
    labels = rng.integers(0, 9, 6)
    x, labels, scale, ones = _frozen(x, labels, rng.uniform(0.5, 2, 6).astype(dtype), np.ones(9, dtype))
    eps = 4 * np.finfo(dtype).eps
    special = cross_entropy.softmax_cross_entropy_with_integer_labels_forward_backward(x, labels, None, 0.0, -100, scale)
    general = cross_entropy.softmax_cross_entropy_with_integer_labels_forward_backward(x, labels, ones, 0.0, -100, scale)
    for a, b in zip(special, general):
        np.testing.assert_allclose(a, b, rtol=eps, atol=eps)
    y = rng.uniform(size=(6, 9)).astype(dtype)
    y = _frozen(y / y.sum(axis=1, keepdims=True))
    special = cross_entropy.softmax_cross_entropy_forward_backward(x, y, None, 0.0, scale)
    general = cross_entropy.softmax_cross_entropy_forward_backward(x, y, ones, 0.0, scale)
    for a, b in zip(special, general):
        np.testing.assert_allclose(a, b, rtol=eps, atol=eps)
    flat, target, ones = _frozen(x.reshape(-1), (rng.uniform(size=54) > 0.5).astype(dtype), np.ones(54, dtype))
    special = binary.sigmoid_binary_cross_entropy_forward_backward(flat, target, None, None, ones)
    general = binary.sigmoid_binary_cross_entropy_forward_backward(flat, target, ones, ones, ones)
    for a, b in zip(special, general):
        np.testing.assert_allclose(a, b, rtol=eps, atol=eps)


def _kernels_with_buffers():
    """(family, kernel function, its Kernel) for every generated kernel with an output buffer,
    the ``_sum`` variants included."""
    return [(family, function, kernel) for family, function, kernel in _kernels_and_sums() if planner.buffers(kernel)]


def _kernels_and_sums():
    """(family, kernel function, its Kernel) for every generated kernel and ``_sum`` variant."""
    from symce.codegen import kernels

    found = []
    for family, specs in kernels.families().items():
        for kernel in (kernel for spec_kernels in specs.values() for kernel in spec_kernels):
            found.append((family, kernel.function, kernel))
            if planner.SUMMED_OUTPUT in kernel.outputs:
                found.append((family, f"{kernel.function}_sum", kernel))
    return found


def _outputs(result) -> tuple:
    """A kernel's outputs as a tuple (a kernel with one output returns it bare)."""
    return result if isinstance(result, tuple) else (result,)


def _arguments(kernel, dtype, rng, label_smoothing, classes, rows=7):
    """Arguments for ``kernel`` by role: a (rows, classes) row block (rows ≥ 7) with a confident row,
    an ignored label, class weights, label smoothing, a row scale; rows · classes elements in
    (0.05, 0.95), valid for every elementwise operand (probabilities, targets, weights, log-probabilities)."""
    elements = rows * classes
    arguments = []
    for arg in kernel.args:
        if arg.role == "rows" and not arguments:
            x = (rng.normal(size=(rows, classes)) * 6).astype(dtype)
            x[2, 5] += 60  # a confident row
            arguments.append(x)
        elif arg.role == "rows":  # probability targets
            y = rng.uniform(size=(rows, classes)).astype(dtype)
            arguments.append(y / y.sum(axis=1, keepdims=True))
        elif arg.role == "label":
            labels = rng.integers(0, classes, rows)
            labels[2], labels[4] = 5, -100
            arguments.append(labels)
        elif arg.role == "classes":
            arguments.append(rng.uniform(0.2, 2, classes).astype(dtype))
        elif arg.role == "scalar":
            arguments.append(label_smoothing)
        elif arg.role == "ignore_index":
            arguments.append(-100)
        elif arg.role == "scale":
            arguments.append(np.full(rows if kernel.program is not None else elements, 0.5, dtype))
        elif arg.role == "elements":
            arguments.append(rng.uniform(0.05, 0.95, elements).astype(dtype))
        elif arg.role == "flag":
            arguments.append(True)
        else:
            raise AssertionError(f"no test input for role {arg.role!r}")
    return [_frozen(argument) if isinstance(argument, np.ndarray) else argument for argument in arguments]


def _with_dtypes(kernels):
    """((family, function, Kernel), dtypes) for each of ``kernels``: float64 for every one, float32 too for the
    first of each family. A kernel's float32 loops are the same renderer's as its float64 ones, and each case
    is a compilation of 5-8 s, so float32 is checked once per family of emitted code, not once per kernel."""
    seen = set()
    for family, function, kernel in kernels:
        yield (family, function, kernel), (np.float64,) if family in seen else (np.float64, np.float32)
        seen.add(family)


def _twin_cases():
    """(family, function, Kernel, dtype): every kernel with a buffer, in the dtypes of ``_with_dtypes``."""
    return [(*entry, dtype) for entry, dtypes in _with_dtypes(_kernels_with_buffers()) for dtype in dtypes]


@pytest.mark.parametrize("family,function,kernel,dtype", _twin_cases(),
                         ids=lambda v: v if isinstance(v, str) else np.dtype(v).name if isinstance(v, type) else "")
@pytest.mark.parametrize("classes", [layout.LONG_ROWS - 2, layout.LONG_ROWS + 8])
def test_in_place_twin_writes_over_the_first_input_what_a_fresh_call_returns(family, function, kernel, dtype, classes):
    """``<kernel>_in_place`` (no overlap checks), the kernel given its first input as the buffer
    (overlap checks, scalar loops) and a fresh call agree: the in-place code reads nothing it has
    already overwritten. Rows shorter than ``LONG_ROWS`` take their exponentials from one flat loop
    over their run (``run_exponentials``), longer ones each their own, with 512-bit vectors."""
    import importlib

    module = importlib.import_module(f"symce.generated.{family}")
    smoothing = 0.2 if any(arg.role == "scalar" for arg in kernel.args) else None
    arguments = _arguments(kernel, dtype, np.random.default_rng(4), smoothing, classes)
    fresh = getattr(module, function)(*arguments)
    first = arguments[0]
    twin_input, given_input = first.copy(), first.copy()
    in_place = getattr(module, f"{function}_in_place")(twin_input, *arguments[1:])
    # the input read-only, as symce.functional passes it with an out= buffer: the same compilation
    given = getattr(module, function)(_frozen(given_input), *arguments[1:], given_input)
    fresh, in_place, given = (_outputs(result) for result in (fresh, in_place, given))
    assert any(result is twin_input for result in in_place) and any(result is given_input for result in given)
    for expected, twin, passed in zip(fresh, in_place, given):
        # the loops may vectorise differently (or, given the input as buffer, not at all): a few
        # ulps of the largest entry apart at most
        eps = 8 * np.finfo(dtype).eps
        close = {"rtol": eps, "atol": eps * float(np.abs(expected).max(initial=0))}
        np.testing.assert_allclose(twin, expected, **close)
        np.testing.assert_allclose(passed, expected, **close)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_confident_rows_of_many_classes_keep_their_relative_precision(dtype):
    """Σ_{k≠a} exp(z_k − m) is summed apart from the max's own term, so a confident row (the sum
    ≪ 1, and log1p of it the loss) keeps its relative precision. Reference: the spec in mpmath."""
    from symce.generated import cross_entropy
    from symce.spec import get

    rng = np.random.default_rng(5)
    classes = 24  # above the widest vector (16 float32 lanes), small enough for the spec in mpmath
    x = rng.normal(size=(3, classes)).astype(dtype)
    x[:, 7] += np.array([30.0, 12.0, 3.0], dtype)  # from confident to unsure
    loss, grad = cross_entropy.softmax_cross_entropy_with_integer_labels_forward_backward(
        *_frozen(x, np.array([7, 7, 7])), None, 0.0, -100, _frozen(np.ones(3, dtype)))
    spec = get("softmax_cross_entropy_with_integer_labels")
    label_gradient = spec.gradient().subs(j, 7)  # ∂L/∂z_7 only: the spec in mpmath costs seconds per entry
    for row in range(3):
        values = {"logits": [float(v) for v in x[row]], "labels": 7}
        exact = float(spec.evaluate(values, dps=40)[0])
        exact_grad = float(spec.evaluate(values, expr=label_gradient, dps=40)[0])
        assert abs(loss[row] - exact) <= TOLERANCE[dtype] * abs(exact)
        assert abs(grad[row, 7] - exact_grad) <= TOLERANCE[dtype] * abs(exact_grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted,smoothing", [(False, 0.0), (True, 0.3)], ids=["plain", "weights+smoothing"])
def test_rows_with_tied_maxima_match_the_spec(dtype, weighted, smoothing):
    """A row whose max is held by two or three classes: Σ_{k≠a} adds the other maxima back (their
    terms at the max minus the argmax's own), confident rows included. Reference: the spec in mpmath."""
    from symce.generated import cross_entropy
    from symce.spec import get

    classes = 12
    x = np.zeros((4, classes), dtype)
    x[0, [3, 8]] = 25.0          # two confident maxima, the label one of them
    x[1, [0, 4, 9]] = 25.0       # three, the label the last
    x[2, [1, 2]] = 0.5           # two unsure maxima, the label below them
    x[3, :] = 1.0                # every class ties
    labels = np.array([8, 9, 5, 6])
    weight = _frozen(np.linspace(0.5, 2.0, classes).astype(dtype)) if weighted else None
    loss, grad = cross_entropy.softmax_cross_entropy_with_integer_labels_forward_backward(
        *_frozen(x, labels), weight, smoothing, -100, _frozen(np.ones(4, dtype)))
    spec = get("softmax_cross_entropy_with_integer_labels")
    gradient = spec.gradient()
    params = {"label_smoothing": smoothing, **({"weight": [float(w) for w in weight]} if weighted else {})}
    for row in range(4):
        values = {"logits": [float(v) for v in x[row]], "labels": int(labels[row])}
        exact = float(spec.evaluate(values, params, dps=40)[0])
        exact_grad = np.array([float(v) for v in spec.evaluate(values, params, dps=40, expr=gradient)])
        assert abs(loss[row] - exact) <= TOLERANCE[dtype] * abs(exact)
        np.testing.assert_allclose(grad[row], exact_grad, rtol=TOLERANCE[dtype],
                                   atol=TOLERANCE[dtype] * np.abs(exact_grad).max())


def test_one_scale_for_every_row_equals_a_scale_per_row():
    """A reduced loss passes one scale for all rows (length 1), as for elementwise kernels."""
    from symce.generated import cross_entropy, nll

    rng = np.random.default_rng(8)
    x = rng.normal(size=(50, 7)) * 4
    labels = rng.integers(0, 7, 50)
    labels[3] = -100
    x, labels, one, each_row = _frozen(x, labels, np.array([0.25]), np.full(50, 0.25))
    shared = cross_entropy.softmax_cross_entropy_with_integer_labels_forward_backward(x, labels, None, 0.1, -100, one)
    each = cross_entropy.softmax_cross_entropy_with_integer_labels_forward_backward(x, labels, None, 0.1, -100, each_row)
    np.testing.assert_array_equal(shared[1], each[1])
    assert not shared[1][3].any()
    shared = nll.nll_loss_forward_backward(x, labels, None, -100, one)
    each = nll.nll_loss_forward_backward(x, labels, None, -100, each_row)
    np.testing.assert_array_equal(shared[1], each[1])


def test_one_scale_for_every_element_equals_a_scale_per_element():
    from symce.generated import binary

    rng = np.random.default_rng(6)
    x = rng.normal(size=40000) * 4
    y = (rng.uniform(size=40000) > 0.5).astype(np.float64)
    x, y, one, each_element = _frozen(x, y, np.array([0.25]), np.full(40000, 0.25))
    shared = binary.sigmoid_binary_cross_entropy_forward_backward(x, y, None, None, one)
    each = binary.sigmoid_binary_cross_entropy_forward_backward(x, y, None, None, each_element)
    np.testing.assert_array_equal(shared[1], each[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("family,function,kernel",
                         [found for found in _kernels_and_sums() if found[1].endswith("_sum")],
                         ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("rows", [7, 1201])
def test_sum_variant_adds_up_the_losses_of_each_task(family, function, kernel, dtype, rows):
    """``<kernel>_sum`` returns one loss total per task of rows (row kernels: max(1, CHUNK // C) rows
    a task) or chunk of elements instead of a loss per row or element, and every other output as
    the kernel itself does. Rows of 30 and 1201 classes (short and long) over several tasks."""
    import importlib

    module = importlib.import_module(f"symce.generated.{family}")
    classes = layout.LONG_ROWS - 2 if rows == 7 else 30
    smoothing = 0.2 if any(arg.role == "scalar" for arg in kernel.args) else None
    arguments = _arguments(kernel, dtype, np.random.default_rng(5), smoothing, classes, rows)
    each, summed = (_outputs(getattr(module, name)(*arguments)) for name in (kernel.function, function))
    position = kernel.outputs.index(planner.SUMMED_OUTPUT)
    losses, totals = each[position], summed[position]
    per_task = max(1, layout.CHUNK // classes) if kernel.program is not None else layout.CHUNK
    units = rows if kernel.program is not None else rows * classes
    assert totals.shape == (-(-units // per_task),)
    # a task adds its losses one after the other in float64, (n - 1) u Σ|loss| at most (recursive
    # summation), and each loss, or each task's total, is rounded once to the output's dtype
    rounding = 2 * np.finfo(losses.dtype).eps + min(per_task, units) * np.finfo(np.float64).eps
    bound = rounding * np.abs(losses).sum(dtype=np.float64)
    assert abs(totals.sum(dtype=np.float64) - losses.sum(dtype=np.float64)) <= bound
    for name, expected, got in zip(kernel.outputs, each, summed):
        if name != planner.SUMMED_OUTPUT:
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("n", [0, 5, 16384, 40001])
def test_summed_variant_adds_up_the_per_element_losses(n):
    """``<kernel>_sum`` returns the loss summed per chunk of elements: what 'mean' and 'sum' read."""
    from symce.generated import binary

    rng = np.random.default_rng(7)
    x = rng.normal(size=n) * 4
    y = (rng.uniform(size=n) > 0.5).astype(np.float64)
    x, y, scale = _frozen(x, y, np.array([1.0]))
    totals, grad = binary.sigmoid_binary_cross_entropy_forward_backward_sum(x, y, None, None, scale)
    loss, expected_grad = binary.sigmoid_binary_cross_entropy_forward_backward(x, y, None, None, scale)
    assert totals.shape == (-(-n // 16384),)
    assert totals.sum() == pytest.approx(loss.sum(), rel=1e-13, abs=0)
    np.testing.assert_array_equal(grad, expected_grad)
    assert binary.sigmoid_binary_cross_entropy_forward_sum(x, y, None, None).sum() == pytest.approx(loss.sum(), rel=1e-13)


def _streamed_kernels():
    """(family, kernel function, its Kernel) for every row kernel whose buffer a caller passes is
    streamed (``_<function>_streamed``: write_row's non-temporal stores)."""
    import importlib

    return [(family, function, kernel) for family, function, kernel in _kernels_with_buffers()
            if function == kernel.function
            and hasattr(importlib.import_module(f"symce.generated.{family}"), f"_{function}_streamed")]


def _buffer(kind: str, shape: tuple[int, int], dtype) -> np.ndarray:
    """An output buffer of ``shape``: 64-byte aligned (NumPy's), its start one element or one byte
    past that (write_row's head and tail take more, or every, element), or every other column of a
    wider array (not C-contiguous: write_row declines, the row loop writes it)."""
    size, itemsize = shape[0] * shape[1], np.dtype(dtype).itemsize
    if kind == "aligned":
        return np.full(shape, np.nan, dtype)
    if kind == "one element off":
        return np.full(size + 1, np.nan, dtype)[1:].reshape(shape)
    if kind == "one byte off":
        return np.zeros(size * itemsize + 1, np.uint8)[1:].view(dtype).reshape(shape)
    return np.full((shape[0], 2 * shape[1]), np.nan, dtype)[:, ::2]


def _streamed_cases():
    """(kind of buffer, family, function, Kernel, dtype): every streamed kernel into NumPy's buffers and
    ones starting an element past a line, in the dtypes of ``_with_dtypes`` (write_row's float32 path is
    the same for each); a buffer off its elements' alignment, or strided, is another compile of the
    kernel, so only softmax (the smallest) gets those."""
    cases = []
    for (family, function, kernel), dtypes in _with_dtypes(_streamed_kernels()):
        kinds = ["aligned", "one element off"] + ["one byte off", "strided"] * (family == "softmax")
        cases += [(kind, family, function, kernel, dtype) for kind in kinds for dtype in dtypes]
    return cases


def _torch_row_kernel(function: str, arguments) -> tuple[np.ndarray, ...]:
    """What the streamed kernel ``function`` returns for ``arguments``, computed by torch in float64
    (so that the reference's own rounding is far below the float32 kernels' tolerance)."""
    tensors = [torch.tensor(a, dtype=torch.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
               else torch.tensor(a) if isinstance(a, np.ndarray) else a for a in arguments]
    if function == "softmax_forward":
        return (torch.softmax(tensors[0], -1).numpy(),)
    logits = tensors[0].clone().requires_grad_(True)
    if function == "softmax_cross_entropy_with_integer_labels_forward_backward":
        _, labels, weight, smoothing, ignore_index, scale = tensors
        loss = torch.nn.functional.cross_entropy(logits, labels, weight=weight, ignore_index=ignore_index,
                                                 reduction="none", label_smoothing=smoothing)
    elif function in ("focal_loss_forward_backward", "poly1_cross_entropy_forward_backward"):
        _, labels, weight, option, ignore_index, scale = tensors
        kept = labels != ignore_index
        index = torch.where(kept, labels, 0)
        log_p = torch.log_softmax(logits, -1)
        log_pt = log_p.gather(-1, index[:, None])[:, 0]
        # 1 − p_t as the other classes' sum: at the confident row 1 − exp(log p_t) is 0, and (1 − p_t)^(γ−1) inf
        others = (log_p.exp() * (torch.arange(logits.shape[1]) != index[:, None])).sum(-1)
        modulated = (-others ** option * log_pt if function.startswith("focal") else -log_pt + option * others)
        loss = weight[index] * kept * modulated
    elif function == "poly1_cross_entropy_with_probability_labels_forward_backward":
        _, targets, weight, epsilon, scale = tensors
        log_p = torch.log_softmax(logits, -1)
        loss = (weight * targets * (-log_p + epsilon * (1 - log_p.exp()))).sum(-1)
    else:  # softmax_cross_entropy_forward_backward: probability targets
        _, targets, weight, smoothing, scale = tensors
        loss = torch.nn.functional.cross_entropy(logits, targets, weight=weight, reduction="none",
                                                 label_smoothing=smoothing)
    (loss * scale).sum().backward()
    return loss.detach().numpy(), logits.grad.numpy()


@pytest.mark.parametrize("kind,family,function,kernel,dtype", _streamed_cases(),
                         ids=lambda v: v if isinstance(v, str) else np.dtype(v).name if isinstance(v, type) else "")
def test_streamed_rows_match_torch_and_a_fresh_call(kind, family, function, kernel, dtype):
    """The streamed loop (exponentials kept in a scratch row per thread, the output written by
    non-temporal stores of whole aligned lines) gives what torch gives, and exactly what a fresh call
    (ordinary stores, exponentials kept in the output) returns: both write each row with write_row's
    arithmetic. A strided buffer, which write_row declines, gets the row loop's numbers: a few ulps
    apart at most. Rows of 1001 classes (16 a task: several tasks a thread), labels ignored, weights,
    smoothing. Tolerance against torch: the kernels' accuracy goal (TOLERANCE, their worst relative
    error against mpmath), relative to each output's largest magnitude, since a gradient entry
    p_t − 1 near 0 is a cancellation whose error is absolute."""
    import importlib

    import numba

    module = importlib.import_module(f"symce.generated.{family}")
    smoothing = 0.2 if any(arg.role == "scalar" for arg in kernel.args) else None
    arguments = _arguments(kernel, dtype, np.random.default_rng(6), smoothing, 1001, rows=37)
    fresh = getattr(module, function)(*arguments)
    buffers = [_buffer(kind, arguments[0].shape, dtype) for _ in planner.buffers(kernel)]
    summed = [False] * (planner.SUMMED_OUTPUT in kernel.outputs)
    streamed = getattr(module, f"_{function}_streamed")(*arguments, *buffers, *summed, numba.get_num_threads())
    fresh, streamed = (_outputs(result) for result in (fresh, streamed))
    eps = 8 * np.finfo(dtype).eps if kind == "strided" else 0
    for expected, got in zip(fresh, streamed):
        np.testing.assert_allclose(got, expected, rtol=eps, atol=eps * float(np.abs(expected).max(initial=0)))
    assert all(any(result is buffer for result in streamed) for buffer in buffers)
    for expected, got in zip(_torch_row_kernel(function, arguments), streamed, strict=True):
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype],
                                   atol=TOLERANCE[dtype] * float(np.abs(expected).max()))


def test_only_a_large_buffer_of_the_callers_own_with_long_rows_is_streamed(monkeypatch):
    """The public kernel streams a buffer passed in of STREAMED_BYTES or more with rows of
    STREAMED_ROW_BYTES or more, and writes a fresh buffer, a smaller one, or one of shorter rows,
    with ordinary stores (streaming a buffer that stays in cache was slower)."""
    from symce.generated import cross_entropy

    name = "_softmax_cross_entropy_with_integer_labels_forward_backward_streamed"
    streamed, calls = getattr(cross_entropy, name), []
    monkeypatch.setattr(cross_entropy, name, lambda *arguments: calls.append(arguments[0].shape) or streamed(*arguments))
    itemsize = np.dtype(np.float32).itemsize
    row = layout.STREAMED_ROW_BYTES // itemsize
    large = (layout.STREAMED_BYTES // layout.STREAMED_ROW_BYTES, row)
    for shape, passed_in in [(large, True), (large, False), ((large[0] - 1, row), True),
                             ((large[0] * 2, row // 2), True)]:
        rng = np.random.default_rng(7)
        logits = rng.normal(size=shape).astype(np.float32)
        labels = rng.integers(0, shape[1], shape[0])
        buffer = np.empty_like(logits) if passed_in else None
        # the argument types of the tests above (class weights, a float32 scale): no new compile
        logits, labels, weight, scale = _frozen(logits, labels, rng.uniform(0.2, 2, shape[1]).astype(np.float32),
                                                np.full(1, 0.5, np.float32))
        cross_entropy.softmax_cross_entropy_with_integer_labels_forward_backward_sum(logits, labels, weight, 0.2, -100, scale, buffer)
    assert calls == [large]


# ----- long rows through symce.functional, against torch -------------------------------------
#: row lengths of the long-row path (LONG_ROWS and up: write_row, 512-bit vectors), a vocabulary's included
LONG_CLASSES = (layout.LONG_ROWS, 1000, 32000)


def _long_row_problem(loss: str, classes: int, rows: int, dtype, rng):
    """(symce.functional's value_and_grad, its torch reference, the input, the other arguments) of
    ``loss`` on (rows, classes): a confident row, an ignored label, class weights, label smoothing."""
    import symce.functional as F

    x = (rng.normal(size=(rows, classes)) * 4).astype(dtype)
    x[0, 3] += 40
    weight = rng.uniform(0.5, 2.0, classes).astype(dtype)
    labels = rng.integers(0, classes, rows)
    labels[min(1, rows - 1)] = -100
    if loss == "cross_entropy, class indices":
        options = {"target": labels, "weight": weight, "ignore_index": -100, "label_smoothing": 0.1}
        return F.cross_entropy_value_and_grad, torch.nn.functional.cross_entropy, x, options
    if loss == "cross_entropy, probabilities":
        y = rng.dirichlet(np.ones(classes), size=rows).astype(dtype)
        return (F.cross_entropy_value_and_grad, torch.nn.functional.cross_entropy, x,
                {"target": y, "weight": weight, "label_smoothing": 0.1})
    log_probabilities = torch.log_softmax(torch.tensor(x, dtype=torch.float64), -1).numpy().astype(dtype)
    return (F.nll_loss_value_and_grad, torch.nn.functional.nll_loss, log_probabilities,
            {"target": labels, "weight": weight, "ignore_index": -100})


def _torch_value_and_grad(reference, x: np.ndarray, options: dict) -> tuple[float, np.ndarray]:
    """torch's 'mean' loss and its gradient, in float64 on the same (float32 or float64) numbers: the
    reference's own rounding is then far below the float32 kernels' tolerance."""
    def tensor(value):
        return torch.tensor(value, dtype=torch.float64) if np.asarray(value).dtype.kind == "f" else torch.tensor(value)

    tx = tensor(x).requires_grad_(True)
    value = reference(tx, **{name: tensor(v) if isinstance(v, np.ndarray) else v for name, v in options.items()})
    value.backward()
    return value.item(), tx.grad.numpy()


def _gradient_buffer(kind: str, x: np.ndarray) -> np.ndarray | None:
    """``out=`` of kind: none (a fresh gradient), a fresh buffer, the input itself (in place), or a
    view starting one element into a larger array (not aligned to a vector or cache line)."""
    return {"fresh": lambda: None, "out": lambda: np.full_like(x, np.nan), "in place": lambda: x,
            "misaligned": lambda: np.full(x.size + 1, np.nan, x.dtype)[1:].reshape(x.shape)}[kind]()


def _assert_matches_torch(loss, grad, expected_loss, expected_grad, dtype):
    """Within the kernels' accuracy goal (TOLERANCE: their worst relative error against mpmath), the
    gradient's relative to its largest entry: an entry p_t − 1 near 0 is a cancellation whose error
    is absolute. float32 also rounds the result to float32 (half an ulp, 6e-8, inside 1e-5)."""
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype
    assert float(loss) == pytest.approx(expected_loss, rel=TOLERANCE[dtype])
    np.testing.assert_allclose(grad, expected_grad, rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype] * float(np.abs(expected_grad).max()))


LONG_ROW_LOSSES = ("cross_entropy, class indices", "cross_entropy, probabilities", "nll_loss")


@pytest.mark.parametrize("kind", ["fresh", "out", "in place", "misaligned"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("classes", LONG_CLASSES)
@pytest.mark.parametrize("loss", LONG_ROW_LOSSES)
def test_long_rows_match_torch(loss, classes, dtype, kind):
    """Rows of LONG_ROWS classes and more, through symce.functional with weights, label smoothing and
    an ignored label: a fresh gradient, a buffer passed as ``out=``, the input overwritten in place,
    and a buffer one element off its alignment (write_row's unaligned head and tail)."""
    function, reference, x, options = _long_row_problem(loss, classes, 3, dtype, np.random.default_rng(classes))
    expected_loss, expected_grad = _torch_value_and_grad(reference, x, options)
    out = _gradient_buffer(kind, x)
    value, grad = function(x, **options, out=out)
    assert out is None or grad is out
    _assert_matches_torch(value, grad, expected_loss, expected_grad, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("loss", LONG_ROW_LOSSES[:2])
def test_streamed_gradient_buffer_matches_torch(loss, dtype, monkeypatch):
    """A caller's buffer of STREAMED_BYTES with rows of 32000 classes (≥ STREAMED_ROW_BYTES) is written
    by the streamed loop (non-temporal stores), here checked to run, with torch's numbers."""
    from symce.generated import cross_entropy

    classes = 32000
    rows = -(-layout.STREAMED_BYTES // (classes * np.dtype(dtype).itemsize))
    assert classes * np.dtype(dtype).itemsize >= layout.STREAMED_ROW_BYTES
    function, reference, x, options = _long_row_problem(loss, classes, rows, dtype, np.random.default_rng(8))
    name = ("_softmax_cross_entropy_with_integer_labels_forward_backward_streamed" if "indices" in loss
            else "_softmax_cross_entropy_forward_backward_streamed")
    streamed, calls = getattr(cross_entropy, name), []
    monkeypatch.setattr(cross_entropy, name, lambda *arguments: calls.append(arguments[0].shape) or streamed(*arguments))
    out = np.empty_like(x)
    value, grad = function(x, **options, out=out)
    assert calls == [x.shape] and grad is out
    _assert_matches_torch(value, grad, *_torch_value_and_grad(reference, x, options), dtype)
