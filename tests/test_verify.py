"""symce verify on the NumPy and the PyTorch examples: each one's verdict and what its report says.

The tests that ask the same of both frameworks are parametrised by framework (``numpy``: traced
through NumPy's dispatch, ``torch``: through ``__torch_function__``); the tests of what one
framework alone has (a NumPy loop, an nn.Module) follow, in a section each.

Reference values are the spec's own (Spec.evaluate, mpmath) or known float64 limits, never
numbers taken from the verifier.
"""
import importlib.util
import json
import math
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

import symce
from symce.spec import get
from symce.verify import VerifyError, assert_verified, verify

ROOT = Path(__file__).resolve().parents[1]
CE = "softmax_cross_entropy_with_integer_labels"
SMOOTHING = {"label_smoothing": 0.1}
FRAMEWORKS = ("numpy", "torch")


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLES = {"numpy": load("losses_numpy"), "torch": load("losses_torch")}
examples = EXAMPLES["numpy"]

#: example -> (spec, options, verdict), for the examples written in both frameworks
BOTH = {
    "cross_entropy": (CE, {}, "equivalent"),
    "cross_entropy_naive_softmax": (CE, {}, "unstable"),
    "nll_of_log_softmax": (CE, {}, "unstable"),
    "cross_entropy_eps_in_log": (CE, {}, "not_equivalent"),
    "cross_entropy_on_probabilities": (CE, {}, "not_equivalent"),
    "label_smoothing": (CE, {"params": SMOOTHING}, "equivalent"),
    "label_smoothing_other_classes": (CE, {"params": SMOOTHING}, "not_equivalent"),
    "bce_through_sigmoid": ("sigmoid_binary_cross_entropy", {}, "unstable"),
    "bce_with_logits": ("sigmoid_binary_cross_entropy", {}, "equivalent"),
    "cross_entropy_grad": (CE, {"wrt": "logits"}, "equivalent"),
    "cross_entropy_grad_missing_mean": (CE, {"wrt": "logits"}, "not_equivalent"),
    "cross_entropy_grad_flipped_sign": (CE, {"wrt": "logits"}, "not_equivalent"),
}
#: framework -> example -> (spec, options, verdict): those and each framework's own
EXPECTED = {
    "numpy": BOTH | {
        "cross_entropy_one_hot": (CE, {}, "equivalent"),
        "bce": ("binary_cross_entropy", {}, "equivalent"),
        "bce_clipped": ("binary_cross_entropy", {}, "not_equivalent"),
    },
    "torch": BOTH | {
        "cross_entropy_logsumexp": (CE, {}, "equivalent"),
        "nll_of_log_softmax_fused": (CE, {}, "equivalent"),
        "LabelSmoothingLoss": (CE, {"params": SMOOTHING}, "not_equivalent"),
        "bce_clamped": ("binary_cross_entropy", {}, "not_equivalent"),
    },
}


@lru_cache(maxsize=None)
def report_for(name, framework):
    spec, options, _ = EXPECTED[framework][name]
    example = getattr(EXAMPLES[framework], name)
    return verify(example() if isinstance(example, type) else example, spec, **options)


# ----- both frameworks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("framework, name", [(f, n) for f in FRAMEWORKS for n in sorted(EXPECTED[f])])
def test_verdict(framework, name):
    report = report_for(name, framework)
    assert report.framework == framework
    assert report.verdict == EXPECTED[framework][name][2], report.text()
    assert report.exit_code == (0 if report.verdict == "equivalent" else 1)
    assert sum(report.seconds.values()) < 30


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_example_is_covered(framework):
    module = EXAMPLES[framework]
    defined = {n for n in vars(module) if callable(getattr(module, n)) and not n.startswith("_")
               and getattr(getattr(module, n), "__module__", None) == module.__name__}
    assert defined == set(EXPECTED[framework])


