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
# # A tour of symce
# One definition per loss; proofs, derivations, kernels and verification all read it.
# This file is a py:percent notebook: `jupytext --to ipynb notebooks/tour.py` opens it in Jupyter,
# and `tests/test_notebooks.py` runs it top to bottom.

# %%
import numpy as np

import symce.spec as S

spec = S.get("softmax_cross_entropy_with_integer_labels")
print(spec.formula)
spec.expr

# %% [markdown]
# ## The gradient is SymPy's derivative of the definition

# %%
gradient = spec.gradient()
values = {"logits": [40.0, 0.0, 0.0], "labels": 0}
reference_loss = spec.evaluate(values)[0]
reference_gradient = spec.evaluate(values, expr=gradient)
print("loss at 50 digits:", reference_loss)
print("gradient:", reference_gradient)

# %% [markdown]
# ## An identity, proven

# %%
from symce.identities import get as identity

result = identity("cross_entropy_decomposition").establish()
print(result.label)
assert result.ok

# %% [markdown]
# ## A derivation, every step checked

# %%
from symce.derivations import derivation, render

print(render(derivation("softmax_cross_entropy"), "text"))

# %% [markdown]
# ## The generated kernel, through torch's API

# %%
import symce.functional as sf

logits = np.array([[40.0, 0.0, 0.0], [12.0, 3.0, -5.0]])
loss, grad = sf.cross_entropy_value_and_grad(logits, np.array([0, 1]), reduction="none")
print(loss)
assert abs(loss[0] - float(reference_loss)) <= 1e-13 * float(reference_loss)
assert np.allclose(grad[0], [float(g) for g in reference_gradient], rtol=1e-13, atol=0)

# %% [markdown]
# ## Verifying hand-written code

# %%
import symce


def naive_cross_entropy(logits, labels):
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.log(probs[np.arange(len(labels)), labels]).mean()


report = symce.verify(naive_cross_entropy, spec="softmax_cross_entropy_with_integer_labels")
print(report.verdict)
assert report.verdict == "unstable"
