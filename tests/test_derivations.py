"""Tests for symce.derivations: every derivation is checked, prints in all formats, compiles
with a real TeX engine, ends where the spec's own gradient (or the identity's right-hand side)
is, and a wrong step is an error: a false link, a false or unprovable rule formula, a given
that is neither a spec assumption nor a parameter setting, a wrong closed form. Reference
values: Spec.evaluate (mpmath) and torch autograd."""
import dataclasses
import os
import random
import shutil
import subprocess
import sys

import mpmath
import pytest
import sympy as sp
import torch

import symce.derivations
from symce.cli import main
from symce.derivations import (ALGEBRA, ASSUMPTION, CATALOG, DEFINITION, FORMATS, LOG_OF_QUOTIENT, NO_CLASSES, SETTING,
                               SYMBOLIC, Derivation, DerivationError, Rule, Step, derivation, establish,
                               formula_problem, given_problem, render)
from symce.derivations.catalog import CROSS_ENTROPY, ENTROPY
from symce.derivations.printing import DerivationLatexPrinter, DerivationStrPrinter
from symce.spec import SPECS, class_sum, get
from symce.spec.symbols import C, epsilon, j, k, keep, m, p, pos_weight, q, t, w, weight, x, y, z

NAMES = sorted(CATALOG)
GRADIENTS = sorted(name for name, entry in CATALOG.items() if entry.kind == "gradient")
REQUIRED = ("softmax_cross_entropy_with_integer_labels", "softmax_cross_entropy", "sigmoid_binary_cross_entropy",
            "cross_entropy_decomposition", "logsumexp_shift", "log_softmax_difference", "label_smoothing_gradient")
#: the catalogued derivations that give relations, and what they give (as the text printer writes it)
WITH_GIVENS = {
    "softmax_cross_entropy_with_integer_labels": ["w[k] = 1", "epsilon = 0", "keep = 1"],
    "softmax_cross_entropy": ["w[k] = 1", "epsilon = 0", "Σ_k(y[k]) = 1"],
    "sigmoid_binary_cross_entropy": ["weight = 1", "pos_weight = 1"],
    "focal_loss": ["w[k] = 1", "gamma = 0", "keep = 1"],
    "poly1_cross_entropy": ["w[k] = 1", "epsilon_1 = 0", "keep = 1"],
    "label_smoothing_gradient": ["w[k] = 1", "Σ_k(y[k]) = 1"],
}


def _sample(spec, classes, rng):
    """Random inputs for ``spec`` with ``classes`` classes, each in its input's domain."""
    values = {}
    for item in spec.inputs:
        if item.kind == "label":
            values[item.name] = rng.randrange(classes)
            continue
        draw = {
            "real": lambda: rng.uniform(-3, 3),
            "probability": lambda: rng.uniform(0.05, 0.95),
            "positive": lambda: rng.uniform(0.1, 2),
            "simplex": lambda: rng.uniform(0.1, 1),
            "sign": lambda: rng.choice((-1.0, 1.0)),
        }[item.domain]
        if item.kind == "scalar":
            values[item.name] = draw()
        else:
            entries = [draw() for _ in range(classes)]
            if item.domain == "simplex":
                entries = [e / sum(entries) for e in entries]
            values[item.name] = entries
    return values


def _close(a, b, digits=30):
    """Equal to ``digits`` digits (Spec.evaluate works with 50), compared at 50 digits."""
    with mpmath.workdps(50):
        return all(abs(u - v) <= mpmath.mpf(10) ** -digits * (1 + abs(v)) for u, v in zip(a, b, strict=True))


def test_the_required_derivations_exist_and_every_spec_has_one():
    assert set(REQUIRED) <= set(CATALOG)
    assert set(SPECS) <= set(GRADIENTS)


@pytest.mark.parametrize("name", NAMES)
def test_every_step_is_checked(name):
    result = derivation(name)
    assert len(result.checks) == len(result.steps) + 1  # every link, plus the known closed form
    assert result.status in (SYMBOLIC, NO_CLASSES, "C = 2..4")


@pytest.mark.parametrize("name", ["softmax_cross_entropy_with_integer_labels", "softmax_cross_entropy",
                                  "label_smoothing_gradient", "cross_entropy_decomposition",
                                  "logsumexp_shift", "log_softmax_difference"])
def test_main_derivations_hold_for_symbolic_class_count(name):
    """Pins what SymPy 1.14 manages; a weaker status here means a check silently fell back."""
    assert derivation(name).status == SYMBOLIC