def _spec_mean(spec_name, inputs, params=None):
    """The spec's mean over the batch, from Spec.evaluate (unit weights)."""
    spec = get(spec_name)
    names = [item.name for item in spec.inputs]
    count = len(inputs[names[0]])
    values = [{name: (inputs[name][i]) for name in names} for i in range(count)]
    return float(sum(spec.evaluate(v, params)[0] for v in values) / count)


def _arrays(framework, spec, inputs):
    """A counterexample's inputs as the framework's arrays: float64, class labels as integers."""
    def array(name, value):
        integer = name == "labels" and spec == CE
        if framework == "torch":
            return torch.tensor(value) if integer else torch.tensor(value, dtype=torch.float64)
        return np.asarray(value) if integer else np.asarray(value, dtype=float)
    return {name: array(name, value) for name, value in inputs.items()}


@pytest.mark.parametrize("framework, name, gap", [
    ("numpy", "cross_entropy_eps_in_log", 1e-6), ("numpy", "cross_entropy_on_probabilities", 1e-6),
    ("numpy", "bce_clipped", 1e-6), ("numpy", "label_smoothing_other_classes", 1e-6),
    ("torch", "cross_entropy_on_probabilities", 1e-3),
])
def test_counterexample_is_real(framework, name, gap):
    """The counterexample's numbers are the function's own at its inputs and the spec's (mpmath), and
    they differ by more than ``gap`` (relative)."""
    report = report_for(name, framework)
    spec, options, _ = EXPECTED[framework][name]
    example = report.counterexample
    expected = _spec_mean(spec, example["inputs"], options.get("params"))
    got = float(getattr(EXAMPLES[framework], name)(*_arrays(framework, spec, example["inputs"]).values()))
    assert example["expected"] == pytest.approx(expected, rel=1e-12)
    assert example["got"] == pytest.approx(got, rel=1e-12)
    assert abs(got - expected) > gap * abs(expected)


@pytest.mark.parametrize("framework, name, said", [
    ("numpy", "cross_entropy_eps_in_log", ("extra epsilon", "1e-07")),
    ("numpy", "bce_clipped", ("1e-07", "0.9999999")),
    ("numpy", "label_smoothing_other_classes", ("ε·C/(C−1)", "0.15 at C=3")),
    ("numpy", "cross_entropy_grad_missing_mean", ("missing factor 1/N",)),
    ("numpy", "cross_entropy_grad_flipped_sign", ("sign is flipped",)),
    ("numpy", "cross_entropy_on_probabilities", ("no constant factor",)),
    ("torch", "cross_entropy_eps_in_log", ("1e-07",)),
    ("torch", "label_smoothing_other_classes", ("ε·C/(C−1)",)),
    ("torch", "LabelSmoothingLoss", ("ε·C/(C−1)", "0.15 at C=3")),   # a module with the other classes' smoothing
    ("torch", "cross_entropy_grad_missing_mean", ("missing factor 1/N",)),
    ("torch", "cross_entropy_grad_flipped_sign", ("sign is flipped",)),
])
def test_diagnoses(framework, name, said):
    diagnosis = report_for(name, framework).diagnosis[0]
    assert all(text in diagnosis for text in said), diagnosis


@pytest.mark.parametrize("framework, name", [
    ("numpy", "cross_entropy"), ("torch", "cross_entropy"), ("torch", "cross_entropy_logsumexp"),
    ("torch", "label_smoothing"), ("torch", "bce_with_logits"),
])
def test_traced_ops_are_proven_not_just_probed(framework, name):
    assert report_for(name, framework).symbolic.startswith("proven equal"), report_for(name, framework).symbolic


def cross_entropy_loop(logits, labels):
    """A Python loop over floats: nothing to trace."""
    total = 0.0
    for row, label in zip(logits, labels):
        top = float(np.max(row))
        total += top + math.log(np.sum(np.exp(row - top))) - row[label]
    return total / len(labels)


