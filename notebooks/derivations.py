# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Derivations, every step checked
#
# Three gradients every classification course derives by hand: softmax cross-entropy, binary
# cross-entropy on a sigmoid, and label smoothing. `symce.derivations` holds each as a chain
# $\text{lhs} = e_0 = e_1 = \dots$ in which every link names the **rule** that justifies it, and SymPy has
# checked that every link is an equality (for a symbolic number of classes $C$ where it can) before the
# derivation may be printed. A step that does not follow is refused, as the last section shows.
#
# `render(derivation, "latex")` gives an `align*` block with the rule of each step on the right;
# `render(derivation, "markdown")` a numbered list. Jupyter typesets both.

# %%
import numpy as np
import sympy as sp
from IPython.display import Latex, Markdown, display

import symce.functional as sf
import symce.spec as S
from symce.derivations import (
    Derivation,
    DerivationError,
    Rule,
    Step,
    derivation,
    render,
)


def show(d):
    """A derivation in Jupyter: title and how it was checked, the LaTeX steps, one row per step.

    The LaTeX block starts with two comment lines (title and check) meant for a .tex file; they are
    shown as Markdown here instead.
    """
    latex = render(d, "latex")
    comments = [line[1:].strip() for line in latex.splitlines() if line.startswith("%")]
    body = "\n".join(line for line in latex.splitlines() if not line.startswith("%"))
    display(Markdown("\n\n".join(f"*{line}*" for line in comments)))
    display(Latex(body))
    rows = ["| step | rule | checked for | seconds |", "|---|---|---|---|"]
    rows += [f"| {i + 1} | {step.rule.name} | {check.status} | {check.seconds:.3f} |"
             for i, (step, check) in enumerate(zip(d.steps, d.checks))]
    rows.append(f"| result | equals the known closed form | {d.target_status} | {d.checks[-1].seconds:.3f} |")
    display(Markdown("\n".join(rows)))
    return body


# %% [markdown]
# ## Softmax cross-entropy with an integer label
#
# $L = -\log \operatorname{softmax}(z)_t$ for the label $t$, written the way torch defines it (class
# weights $w$, label smoothing $\varepsilon$, and $\text{keep} = 0$ for an ignored sample), so the
# derivation carries them along and switches them off in its last step. The key steps: $-\log$ of a
# softmax is $\operatorname{logsumexp}(z) - z_k$, and the gradient of $\operatorname{logsumexp}$ is the
# softmax itself.

# %%
ce = derivation("softmax_cross_entropy_with_integer_labels")
ce_latex = show(ce)
assert ce.status == "symbolic C" and ce.target_status == "symbolic C"
for rule in ("definition", "log of a quotient", "chain rule", "Kronecker delta", "parameter setting"):
    assert rule in ce_latex, rule

# %% [markdown]
# The result, $\operatorname{softmax}(z)_j - \delta_{jt}$, is "what the model believes minus what is
# true". The derivation's last expression can be evaluated like any expression over the spec's inputs: at
# 50 digits it matches the gradient the generated kernel returns.

# %%
logits, label = [2.0, 0.0, -1.0, 0.5], 0
spec = S.get("softmax_cross_entropy_with_integer_labels")
from_derivation = [float(v) for v in spec.evaluate({"logits": logits, "labels": label}, expr=ce.result)]
_, kernel_grad = sf.cross_entropy_value_and_grad(np.array([logits]), np.array([label]), reduction="sum")
print("derivation:", np.array(from_derivation))
print("kernel:    ", kernel_grad[0])
np.testing.assert_allclose(kernel_grad[0], from_derivation, rtol=1e-14)

# %% [markdown]
# ## Binary cross-entropy on a sigmoid
#
# $L = -\big(b \log \sigma(x) + (1 - b)\log(1 - \sigma(x))\big)$ for a logit $x$ and a target $b \in [0, 1]$
# (with torch's `weight` and `pos_weight`). The same shape of argument in one dimension:
# $\log \sigma(x) = -\log(1 + e^{-x})$, differentiate, and recognise $\frac{e^{-x}}{1 + e^{-x}} = 1 - \sigma(x)$.

# %%
bce = derivation("sigmoid_binary_cross_entropy")
bce_latex = show(bce)
for rule in ("definition", "log of a quotient", "chain rule", "algebra", "parameter setting"):
    assert rule in bce_latex, rule

