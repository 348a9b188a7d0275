"""symce.identities: every identity reaches its expected status; false ones FAIL with numbers."""
import argparse
import io
import json

import pytest
import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce import cli as symce_cli
from symce.identities import IDENTITIES, establish_all, get
from symce.identities import cli
from symce.identities.catalog import GIBBS, P_SIMPLEX, Q_SIMPLEX, Y_SIMPLEX
from symce.identities.core import (
    EQUATION, Concrete, Identity, Lemma, NonnegativeSum, Numeric, ProofError, Status, Symbolic,
)
from symce.spec import blocks
from symce.spec import get as spec
from symce.spec.core import Assumption
from symce.spec.symbols import j, k, p, q, u as sign_labels, x, y, z

SYMBOLIC = "proven for symbolic C"
EXACT = "proven (no class count)"

EXPECTED = {
    "cross_entropy_decomposition": SYMBOLIC,
    "cross_entropy_of_itself": SYMBOLIC,
    "one_hot_entropy": SYMBOLIC,
    "kl_nonnegative": SYMBOLIC,
    "kl_zero_iff_equal": SYMBOLIC,
    "softmax_shift_invariance": SYMBOLIC,
    "softmax_sums_to_one": SYMBOLIC,
    "log_softmax_difference": SYMBOLIC,
    "logsumexp_shift": SYMBOLIC,
    "logsumexp_gradient": SYMBOLIC,
    "cross_entropy_log1p_others": SYMBOLIC,
    "softmax_target_complement": SYMBOLIC,
    "softmax_targets_complement": SYMBOLIC,
    "powers_combined": SYMBOLIC,
    "softmax_cross_entropy_is_nll_of_log_softmax": SYMBOLIC,
    "softmax_cross_entropy_is_cross_entropy": SYMBOLIC,
    "focal_loss_at_gamma_zero": SYMBOLIC,
    "poly1_at_epsilon_zero": SYMBOLIC,
    "poly1_probability_labels_at_epsilon_zero": SYMBOLIC,
    "poly1_probability_labels_one_hot": SYMBOLIC,
    "softmax_cross_entropy_gradient": SYMBOLIC,
    "softmax_cross_entropy_gradient_simplex": SYMBOLIC,
    "integer_label_gradient": SYMBOLIC,
    "log1p_definition": EXACT,
    "softplus_stable": EXACT,
    "log_sigmoid_softplus": EXACT,
    "sigmoid_bce_softplus": EXACT,
    "sigmoid_bce_gradient": EXACT,
    "sigmoid_focal_at_gamma_zero": EXACT,
    "soft_margin_is_sigmoid_bce": EXACT,
    "multilabel_soft_margin_gradient": SYMBOLIC,
    "multilabel_soft_margin_of_one_class": EXACT,
    "binary_is_two_class_softmax": "proven for C = 2",
    "label_smoothing_decomposition": SYMBOLIC,
    "label_smoothing_gradient": SYMBOLIC,
    "softmax_cross_entropy_hessian": SYMBOLIC,
    "softmax_hessian_psd": SYMBOLIC,
    "squared_error_sigmoid_gradient": EXACT,
    "saturation": EXACT,
    "log_softmax_idempotent": SYMBOLIC,
    "cross_entropy_of_log_probabilities": SYMBOLIC,
    "cross_entropy_of_probabilities_differs": "proven for C = 2..4",
    "entropy_at_most_log_classes": SYMBOLIC,
}

#: the identities the code generator's stability rewrites cite by name
REWRITE_IDENTITIES = ("logsumexp_shift", "log_softmax_difference", "softplus_stable", "sigmoid_bce_softplus",
                      "cross_entropy_log1p_others", "softmax_target_complement", "softmax_targets_complement",
                      "log_sigmoid_softplus",
                      "log1p_definition", "powers_combined")

CROSS, H, KL = spec("cross_entropy").expr, spec("entropy").expr, spec("kl_divergence").expr
SOFTMAX_CE = spec("softmax_cross_entropy")
GRADIENT = SOFTMAX_CE.with_params({"weight": 1, "label_smoothing": 0}, SOFTMAX_CE.gradient())


def false_decomposition() -> Identity:
    """H(p, q) = H(q) + KL(p‖q): false (the entropy is of p, not q)."""
    return Identity("false_decomposition", "H(p, q) = H(q) + KL(p‖q)",
                    (sp.Eq(CROSS, H.subs(p, q) + KL, evaluate=False),), "none", strategies=EQUATION)


def wrong_gradient_sign() -> Identity:
    return Identity("wrong_gradient_sign", "∂L/∂z_j = y_j − softmax(z)_j",
                    (sp.Eq(GRADIENT, y[j] - blocks.softmax(z, j), evaluate=False),), "none",
                    assumptions=(Assumption("y", Y_SIMPLEX.relation, Y_SIMPLEX.text),), strategies=EQUATION)


@pytest.fixture(scope="module")
def results():
    return {r.identity.name: r for r in establish_all()}


