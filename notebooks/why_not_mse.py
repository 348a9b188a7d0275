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
# # Why not mean squared error?
#
# A binary classifier outputs a logit $x$ and the probability $\sigma(x) = 1/(1 + e^{-x})$. Why train it
# with cross-entropy, $-\big(b\log\sigma(x) + (1 - b)\log(1 - \sigma(x))\big)$, rather than the squared error
# $(\sigma(x) - b)^2$, which also reaches 0 exactly when the prediction is right? Because of what the two
# do to the **gradient** where the sigmoid saturates: squared error stops learning from the examples it
# gets most wrong.
#
# Both losses are specs in `symce.spec`; their gradients below are SymPy's derivatives of those
# definitions (`Spec.gradient()`), nothing written by hand.

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

import symce.functional as sf
import symce.spec as S
from symce.identities import get as identity

MSE = S.get("squared_error_sigmoid")
CE = S.get("sigmoid_binary_cross_entropy")
x, b = CE.input("logits").symbol, CE.input("labels").symbol
assert (x, b) == (MSE.input("logits").symbol, MSE.input("labels").symbol)


def gradient(spec):
    """d loss / d logit from the spec, default parameters (weight = pos_weight = 1), simplified."""
    return sp.simplify(spec.with_params(expr=spec.gradient("logits")))


GRADIENTS = {"squared error": gradient(MSE), "cross-entropy": gradient(CE)}
for name, expr in GRADIENTS.items():
    print(f"d/dx {name:<14} =", expr)

# %% [markdown]
# In terms of $\sigma = \sigma(x)$ these are the two identities `symce check` proves:

# %%
sigma = 1 / (1 + sp.exp(-x))
assert sp.simplify(GRADIENTS["cross-entropy"] - (sigma - b)) == 0
assert sp.simplify(GRADIENTS["squared error"] - 2 * (sigma - b) * sigma * (1 - sigma)) == 0
for name in ("sigmoid_bce_gradient", "squared_error_sigmoid_gradient", "saturation"):
    result = identity(name).establish()
    print(f"{name}: {identity(name).statement}\n    -> {result.label}")
    assert result.ok

# %% [markdown]
# $$\frac{\partial}{\partial x}\,\text{CE} = \sigma - b, \qquad
# \frac{\partial}{\partial x}\,(\sigma - b)^2 = 2(\sigma - b)\,\underbrace{\sigma(1 - \sigma)}_{\sigma'(x)}.$$
#
# The squared error's gradient carries the sigmoid's own slope $\sigma'(x) = \sigma(1 - \sigma)$, which is
# $\approx e^{-|x|}$ for large $|x|$. When the model is confidently *wrong* (target $b = 1$, logit
# $x \ll 0$) the error $\sigma - b \approx -1$ is as large as it gets, yet the squared-error gradient is
# $\approx -2e^{x}$: almost nothing. Cross-entropy's gradient stays $\approx -1$ there.

# %%
gradient_of = {name: sp.lambdify((x, b), expr, "numpy") for name, expr in GRADIENTS.items()}
logits = np.linspace(-30, 30, 601)
target = 1.0

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
near = np.abs(logits) <= 8
for name, grad in gradient_of.items():
    left.plot(logits[near], grad(logits[near], target), label=name)
    right.plot(logits, np.abs(grad(logits, target)), label=name)
left.plot(logits[near], 1 / (1 + np.exp(-logits[near])), color="gray", linestyle=":", label="σ(x)")
left.axvspan(-8, -3, color="tab:red", alpha=0.08)
left.text(-7.8, 0.6, "confidently\nwrong", color="tab:red")
left.set_title("∂L/∂x for target b = 1")
left.set_xlabel("logit x")
left.set_ylabel("∂L/∂x")
left.legend()
right.set_yscale("log")
right.set_title("|∂L/∂x| for target b = 1, log scale")
right.set_xlabel("logit x")
right.set_ylabel("|∂L/∂x|")
right.annotate("squared error ≈ 2eˣ:\nvanishes where σ saturates", xy=(-20, 2 * np.exp(-20)), xytext=(-29, 1e-20),
               arrowprops={"arrowstyle": "->"})
right.annotate("cross-entropy → 1", xy=(-20, 1.0), xytext=(-25, 1e-4), arrowprops={"arrowstyle": "->"})
right.legend(loc="upper right")
fig.suptitle("Gradient through a sigmoid: squared error vs cross-entropy (from Spec.gradient())")
fig.tight_layout()
plt.show()

# %%
mse_grad, ce_grad = gradient_of["squared error"], gradient_of["cross-entropy"]
assert abs(ce_grad(-20.0, 1.0) + 1) < 1e-8  # cross-entropy: still a full-size push
assert abs(mse_grad(-20.0, 1.0)) < 1e-8  # squared error: nothing left
# right of 0 both vanish, as they should: the prediction is right
assert abs(mse_grad(20.0, 1.0)) < 1e-8 and abs(ce_grad(20.0, 1.0)) < 1e-8