def cross_entropy_via_topk(logits, labels):
    """torch.topk, an op the tracer does not follow."""
    top = torch.topk(logits, 1, dim=1).values
    shifted = logits - top
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return -log_probs[torch.arange(len(labels)), labels].mean()


@pytest.mark.parametrize("function, said", [(cross_entropy_loop, "numeric comparison alone"),
                                            (cross_entropy_via_topk, "topk")], ids=FRAMEWORKS)
def test_what_cannot_be_traced_falls_back_to_numeric(function, said):
    report = verify(function, CE)
    assert report.verdict == "equivalent"
    assert report.symbolic.startswith("not traced") and said in report.symbolic, report.symbolic


# ----- NumPy only: the reports' own details, the API and the command line (run on the NumPy examples) --------

def test_symbolic_claims():
    assert report_for("cross_entropy", "numpy").symbolic.startswith("proven equal for N=2, C=2..4")
    assert "sign cases" in report_for("bce_with_logits", "numpy").symbolic
    assert report_for("cross_entropy_eps_in_log", "numpy").symbolic.startswith("not equal")
    assert report_for("cross_entropy", "numpy").max_rel_error < 1e-12


def test_unstable_range_is_where_exp_overflows():
    # exp(z) overflows float64 from z = log(max float) ≈ 709.78 on: a threshold should sit there
    overflow = math.log(np.finfo(np.float64).max)
    unstable = report_for("cross_entropy_naive_softmax", "numpy").unstable_inputs
    assert unstable["range"].startswith("logits with max |logits| ≥")
    assert any(abs(t["max_abs"] - overflow) < 1.0 for t in unstable["thresholds"])
    assert all(not math.isfinite(case["got"]) if isinstance(case["got"], float) else True
               for case in unstable["cases"][:1])


def test_sigmoid_bce_breaks_where_sigmoid_saturates():
    # 1 − σ(x) loses all digits as σ(x) → 1: from x ≈ 37 it is exactly 0 in float64
    threshold = report_for("bce_through_sigmoid", "numpy").unstable_inputs["thresholds"][0]["max_abs"]
    assert 15 < threshold < 37.5


def test_function_that_raises_is_unknown():
    def broken(logits, labels):
        raise RuntimeError("boom")

    report = verify(broken, CE)
    assert report.verdict == "unknown" and "boom" in report.reason and report.exit_code == 2


def test_per_sample_output_means_reduction_none():
    def per_sample(logits, labels):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -np.take_along_axis(log_probs, labels[:, None], axis=1)[:, 0]

    report = verify(per_sample, CE)
    assert report.reduction == "none" and report.verdict == "equivalent"


def test_sum_reduction_and_binding():
    def summed(y, z):
        shifted = z - z.max(axis=1, keepdims=True)
        return -(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].sum()

    assert verify(summed, CE, bind={"z": "logits", "y": "labels"}, reduction="sum").verdict == "equivalent"
    assert verify(summed, CE, bind={"z": "logits", "y": "labels"}, reduction="mean").verdict == "not_equivalent"


def test_bad_requests_raise_clearly():
    with pytest.raises(VerifyError, match="no parameter"):
        verify(examples.cross_entropy, CE, params={"smoothing": 0.1})
    with pytest.raises(VerifyError, match="has no parameter 'x'"):
        verify(examples.cross_entropy, CE, bind={"x": "logits"})
    with pytest.raises(VerifyError, match="reduction"):
        verify(examples.cross_entropy, CE, reduction="avg")
    with pytest.raises(KeyError, match="no spec named"):
        verify(examples.cross_entropy, "crossentropy")


def test_assert_verified():
    assert assert_verified(examples.cross_entropy, CE).verdict == "equivalent"
    with pytest.raises(AssertionError, match="verdict: UNSTABLE"):
        assert_verified(examples.cross_entropy_naive_softmax, CE)


def test_symce_verify_is_lazy_and_callable():
    code = "import sys, symce; assert 'torch' not in sys.modules and 'symce.verify' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert callable(symce.verify)


