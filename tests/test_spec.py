"""Each spec's value against torch (float64) and against the textbook formula in mpmath.

The spec is evaluated through ``Spec.evaluate`` (SymPy → mpmath at 50 digits); the oracles
here are independent of it: torch's implementation, or mpmath arithmetic written from the
reference the spec's docstring cites.
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import symce.spec as S
from symce.cli import main
from symce.spec.symbols import C

LOGITS = [1.5, -0.25, 3.0, 0.0]
PROBS = [0.1, 0.2, 0.3, 0.4]
Q = [0.25, 0.25, 0.4, 0.1]
WEIGHTS = [0.5, 2.0, 1.0, 3.0]


def value(name, values, params=None):
    out = S.get(name).evaluate(values, params)
    return [float(v) for v in out]


def tensor(values):
    return torch.tensor(values, dtype=torch.float64)


def test_registry_has_every_quantity_of_the_design():
    expected = {
        "entropy", "cross_entropy", "kl_divergence", "perplexity", "binary_entropy", "softmax", "log_softmax",
        "logsumexp", "logsumexp_shifted", "softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels",
        "nll_loss", "binary_cross_entropy", "sigmoid_binary_cross_entropy", "squared_error_sigmoid",
        "squared_error_softmax", "multiclass_hinge",
    }
    assert expected <= set(S.SPECS)


def test_unknown_spec_names_the_known_ones():
    with pytest.raises(KeyError, match="known specs: entropy"):
        S.get("cross_entropy_loss")


@pytest.mark.parametrize("spec", list(S.SPECS.values()), ids=list(S.SPECS))
def test_every_class_sum_runs_over_a_symbolic_class_count(spec):
    sums = spec.expr.atoms(sp.Sum)
    assert all(s.limits[0][1:] == (0, C - 1) for s in sums)
    assert bool(sums) == (spec.is_per_class and spec.name != "nll_loss"), "nll_loss alone is a pure gather"
    assert spec.formula and spec.doc


class TestInformation:
    def test_entropy(self):
        expected = -mpmath.fsum(mpmath.mpf(p) * mpmath.log(p) for p in PROBS)
        assert value("entropy", {"p": PROBS})[0] == pytest.approx(float(expected), rel=1e-15)

    def test_cross_entropy(self):
        expected = -mpmath.fsum(mpmath.mpf(p) * mpmath.log(q) for p, q in zip(PROBS, Q))
        assert value("cross_entropy", {"p": PROBS, "q": Q})[0] == pytest.approx(float(expected), rel=1e-15)

    def test_kl_divergence_against_torch(self):
        # torch's kl_div takes log q as input and p as target
        expected = F.kl_div(tensor(Q).log(), tensor(PROBS), reduction="sum").item()
        assert value("kl_divergence", {"p": PROBS, "q": Q})[0] == pytest.approx(expected, rel=1e-13)

    def test_perplexity(self):
        expected = mpmath.exp(-mpmath.fsum(mpmath.mpf(p) * mpmath.log(p) for p in PROBS))
        assert value("perplexity", {"p": PROBS})[0] == pytest.approx(float(expected), rel=1e-15)

    def test_perplexity_of_uniform_is_the_class_count(self):
        assert value("perplexity", {"p": [0.25] * 4})[0] == pytest.approx(4.0, rel=1e-15)

    def test_binary_entropy_against_torch(self):
        r = 0.3
        expected = F.binary_cross_entropy(tensor([r]), tensor([r])).item()
        assert value("binary_entropy", {"r": r})[0] == pytest.approx(expected, rel=1e-13)


class TestSoftmaxFamily:
    def test_softmax(self):
        expected = torch.softmax(tensor(LOGITS), 0).tolist()
        assert value("softmax", {"logits": LOGITS}) == pytest.approx(expected, rel=1e-14)

    def test_log_softmax(self):
        expected = torch.log_softmax(tensor(LOGITS), 0).tolist()
        assert value("log_softmax", {"logits": LOGITS}) == pytest.approx(expected, rel=1e-14)

    def test_logsumexp(self):
        expected = torch.logsumexp(tensor(LOGITS), 0).item()
        assert value("logsumexp", {"logits": LOGITS})[0] == pytest.approx(expected, rel=1e-14)

    @pytest.mark.parametrize("shift", [0.0, 3.0, -7.5])
    def test_shifted_logsumexp_is_logsumexp_for_any_shift(self, shift):
        expected = torch.logsumexp(tensor(LOGITS), 0).item()
        got = value("logsumexp_shifted", {"logits": LOGITS}, {"m": shift})[0]
        assert got == pytest.approx(expected, rel=1e-14)

    def test_evaluation_is_high_precision_where_float64_underflows(self):
        # log(1 + e^-40) — a double computes 0 for the sum's excess; 50 digits do not
        got = S.get("logsumexp").evaluate({"logits": [40.0, 0.0]})[0]
        assert abs(got - 40) == pytest.approx(math.exp(-40), rel=1e-12)


class TestCrossEntropy:
    @pytest.mark.parametrize("smoothing", [0.0, 0.2])
    @pytest.mark.parametrize("weighted", [False, True])
    def test_probability_targets_against_torch(self, smoothing, weighted):
        params = {"label_smoothing": smoothing}
        weight = None
        if weighted:
            params["weight"] = WEIGHTS
            weight = tensor(WEIGHTS)
        expected = F.cross_entropy(tensor([LOGITS]), tensor([PROBS]), weight=weight, reduction="none",
                                   label_smoothing=smoothing).item()
        got = value("softmax_cross_entropy", {"logits": LOGITS, "labels": PROBS}, params)[0]
        assert got == pytest.approx(expected, rel=1e-13)

    @pytest.mark.parametrize("label", [0, 2])
    @pytest.mark.parametrize("smoothing", [0.0, 0.3])
    @pytest.mark.parametrize("weighted", [False, True])
    def test_integer_labels_against_torch(self, label, smoothing, weighted):
        params = {"label_smoothing": smoothing}
        weight = None
        if weighted:
            params["weight"] = WEIGHTS
            weight = tensor(WEIGHTS)
        expected = F.cross_entropy(tensor([LOGITS]), torch.tensor([label]), weight=weight, reduction="none",
                                   label_smoothing=smoothing).item()
        got = value("softmax_cross_entropy_with_integer_labels", {"logits": LOGITS, "labels": label}, params)[0]
        assert got == pytest.approx(expected, rel=1e-13)

    def test_weighted_mean_denominator_matches_torch(self):
        spec = S.get("softmax_cross_entropy_with_integer_labels")
        logits = [LOGITS, [0.5, 0.5, -1.0, 2.0], [3.0, 1.0, 0.0, -2.0]]
        labels = [1, 3, 0]
        kept = [1, 0, 1]  # the second sample is ignore_index
        params = [{"weight": WEIGHTS, "label_smoothing": 0.1, "keep": keep} for keep in kept]
        numerator = sum(spec.evaluate({"logits": z, "labels": t}, p)[0] for z, t, p in zip(logits, labels, params))
        denominator = sum(spec.evaluate({"logits": z, "labels": t}, p, expr=spec.mean_weight)[0]
                          for z, t, p in zip(logits, labels, params))
        expected = F.cross_entropy(tensor(logits), torch.tensor([1, -100, 0]), weight=tensor(WEIGHTS),
                                   label_smoothing=0.1).item()
        assert float(numerator) / denominator == pytest.approx(expected, rel=1e-13)

    def test_ignored_sample_contributes_nothing(self):
        got = value("softmax_cross_entropy_with_integer_labels", {"logits": LOGITS, "labels": 1},
                    {"keep": 0, "label_smoothing": 0.4})
        assert got == [0.0]

    def test_confident_correct_prediction_is_tiny_but_positive(self):
        # the value torch rounds to 0.0: log(1 + 2 e^-40)
        got = S.get("softmax_cross_entropy_with_integer_labels").evaluate({"logits": [40.0, 0.0, 0.0], "labels": 0})[0]
        assert float(got) == pytest.approx(float(mpmath.log1p(2 * mpmath.exp(-40))), rel=1e-14)
        assert float(got) > 0

    def test_nll_loss_against_torch(self):
        log_probs = torch.log_softmax(tensor(LOGITS), 0).tolist()
        expected = F.nll_loss(tensor([log_probs]), torch.tensor([2]), weight=tensor(WEIGHTS), reduction="none").item()
        got = value("nll_loss", {"log_probs": log_probs, "labels": 2}, {"weight": WEIGHTS})[0]
        assert got == pytest.approx(expected, rel=1e-14)


class TestBinary:
    @pytest.mark.parametrize("r,label", [(0.3, 1.0), (0.9, 0.25), (1e-6, 0.0)])
    def test_binary_cross_entropy_against_torch(self, r, label):
        expected = F.binary_cross_entropy(tensor([r]), tensor([label]), weight=tensor([1.5])).item()
        got = value("binary_cross_entropy", {"probs": r, "labels": label}, {"weight": 1.5})[0]
        assert got == pytest.approx(expected, rel=1e-13)

    @pytest.mark.parametrize("logit,label,pos_weight", [(2.0, 1.0, 1.0), (-3.0, 0.3, 2.5), (30.0, 0.0, 0.5)])
    def test_sigmoid_binary_cross_entropy_against_torch(self, logit, label, pos_weight):
        expected = F.binary_cross_entropy_with_logits(tensor([logit]), tensor([label]), weight=tensor([0.7]),
                                                      pos_weight=tensor([pos_weight])).item()
        got = value("sigmoid_binary_cross_entropy", {"logits": logit, "labels": label},
                    {"pos_weight": pos_weight, "weight": 0.7})[0]
        assert got == pytest.approx(expected, rel=1e-12)


class TestNeighbours:
    def test_squared_error_sigmoid_against_torch(self):
        expected = F.mse_loss(torch.sigmoid(tensor([0.8])), tensor([1.0])).item()
        assert value("squared_error_sigmoid", {"logits": 0.8, "labels": 1.0})[0] == pytest.approx(expected, rel=1e-14)

    def test_squared_error_softmax_against_torch(self):
        expected = F.mse_loss(torch.softmax(tensor(LOGITS), 0), tensor(PROBS), reduction="sum").item()
        got = value("squared_error_softmax", {"logits": LOGITS, "labels": PROBS})[0]
        assert got == pytest.approx(expected, rel=1e-13)

    def test_multiclass_hinge(self):
        scores, signs = [0.5, -2.0, 1.5, 0.2], [1, -1, -1, 1]
        expected = sum(max(0.0, 1 - s * h) for s, h in zip(signs, scores))
        got = value("multiclass_hinge", {"scores": scores, "labels": signs})[0]
        assert got == pytest.approx(expected, rel=1e-15)


class TestGradient:
    def test_gradient_is_sympys_derivative_of_the_definition(self):
        spec = S.get("softmax_cross_entropy_with_integer_labels")
        logits = torch.tensor([LOGITS], dtype=torch.float64, requires_grad=True)
        F.cross_entropy(logits, torch.tensor([1])).backward()
        got = [float(v) for v in spec.evaluate({"logits": LOGITS, "labels": 1}, expr=spec.gradient())]
        assert got == pytest.approx(logits.grad[0].tolist(), rel=1e-13)

    def test_scalar_gradient(self):
        spec = S.get("sigmoid_binary_cross_entropy")
        logit = torch.tensor([1.25], dtype=torch.float64, requires_grad=True)
        F.binary_cross_entropy_with_logits(logit, tensor([0.2]), pos_weight=tensor([3.0])).backward()
        got = float(spec.evaluate({"logits": 1.25, "labels": 0.2}, {"pos_weight": 3.0}, expr=spec.gradient())[0])
        assert got == pytest.approx(logit.grad.item(), rel=1e-13)

    def test_label_input_has_no_gradient(self):
        with pytest.raises(ValueError, match="has no gradient"):
            S.get("nll_loss").gradient("labels")


class TestInstantiation:
    def test_concrete_class_count_expands_the_sum(self):
        expr = S.get("logsumexp").at(3)
        assert not expr.has(sp.Sum) and not expr.has(C)

    def test_unknown_parameter_is_refused(self):
        with pytest.raises(KeyError, match="no parameter"):
            S.get("softmax_cross_entropy").at(3, {"smoothing": 0.1})

    def test_missing_input_is_named(self):
        with pytest.raises(KeyError, match="needs a value for input 'labels'"):
            S.get("softmax_cross_entropy").evaluate({"logits": LOGITS})

    def test_numpy_inputs_are_taken_exactly(self):
        got = S.get("logsumexp").evaluate({"logits": np.array(LOGITS, dtype=np.float32)})[0]
        expected = torch.logsumexp(torch.tensor(LOGITS, dtype=torch.float32).double(), 0).item()
        assert float(got) == pytest.approx(expected, rel=1e-14)


def test_specs_command_lists_every_spec(capsys):
    assert main(["specs"]) == 0
    out = capsys.readouterr().out
    for name, spec in S.SPECS.items():
        assert name in out and spec.formula in out


class TestFormula:
    """``Spec.formula`` is rendered from ``expr`` (symce.spec.printing): the strings here are the maths."""

    @pytest.mark.parametrize("name, text", [
        ("entropy", "H(p) = −Σ_k p_k log p_k"),
        ("kl_divergence", "KL(p‖q) = Σ_k p_k log(p_k/q_k)"),
        ("softmax", "softmax(z)_j = exp(z_j)/Σ_k exp(z_k)"),
        ("logsumexp_shifted", "logsumexp(z) = m + log(Σ_k exp(z_k − m))"),
        ("softmax_cross_entropy", "L = −Σ_k ((1 − ε) y_k + ε/C) w_k log softmax(z)_k"),
        ("softmax_cross_entropy_with_integer_labels",
         "L = keep (−(1 − ε) w_t log softmax(z)_t − ε/C Σ_k w_k log softmax(z)_k)"),
        ("sigmoid_binary_cross_entropy", "L = −w (b pw log σ(x) + (1 − b) log(1 − σ(x)))"),
        ("squared_error_sigmoid", "L = (σ(x) − b)²"),
        ("multiclass_hinge", "L = Σ_k max(0, 1 − h_k u_k)"),
    ])
    def test_rendered_from_the_expression(self, name, text):
        assert S.get(name).formula == text

    def test_changing_the_expression_changes_the_formula(self):
        import dataclasses
        from symce.spec.symbols import k, p

        entropy = S.get("entropy")
        base2 = dataclasses.replace(entropy, expr=-S.class_sum(p[k] * sp.log(p[k], 2)))
        assert base2.formula != entropy.formula and base2.formula.startswith("H(p) = −Σ_k p_k")
        squared = dataclasses.replace(entropy, expr=S.class_sum(p[k] ** 2))
        assert squared.formula == "H(p) = Σ_k p_k²"

    def test_a_node_without_a_rule_is_refused(self):
        from symce.spec.printing import UnprintableNode, formula

        with pytest.raises(UnprintableNode, match="gamma"):
            formula(sp.gamma(sp.Symbol("x")))
