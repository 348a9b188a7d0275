"""symce.functional.linear_cross_entropy (and symce.torch's) against torch: F.linear + F.cross_entropy
differentiated by autograd, for the loss and the gradients of hidden states, weight and bias; chunking
that never holds the (N, V) logits, measured with tracemalloc; and the errors.

Tolerances: float64 rtol 1e-10, atol 1e-12; float32 rtol 1e-4, atol 1e-5 (as tests/test_functional.py).
"""
from __future__ import annotations

import doctest
import inspect
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import symce.functional as F
import symce.functional.linear
import symce.torch as S

TOLERANCES = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}
FLOATS = (np.float32, np.float64)
REDUCTIONS = ("none", "mean", "sum")


def problem(n=23, features=6, classes=11, dtype=np.float64, seed=0, ignored=0.0, scale=1.0):
    """(hidden, weight, bias, target) with a fraction ``ignored`` of the targets set to -100."""
    rng = np.random.default_rng(seed)
    hidden = (rng.standard_normal((n, features)) * scale).astype(dtype)
    weight = rng.standard_normal((classes, features)).astype(dtype)
    bias = rng.standard_normal(classes).astype(dtype)
    target = rng.integers(0, classes, n)
    target[rng.random(n) < ignored] = -100
    return hidden, weight, bias, target


def torch_reference(hidden, linear_weight, target, bias=None, grad_output=None, **options):
    """F.cross_entropy(F.linear(h, W, b), t, **options) and autograd's gradients for h, W and b."""
    leaves = [torch.tensor(np.ascontiguousarray(array), requires_grad=True) for array in (hidden, linear_weight)]
    leaves.append(None if bias is None else torch.tensor(np.ascontiguousarray(bias), requires_grad=True))
    options = {key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value for key, value in options.items()}
    loss = TF.cross_entropy(TF.linear(*leaves), torch.from_numpy(target), **options)
    loss.backward(torch.ones_like(loss) if grad_output is None else torch.tensor(grad_output))
    grads = [None if leaf is None else leaf.grad.numpy() for leaf in leaves]
    return (loss.detach().numpy(), *grads)


def assert_close(ours, theirs, dtype):
    if theirs is None:
        assert ours is None
        return
    ours = np.asarray(ours)
    assert ours.dtype == np.dtype(dtype) and ours.shape == np.shape(theirs), (ours.dtype, ours.shape, np.shape(theirs))
    np.testing.assert_allclose(ours, theirs, **TOLERANCES[dtype])


def check(hidden, linear_weight, target, bias=None, grad_output=None, chunk_size=None, **options):
    """Both symce functions against torch_reference, for the loss and all three gradients."""
    dtype = hidden.dtype.type
    expected = torch_reference(hidden, linear_weight, target, bias, grad_output, **options)
    value = F.linear_cross_entropy(hidden, linear_weight, target, linear_bias=bias, chunk_size=chunk_size, **options)
    both = F.linear_cross_entropy_value_and_grad(hidden, linear_weight, target, linear_bias=bias, chunk_size=chunk_size,
                                                 grad_output=grad_output, **options)
    assert_close(value, expected[0], dtype)
    for ours, theirs in zip(both, expected):
        assert_close(ours, theirs, dtype)
    return both


# --- against torch -------------------------------------------------------------------------------

