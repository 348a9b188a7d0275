"""symce.torch against torch.nn.functional: values, autograd gradients, zero-copy, errors, the example.

Tolerances: float64 rtol 1e-10 (atol 1e-12), float32 rtol 1e-4, atol 1e-6. The reference for every
value and gradient is torch's own function on the same tensors, differentiated by torch autograd.
"""
from __future__ import annotations

import doctest
import importlib.util
import inspect
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import symce.generated.binary
import symce.generated.cross_entropy
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import symce.torch as S

ROOT = Path(__file__).resolve().parents[1]
TOLERANCES = {torch.float64: {"rtol": 1e-10, "atol": 1e-12}, torch.float32: {"rtol": 1e-4, "atol": 1e-6}}
DTYPES = (torch.float32, torch.float64)
REDUCTIONS = ("none", "mean", "sum")
EXAMPLES = settings(max_examples=20, deadline=None)


def assert_close(ours: torch.Tensor, theirs: torch.Tensor):
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, (ours.dtype, ours.shape, theirs.shape)
    torch.testing.assert_close(ours, theirs, equal_nan=True, **TOLERANCES[theirs.dtype])


def value_and_grad(fn, input: torch.Tensor, *args, upstream=None, **kwargs):
    """fn's value and the autograd gradient of (value · upstream).sum() (of value.sum() by default)."""
    leaf = input.detach().clone().requires_grad_(True)
    value = fn(leaf, *args, **kwargs)
    (value.sum() if upstream is None else (value * upstream).sum()).backward()
    return value.detach(), leaf.grad


def check_parity(name: str, input: torch.Tensor, *args, upstream=None, **kwargs):
    """symce.torch.<name> against torch.nn.functional.<name>: the value and the gradient wrt input."""
    ours = value_and_grad(getattr(S, name), input, *args, upstream=upstream, **kwargs)
    theirs = value_and_grad(getattr(TF, name), input, *args, upstream=upstream, **kwargs)
    assert_close(ours[0], theirs[0])
    assert_close(ours[1], theirs[1])
    return ours


def logits(*shape, dtype=torch.float64, seed=0, scale=3.0):
    return scale * torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def labels(classes: int, *shape, seed=1):
    return torch.randint(0, classes, shape, generator=torch.Generator().manual_seed(seed))


def probabilities(*shape, dtype=torch.float64, seed=2, dim=1):
    return torch.softmax(logits(*shape, dtype=dtype, seed=seed), dim=dim)


# --- cross_entropy -------------------------------------------------------------------------------