@pytest.mark.parametrize("name", NAMES)
def test_the_status_line_states_the_givens(name):
    """The chain's status is unchanged by givens; the printed status adds "under the givens …"."""
    result = derivation(name)
    text = render(result, "text").splitlines()[1]
    assert [DerivationStrPrinter(result).doprint(given) for given in result.givens] == WITH_GIVENS.get(name, [])
    if name in WITH_GIVENS:
        assert f"every step for {result.status} under the givens {', '.join(WITH_GIVENS[name])};" in text
    else:
        assert "given" not in text and f"every step for {result.status};" in text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(WITH_GIVENS))
def test_every_given_is_printed_at_its_step(name, fmt):
    """In every format, on the line of the step that gives it, whether or not the rule has a formula."""
    result = derivation(name)
    printer = DerivationStrPrinter(result) if fmt == "text" else DerivationLatexPrinter(result)
    out = render(result, fmt).splitlines()
    lines = out[-len(result.steps) - 1:-1] if fmt == "latex" else out[-len(result.steps):]
    for step, line in zip(result.steps, lines, strict=True):
        stated = line.split("given", 1)[1] if step.given else ""
        assert all(printer.doprint(given) in stated for given in step.given), line


def test_a_given_is_printed_also_where_the_rule_has_a_formula():
    formula = sp.Eq(class_sum(w[k] * y[k] * sp.KroneckerDelta(j, k)), w[j] * y[j])
    result = _with_last_step_of("softmax_cross_entropy", Step(
        derivation("softmax_cross_entropy").steps[-1].expr, Rule("Kronecker delta")(formula),
        given=(sp.Eq(class_sum(y[k]), 1),)))
    line = render(result, "text").splitlines()[-1]
    assert line.endswith("[Kronecker delta: Σ_k(δ(j,k)*w[k]*y[k]) = w[j]*y[j]; given Σ_k(y[k]) = 1]")


@pytest.mark.parametrize("name", GRADIENTS)
def test_gradient_derivation_ends_at_the_spec_gradient(name):
    """The last step, evaluated with mpmath, equals the spec's own derivative (params at defaults)."""
    spec, result = get(name), derivation(name)
    rng = random.Random(name)
    for classes in (2, 3):
        values = _sample(spec, classes, rng)
        assert _close(spec.evaluate(values, expr=result.result), spec.evaluate(values, expr=spec.gradient()))


def test_cross_entropy_decomposition_numerically():
    rng = random.Random(1)
    result = derivation("cross_entropy_decomposition")
    for classes in (2, 4):
        values = _sample(get("cross_entropy"), classes, rng)
        h_pq = get("cross_entropy").evaluate(values)[0]
        h_p = get("entropy").evaluate({"p": values["p"]})[0]
        kl = get("kl_divergence").evaluate(values)[0]
        with mpmath.workdps(50):
            assert _close([h_pq], [h_p + kl])
        assert _close(get("cross_entropy").evaluate(values, expr=result.result), [h_pq])


def test_logsumexp_shift_numerically():
    rng = random.Random(2)
    result = derivation("logsumexp_shift")
    values = _sample(get("logsumexp"), 4, rng)
    plain = get("logsumexp").evaluate(values)
    for shift in (sp.Integer(-5), sp.Integer(0), sp.Rational(5, 2)):  # exact: a float shift carries 15 digits
        shifted = get("logsumexp_shifted")
        assert _close(shifted.evaluate(values, params={"m": shift}), plain)
        assert _close(shifted.evaluate(values, params={"m": shift}, expr=result.result), plain)


def test_log_softmax_difference_numerically():
    values = _sample(get("log_softmax"), 3, random.Random(3))
    spec = get("log_softmax")
    assert _close(spec.evaluate(values, expr=derivation("log_softmax_difference").result), spec.evaluate(values))