class TestAgainstTorch:
    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("chunk_size", [None, 1, 5, 100])  # 5 does not divide N = 23; 100 > N
    def test_plain_with_bias(self, dtype, reduction, chunk_size):
        hidden, weight, bias, target = problem(dtype=dtype)
        check(hidden, weight, target, bias, chunk_size=chunk_size, reduction=reduction)

    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_ignore_index_smoothing_and_class_weights(self, dtype, reduction):
        hidden, weight, bias, target = problem(n=31, dtype=dtype, ignored=0.3, seed=1)
        class_weight = np.random.default_rng(2).uniform(0.2, 3.0, weight.shape[0]).astype(dtype)
        check(hidden, weight, target, None, chunk_size=4, reduction=reduction, ignore_index=-100,
              label_smoothing=0.2, weight=class_weight)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_a_class_as_ignore_index(self, reduction):
        hidden, weight, bias, target = problem(n=40, classes=4, seed=3)
        check(hidden, weight, target, bias, chunk_size=7, reduction=reduction, ignore_index=2, label_smoothing=0.1)

    def test_weighted_mean_divides_by_the_whole_batch(self):
        # chunk 1 (each 'mean' of a chunk would divide by its own weight) vs torch's Σ_i w[t_i]
        hidden, weight, bias, target = problem(n=9, classes=3, seed=4, ignored=0.2)
        class_weight = np.array([0.5, 4.0, 1.0])
        loss, *_ = check(hidden, weight, target, bias, chunk_size=1, weight=class_weight)
        rows = F.linear_cross_entropy(hidden, weight, target, linear_bias=bias, weight=class_weight, reduction="none")
        kept = target != -100
        assert loss == pytest.approx(rows.sum() / class_weight[target[kept]].sum(), rel=1e-12)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_grad_output(self, reduction):
        hidden, weight, bias, target = problem(n=12, ignored=0.25, seed=5)
        upstream = np.random.default_rng(6).standard_normal(12) if reduction == "none" else np.float64(-2.5)
        check(hidden, weight, target, bias, grad_output=upstream, chunk_size=5, reduction=reduction)

    def test_nan_grad_output_of_an_ignored_row_gives_it_no_gradient(self):
        hidden, weight, bias, target = problem(n=4, seed=7)
        target[1] = -100
        upstream = np.array([1.0, np.nan, 2.0, 1.0])
        _, grad_hidden, grad_weight, _ = F.linear_cross_entropy_value_and_grad(
            hidden, weight, target, reduction="none", grad_output=upstream, chunk_size=2)
        assert np.isfinite(grad_weight).all() and (grad_hidden[1] == 0).all()

    @pytest.mark.parametrize("dtype", FLOATS)
    def test_large_logits(self, dtype):
        # logits of order 1e3: the stable kernels, fed by the chunks, stay finite like torch's
        hidden, weight, bias, target = problem(n=10, dtype=dtype, scale=300.0, seed=8)
        loss, *grads = check(hidden, weight, target, bias, chunk_size=3, reduction="sum")
        assert np.isfinite(loss) and all(np.isfinite(grad).all() for grad in grads)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_all_ignored(self, reduction):
        # torch: 'mean' is 0/0 = nan, and every gradient is zero (not nan)
        hidden, weight, bias, target = problem(n=6, ignored=1.0)
        loss, *grads = check(hidden, weight, target, bias, chunk_size=4, reduction=reduction)
        assert np.isnan(loss).any() == (reduction == "mean")
        assert all((grad == 0).all() for grad in grads)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_empty_batch(self, reduction):
        hidden, weight, bias, target = problem(n=0)
        loss, grad_hidden, grad_weight, grad_bias = check(hidden, weight, target, bias, reduction=reduction)
        assert grad_hidden.shape == (0, 6) and (grad_weight == 0).all() and (grad_bias == 0).all()
        assert np.isnan(loss) if reduction == "mean" else np.shape(loss) == ((0,) if reduction == "none" else ())

    def test_non_contiguous_operands(self):
        hidden, weight, bias, target = problem(n=8, features=5, classes=7)
        check(np.asfortranarray(hidden), weight.T.copy().T, target, bias[::-1].copy()[::-1], chunk_size=3)

    def test_same_as_torchs_linear_cross_entropy(self):
        # the same call, keyword for keyword, gives torch's own linear_cross_entropy
        hidden, weight, bias, target = problem(n=17, ignored=0.2, seed=9)
        class_weight = np.linspace(0.5, 2.0, weight.shape[0])
        kwargs = dict(weight=class_weight, reduction="sum", ignore_index=-100, label_smoothing=0.05)
        ours = F.linear_cross_entropy(hidden, weight, target, linear_bias=bias, chunk_size=4, **kwargs)
        theirs = TF.linear_cross_entropy(*map(torch.from_numpy, (hidden, weight, target)), linear_bias=torch.from_numpy(bias),
                                         **{key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value
                                            for key, value in kwargs.items()})
        assert ours == pytest.approx(theirs.item(), rel=1e-12)