def test_every_identity_has_an_expected_status():
    assert set(EXPECTED) == set(IDENTITIES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_identity_reaches_its_status(results, name):
    result = results[name]
    assert result.label == EXPECTED[name], result.outcome.detail
    assert result.status.proven and result.ok
    assert result.seconds >= 0


@pytest.mark.parametrize("name", REWRITE_IDENTITIES)
def test_rewrite_identities_exist_and_are_proven(results, name):
    assert get(name).name == name
    assert results[name].status.proven


def test_unknown_identity_names_the_known_ones():
    with pytest.raises(KeyError, match="logsumexp_shift"):
        get("no_such_identity")


@pytest.mark.parametrize("make", [false_decomposition, wrong_gradient_sign])
def test_false_identity_fails_with_a_counterexample(make):
    result = make().establish()
    assert result.status is Status.FAILED and not result.ok and not result.status.proven
    assert result.label == "FAILED"
    assert "counterexample" in result.outcome.detail
    assert "lhs = " in result.outcome.detail and "rhs = " in result.outcome.detail
    assert any(f"C = {count}," in result.outcome.detail for count in range(2, 7))   # searched at C = 2..6


@pytest.mark.parametrize("make", [false_decomposition, wrong_gradient_sign])
def test_exact_strategies_never_prove_a_false_identity(make):
    identity = make()
    assert Symbolic().attempt(identity) is None
    assert Concrete().attempt(identity) is None


def test_gibbs_needs_normalised_distributions():
    """Without Σp = Σq = 1, KL(p‖q) ≥ 0 is false: the certificate must not go through."""
    unnormalised = Identity("kl_nonnegative_unnormalised", "KL(p‖q) ≥ 0", (sp.Ge(KL, 0, evaluate=False),), "none",
                            strategies=(NonnegativeSum(p[k], q[k] / p[k], GIBBS),))
    assert NonnegativeSum(p[k], q[k] / p[k], GIBBS).attempt(unnormalised) is None
    assert unnormalised.establish().status is Status.FAILED
    normalised = Identity("kl", "KL(p‖q) ≥ 0", unnormalised.claims, "Gibbs", assumptions=(P_SIMPLEX, Q_SIMPLEX),
                          strategies=unnormalised.strategies)
    assert normalised.establish().status is Status.SYMBOLIC


def test_stable_softplus_without_the_absolute_value_fails_for_negative_x():
    """max(x, 0) + log1p(exp(−x)) is a classic bug: right for x ≥ 0, wrong for x < 0."""
    stable = get("softplus_stable")
    buggy = Identity("buggy_softplus", "log(1 + exp(x)) = max(x, 0) + log1p(exp(−x))",
                     (sp.Eq(blocks.softplus(x), sp.Max(x, 0) + log1p(sp.exp(-x)), evaluate=False),), "none",
                     strategies=stable.strategies)
    assert stable.strategies[0].attempt(buggy) is None
    result = buggy.establish()
    assert result.status is Status.FAILED
    assert "x = -" in result.outcome.detail


def test_one_hot_uses_the_limit_of_p_log_p():
    result = get("one_hot_entropy").establish()
    assert result.status is Status.SYMBOLIC
    assert any("one-hot" in a.text for a in get("one_hot_entropy").assumptions)


def test_a_false_lemma_is_refused():
    u = GIBBS.variable
    with pytest.raises(ProofError):
        Lemma("u - 2 - log u >= 0", lambda arg: arg - 2 - sp.log(arg), u, sp.Integer(1)).prove()


def test_numeric_fallback_is_labelled_as_numeric():
    checked = Identity("numeric_only", "log σ(x) = −softplus(−x)",
                       (sp.Eq(sp.log(blocks.sigmoid(x)), -blocks.softplus(-x), evaluate=False),), "mpmath",
                       strategies=(Numeric(points=5),))
    result = checked.establish(points=5)
    assert result.status is Status.NUMERIC and result.ok and not result.status.proven
    assert result.label == "checked numerically at 5 points (not a proof)"


def test_identity_rejects_what_it_cannot_use():
    with pytest.raises(TypeError, match="not a SymPy relation"):
        Identity("bad", "x", (x,), "none")
    with pytest.raises(ValueError, match="neither a sum"):
        Identity("bad", "x", (sp.Eq(x, x, evaluate=False),), "none",
                 assumptions=(Assumption("odd", sp.Gt(sign_labels[k], 0, evaluate=False), "u_k > 0"),))


def test_one_hot_assumption_must_be_applied():
    one_hot = get("one_hot_entropy").assumptions[0]
    with pytest.raises(ValueError, match="prepare=one_hot"):
        Identity("bad", "H(p) = 0", (sp.Eq(H, 0, evaluate=False),), "none", assumptions=(one_hot,))


def _run(only, as_json=False):
    out = io.StringIO()
    code = cli.report(establish_all(only), as_json=as_json, out=out)
    return code, out.getvalue()


def test_cli_exit_code_is_nonzero_when_an_identity_fails(monkeypatch, capsys):
    monkeypatch.setitem(IDENTITIES, "false_decomposition", false_decomposition())
    code = cli.run(argparse.Namespace(only=["logsumexp_shift", "false_decomposition"], json=False, how=False))
    assert code == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "counterexample" in captured.out
    assert "[2/2] false_decomposition" in captured.err


def test_cli_table_shows_statuses_and_progress(capsys):
    code = symce_cli.main(["check", "--only", "logsumexp_shift", "softplus_stable", "binary_is_two_class_softmax"])
    captured = capsys.readouterr()
    assert code == 0
    for text in ("name", "statement", "status", "seconds", SYMBOLIC, EXACT, "proven for C = 2", "3 proven"):
        assert text in captured.out
    assert "[1/3] logsumexp_shift" in captured.err and "[3/3] binary_is_two_class_softmax" in captured.err


def test_cli_json():
    code, text = _run(["kl_nonnegative"], as_json=True)
    [entry] = json.loads(text)
    assert code == 0
    assert entry["name"] == "kl_nonnegative" and entry["status"] == SYMBOLIC and entry["proven"] is True
    assert "Σ_k p_k = 1" in entry["assumptions"] and "u − 1 − log u" in entry["how"]
