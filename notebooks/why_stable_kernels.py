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
# # Why stable kernels
#
# The textbook formulas for softmax, log-softmax and binary cross-entropy are exact in real arithmetic
# and break in floating point once the logits are large: `exp` overflows, or a probability rounds to
# exactly 1 and its logarithm to 0. This notebook measures how much of each answer survives, as the
# logits grow, for three implementations:
#
# * **naive** — the formula as written: `exp(z) / sum(exp(z))`, `log` of that, `log(sigmoid(x))`;
# * **torch** — `torch.softmax`, `torch.log_softmax`, `binary_cross_entropy_with_logits`;
# * **symce** — the generated kernels behind `symce.functional` (stable forms rewritten from the
#   definitions by proven identities, e.g. $-\log\operatorname{softmax}(z)_t = \log1p\big(\sum_{k\ne t}
#   e^{z_k - z_t}\big)$).
#
# The reference is the definition itself (`Spec.evaluate`, mpmath) at the exact float inputs, and the
# error of an answer is $\max_k |\text{got}_k - \text{true}_k| / \max(|\text{true}_k|, \text{tiny})$ with
# `tiny` the dtype's smallest normal number: a true value that underflows is judged absolutely.

# %%
import math

import matplotlib.pyplot as plt
import mpmath
import numpy as np
import torch
import torch.nn.functional as TF

import symce.functional as sf
import symce.spec as S

SOFTMAX, LOG_SOFTMAX, BCE = S.get("softmax"), S.get("log_softmax"), S.get("sigmoid_binary_cross_entropy")
for spec in (SOFTMAX, LOG_SOFTMAX, BCE):
    print(spec.summary())

# %% [markdown]
# ## How many digits does the reference need?
#
# Take the binary cross-entropy of a confident, correct prediction: logit $x = -100$, target 0. The loss is
# $-\log(1 - \sigma(x)) \approx e^{-100} \approx 3.7\cdot10^{-44}$, computed from $1 - \sigma(x)$, a number
# that differs from 1 only in its 44th digit. At mpmath's 50 digits only 6 digits of the answer remain;
# at $x = -1000$ none do. So the working precision grows with the logits: 50 digits plus
# $|x| / \ln 10$, the number of digits $e^{|x|}$ has.

# %%
def digits(values):
    """Decimal digits enough for the spec's own cancellations at these inputs."""
    return 50 + int(np.max(np.abs(values)) / math.log(10)) + 1


for x in (-30.0, -100.0, -1000.0):
    values = {"logits": x, "labels": 0.0}
    at_50 = BCE.evaluate(values, dps=50)[0]
    enough = BCE.evaluate(values, dps=digits([x]))[0]
    print(f"x = {x:7}: at 50 digits {mpmath.nstr(at_50, 12):>20}, at {digits([x]):4} digits "
          f"{mpmath.nstr(enough, 12):>20}; relative difference {float(abs(at_50 - enough) / enough):.1e}")

# %% [markdown]
# ## The inputs
#
# Logits $z = s\cdot(1, 0, -\tfrac12)$ for softmax and log-softmax (a prediction that grows more confident
# with the scale $s$), and the two binary cases $x = -s$ (confident and right, target 0) and $x = +s$
# (confident and wrong, target 0) for binary cross-entropy. Each $s$ is a float32 number, so float32 and
# float64 see the very same inputs and share one reference.

# %%
scales = np.logspace(0, 4, 33).astype(np.float32).astype(np.float64)
DIRECTION = np.array([1.0, 0.0, -0.5])
BINARY_TARGETS = np.zeros(2)


def softmax_inputs(s):
    return s * DIRECTION


def binary_inputs(s):
    return np.array([-s, s])


reference = {"softmax": [], "log_softmax": [], "binary cross-entropy": []}
for s in scales:
    z = softmax_inputs(s)
    assert np.array_equal(z.astype(np.float32), z)  # the same inputs in both dtypes
    reference["softmax"].append(SOFTMAX.evaluate({"logits": list(z)}, dps=digits(z)))
    reference["log_softmax"].append(LOG_SOFTMAX.evaluate({"logits": list(z)}, dps=digits(z)))
    reference["binary cross-entropy"].append(
        [BCE.evaluate({"logits": x, "labels": b}, dps=digits(z))[0] for x, b in zip(binary_inputs(s), BINARY_TARGETS)])