# --- chunking ------------------------------------------------------------------------------------

class TestChunks:
    def test_chunk_size_does_not_change_the_result(self):
        hidden, weight, bias, target = problem(n=50, ignored=0.1, seed=10)
        results = [F.linear_cross_entropy_value_and_grad(hidden, weight, target, linear_bias=bias, chunk_size=size,
                                                         reduction="none", label_smoothing=0.1)
                   for size in (1, 3, 16, 50, 64, None)]
        for result in results[1:]:
            for ours, first in zip(result, results[0]):
                np.testing.assert_allclose(ours, first, rtol=1e-12, atol=1e-14)

    def test_more_features_than_a_chunk_of_logits(self):
        # chunk 1 × 3 classes = 3 numbers, fewer than one row of W: the buffer still holds one
        hidden, weight, bias, target = problem(n=5, features=40, classes=3, seed=11)
        check(hidden, weight, target, bias, chunk_size=1)

    def test_default_chunk_size(self):
        linear = symce.functional.linear
        rows = linear.default_chunk_size(32000, np.float32)
        assert rows * 32000 * 4 <= linear.CHUNK_BYTES and rows >= 128
        assert linear.default_chunk_size(10**7, np.float64) == linear.MIN_CHUNK_ROWS

    def test_peak_memory_stays_far_below_the_logits(self):
        # N×V float64 logits are 64 MiB; tracemalloc sees every NumPy allocation
        n, features, classes, chunk = 1024, 8, 8192, 64
        hidden, weight, bias, target = problem(n=n, features=features, classes=classes, seed=12)
        logits_bytes = n * classes * 8
        F.linear_cross_entropy_value_and_grad(hidden[:4], weight, target[:4], linear_bias=bias)  # warm-up

        def peak(call):
            tracemalloc.start()
            try:
                result = call()
                return tracemalloc.get_traced_memory()[1], result
            finally:
                tracemalloc.stop()

        chunked, result = peak(lambda: F.linear_cross_entropy_value_and_grad(
            hidden, weight, target, linear_bias=bias, chunk_size=chunk))
        assert chunked < logits_bytes / 4, chunked
        # what it holds: two chunk buffers, the three gradients, and small per-row arrays
        gradients = sum(array.nbytes for array in result[1:])
        assert chunked < 2 * chunk * classes * 8 + gradients + (1 << 20), chunked
        # the measurement can fail: materialising the logits shows up in it
        unchunked, _ = peak(lambda: F.cross_entropy_value_and_grad(hidden @ weight.T + bias, target))
        assert unchunked >= logits_bytes

    def test_loss_only_holds_one_chunk(self):
        n, classes, chunk = 512, 8192, 32
        hidden, weight, bias, target = problem(n=n, features=8, classes=classes, seed=13)
        F.linear_cross_entropy(hidden[:4], weight, target[:4])
        tracemalloc.start()
        try:
            F.linear_cross_entropy(hidden, weight, target, linear_bias=bias, chunk_size=chunk)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < chunk * classes * 8 + (1 << 20), peak


# --- errors --------------------------------------------------------------------------------------