class TestCrossEntropy:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_integer_labels(self, dtype, reduction):
        check_parity("cross_entropy", logits(7, 5, dtype=dtype), labels(5, 7), reduction=reduction)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_weights_ignore_index_and_smoothing(self, dtype, reduction):
        target = labels(6, 9)
        target[[1, 4]] = 3
        weight = torch.linspace(0.5, 2.0, 6, dtype=dtype)
        check_parity("cross_entropy", logits(9, 6, dtype=dtype), target, weight=weight, ignore_index=3,
                     reduction=reduction, label_smoothing=0.2)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_probability_targets(self, dtype, reduction):
        weight = torch.linspace(2.0, 0.5, 4, dtype=dtype)
        check_parity("cross_entropy", logits(6, 4, dtype=dtype), probabilities(6, 4, dtype=dtype),
                     weight=weight, reduction=reduction, label_smoothing=0.1)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_spatial_inputs(self, reduction):
        """(N, C, d1, d2): the class axis is 1, and a 'none' grad_output broadcasts over it."""
        input, target = logits(3, 5, 4, 2), labels(5, 3, 4, 2)
        target[0, 1, 1] = -100
        upstream = logits(3, 4, 2, seed=9) if reduction == "none" else None
        check_parity("cross_entropy", input, target, weight=torch.rand(5, dtype=torch.float64) + 0.5,
                     reduction=reduction, upstream=upstream)
        check_parity("cross_entropy", input, probabilities(3, 5, 4, 2), reduction=reduction, upstream=upstream)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_unbatched_input(self, reduction):
        check_parity("cross_entropy", logits(5), torch.tensor(2), reduction=reduction)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_per_sample_grad_output(self, dtype):
        """(loss * g).sum() with reduction='none': each row's gradient scaled by its own g_i."""
        g = logits(8, dtype=dtype, seed=5)
        ours = check_parity("cross_entropy", logits(8, 3, dtype=dtype), labels(3, 8), reduction="none", upstream=g)
        plain = value_and_grad(S.cross_entropy, logits(8, 3, dtype=dtype), labels(3, 8), reduction="none")
        assert_close(ours[1], plain[1] * g[:, None])

    def test_scalar_grad_output(self):
        check_parity("cross_entropy", logits(6, 4), labels(4, 6), upstream=torch.tensor(-2.5, dtype=torch.float64))

    def test_ignored_samples_get_zero_gradient_whatever_their_grad_output(self):
        target = torch.tensor([0, -100, 2])
        upstream = torch.tensor([1.0, float("nan"), 2.0], dtype=torch.float64)
        _, grad = check_parity("cross_entropy", logits(3, 4), target, reduction="none", upstream=upstream)
        assert torch.equal(grad[1], torch.zeros(4, dtype=torch.float64))

    def test_all_ignored_mean_is_nan_with_zero_gradient(self):
        value, grad = check_parity("cross_entropy", logits(2, 3), torch.tensor([-100, -100]))
        assert value.isnan() and torch.equal(grad, torch.zeros(2, 3, dtype=torch.float64))

    def test_confident_prediction_keeps_digits_torch_loses(self):
        """symce's loss at [40, 0, 0] → 0 is 2·e^-40 (torch returns 0), and flows through autograd."""
        x = torch.tensor([[40.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
        loss = S.cross_entropy(x, torch.tensor([0]))
        loss.backward()
        assert loss.item() == pytest.approx(2 * np.exp(-40.0), rel=1e-14)
        assert x.grad[0, 0].item() == pytest.approx(-2 * np.exp(-40.0), rel=1e-14)

    @EXAMPLES
    @given(rows=st.integers(1, 6), classes=st.integers(1, 7), reduction=st.sampled_from(REDUCTIONS),
           smoothing=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 30.0]),
           dtype=st.sampled_from(DTYPES), probability=st.booleans())
    def test_random_cases(self, rows, classes, reduction, smoothing, seed, scale, dtype, probability):
        input = logits(rows, classes, dtype=dtype, seed=seed, scale=scale)
        target = (probabilities(rows, classes, dtype=dtype, seed=seed + 1) if probability
                  else labels(classes, rows, seed=seed + 2))
        upstream = logits(rows, dtype=dtype, seed=seed + 3) if reduction == "none" else None
        check_parity("cross_entropy", input, target, reduction=reduction, label_smoothing=smoothing,
                     upstream=upstream)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_gradcheck(self, reduction):
        target = torch.tensor([[0, 2], [-100, 1], [3, 3]])
        weight = torch.tensor([1.0, 0.5, 2.0, 1.5], dtype=torch.float64)
        x = logits(3, 4, 2).requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda x: S.cross_entropy(x, target, weight=weight, reduction=reduction, label_smoothing=0.1), (x,))
        soft = probabilities(3, 4, 2)
        assert torch.autograd.gradcheck(lambda x: S.cross_entropy(x, soft, reduction=reduction), (x,))


# --- binary_cross_entropy_with_logits ------------------------------------------------------------

