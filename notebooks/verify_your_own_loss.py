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
# # Verify your own loss
#
# Hand-written loss code is easy to get almost right. `symce.verify(fn, spec=...)` checks a NumPy or
# PyTorch function against a spec in two ways and reports a verdict:
#
# 1. **symbolic** — it runs `fn` on symbolic arrays (small shapes), so the code becomes a SymPy
#    expression, and tries to prove it equal to the spec; if it is not, it looks for the reason;
# 2. **numeric** — it runs `fn` in float64 on adversarial inputs (huge logits, ties, mixed scales) and
#    compares with the spec evaluated at 50 digits.
#
# The verdict is **equivalent**, **unstable** (right in exact arithmetic, wrong in floating point
# somewhere: the report says where), or **not equivalent** (a different function: the report gives a
# diagnosis and a counterexample). Below, three cross-entropies as people write them, a binary one, a
# gradient, and one in PyTorch.

# %%
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

import symce

SPEC = "softmax_cross_entropy_with_integer_labels"


def summary(reports):
    """One Markdown row per report: function, verdict, worst numeric error."""
    rows = ["| function | framework | checked against | verdict | worst relative error |", "|---|---|---|---|---|"]
    for report in reports:
        against = f"∂ {report.spec} / ∂ {report.wrt}" if report.wrt else report.spec
        error = "—" if report.max_rel_error is None else f"{report.max_rel_error:.3g}"
        rows.append(f"| `{report.function}` | {report.framework} | {against} | **{report.verdict}** | {error} |")
    return Markdown("\n".join(rows))


# %% [markdown]
# ## 1. Right: log-softmax with the max shift
#
# Subtract each row's maximum, then $\log\operatorname{softmax}(z)_k = z_k - m - \log\sum_j e^{z_j - m}$,
# then the mean negative log-likelihood of the labels.

# %%
def cross_entropy(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels].mean()


right = symce.verify(cross_entropy, spec=SPEC)
print(right.text())
assert right.verdict == "equivalent"

# %% [markdown]
# ## 2. Unstable: softmax without the shift
#
# The same function in exact arithmetic, so the symbolic phase proves it equal to the spec. But $e^{z}$
# overflows for $z > 709.8$ in float64, and the report says from which logits on it breaks.

# %%
def cross_entropy_naive(logits, labels):
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.log(probs[np.arange(len(labels)), labels]).mean()


unstable = symce.verify(cross_entropy_naive, spec=SPEC)
print(unstable.text())
assert unstable.verdict == "unstable"
assert unstable.unstable_inputs and unstable.unstable_inputs["cases"]

# %% [markdown]
# ## 3. Wrong: an epsilon "to avoid log(0)"
#
# `log(p + 1e-7)` looks harmless and is a different function: the diagnosis finds that the constant is the
# whole difference, and the counterexample is an input where it changes the loss completely (a confident
# wrong prediction, whose true loss is huge, gets a loss of at most $-\log(10^{-7}) \approx 16$).

# %%
def cross_entropy_eps(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return -np.log(probs[np.arange(len(labels)), labels] + 1e-7).mean()


wrong = symce.verify(cross_entropy_eps, spec=SPEC)
print(wrong.text())
assert wrong.verdict == "not_equivalent"
assert wrong.diagnosis and wrong.counterexample

# %% [markdown]
# ## 4. A binary one: sigmoid, then log
#
# Binary cross-entropy on logits written through the probability. It is right in exact arithmetic, but
# $1 - \sigma(x)$ loses digits as $x$ grows, $\sigma(x)$ rounds to exactly 1 for $x > 37$, and then
# $\log(1 - \sigma(x)) = \log 0$.

# %%
def bce_through_sigmoid(logits, labels):
    probs = 1 / (1 + np.exp(-logits))
    return -(labels * np.log(probs) + (1 - labels) * np.log(1 - probs)).mean()


binary = symce.verify(bce_through_sigmoid, spec="sigmoid_binary_cross_entropy")
print(binary.text())
assert binary.verdict == "unstable"

# %% [markdown]
# ## 5. A gradient: `wrt=` checks ∂ spec / ∂ input
#
# A hand-written backward pass for the mean cross-entropy, with the classic slip of forgetting the $1/N$
# of the mean. `wrt="logits"` compares the function with the spec's gradient.

# %%
def cross_entropy_grad(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return probs - np.eye(logits.shape[1])[labels]  # missing: / len(labels)


gradient = symce.verify(cross_entropy_grad, spec=SPEC, wrt="logits")
print(gradient.text())
assert gradient.verdict == "not_equivalent"

# %% [markdown]
# ## 6. PyTorch: the log of a softmax
#
# The framework is detected from the code (a function that uses `torch` is traced through torch's
# operations). `log(softmax(z))` is the textbook definition and a known trap: the softmax of a very
# unlikely class underflows to 0 before the log is taken; `F.log_softmax` computes the same thing
# directly.

# %%
def nll_of_log_of_softmax(logits, labels):
    return F.nll_loss(torch.log(F.softmax(logits, dim=1)), labels)


def nll_of_log_softmax(logits, labels):
    return F.nll_loss(F.log_softmax(logits, dim=1), labels)


torch_unstable = symce.verify(nll_of_log_of_softmax, spec=SPEC)
print(torch_unstable.text())
torch_right = symce.verify(nll_of_log_softmax, spec=SPEC)
print()
print(torch_right.text())
assert torch_unstable.framework == "torch" and torch_unstable.verdict == "unstable"
assert torch_right.verdict == "equivalent"

# %% [markdown]
# ## All of them

# %%
reports = [right, unstable, wrong, binary, gradient, torch_unstable, torch_right]
display(summary(reports))

# %% [markdown]
# The same checks run from the command line (`symce verify FILE.py:FUNCTION --spec NAME`, exit status
# 0 only for *equivalent*), as JSON (`report.to_json()`), and in a test suite:
# `symce.verify.assert_verified(fn, spec)` fails with the whole report as its message.

# %%
print(right.to_json())
try:
    symce.verify.assert_verified(cross_entropy_eps, SPEC)
    raised = False
except AssertionError:
    raised = True
assert raised