class TestErrors:
    def call(self, hidden=None, matrix=None, target=None, **kwargs):
        h, w, _, t = problem(n=4, features=3, classes=5)
        return F.linear_cross_entropy_value_and_grad(h if hidden is None else hidden, w if matrix is None else matrix,
                                                     t if target is None else target, **kwargs)

    def test_dtypes(self):
        with pytest.raises(TypeError, match="input must be a float32 or float64 array, got dtype int64"):
            self.call(hidden=np.ones((4, 3), np.int64))
        with pytest.raises(TypeError, match="input must be a float32 or float64 array, got dtype float16"):
            self.call(hidden=np.ones((4, 3), np.float16))
        with pytest.raises(TypeError, match="linear_weight has dtype float32 but input has dtype float64"):
            self.call(matrix=np.ones((5, 3), np.float32))
        with pytest.raises(TypeError, match="linear_bias has dtype float32"):
            self.call(linear_bias=np.ones(5, np.float32))

    def test_shapes(self):
        with pytest.raises(ValueError, match=r"input must have shape \(N, in_features\), got shape \(12,\)"):
            self.call(hidden=np.ones(12))
        with pytest.raises(ValueError, match="input has 3 features per row but linear_weight has 4"):
            self.call(matrix=np.ones((5, 4)))
        with pytest.raises(ValueError, match=r"linear_weight must have shape \(num_classes, in_features\)"):
            self.call(matrix=np.ones((5, 3, 1)))
        with pytest.raises(ValueError, match=r"linear_bias must have shape \(5,\)"):
            self.call(linear_bias=np.ones(4))
        with pytest.raises(ValueError, match=r"target must have shape \(4,\)"):
            self.call(target=np.zeros(3, np.int64))
        with pytest.raises(ValueError, match=r"weight must have shape \(5,\)"):
            self.call(weight=np.ones(4))
        with pytest.raises(ValueError, match="linear_weight has no rows"):
            self.call(matrix=np.ones((0, 3)), target=np.full(4, -100))

    def test_targets(self):
        with pytest.raises(IndexError, match=r"target 5 at index \(2,\) is out of bounds.*0 <= target < 5"):
            self.call(target=np.array([0, 1, 5, 2]))
        with pytest.raises(IndexError, match="target -1"):
            self.call(target=np.array([0, -1, 1, 2]))
        with pytest.raises(TypeError, match="probability targets are not supported"):
            self.call(target=np.full((4, 5), 0.2))
        with pytest.raises(TypeError, match="class-index targets must be an integer array"):
            self.call(target=np.array(["a", "b", "c", "d"]))

    def test_options(self):
        with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
            self.call(reduction="avg")
        with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
            self.call(label_smoothing=1.5)
        with pytest.raises(ValueError, match="chunk_size must be a positive integer or None, got 0"):
            self.call(chunk_size=0)
        for bad in (2.0, True, "8"):
            with pytest.raises(TypeError, match="chunk_size must be a positive integer or None"):
                self.call(chunk_size=bad)
        with pytest.raises(ValueError, match="grad_output of reduction='mean' must be a scalar"):
            self.call(grad_output=np.ones(4))
        with pytest.raises(ValueError, match="grad_output of shape"):
            self.call(reduction="none", grad_output=np.ones(3))
        with pytest.raises(TypeError, match="ignore_index must be an integer"):
            self.call(ignore_index=1.5)

    def test_keyword_only_and_like_torch(self):
        # torch's parameters, names and defaults, plus chunk_size (and grad_output for value_and_grad)
        theirs = [(p.name, p.default) for p in inspect.signature(TF.linear_cross_entropy).parameters.values()]
        theirs = [item for item in theirs if item[0] != "options"] + [("chunk_size", None)]
        for function, extra in ((F.linear_cross_entropy, []),
                                (F.linear_cross_entropy_value_and_grad, [("grad_output", None)])):
            ours = [(p.name, p.default) for p in inspect.signature(function).parameters.values()]
            assert [(name, None if default is inspect.Parameter.empty else default) for name, default in ours] == \
                   [(name, None if default is inspect.Parameter.empty else default) for name, default in theirs + extra]
        with pytest.raises(TypeError):
            F.linear_cross_entropy(*problem()[:2], problem()[3], problem()[2])  # bias only by keyword


# --- symce.torch.linear_cross_entropy -------------------------------------------------------------

