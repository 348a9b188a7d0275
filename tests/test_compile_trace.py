"""symce.compile from code: a naive NumPy log(softmax) loss, traced, lifted and compiled to a stable kernel."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

import symce
from symce.compile.trace import TraceError, lift
from symce.spec.symbols import k, t, z


def naive_cross_entropy(logits, labels):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(len(labels)), labels]).mean()


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYMCE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield symce.compile(naive_cross_entropy, like="softmax_cross_entropy_with_integer_labels")


#: confident rows (one logit far above the others) where the naive code overflows: exp(800) = inf
ROWS = np.array([[800.0, 0.0, -5.0], [800.0, 0.0, -5.0], [710.0, 700.0, 0.0], [-1000.0, 1000.0, 0.0],
                 [0.0, 800.0, 3.0]])
LABELS = np.array([0, 1, 0, 0, 2])


def _reference(row, label):
    """−log softmax(row)_label and softmax(row) − onehot(label), with 60 digits."""
    with mpmath.workdps(60):
        values = [mpmath.mpf(float(v)) for v in row]
        total = mpmath.fsum(mpmath.exp(v) for v in values)
        loss = mpmath.log(total) - values[label]
        grad = [mpmath.exp(v) / total - (1 if i == label else 0) for i, v in enumerate(values)]
        return float(loss), [float(g) for g in grad]


def test_the_traced_spec_is_the_lifted_expression(compiled):
    expected = -sp.log(sp.exp(z[t]) / sp.Sum(sp.exp(z[k]), (k, 0, sp.Symbol("C", integer=True, positive=True) - 1)))
    assert sp.simplify(sp.expand_log(compiled.spec.expr - expected, force=True)) == 0


def test_naive_log_softmax_compiles_to_a_finite_accurate_kernel(compiled):
    with np.errstate(all="ignore"):
        naive = [naive_cross_entropy(row[None], np.array([label])) for row, label in zip(ROWS, LABELS)]
    assert not np.isfinite(naive).any()  # the original breaks on every one of these rows
    value, grad = compiled.value_and_grad(ROWS, LABELS, reduction="none")
    for i, (row, label) in enumerate(zip(ROWS, LABELS)):
        loss, gradient = _reference(row, label)
        assert abs(value[i] - loss) <= 1e-13 * abs(loss) + 1e-300, (i, value[i], loss)
        np.testing.assert_allclose(grad[i], gradient, rtol=1e-13, atol=1e-300)


def test_the_rewrites_applied_are_named(compiled):
    assert {"log_softmax_difference", "logsumexp_shift"} <= set(compiled.rewrites)


def test_verifying_the_original_says_where_it_breaks(compiled):
    report = compiled.verify_original()
    text = report.text()
    assert report.verdict != "equivalent" or "inf" in text or "nan" in text or "overflow" in text, text


def test_a_loss_that_reads_other_logits_is_not_lifted():
    logits = [sp.Symbol(f"z_0_{i}", real=True) for i in range(3)]
    with pytest.raises(TraceError, match="other than through"):
        lift(logits[0] ** 2 + sp.log(sum(sp.exp(s) for s in logits)), logits, 1)
    assert lift(sp.log(sum(sp.exp(s) for s in logits)) - logits[1], logits, 1) == \
        sp.log(sp.Sum(sp.exp(z[k]), (k, 0, sp.Symbol("C", integer=True, positive=True) - 1))) - z[t]