# %% [markdown]
# ## The three implementations

# %%
def naive_softmax(z):
    e = np.exp(z)
    return e / e.sum()


def naive_log_softmax(z):
    return np.log(naive_softmax(z))


def naive_binary_cross_entropy(x, b):
    probability = 1 / (1 + np.exp(-x))
    return -(b * np.log(probability) + (1 - b) * np.log(1 - probability))


IMPLEMENTATIONS = {
    "softmax": {
        "naive": naive_softmax,
        "torch": lambda z: torch.softmax(torch.from_numpy(z), dim=0).numpy(),
        "symce": lambda z: sf.softmax(z, dim=0),
    },
    "log_softmax": {
        "naive": naive_log_softmax,
        "torch": lambda z: torch.log_softmax(torch.from_numpy(z), dim=0).numpy(),
        "symce": lambda z: sf.log_softmax(z, dim=0),
    },
    "binary cross-entropy": {
        "naive": naive_binary_cross_entropy,
        "torch": lambda x, b: TF.binary_cross_entropy_with_logits(torch.from_numpy(x), torch.from_numpy(b),
                                                                  reduction="none").numpy(),
        "symce": lambda x, b: sf.binary_cross_entropy_with_logits(x, b, reduction="none"),
    },
}


def relative_error(got, true, dtype):
    """max_k |got_k − true_k| / max(|true_k|, tiny); inf when an entry is inf or nan."""
    got = np.asarray(got, dtype=np.float64)
    true = np.array([float(v) for v in true])
    if not np.all(np.isfinite(got)):
        return math.inf
    return float(np.max(np.abs(got - true) / np.maximum(np.abs(true), np.finfo(dtype).tiny)))


errors = {}  # (function, dtype name, implementation) -> relative error per scale
with np.errstate(all="ignore"):  # the naive forms overflow on purpose
    for dtype in (np.float32, np.float64):
        for function, implementations in IMPLEMENTATIONS.items():
            for who, implementation in implementations.items():
                row = []
                for s, true in zip(scales, reference[function]):
                    if function == "binary cross-entropy":
                        got = implementation(binary_inputs(s).astype(dtype), BINARY_TARGETS.astype(dtype))
                    else:
                        got = implementation(softmax_inputs(s).astype(dtype))
                    assert np.asarray(got).dtype == dtype
                    row.append(relative_error(got, true, dtype))
                errors[function, np.dtype(dtype).name, who] = np.array(row)

# %% [markdown]
# ## The picture
#
# Errors below $10^{-18}$ (exact answers, or true values that underflow and are returned as 0) are drawn
# at $10^{-18}$; an answer that is `inf` or `nan` is drawn at the top, on the dotted line.

# %%
FLOOR, OVERFLOW = 1e-18, 1e3
STYLE = {"naive": {"color": "tab:red", "marker": "x", "linestyle": "-"},
         "torch": {"color": "tab:orange", "marker": "s", "markersize": 3, "linestyle": "--"},
         "symce": {"color": "tab:blue", "marker": "o", "markersize": 3, "linestyle": "-"}}

fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), sharex=True, sharey=True)
for row, dtype in enumerate(("float32", "float64")):
    for column, function in enumerate(IMPLEMENTATIONS):
        ax = axes[row, column]
        for who in ("naive", "torch", "symce"):
            error = errors[function, dtype, who]
            ax.plot(scales, np.clip(np.where(np.isfinite(error), error, OVERFLOW), FLOOR, OVERFLOW),
                    label=who, **STYLE[who])
        ax.axhline(OVERFLOW, color="gray", linestyle=":", linewidth=1)
        ax.axhline(np.finfo(dtype).eps, color="gray", linestyle="-.", linewidth=1)
        ax.text(scales[0], OVERFLOW * 2, "inf / nan", fontsize=8, color="gray")
        ax.text(scales[-1], np.finfo(dtype).eps * 3, f"{dtype} machine epsilon", fontsize=8, color="gray",
                horizontalalignment="right")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(FLOOR / 3, OVERFLOW * 30)
        ax.set_title(f"{function}, {dtype}")
        if row == 1:
            ax.set_xlabel("logit scale s  (z = s·(1, 0, −½); binary: x = ±s)")
        if column == 0:
            ax.set_ylabel("relative error vs. the spec in mpmath")
