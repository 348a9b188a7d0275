"""symce verify on the PyTorch examples: verdicts and report content, traced through __torch_function__."""
import importlib.util
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from symce.spec import get
from symce.verify import verify

ROOT = Path(__file__).resolve().parents[1]
CE = "softmax_cross_entropy_with_integer_labels"
SMOOTHING = {"label_smoothing": 0.1}

_spec = importlib.util.spec_from_file_location("losses_torch", ROOT / "examples" / "losses_torch.py")
examples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(examples)

EXPECTED = {
    "cross_entropy": (CE, {}, "equivalent"),
    "cross_entropy_logsumexp": (CE, {}, "equivalent"),
    "nll_of_log_softmax_fused": (CE, {}, "equivalent"),
    "cross_entropy_naive_softmax": (CE, {}, "unstable"),
    "nll_of_log_softmax": (CE, {}, "unstable"),
    "cross_entropy_eps_in_log": (CE, {}, "not_equivalent"),
    "cross_entropy_on_probabilities": (CE, {}, "not_equivalent"),
    "label_smoothing": (CE, {"params": SMOOTHING}, "equivalent"),
    "label_smoothing_other_classes": (CE, {"params": SMOOTHING}, "not_equivalent"),
    "LabelSmoothingLoss": (CE, {"params": SMOOTHING}, "not_equivalent"),
    "bce_clamped": ("binary_cross_entropy", {}, "not_equivalent"),
    "bce_through_sigmoid": ("sigmoid_binary_cross_entropy", {}, "unstable"),
    "bce_with_logits": ("sigmoid_binary_cross_entropy", {}, "equivalent"),
    "cross_entropy_grad": (CE, {"wrt": "logits"}, "equivalent"),
    "cross_entropy_grad_missing_mean": (CE, {"wrt": "logits"}, "not_equivalent"),
    "cross_entropy_grad_flipped_sign": (CE, {"wrt": "logits"}, "not_equivalent"),
}


@lru_cache(maxsize=None)
def report_for(name):
    spec, options, _ = EXPECTED[name]
    example = getattr(examples, name)
    return verify(example() if isinstance(example, type) else example, spec, **options)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_verdict(name):
    report = report_for(name)
    assert report.framework == "torch"
    assert report.verdict == EXPECTED[name][2], report.text()


def test_every_example_is_covered():
    defined = {n for n in vars(examples) if callable(getattr(examples, n)) and not n.startswith("_")
               and getattr(getattr(examples, n), "__module__", None) == "losses_torch"}
    assert defined == set(EXPECTED)


def test_torch_ops_are_proven_not_just_probed():
    for name in ("cross_entropy", "cross_entropy_logsumexp", "label_smoothing", "bce_with_logits"):
        assert report_for(name).symbolic.startswith("proven equal"), report_for(name).symbolic


def test_a_module_with_the_other_classes_smoothing():
    diagnosis = report_for("LabelSmoothingLoss").diagnosis[0]
    assert "ε·C/(C−1)" in diagnosis and "0.15 at C=3" in diagnosis


def test_diagnoses():
    assert "1e-07" in report_for("cross_entropy_eps_in_log").diagnosis[0]
    assert "ε·C/(C−1)" in report_for("label_smoothing_other_classes").diagnosis[0]
    assert "missing factor 1/N" in report_for("cross_entropy_grad_missing_mean").diagnosis[0]
    assert "sign is flipped" in report_for("cross_entropy_grad_flipped_sign").diagnosis[0]


def test_log_of_softmax_breaks_where_softmax_underflows():
    # softmax(z)_t underflows to 0 once z_max − z_t exceeds ≈ 745 (exp's smallest subnormal)
    unstable = report_for("nll_of_log_softmax").unstable_inputs
    assert unstable["range"].startswith("logits with max |logits| ≥")
    assert all(t["max_abs"] < 1000 for t in unstable["thresholds"])


def test_counterexample_matches_torch_and_spec():
    report = report_for("cross_entropy_on_probabilities")
    inputs = report.counterexample["inputs"]
    logits, labels = torch.tensor(inputs["logits"], dtype=torch.float64), torch.tensor(inputs["labels"])
    got = float(examples.cross_entropy_on_probabilities(logits, labels))
    spec = get(CE)
    expected = np.mean([float(spec.evaluate({"logits": row, "labels": label})[0])
                        for row, label in zip(inputs["logits"], inputs["labels"])])
    assert report.counterexample["got"] == pytest.approx(got, rel=1e-12)
    assert report.counterexample["expected"] == pytest.approx(expected, rel=1e-12)
    assert not math.isclose(got, expected, rel_tol=1e-3)


def test_unsupported_torch_op_falls_back_to_numeric():
    def via_topk(logits, labels):
        top = torch.topk(logits, 1, dim=1).values
        shifted = logits - top
        log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
        return -log_probs[torch.arange(len(labels)), labels].mean()

    report = verify(via_topk, CE)
    assert report.symbolic.startswith("not traced") and "topk" in report.symbolic
    assert report.verdict == "equivalent"


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