class TestTorchAdapter:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_autograd_against_torch(self, dtype, reduction):
        hidden, weight, bias, target = problem(n=19, ignored=0.2, seed=14)
        tensors = [torch.tensor(array, dtype=dtype) for array in (hidden, weight, bias)]
        target = torch.from_numpy(target)
        upstream = torch.randn(19, dtype=dtype) if reduction == "none" else torch.tensor(1.5, dtype=dtype)
        target[3:5] = -100
        if reduction == "none":
            upstream[3:5] = float("nan")  # ignored rows: a zero gradient, whatever their upstream
        results = []
        for function, extra in ((S.linear_cross_entropy, {"chunk_size": 4}), (TF.linear_cross_entropy, {})):
            leaves = [tensor.clone().requires_grad_() for tensor in tensors]
            loss = function(leaves[0], leaves[1], target, linear_bias=leaves[2], reduction=reduction,
                            label_smoothing=0.1, **extra)
            loss.backward(upstream)
            results.append([loss.detach(), *(leaf.grad for leaf in leaves)])
        tolerance = TOLERANCES[np.float64 if dtype == torch.float64 else np.float32]
        for ours, theirs in zip(*results):
            assert ours.dtype == theirs.dtype
            torch.testing.assert_close(ours, theirs, **tolerance)

    def test_only_what_requires_grad_gets_a_gradient(self):
        hidden, weight, bias, target = (torch.from_numpy(array) for array in problem(n=7))
        weight.requires_grad_()
        S.linear_cross_entropy(hidden, weight, target, linear_bias=bias).backward()
        assert weight.grad is not None and hidden.grad is None and bias.grad is None
        with torch.no_grad():
            value = S.linear_cross_entropy(hidden, weight, target)
        assert not value.requires_grad
        assert value.item() == pytest.approx(TF.cross_entropy(hidden @ weight.detach().T, target).item(), rel=1e-12)

    def test_errors(self):
        hidden, weight, _, target = (torch.from_numpy(array) for array in problem(n=3))
        with pytest.raises(TypeError, match="pass chunk_size"):
            S.linear_cross_entropy(hidden, weight, target, options=torch.nn.LinearCrossEntropyOptions())
        with pytest.raises(TypeError, match="linear_weight has dtype torch.float32 but input has dtype torch.float64"):
            S.linear_cross_entropy(hidden, weight.float(), target)
        with pytest.raises(ValueError, match="weight requires grad"):
            S.linear_cross_entropy(hidden, weight, target, weight=torch.ones(11, dtype=torch.float64, requires_grad=True))
        leaf = hidden.clone().requires_grad_()
        (grad,) = torch.autograd.grad(S.linear_cross_entropy(leaf, weight, target), leaf, create_graph=True)
        with pytest.raises(RuntimeError, match="differentiable once"):
            grad.sum().backward()


def test_docstring_examples():
    failures, tests = doctest.testmod(symce.functional.linear)
    assert tests > 0 and failures == 0


def test_benchmark_measurement():
    # a tiny run of what `symce bench` reports for the large-vocabulary case (timings are not asserted)
    from symce.bench.linear import KEYS, measure_linear_cross_entropy

    # without torch.compile: a compilation takes seconds (test_bench.py's quick run compiles one row)
    result = measure_linear_cross_entropy(n=40, hidden=8, vocab=50, dtype="float64", repeat=2, chunk_size=16,
                                          compile=False)
    timed = set(KEYS) - {"torch_compile"}
    assert result["chunk_size"] == 16 and result["logits_mib"] == 40 * 50 * 8 / 2**20
    assert set(result["time"]) == set(KEYS) and all(len(result["time"][key]["times_s"]) == 2 for key in timed)
    assert result["time"]["torch_compile"] is None and "torch_compile" in result["unavailable"]
    for key in ("symce", "torch_chunked"):
        assert max(result["agreement"][key].values()) < 1e-12
    assert set(result["peak_extra_mib"]) == set(KEYS) and all(result["peak_extra_mib"][key] > 0 for key in timed)
    assert result["fastest_peer"] in ("torch", "torch_chunked") and result["speedup_vs_fastest_peer"] > 0