class TestBinaryCrossEntropyWithLogits:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_plain(self, dtype, reduction):
        target = torch.rand(6, 5, generator=torch.Generator().manual_seed(3), dtype=dtype)
        check_parity("binary_cross_entropy_with_logits", logits(6, 5, dtype=dtype), target, reduction=reduction)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_weight_and_pos_weight(self, dtype, reduction):
        target = (torch.rand(4, 3, 5, generator=torch.Generator().manual_seed(4)) > 0.5).to(dtype)
        weight = torch.linspace(0.2, 1.8, 5, dtype=dtype)
        pos_weight = torch.tensor([0.5, 1.0, 2.0, 3.0, 4.0], dtype=dtype)
        upstream = logits(4, 3, 5, dtype=dtype, seed=7) if reduction == "none" else None
        check_parity("binary_cross_entropy_with_logits", logits(4, 3, 5, dtype=dtype), target,
                     weight=weight, reduction=reduction, pos_weight=pos_weight, upstream=upstream)

    @EXAMPLES
    @given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=3), seed=st.integers(0, 2**16),
           scale=st.sampled_from([1.0, 50.0]), reduction=st.sampled_from(REDUCTIONS), dtype=st.sampled_from(DTYPES))
    def test_random_cases(self, shape, seed, scale, reduction, dtype):
        input = logits(*shape, dtype=dtype, seed=seed, scale=scale)
        target = torch.rand(tuple(shape), generator=torch.Generator().manual_seed(seed + 1), dtype=dtype)
        upstream = logits(*shape, dtype=dtype, seed=seed + 2) if reduction == "none" else None
        check_parity("binary_cross_entropy_with_logits", input, target, reduction=reduction, upstream=upstream)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_gradcheck(self, reduction):
        x = logits(3, 4).requires_grad_(True)
        target = torch.rand(3, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        weight, pos_weight = torch.rand(3, 1, dtype=torch.float64), torch.rand(4, dtype=torch.float64) + 0.5
        assert torch.autograd.gradcheck(lambda x: S.binary_cross_entropy_with_logits(
            x, target, weight=weight, reduction=reduction, pos_weight=pos_weight), (x,))


# --- in a model ----------------------------------------------------------------------------------

class TestInAGraph:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_gradient_reaches_the_weights(self, dtype):
        """logits = x @ W + b: symce's gradient flows back into W and b as torch's does."""
        x, target = logits(16, 8, dtype=dtype, seed=11, scale=1.0), labels(5, 16)
        grads = {}
        for name, loss_fn in (("symce", S.cross_entropy), ("torch", TF.cross_entropy)):
            W = logits(8, 5, dtype=dtype, seed=12, scale=0.5).requires_grad_(True)
            b = torch.zeros(5, dtype=dtype, requires_grad=True)
            loss_fn(x @ W + b, target, label_smoothing=0.05).backward()
            grads[name] = (W.grad, b.grad)
        assert grads["symce"][0].abs().sum() > 0
        for ours, theirs in zip(grads["symce"], grads["torch"]):
            assert_close(ours, theirs)

    def test_binary_head(self):
        x, target = logits(10, 6, seed=13, scale=1.0), (logits(10, 3, seed=14) > 0).double()
        grads = []
        for loss_fn in (S.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits):
            W = logits(6, 3, seed=15, scale=0.5).requires_grad_(True)
            loss_fn(torch.tanh(x @ W), target, reduction="sum").backward()
            grads.append(W.grad)
        assert_close(*grads)

    @pytest.mark.parametrize("loss_fn", [S.cross_entropy, TF.cross_entropy])
    def test_a_hook_that_zeroes_the_gradient_in_place_leaves_a_second_backward_intact(self, loss_fn):
        """A hook (or an optimizer trick) may change the gradient it is given in place: torch allows a
        second backward through the retained graph after that, and so must the saved gradient."""
        x = logits(4, 3).requires_grad_(True)
        h = x * 1.0  # a non-leaf, so that the hook sees the backward's own tensor
        handle = h.register_hook(lambda grad: grad.zero_())
        loss = loss_fn(h, labels(3, 4))
        loss.backward(retain_graph=True)
        handle.remove()
        assert x.grad.abs().max() == 0
        loss.backward()
        assert_close(x.grad, value_and_grad(TF.cross_entropy, logits(4, 3), labels(3, 4))[1])

    def test_retained_graph_backpropagates_twice(self):
        """Returning the saved gradient for a grad_output of 1 must not let autograd accumulate into it."""
        x = logits(4, 3).requires_grad_(True)
        loss = S.cross_entropy(x, labels(3, 4))
        loss.backward(retain_graph=True)
        first = x.grad.clone()
        loss.backward(retain_graph=True)
        loss.backward()
        assert_close(x.grad, 3 * first)

    def test_no_grad_and_detached_inputs_give_plain_values(self):
        x, target = logits(5, 4), labels(4, 5)
        expected = TF.cross_entropy(x, target)
        with torch.no_grad():
            value = S.cross_entropy(x.clone().requires_grad_(True), target)
        assert value.grad_fn is None and not value.requires_grad
        assert_close(value, expected)
        assert_close(S.cross_entropy(x, target), expected)

    @pytest.mark.parametrize("loss_fn", [lambda x: S.cross_entropy(x, labels(4, 3), reduction="sum"),
                                         lambda x: S.binary_cross_entropy_with_logits(x, torch.zeros(3, 4).double())])
    def test_second_derivatives_are_refused_not_zero(self, loss_fn):
        """A gradient penalty through symce's gradient must fail, not silently contribute nothing."""
        x = logits(3, 4).requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(x), x, create_graph=True)
        assert_close(grad.detach(), torch.autograd.grad(loss_fn(x), x)[0])  # create_graph changes no value
        penalty = loss_fn(x) + grad.square().sum()
        with pytest.raises(RuntimeError, match="differentiable once"):
            penalty.backward()