# %% [markdown]
# ## A tiny logistic regression, trained with each loss
#
# 200 points in two overlapping Gaussian clouds, a linear model $x = w_1 f_1 + w_2 f_2 + w_0$, and full-batch
# gradient descent (step 0.5, 300 steps) from the same starting point: a badly initialised model that is
# confidently wrong about most points. Each loss and its per-example gradient $\partial L/\partial x$ come
# from one fused kernel call, `symce.functional.sigmoid_mse_loss_value_and_grad` and
# `binary_cross_entropy_with_logits_value_and_grad`, generated from the same two specs (the first cell below
# checks them against the specs' gradients above); the chain rule through the linear model multiplies the
# gradient by the features.

# %%
rng = np.random.default_rng(0)
n = 200
labels = rng.integers(0, 2, n).astype(np.float64)
features = rng.standard_normal((n, 2)) + np.where(labels[:, None] == 1, 1.0, -1.0) * np.array([1.0, 0.5])
design = np.hstack([features, np.ones((n, 1))])  # the last column multiplies the bias w_0
start = np.array([-4.0, -2.0, 0.0])  # pointing the wrong way
STEPS, LEARNING_RATE = 300, 0.5

VALUE_AND_GRAD = {"squared error": sf.sigmoid_mse_loss_value_and_grad,
                  "cross-entropy": sf.binary_cross_entropy_with_logits_value_and_grad}
for name, value_and_grad in VALUE_AND_GRAD.items():  # the kernels' gradients are the specs'
    _, kernel_gradient = value_and_grad(design @ start, labels, reduction="none")
    # to the digits the lambdified formula keeps: its σ(x) − b cancels where σ(x) ≈ b, the kernels' form does not
    np.testing.assert_allclose(kernel_gradient, gradient_of[name](design @ start, labels), rtol=1e-6)


def train(loss):
    """Gradient descent on the mean loss; the loss, accuracy and mean |∂L/∂x| at every step."""
    weights, history = start.copy(), {"loss": [], "accuracy": [], "gradient": []}
    for _ in range(STEPS):
        z = design @ weights
        losses, per_example = VALUE_AND_GRAD[loss](z, labels, reduction="none")
        history["loss"].append(np.mean(losses))
        history["accuracy"].append(np.mean((z > 0) == (labels == 1)))
        history["gradient"].append(np.mean(np.abs(per_example)))
        weights = weights - LEARNING_RATE * design.T @ per_example / n
    return weights, {key: np.array(value) for key, value in history.items()}


runs = {name: train(name) for name in GRADIENTS}
for name, (weights, history) in runs.items():
    reached = np.argmax(history["accuracy"] >= 0.8)
    print(f"{name:<14} start accuracy {history['accuracy'][0]:.2f}, ≥ 0.80 after {reached:3d} steps, "
          f"final accuracy {history['accuracy'][-1]:.3f}, weights {np.round(weights, 2)}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for name, (weights, history) in runs.items():
    axes[0].plot(history["loss"] / history["loss"][0], label=f"{name} (start {history['loss'][0]:.2f})")
    axes[1].plot(history["accuracy"], label=name)
    axes[2].plot(history["gradient"], label=name)
axes[0].set_title("training loss (each its own loss, relative to its start)")
axes[0].set_ylabel("loss / initial loss")
axes[1].set_title("training accuracy")
axes[1].set_ylabel("fraction classified right")
axes[2].set_title("mean |∂L/∂x| over the batch")
axes[2].set_ylabel("mean |∂L/∂x|")
axes[2].set_yscale("log")
for ax in axes:
    ax.set_xlabel("gradient-descent step")
    ax.legend()
fig.suptitle("Logistic regression from a confidently wrong start")
fig.tight_layout()
plt.show()

# %% [markdown]
# From the same bad start, cross-entropy is right about most points within about ten steps; squared error
# spends well over a hundred steps on a plateau, because the points it gets most wrong are exactly the
# ones whose gradient $\sigma'(x)$ has switched off. Once both have escaped they end up with similar
# classifiers — the difference is whether, and how fast, learning gets going. With more layers the
# vanishing factors multiply, which is why cross-entropy, not squared error, is the default for
# classification.

# %%
mse_history, ce_history = runs["squared error"][1], runs["cross-entropy"][1]
steps_to_80 = {name: int(np.argmax(history["accuracy"] >= 0.8)) for name, (_, history) in runs.items()}
assert ce_history["accuracy"][0] < 0.5 and mse_history["accuracy"][0] < 0.5
assert steps_to_80["cross-entropy"] < 20
assert steps_to_80["squared error"] > 100
assert mse_history["gradient"][0] < ce_history["gradient"][0] / 10
