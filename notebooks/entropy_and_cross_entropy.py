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
# # Entropy and cross-entropy
#
# The *surprise* of an outcome that had probability $p$ is $-\log p$: a certain outcome ($p = 1$)
# surprises nobody, a one-in-a-million outcome surprises a lot. **Entropy** is the surprise you expect
# before the draw, **cross-entropy** the surprise you expect when the world draws from $p$ but you
# believe $q$, and **KL divergence** is the extra surprise you pay for believing the wrong thing:
#
# $$H(p) = -\sum_k p_k \log p_k, \qquad H(p, q) = -\sum_k p_k \log q_k, \qquad
# \operatorname{KL}(p\,\|\,q) = \sum_k p_k \log\frac{p_k}{q_k}.$$
#
# With natural logarithms the unit is the *nat*; with $\log_2$ it is the *bit* (1 bit = $\ln 2$ nats).
# Every number below comes twice: from the definition in `symce.spec`, evaluated in mpmath at 50 digits,
# and from the generated kernels behind `symce.functional`.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

import symce.functional as sf
import symce.spec as S
from symce.identities import get as identity

ENTROPY = S.get("entropy")
CROSS_ENTROPY = S.get("cross_entropy")
KL = S.get("kl_divergence")
for spec in (ENTROPY, CROSS_ENTROPY, KL):
    print(spec.summary())

BITS_PER_NAT = 1 / math.log(2)