# --- zero copy: what the generated kernels receive and return ------------------------------------

@pytest.fixture
def kernel_calls(monkeypatch):
    """Records the arrays every fused kernel is called with and returns (symce looks kernels up per call)."""
    calls = []

    def spy(module, name):
        kernel = getattr(module, name)

        def recorded(*args):
            result = kernel(*args)
            calls.append((name, args, result))
            return result
        monkeypatch.setattr(module, name, recorded)

    # a reduced loss runs the kernel's _sum variant (the loss summed per task of rows or chunk of elements)
    for name in ("softmax_cross_entropy_with_integer_labels_forward", "softmax_cross_entropy_with_integer_labels_forward_backward", "softmax_cross_entropy_forward_backward"):
        for variant in (name, f"{name}_sum"):
            spy(symce.generated.cross_entropy, variant)
    for name in ("sigmoid_binary_cross_entropy_forward_backward", "sigmoid_binary_cross_entropy_forward_backward_sum"):
        spy(symce.generated.binary, name)
    return calls


def address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


class TestZeroCopy:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_cross_entropy_reads_the_logits_and_returns_the_kernels_gradient(self, kernel_calls, dtype):
        x = logits(32, 10, dtype=dtype).requires_grad_(True)
        target = labels(10, 32)
        hooked = []
        x.register_hook(lambda grad: hooked.append(grad))
        S.cross_entropy(x, target).backward()
        [(name, args, (_, kernel_grad))] = kernel_calls
        assert name == "softmax_cross_entropy_with_integer_labels_forward_backward_sum"
        assert address(args[0]) == x.data_ptr() and np.shares_memory(args[0], x.detach().numpy())
        # the gradient autograd hands on is the kernel's own array, not a copy of it (symce stops keeping it)
        assert hooked[0].data_ptr() == address(kernel_grad)
        assert_close(x.grad, value_and_grad(TF.cross_entropy, x, target)[1])

    def test_a_second_backward_through_a_retained_graph_runs_the_kernel_again(self, kernel_calls):
        x = logits(6, 4).requires_grad_(True)
        loss = S.cross_entropy(x, labels(4, 6))
        loss.backward(retain_graph=True)
        loss.backward()
        assert [name for name, _, _ in kernel_calls] == ["softmax_cross_entropy_with_integer_labels_forward_backward_sum"] * 2
        assert_close(x.grad, 2 * value_and_grad(TF.cross_entropy, x, labels(4, 6))[1])

    def test_probability_targets_are_read_in_place(self, kernel_calls):
        x, soft = logits(8, 5).requires_grad_(True), probabilities(8, 5)
        S.cross_entropy(x, soft).backward()
        [(_, args, _)] = kernel_calls
        assert address(args[0]) == x.data_ptr() and address(args[1]) == soft.data_ptr()

    def test_binary_reads_input_and_target_in_place(self, kernel_calls):
        x = logits(6, 7).requires_grad_(True)
        target = torch.rand(6, 7, dtype=torch.float64)
        S.binary_cross_entropy_with_logits(x, target, reduction="sum").backward()
        [(_, args, _)] = kernel_calls
        assert address(args[0]) == x.data_ptr() and address(args[1]) == target.data_ptr()

    def test_non_contiguous_input_is_copied_and_still_right(self, kernel_calls):
        base = logits(5, 8).requires_grad_(True)
        x = base.t()  # (8, 5), strides (1, 8)
        target = labels(5, 8)
        S.cross_entropy(x, target).backward()
        [(_, args, _)] = kernel_calls
        assert not np.shares_memory(args[0], base.detach().numpy())
        reference = logits(5, 8).requires_grad_(True)
        TF.cross_entropy(reference.t(), target).backward()
        assert_close(base.grad, reference.grad)

    def test_forward_only_without_grad(self, kernel_calls):
        """No gradient wanted: the forward-only kernel runs, not the fused one."""
        S.cross_entropy(logits(4, 3), labels(3, 4))
        assert [name for name, _, _ in kernel_calls] == ["softmax_cross_entropy_with_integer_labels_forward_sum"]
        S.cross_entropy(logits(4, 3), labels(3, 4), reduction="none")
        assert [name for name, _, _ in kernel_calls] == ["softmax_cross_entropy_with_integer_labels_forward_sum", "softmax_cross_entropy_with_integer_labels_forward"]