spec = S.get("sigmoid_binary_cross_entropy")
xs, bs = [-3.0, 0.0, 2.5], [1.0, 0.5, 0.0]
from_derivation = [float(spec.evaluate({"logits": x, "labels": b}, expr=bce.result)[0]) for x, b in zip(xs, bs)]
_, kernel_grad = sf.binary_cross_entropy_with_logits_value_and_grad(np.array(xs), np.array(bs), reduction="sum")
print("σ(x) − b from the derivation:", np.array(from_derivation))
print("kernel:                      ", kernel_grad)
np.testing.assert_allclose(kernel_grad, from_derivation, rtol=1e-14)

# %% [markdown]
# Again "prediction minus target", now with the sigmoid as the prediction. (That binary cross-entropy is
# the two-class softmax cross-entropy is identity `binary_is_two_class_softmax` in `symce check`.)
#
# ## Label smoothing
#
# Label smoothing trains against $\tilde y = (1 - \varepsilon)\, y + \varepsilon / C$ instead of $y$:
# a little probability on every class. The derivation is the probability-target one with $\tilde y$ in
# place of $y$; the step that matters is $\sum_k \tilde y_k = \varepsilon + (1 - \varepsilon)\sum_k y_k = 1$,
# so the gradient is the softmax minus the *smoothed* target.

# %%
smoothing = derivation("label_smoothing_gradient")
smoothing_latex = show(smoothing)
assert smoothing.status == "symbolic C"
for rule in ("parameter setting", "chain rule", "Kronecker delta", "assumption"):
    assert rule in smoothing_latex, rule

# %% [markdown]
# With $\varepsilon = 0.1$ and four classes, the target class is pulled towards $0.9 + 0.025 = 0.925$
# rather than 1, and the others towards $0.025$ rather than 0, so the logits stop growing once the
# prediction is confident enough. torch's `label_smoothing=0.1` computes the same gradient:

# %%
epsilon, logits, label = 0.1, [4.0, 1.0, -1.0, 0.0], 0
spec = S.get("softmax_cross_entropy")
one_hot = [1.0 if k == label else 0.0 for k in range(len(logits))]
from_derivation = [float(v) for v in spec.evaluate({"logits": logits, "labels": one_hot},
                                                   params={"label_smoothing": epsilon}, expr=smoothing.result)]
_, kernel_grad = sf.cross_entropy_value_and_grad(np.array([logits]), np.array([label]), reduction="sum",
                                                 label_smoothing=epsilon)
print("softmax − ỹ from the derivation:", np.array(from_derivation))
print("kernel (label_smoothing=0.1):   ", kernel_grad[0])
np.testing.assert_allclose(kernel_grad[0], from_derivation, rtol=1e-14)

# %% [markdown]
# The same derivation as a Markdown list (`render(..., "markdown")`), the form to paste into a review
# or a README:

# %%
display(Markdown(render(smoothing, "markdown")))

# %% [markdown]
# ## A wrong step is refused
#
# Derivations are data (`Derivation`, `Step`, `Rule`), so you can write your own. The gradient of
# softplus $\log(1 + e^x)$ with a classic slip, $\frac{1}{1 + e^x}$ instead of $\frac{e^x}{1 + e^x}$:

# %%
x = sp.Symbol("x", real=True)
softplus_gradient = sp.Derivative(sp.log(1 + sp.exp(x)), x)
sigmoid = 1 / (1 + sp.exp(-x))
u = sp.Symbol("u", positive=True)
chain_rule = Rule("chain rule", sp.Eq(sp.Derivative(sp.log(u), u), 1 / u))

try:
    Derivation("softplus_gradient", "Gradient of softplus (with a slip)", softplus_gradient,
               (Step(1 / (1 + sp.exp(x)), chain_rule), Step(sigmoid, Rule("algebra"))), target=sigmoid)
    refused = None
except DerivationError as error:
    refused = error
    print("refused:", error)
assert refused is not None and refused.step == 0

# %%
right = Derivation("softplus_gradient", "Gradient of softplus", softplus_gradient,
                   (Step(sp.exp(x) / (1 + sp.exp(x)), chain_rule), Step(sigmoid, Rule("algebra"))), target=sigmoid)
show(right);