def table(header, rows):
    """A Markdown table (Jupyter renders it)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def reference(spec, **values):
    """The spec's value at 50 digits, as a float.

    A class with p_k = 0 contributes 0·log 0 = 0 (the limit of p log p as p → 0⁺); SymPy would
    evaluate 0·log 0 as nan, so such classes are left out of p (and of q with them).
    """
    keep = [i for i, pk in enumerate(values["p"]) if pk > 0]
    values = {name: [vector[i] for i in keep] for name, vector in values.items()}
    return float(spec.evaluate(values)[0])


# %% [markdown]
# ## A lottery over four numbers
#
# Four balls numbered 1 to 4 in an urn, three ways of filling it:
#
# * **uniform** — one ball of each number;
# * **one favourite** — number 4 drawn 70 % of the time;
# * **almost certain** — number 4 drawn 99.7 % of the time. (Probabilities 0.001, 0.001, 0.001 and 0.999
#   would add up to 1.002, which is not a distribution; 0.997 makes them add up to 1.)

# %%
lotteries = {
    "uniform": [0.25, 0.25, 0.25, 0.25],
    "one favourite": [0.1, 0.1, 0.1, 0.7],
    "almost certain": [0.001, 0.001, 0.001, 0.997],
}
for p in lotteries.values():
    assert math.isclose(sum(p), 1.0)

rows, entropies = [], {}
for name, p in lotteries.items():
    h_spec = reference(ENTROPY, p=p)
    h_kernel = float(sf.entropy(np.array(p)))
    assert math.isclose(h_spec, h_kernel, rel_tol=1e-14)
    entropies[name] = h_spec
    surprises = ", ".join(f"{-math.log2(pk):.2f}" for pk in p)
    rows.append((name, p, surprises, f"{h_spec:.4f}", f"{h_spec * BITS_PER_NAT:.4f}",
                 f"{float(sf.perplexity(np.array(p))):.3f}"))
display(table(("lottery", "p", "surprise of each number (bits)", "H (nats)", "H (bits)", "perplexity e^H"), rows))

# %% [markdown]
# The uniform urn is the most surprising one possible with four outcomes: $H = \log 4$ = 2 bits, exactly
# the two yes/no questions you need to name the number. The more lopsided the urn, the less you expect to
# be surprised, even though the rare numbers themselves became *more* surprising (10 bits each at
# p = 0.001): they are just rarely drawn. The perplexity $e^{H}$ reads the entropy as "as uncertain as a
# fair die with this many faces".

# %%
assert math.isclose(entropies["uniform"], math.log(4), rel_tol=1e-15)
assert entropies["uniform"] > entropies["one favourite"] > entropies["almost certain"]

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
for ax, (name, p) in zip(axes, lotteries.items()):
    ax.bar([1, 2, 3, 4], [-math.log2(pk) for pk in p], color="tab:blue", label="surprise −log₂ p")
    ax.axhline(entropies[name] * BITS_PER_NAT, color="tab:red", linestyle="--",
               label=f"entropy = {entropies[name] * BITS_PER_NAT:.3f} bits")
    ax.set_title(f"{name}: p = {p}", fontsize=9)
    ax.set_xlabel("number drawn")
    ax.set_xticks([1, 2, 3, 4])
    ax.legend(fontsize=8, loc="upper right")
axes[0].set_ylabel("surprise (bits)")
axes[0].set_ylim(0, 13)
fig.suptitle("Entropy is the expected surprise")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Cross-entropy of three predictions
#
# A classifier sees an image of class 0 (of four). Its target is the one-hot vector $p = e_0$, so the
# cross-entropy is just the surprise of the right answer under the prediction: $H(e_0, q) = -\log q_0$.
#
# * **confident and right** puts 0.97 on class 0;
# * **unsure but right** puts 0.4 on class 0 and spreads the rest;
# * **confident and wrong** puts 0.97 on class 1 and 0.01 on class 0.
#
# `sf.cross_entropy` takes logits; $\log q$ are logits whose softmax is $q$ itself.

# %%
target = [1.0, 0.0, 0.0, 0.0]
predictions = {
    "confident and right": [0.97, 0.01, 0.01, 0.01],
    "unsure but right": [0.4, 0.2, 0.2, 0.2],
    "confident and wrong": [0.01, 0.97, 0.01, 0.01],
}
rows, losses = [], {}
for name, q in predictions.items():
    ce_spec = reference(CROSS_ENTROPY, p=target, q=q)
    ce_kernel = float(sf.cross_entropy(np.log(np.array([q])), np.array([0])))
    assert math.isclose(ce_spec, ce_kernel, rel_tol=1e-14)
    losses[name] = ce_spec
    rows.append((name, q, f"{ce_spec:.4f}", f"{ce_spec * BITS_PER_NAT:.3f}"))
display(table(("prediction", "q", "H(e₀, q) (nats)", "(bits)"), rows))
assert losses["confident and right"] < losses["unsure but right"] < losses["confident and wrong"]

q0 = np.linspace(0.005, 1, 400)
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(q0, -np.log(q0), label="cross-entropy −log q₀")
for name, q in predictions.items():
    ax.plot(q[0], losses[name], "o", label=f"{name} ({losses[name]:.2f} nats)")
ax.set_xlabel("probability q₀ given to the right class")
ax.set_ylabel("loss (nats)")
ax.set_title("Cross-entropy punishes confident mistakes without bound")
ax.legend()
plt.show()

# %% [markdown]
# Being unsure costs 0.92 nats, being confidently wrong 4.6 nats, five times as much, and the cost grows
# without bound as $q_0 \to 0$. That unbounded penalty is what keeps a classifier trained with
# cross-entropy learning from its confident mistakes (see `why_not_mse.py`).
#
# ## H(p, q) = H(p) + KL(p‖q)
#
# Believing $q$ when the truth is $p$ costs the unavoidable surprise $H(p)$ plus the excess
# $\operatorname{KL}(p\,\|\,q) \ge 0$. First numerically, with the "one favourite" lottery as the truth:

# %%
p = lotteries["one favourite"]
beliefs = {"the truth itself": p, "uniform": lotteries["uniform"], "wrong favourite": [0.7, 0.1, 0.1, 0.1]}
rows = []
for name, q in beliefs.items():
    h, kl, ce = reference(ENTROPY, p=p), reference(KL, p=p, q=q), reference(CROSS_ENTROPY, p=p, q=q)
    kl_kernel = float(sf.kl_div(np.log(np.array(q)), np.array(p), reduction="sum"))
    assert math.isclose(kl, kl_kernel, rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(ce, h + kl, rel_tol=1e-15)
    rows.append((name, q, f"{h:.6f}", f"{kl:.6f}", f"{h + kl:.6f}", f"{ce:.6f}"))
display(table(("belief q", "q", "H(p)", "KL(p‖q)", "H(p) + KL", "H(p, q)"), rows))

# %% [markdown]
# Equal in every row, and the KL column is 0 exactly when the belief is the truth. Examples are not a
# proof; `symce.identities` proves it for any number of classes $C$, symbolically:

# %%
decomposition = identity("cross_entropy_decomposition")
result = decomposition.establish()
print(decomposition.statement)
print("status:", result.label)
print("how:   ", decomposition.how)
print("check: ", result.outcome.detail)
display(decomposition.claims[0])  # the SymPy statement that was proven, rendered as LaTeX
assert result.ok and result.label == "proven for symbolic C"

# %% [markdown]
# ## One-hot targets: cross-entropy *is* KL
#
# A one-hot target is certain, so its entropy is 0, and then $H(p, q) = 0 + \operatorname{KL}(p\,\|\,q)$:
# minimising cross-entropy against labels and minimising KL divergence are the same thing. Here with each
# prediction from above:

# %%
rows = []
h_target = reference(ENTROPY, p=target)
assert h_target == 0.0 and float(sf.entropy(np.array(target))) == 0.0
for name, q in predictions.items():
    ce, kl = reference(CROSS_ENTROPY, p=target, q=q), reference(KL, p=target, q=q)
    assert math.isclose(ce, kl, rel_tol=1e-15) and math.isclose(ce, -math.log(q[0]), rel_tol=1e-15)
    rows.append((name, f"{abs(h_target):.1f}", f"{ce:.6f}", f"{kl:.6f}", f"{-math.log(q[0]):.6f}"))
display(table(("prediction", "H(e₀)", "H(e₀, q)", "KL(e₀‖q)", "−log q₀"), rows))

one_hot = identity("one_hot_entropy")
result = one_hot.establish()
print(one_hot.statement)
print("assuming:", "; ".join(a.text for a in one_hot.assumptions))
print("status:  ", result.label)
print("how:     ", one_hot.how)
assert result.ok