def test_report_json_keys():
    data = json.loads(report_for("cross_entropy_eps_in_log", "numpy").to_json())
    assert {"verdict", "symbolic", "max_rel_error", "counterexample", "diagnosis"} <= set(data)
    assert {"inputs", "expected", "got"} <= set(data["counterexample"])
    def strict(constant):
        raise ValueError(f"not JSON: {constant}")

    data = json.loads(report_for("nll_of_log_softmax", "numpy").to_json(), parse_constant=strict)
    assert data["verdict"] == "unstable" and "unstable_inputs" in data and data["max_rel_error"] == "inf"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "symce.cli", "verify", *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_cli_exit_codes_and_json():
    ok = _cli("examples/losses_numpy.py:bce", "--spec", "binary_cross_entropy")
    assert ok.returncode == 0 and "verdict: EQUIVALENT" in ok.stdout
    bad = _cli("examples/losses_numpy.py:label_smoothing_other_classes", "--spec", CE,
               "--param", "label_smoothing=0.1", "--json")
    data = json.loads(bad.stdout)
    assert bad.returncode == 1 and data["verdict"] == "not_equivalent" and data["params"] == SMOOTHING
    missing = _cli("examples/losses_numpy.py:nope", "--spec", CE)
    assert missing.returncode == 2 and "no function 'nope'" in missing.stderr
    unknown = _cli("examples/losses_numpy.py:bce", "--spec", "bce", "--json")
    assert unknown.returncode == 2 and json.loads(unknown.stdout)["verdict"] == "unknown"


def test_input_checks_are_decided_at_sample_points():
    def checked_bce(probs, labels):
        if np.any(probs < 0) or np.any(probs > 1) or probs[probs > 1].size:
            raise ValueError("probabilities must lie in [0, 1]")
        return -np.mean(labels * np.log(probs) + (1 - labels) * np.log1p(-probs))

    report = verify(checked_bce, "binary_cross_entropy")
    assert report.verdict == "equivalent", report.text()
    assert any("an input check" in note for note in report.notes)


def test_a_mask_on_traced_values_is_named_with_its_line():
    def positive_part(logits, labels):
        shifted = logits - logits.max(axis=1, keepdims=True)
        loss = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(labels)), labels]
        return loss[loss > 0].sum() / len(labels)   # the mask depends on the logits' values

    report = verify(positive_part, CE)
    assert report.symbolic.startswith("not traced (a boolean mask depends on the symbolic inputs, at "
                                      "test_verify.py:"), report.symbolic
    assert "`return loss[loss > 0].sum() / len(labels)" in report.symbolic
    assert "numeric comparison alone" in report.symbolic


def test_a_tuple_of_loss_and_gradient():
    def loss_and_grad(logits, labels):
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(len(labels)), labels]).mean()
        grad = probs.copy()
        grad[np.arange(len(labels)), labels] -= 1
        return loss, grad / len(labels)

    as_loss = verify(loss_and_grad, CE)
    assert as_loss.verdict == "unstable" and "first element is checked as the loss" in as_loss.text()
    as_gradient = verify(loss_and_grad, CE, wrt="logits")
    assert as_gradient.verdict == "equivalent", as_gradient.text()
    assert "shaped like logits is checked as the gradient" in as_gradient.text()


def test_any_callable():
    class Smoothed:
        def __init__(self, smoothing):
            self.smoothing = smoothing

        def __call__(self, logits, labels):
            return self.loss(logits, labels)

        def loss(self, logits, labels):
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            picked = log_probs[np.arange(len(labels)), labels]
            return -((1 - self.smoothing) * picked + self.smoothing * log_probs.mean(axis=1)).mean()

    smoothed = Smoothed(0.1)
    for fn in (smoothed, smoothed.loss, lambda z, y: smoothed(z, y)):
        report = verify(fn, CE, params=SMOOTHING)
        assert report.verdict == "equivalent", report.text()