# --- errors --------------------------------------------------------------------------------------

class TestErrors:
    def test_signatures_match_torch(self):
        for name in ("cross_entropy", "binary_cross_entropy_with_logits"):
            ours, theirs = inspect.signature(getattr(S, name)), inspect.signature(getattr(TF, name))
            assert [(p.name, p.default) for p in ours.parameters.values()] == \
                   [(p.name, p.default) for p in theirs.parameters.values()]

    def test_device_other_than_cpu(self):
        # a meta tensor stands in for CUDA: any non-CPU device must be refused before .numpy()
        with pytest.raises(ValueError, match="CPU tensors only.*input is on meta"):
            S.cross_entropy(torch.empty(2, 3, device="meta"), torch.tensor([0, 1]))
        with pytest.raises(ValueError, match="pos_weight is on meta"):
            S.binary_cross_entropy_with_logits(torch.zeros(2, 3), torch.zeros(2, 3),
                                               pos_weight=torch.ones(3, device="meta"))

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64, torch.complex64])
    def test_dtypes(self, dtype):
        with pytest.raises(TypeError, match=f"float32 or float64, got input of dtype {dtype}"):
            S.cross_entropy(torch.zeros(2, 3, dtype=dtype), torch.tensor([0, 1]))
        with pytest.raises(TypeError, match="float32 or float64"):
            S.binary_cross_entropy_with_logits(torch.zeros(2, 3, dtype=dtype), torch.zeros(2, 3))

    def test_deprecated_arguments(self):
        x = torch.zeros(2, 3)
        with pytest.raises(TypeError, match="size_average and reduce are deprecated"):
            S.cross_entropy(x, torch.tensor([0, 1]), size_average=False)
        with pytest.raises(TypeError, match="size_average and reduce are deprecated"):
            S.binary_cross_entropy_with_logits(x, x, reduce=False)

    def test_companions_that_require_grad(self):
        x = logits(2, 3).requires_grad_(True)
        soft = probabilities(2, 3).requires_grad_(True)
        with pytest.raises(ValueError, match="only with respect to input, but target requires grad"):
            S.cross_entropy(x, soft)
        with pytest.raises(ValueError, match="weight requires grad"):
            S.cross_entropy(x, torch.tensor([0, 1]), weight=torch.ones(3, dtype=torch.float64, requires_grad=True))
        with pytest.raises(ValueError, match="pos_weight requires grad"):
            S.binary_cross_entropy_with_logits(x, soft.detach(), pos_weight=torch.ones(3, requires_grad=True))
        with torch.no_grad():  # nothing is differentiated, so nothing is lost
            assert_close(S.cross_entropy(x, soft), TF.cross_entropy(x, soft))

    def test_symce_functional_errors_come_through(self):
        with pytest.raises(IndexError, match="target 7 at index"):
            S.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 7]))
        with pytest.raises(ValueError, match="not a valid value for reduction"):
            S.binary_cross_entropy_with_logits(torch.zeros(2), torch.zeros(2), reduction="avg")
        with pytest.raises(TypeError, match="target must be a torch.Tensor"):
            S.cross_entropy(torch.zeros(2, 3), [0, 1])


# --- packaging and the example -------------------------------------------------------------------

def test_docstring_example():
    assert doctest.testmod(S, raise_on_error=True).attempted > 0


def test_import_symce_needs_no_torch():
    """torch blocked: `import symce` and symce.functional work; only `import symce.torch` needs torch."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np, symce, symce.functional as F\n"
            "assert 'symce.torch' not in sys.modules\n"
            "print(F.cross_entropy(np.array([[0.0, 0.0]]), np.array([1])))\n"
            "try:\n    import symce.torch\nexcept ImportError:\n    print('refused')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(np.log(2.0)), "refused"]


def test_training_example_agrees_with_torch():
    spec = importlib.util.spec_from_file_location("train_softmax_classifier",
                                                  ROOT / "examples" / "train_softmax_classifier.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = example.main(steps=5, batch=64, verbose=False)
    assert len(results["symce"]) == len(results["torch"]) == 5
    np.testing.assert_allclose(results["symce"], results["torch"], rtol=1e-5, atol=1e-6)
    assert results["symce"][-1] < results["symce"][0]  # it trains
    assert results["symce_seconds"] > 0 and results["torch_seconds"] > 0