fig.suptitle("Relative error as the logits grow: naive formula, torch, symce's generated kernels")
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=3, bbox_to_anchor=(0.5, 0.96))
fig.tight_layout(rect=(0, 0, 1, 0.93))
plt.show()


# %% [markdown]
# ## Where each one breaks

# %%
def first_scale(error, threshold):
    """The smallest scale at which the error reaches ``threshold`` (None if it never does)."""
    hits = np.nonzero(error >= threshold)[0]
    return None if len(hits) == 0 else float(scales[hits[0]])


print(f"{'function':<22} {'dtype':<8} {'who':<6} {'worst error':>12} {'error ≥ 1e-3 from s =':>22} "
      f"{'inf/nan from s =':>17}")
for (function, dtype, who), error in errors.items():
    worst = np.max(error)
    inaccurate, broken = first_scale(error, 1e-3), first_scale(error, math.inf)
    print(f"{function:<22} {dtype:<8} {who:<6} {worst:>12.1e} {'never' if inaccurate is None else f'{inaccurate:.3g}':>22} "
          f"{'never' if broken is None else f'{broken:.3g}':>17}")

# %% [markdown]
# What the plot shows:
#
# * **naive softmax** is fine until `exp` overflows: $e^{s}$ is `inf` beyond $s \approx 88.7$ in float32 and
#   $709.8$ in float64, and `inf / inf` is `nan`. Shifting by the maximum (what torch and symce do) removes
#   that. The small rise of every float32 softmax curve around $s \approx 30$ is not an implementation's
#   fault: $e^{z}$ magnifies the rounding of $z_k - \max z$ by $|z_k - \max z|$.
# * **naive log-softmax** fails long before overflow: the largest probability rounds to exactly 1 and
#   $\log 1 = 0$, while the true value is $-\log(1 + e^{-s} + \dots) \approx -e^{-s}$. Every digit is lost
#   (error 1) from $s \approx 17$ (float32) or $37$ (float64), and once the small probabilities underflow
#   to 0 their logarithms are $-\infty$. torch's max shift avoids the infinities but not the lost digits:
#   it computes $\log(1 + \text{tiny}) = 0$ too. symce uses $\log1p$ of the sum of the *other* classes
#   and keeps full precision at every scale.
# * **naive binary cross-entropy** is `inf` as soon as $\sigma(s)$ rounds to 1 for the confidently wrong
#   prediction ($\log(1 - 1)$). torch's form $\max(x, 0) - x b + \log(1 + e^{-|x|})$ stays finite but returns
#   0 for the confidently right one, whose loss is $\approx e^{-s}$; symce's kernel writes the last term as
#   $\log1p(e^{-|x|})$ (identity `sigmoid_bce_softplus`).
#
# Past $s \approx 100$ (float32) or $745$ (float64) torch's error drops back to 0: the true values are
# then below the dtype's smallest normal number, and 0 is the right float answer.
#
# A loss that is 0 instead of $10^{-30}$ is harmless for training; the gradient that comes with it is the
# same story, and `kernels_vs_torch.py` measures both over a larger adversarial domain.

# %%
for dtype in ("float32", "float64"):
    eps = np.finfo(dtype).eps
    for function in IMPLEMENTATIONS:
        ours, theirs, naive = (errors[function, dtype, who] for who in ("symce", "torch", "naive"))
        assert np.all(np.isfinite(ours)) and np.all(np.isfinite(theirs)), (function, dtype)
        assert np.all(ours <= theirs + 4 * eps), (function, dtype)  # never worse than torch
        assert not np.all(np.isfinite(naive)), (function, dtype)  # the naive form overflows somewhere
    for function in ("log_softmax", "binary cross-entropy"):
        assert np.max(errors[function, dtype, "symce"]) <= 4 * eps, (function, dtype)
        assert np.max(errors[function, dtype, "torch"]) >= 0.5, (function, dtype)