def test_an_untraced_clip_is_unknown_not_equivalent():
    def log_loss(probs, labels):
        eps = np.finfo(probs.dtype).eps                   # a computed bound: not in the source
        clipped = np.clip(probs, eps, 1 - eps)
        total = 0.0
        for label, p in zip(labels, clipped):
            total += float(-(label * np.log(p) + (1 - label) * np.log(1 - p)))   # float(): no trace
        return total / len(labels)

    report = verify(log_loss, "binary_cross_entropy")
    assert report.verdict == "unknown" and report.exit_code == 2, report.text()
    assert "a clip or epsilon would make it not_equivalent" in report.reason
    assert "probs at 2.22e-17 from 0 or 1" in report.text()


def test_a_function_that_updates_its_inputs_in_place():
    def doubled_in_place(logits, labels):
        logits *= 2                                     # the caller's array changes
        logits -= logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -log_probs[np.arange(len(labels)), labels].mean()

    report = verify(doubled_in_place, CE)
    assert report.verdict == "not_equivalent", report.text()
    example = report.counterexample                     # the inputs shown are the ones it was given
    inputs = {name: np.asarray(value) for name, value in example["inputs"].items()}
    assert example["expected"] == pytest.approx(_spec_mean(CE, example["inputs"]), rel=1e-12)
    assert example["got"] == pytest.approx(float(doubled_in_place(inputs["logits"], inputs["labels"])), rel=1e-12)


# ----- torch only: tensor methods, nn.Module, float32 constants ----------------------------------------------

def test_log_of_softmax_breaks_where_softmax_underflows():
    # softmax(z)_t underflows to 0 once z_max − z_t exceeds ≈ 745 (exp's smallest subnormal)
    unstable = report_for("nll_of_log_softmax", "torch").unstable_inputs
    assert unstable["range"].startswith("logits with max |logits| ≥")
    assert all(t["max_abs"] < 1000 for t in unstable["thresholds"])


def tensor_methods_only(logits, labels):
    return logits.log_softmax(-1).gather(1, labels[:, None]).mean().neg()


def test_code_that_only_calls_tensor_methods_is_torch_code():
    report = verify(tensor_methods_only, CE)
    assert report.framework == "torch" and report.verdict == "equivalent", report.text()
    assert any("names neither NumPy nor torch" in note for note in report.notes)


class SmoothedCrossEntropy(torch.nn.Module):
    """An nn.Module with a hyper-parameter and a type guard, as library losses are written."""

    def __init__(self, smoothing=0.1):
        super().__init__()
        self.smoothing = smoothing

    def forward(self, x, target):
        if not isinstance(x, torch.Tensor):
            raise TypeError("x must be a tensor")
        log_probs = x.float().log_softmax(dim=-1)
        nll = -log_probs.gather(dim=-1, index=target.unsqueeze(1)).squeeze(1)
        return ((1 - self.smoothing) * nll - self.smoothing * log_probs.mean(dim=-1)).mean()


def test_an_nn_module_is_verified_through_its_forward():
    report = verify(SmoothedCrossEntropy(0.1), CE, params=SMOOTHING)
    assert report.framework == "torch" and report.verdict == "equivalent", report.text()
    assert report.function == "SmoothedCrossEntropy"
    wrong = verify(SmoothedCrossEntropy(0.2), CE, params=SMOOTHING)
    assert wrong.verdict == "not_equivalent" and "label_smoothing = 0.2" in wrong.diagnosis[0], wrong.text()


def test_float32_constants_are_the_fractions_they_round():
    def smoothed_one_hot(logits, labels):
        classes = logits.shape[1]
        target = torch.nn.functional.one_hot(labels, classes).float() * (1 - 0.1) + 0.1 / classes
        return -(target * logits.log_softmax(dim=1)).sum(dim=1).mean()

    report = verify(smoothed_one_hot, CE, params=SMOOTHING)
    assert report.verdict == "equivalent", report.text()
    assert any("float32 constants are read as the fractions they round" in note for note in report.notes)