def _torch_gradient(logits, target, **kwargs):
    z_ = torch.tensor([logits], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(z_, target, **kwargs).backward()
    return z_.grad[0].tolist()


def test_label_smoothing_gradient_against_torch():
    spec, result = get("softmax_cross_entropy"), derivation("label_smoothing_gradient")
    values = _sample(spec, 4, random.Random(4))
    expected = _torch_gradient(values["logits"], torch.tensor([values["labels"]], dtype=torch.float64),
                               label_smoothing=0.2)
    ours = spec.evaluate(values, params={"label_smoothing": 0.2}, expr=result.result)
    assert [float(v) for v in ours] == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_integer_label_gradient_against_torch():
    spec = get("softmax_cross_entropy_with_integer_labels")
    result = derivation(spec.name)
    values = _sample(spec, 3, random.Random(5))
    expected = _torch_gradient(values["logits"], torch.tensor([values["labels"]]))
    assert [float(v) for v in spec.evaluate(values, expr=result.result)] == pytest.approx(expected, rel=1e-12)
    # the general closed form (the step before parameters are set) with weights and smoothing
    general = result.expand(result.steps[-2].expr)
    weights = [0.5, 2.0, 1.5]
    params = {"weight": weights, "label_smoothing": 0.3}
    expected = _torch_gradient(values["logits"], torch.tensor([values["labels"]]), weight=torch.tensor(
        weights, dtype=torch.float64), label_smoothing=0.3, reduction="sum")
    assert [float(v) for v in spec.evaluate(values, params=params, expr=general)] == pytest.approx(expected, rel=1e-12)


def test_sigmoid_bce_gradient_with_pos_weight_against_torch():
    result = derivation("sigmoid_binary_cross_entropy")
    pos_weight_form = result.expand(result.steps[-2].expr)
    logit, label = 0.7, 0.3
    x_ = torch.tensor(logit, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.binary_cross_entropy_with_logits(
        x_, torch.tensor(label, dtype=torch.float64), weight=torch.tensor(1.5, dtype=torch.float64),
        pos_weight=torch.tensor(2.5, dtype=torch.float64)).backward()
    spec = get("sigmoid_binary_cross_entropy")
    ours = spec.evaluate({"logits": logit, "labels": label}, params={"weight": 1.5, "pos_weight": 2.5},
                         expr=pos_weight_form)
    assert float(ours[0]) == pytest.approx(x_.grad.item(), rel=1e-12)


# ----- a wrong step is an error --------------------------------------------------------------

def _rebuilt(name, **changes):
    """The catalogued derivation ``name`` built again with some fields changed (steps, target)."""
    original = derivation(name)
    fields = {f.name: getattr(original, f.name) for f in dataclasses.fields(original) if f.init}
    return Derivation(**{**fields, **changes})


def _with_last_step_of(name, step):
    return _rebuilt(name, steps=derivation(name).steps[:-1] + (step,))


def _with_step_changed(name, index, **changes):
    """``name`` with step ``index`` changed: its rule, expression or givens."""
    steps = list(derivation(name).steps)
    steps[index] = dataclasses.replace(steps[index], **changes)
    return _rebuilt(name, steps=tuple(steps))


def _with_last_step(name, expr):
    last = derivation(name).steps[-1]
    return _with_last_step_of(name, Step(expr, last.rule, last.given))


@pytest.mark.parametrize("name", ["sigmoid_binary_cross_entropy", "softmax_cross_entropy",
                                  "softmax_cross_entropy_with_integer_labels"])
def test_a_step_with_the_wrong_sign_raises(name):
    wrong = -derivation(name).steps[-1].expr
    with pytest.raises(DerivationError, match=r"step \d+ \(.+\): .*false") as error:
        _with_last_step(name, wrong)
    assert error.value.step == len(derivation(name).steps) - 1


def test_an_assumption_step_without_its_assumption_raises():
    """s_j Σy − y_j = s_j − y_j only where Σy = 1: dropping the given must make the step fail."""
    last = derivation("softmax_cross_entropy").steps[-1]
    with pytest.raises(DerivationError, match="false"):
        _with_last_step_of("softmax_cross_entropy", Step(last.expr, last.rule))


def test_establish_reports_how():
    assert establish(sp.log(sp.exp(z[j]) * sp.exp(m)), z[j] + m) == NO_CLASSES
    assert establish(class_sum(2 * z[k]), 2 * class_sum(z[k])) == SYMBOLIC
    assert establish(class_sum(z[k]), class_sum(z[k] + 1)) is None
    # reversing the order of summation is beyond SymPy for symbolic C: checked at C = 2..4, and recorded so
    assert establish(class_sum(z[k]), class_sum(z[C - 1 - k])) == "C = 2..4"


def test_a_derivation_records_the_concrete_fallback():
    reversed_sum = Derivation(name="reversal", title="", lhs=class_sum(z[k]),
                              steps=(Step(class_sum(z[k]), DEFINITION), Step(class_sum(z[C - 1 - k]), ALGEBRA)),
                              target=class_sum(z[k]))
    assert [check.status for check in reversed_sum.checks] == [SYMBOLIC, "C = 2..4", "C = 2..4"]
    assert reversed_sum.status == "C = 2..4"
    assert "C = 2..4" in render(reversed_sum, "text")


def test_an_intermediate_wrong_step_names_its_step_and_rule():
    sigma = 1 / (1 + sp.exp(-x))
    with pytest.raises(DerivationError, match=r"step 1 \(algebra\)"):
        Derivation(name="broken", title="", lhs=sp.Derivative(sp.log(sigma), x),
                   steps=(Step(sp.Derivative(sp.log(sigma), x), DEFINITION), Step(sigma - 1, ALGEBRA)),
                   target=1 - sigma)


def test_a_wrong_closed_form_raises():
    with pytest.raises(DerivationError, match="known closed form"):
        Derivation(name="broken", title="", lhs=z[j], steps=(Step(z[j], DEFINITION),), target=z[j] + m)


# ----- injected errors are refused ------------------------------------------------------------

CE, INTEGER, PROBABILITY = "cross_entropy_decomposition", "softmax_cross_entropy_with_integer_labels", \
    "softmax_cross_entropy"
A, B = sp.symbols("a b", positive=True)
#: no assumptions: log(uv) = log u + log v is not an identity for complex u, v, so it cannot be proven
U, V = sp.symbols("u v")
SETTINGS = (sp.Eq(w[k], 1), sp.Eq(epsilon, 0), sp.Eq(keep, 1))
SOFTMAX_J = sp.exp(z[j]) / class_sum(sp.exp(z[k]))


def _entropy_of_p_from_cross_entropy_given_q_is_p():
    """H(p, q) = H(p), "derived" by giving q_k = p_k."""
    return Derivation(name="cross_entropy_is_entropy", title="", lhs=CROSS_ENTROPY.symbol,
                      steps=(Step(get("cross_entropy").expr, DEFINITION),
                             Step(ENTROPY.symbol, ALGEBRA, given=(sp.Eq(q[k], p[k]),))),
                      target=get("entropy").expr, abbreviations=(CROSS_ENTROPY, ENTROPY),
                      specs=(get("cross_entropy"), get("entropy")))


def _uniform_entropy():
    """H(p) = log C, "derived" by giving p_k = 1/C."""
    return Derivation(name="entropy_is_log_c", title="", lhs=ENTROPY.symbol,
                      steps=(Step(get("entropy").expr, DEFINITION),
                             Step(sp.log(C), ALGEBRA, given=(sp.Eq(p[k], 1 / C),))),
                      target=sp.log(C), abbreviations=(ENTROPY,), specs=(get("entropy"),))


#: name → (a derivation with an error injected, what the refusal must say)
INJECTIONS = {
    "false formula log(a/b) = log a + log b": (
        lambda: _with_step_changed(CE, 1, rule=LOG_OF_QUOTIENT(sp.Eq(sp.log(A / B), sp.log(A) + sp.log(B)))),
        r"step 1 \(log of a quotient\): the rule's formula log\(a/b\) = log\(a\) \+ log\(b\): it is not proven: "
        r"counterexample"),
    "false formula in the step's own symbols (sign slip)": (
        lambda: _with_step_changed(CE, 1, rule=LOG_OF_QUOTIENT(
            sp.Eq(sp.log(q[k]), sp.log(p[k]) + sp.log(p[k] / q[k])))),
        r"step 1 \(log of a quotient\): .*not proven \(k read as the class index i\): counterexample"),
    "formula SymPy cannot prove": (
        lambda: _with_step_changed(CE, 1, rule=Rule("log of a product")(sp.Eq(sp.log(U * V), sp.log(U) + sp.log(V)))),
        r"step 1 \(log of a product\): .*not proven: (no strategy could establish it|counterexample: u = -)"),
    "formula that is not an equation": (
        lambda: _with_step_changed(CE, 1, rule=Rule("bound")(sp.Ge(sp.log(q[k]), sp.log(p[k])))),
        r"step 1 \(bound\): .*not an equation"),
    "formula stating q = p": (
        lambda: _with_step_changed(CE, 1, rule=ASSUMPTION(sp.Eq(q[k], p[k]))),
        r"step 1 \(assumption\): the rule's formula q\[k\] = p\[k\]: .*counterexample"),
    "true formula on a false step": (
        lambda: _with_step_changed(CE, 1, expr=-derivation(CE).steps[1].expr),
        r"step 1 \(log of a quotient\): it is false"),
    "given z_k = 0": (
        lambda: _with_last_step_of(INTEGER, Step(1 / C - sp.KroneckerDelta(j, t), SETTING,
                                                 given=SETTINGS + (sp.Eq(z[k], 0),))),
        r"step 5 \(parameter setting\): the given Eq\(z\[k\], 0\) is about z; a given must be an assumption of "
        r"softmax_cross_entropy_with_integer_labels or a setting of one of their parameters"),
    "given q = p, to derive H(p, q) = H(p)": (_entropy_of_p_from_cross_entropy_given_q_is_p,
                                               r"step 1 .* is about p and q"),
    "given p_k = 1/C, to derive H(p) = log C": (_uniform_entropy, r"is about p and the class count C"),
    "given C = 2": (
        lambda: _with_last_step_of(INTEGER, Step(SOFTMAX_J - sp.KroneckerDelta(j, t), SETTING,
                                                 given=SETTINGS + (sp.Eq(C, 2),))),
        r"the given Eq\(C, 2\) is about the class count C"),
    "parameter set in terms of C (epsilon = 1/C)": (
        lambda: _with_last_step_of(INTEGER, Step(SOFTMAX_J - sp.KroneckerDelta(j, t), SETTING,
                                                 given=(sp.Eq(w[k], 1), sp.Eq(epsilon, 1 / C), sp.Eq(keep, 1)))),
        r"is about the class count C"),
    "given about the label (t = 0)": (
        lambda: _with_last_step_of(INTEGER, Step(SOFTMAX_J - sp.KroneckerDelta(j, 0), SETTING,
                                                 given=SETTINGS + (sp.Eq(t, 0),))),
        r"the given Eq\(t, 0\) is about t"),
    "parameter set outside its domain (pos_weight = 0)": (
        lambda: _with_last_step_of("sigmoid_binary_cross_entropy", Step(
            derivation("sigmoid_binary_cross_entropy").steps[-1].expr, SETTING,
            given=(sp.Eq(weight, 1), sp.Eq(pos_weight, 0, evaluate=False)))),
        r"sets pos_weight to 0, which is not positive"),
    "parameter setting SymPy evaluates to False (pos_weight = 0)": (
        lambda: _with_last_step_of("sigmoid_binary_cross_entropy", Step(
            derivation("sigmoid_binary_cross_entropy").steps[-1].expr, SETTING,
            given=(sp.Eq(weight, 1), sp.Eq(pos_weight, 0)))),
        r"the given is not an equation: SymPy evaluated it to False"),
    "another spec's assumption (sum of p is 1)": (
        lambda: _with_last_step_of(PROBABILITY, Step(
            derivation(PROBABILITY).steps[-1].expr, ASSUMPTION, given=(sp.Eq(class_sum(p[k]), 1),))),
        r"is about p and the class count C"),
    "a given in a derivation about no spec": (
        lambda: Derivation(name="unattached", title="", lhs=epsilon * z[j],
                           steps=(Step(sp.Integer(0), SETTING, given=(sp.Eq(epsilon, 0),)),), target=sp.Integer(0)),
        r"names no spec"),
    "wrong closed form": (lambda: _rebuilt(PROBABILITY, target=2 * get(PROBABILITY).gradient()),
                          r"the known closed form\): the last step does not equal the known closed form"),
    "closed form right only at C = 2": (
        lambda: _rebuilt(PROBABILITY, target=get(PROBABILITY).gradient() + (C - 2) * y[j]),
        r"the last step does not equal the known closed form"),
}


@pytest.mark.parametrize("injection", sorted(INJECTIONS))
def test_an_injected_error_is_refused(injection):
    build, reason = INJECTIONS[injection]
    with pytest.raises(DerivationError, match=reason):
        build()


def test_the_link_check_alone_would_accept_q_equals_p():
    """Why givens are restricted: substituted as a given, q = p makes H(p, q) = H(p) a valid link."""
    cross_entropy, entropy = get("cross_entropy").expr, get("entropy").expr
    assert establish(cross_entropy, entropy, givens=(sp.Eq(q[k], p[k]),)) == SYMBOLIC
    assert establish(cross_entropy, entropy) is None


def test_what_may_be_given():
    spec = get(INTEGER)
    assert given_problem(sp.Eq(w[t], 0), [spec]) is None  # one class weight set: a parameter setting
    assert given_problem(sp.Eq(epsilon, keep / 2), [spec]) is None  # parameters only
    assert "not nonnegative" in given_problem(sp.Eq(epsilon, 1 - keep), [spec])  # 1 − keep may be < 0
    assert given_problem(sp.Eq(class_sum(y[k]), 1), [get(PROBABILITY)]) is None  # the spec's assumption
    assert "left side must be one" in given_problem(sp.Eq(1, keep), [spec])
    assert "is about y and the class count C" in given_problem(sp.Eq(class_sum(y[k]), 1), [spec])  # not its assumption
    assert "not an equation" in given_problem(sp.Ge(epsilon, 0), [spec])


def test_rule_formulas_are_proven_once():
    """The catalogue cites the same formulas in several derivations; each is proven once."""
    derivation(INTEGER), derivation(PROBABILITY)
    assert formula_problem.cache_info().hits >= 1
    formula = sp.Eq(sp.log(A * B), sp.log(A) + sp.log(B))
    assert formula_problem(formula) is None and formula_problem(formula) is None
    assert formula_problem.cache_info().hits >= 2


def test_a_user_builds_a_derivation_from_the_package_exports():
    assert all(hasattr(symce.derivations, name) for name in symce.derivations.__all__)
    assert {"Derivation", "Step", "Rule", "Abbreviation", "DerivationError", "Check", "DEFINITION",
            "SETTING", "ASSUMPTION"} <= set(symce.derivations.__all__)
    spec = get("sigmoid_binary_cross_entropy")
    built = symce.derivations.Derivation(
        name="bce_unweighted", title="", lhs=spec.expr,
        steps=(symce.derivations.Step(spec.expr.subs(weight, 1), symce.derivations.SETTING,
                                      given=(sp.Eq(weight, 1),)),),
        target=spec.expr.subs(weight, 1), specs=(spec,))
    assert built.givens == (sp.Eq(weight, 1),) and "under the givens weight = 1" in render(built, "text")


def test_rule_names_must_be_ascii():
    with pytest.raises(ValueError, match="ASCII"):
        Rule("Σy = 1")


# ----- printing --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", NAMES)
def test_every_derivation_prints_one_line_per_step(name, fmt):
    result = derivation(name)
    out = render(result, fmt)
    steps = len(result.steps)
    if fmt == "latex":
        body = out[out.index(r"\begin{align*}"):].splitlines()
        assert body[0] == r"\begin{align*}" and body[-1] == r"\end{align*}"
        assert len(body) == steps + 2
        assert all("&= " in line and r"&& \text{(" in line for line in body[1:-1])
        assert all(line.endswith(r" \\") for line in body[1:-2])
    elif fmt == "markdown":
        items = [line for line in out.splitlines() if line[:1].isdigit()]
        assert [line.split(".")[0] for line in items] == [str(i + 1) for i in range(steps)]
        assert all(line.count("$") % 2 == 0 and "— *" in line for line in items)
    else:
        lines = [line for line in out.splitlines() if line.startswith("  = ")]
        assert len(lines) == steps
        assert all(line.rstrip().endswith("]") for line in lines)
        assert len({line.index("   [") for line in lines}) == 1  # rules aligned in one column


def test_latex_compiles_with_pdflatex(tmp_path):
    if shutil.which("pdflatex") is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is missing in CI; install the packages in .ci/apt-packages")
        pytest.skip("pdflatex is not installed (apt-get install $(cat .ci/apt-packages))")
    for name in NAMES:
        document = "\n".join([r"\documentclass{article}", r"\usepackage{amsmath}", r"\usepackage{amssymb}",
                              r"\begin{document}", render(derivation(name), "latex"), r"\end{document}", ""])
        (tmp_path / f"{name}.tex").write_text(document, encoding="utf-8")
        run = subprocess.run(["pdflatex", "-halt-on-error", "-interaction=nonstopmode", f"{name}.tex"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"{name}: pdflatex failed\n{run.stdout[-3000:]}"
        assert (tmp_path / f"{name}.pdf").stat().st_size > 0


# ----- the command -------------------------------------------------------------------------------

def test_cli_list(capsys):
    assert main(["derive", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES)


def test_cli_prints_a_derivation(capsys):
    assert main(["derive", "softmax_cross_entropy", "--format", "latex"]) == 0
    assert r"\begin{align*}" in capsys.readouterr().out


def test_cli_unknown_name_exits_2():
    run = subprocess.run([sys.executable, "-m", "symce.cli", "derive", "no_such_loss"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "no derivation named 'no_such_loss'" in run.stderr and "--list" in run.stderr
