"""The symbols every spec shares, so that identities can relate one spec to another.

Names follow the papers: ``z`` logits, ``p``/``q`` distributions, ``y`` target
probabilities, ``t`` an integer label, ``w`` class weights, ``epsilon`` label smoothing.
"""
import sympy as sp

#: the number of classes, symbolic unless a spec is instantiated with :meth:`Spec.at`
C = sp.Symbol("C", integer=True, positive=True)
#: summation index over classes
k = sp.Symbol("k", integer=True, nonnegative=True)
#: free class index of a vector-valued quantity or a gradient ∂/∂z_j
j = sp.Symbol("j", integer=True, nonnegative=True)
#: integer class label of one sample
t = sp.Symbol("t", integer=True, nonnegative=True)

z = sp.IndexedBase("z", real=True)
p = sp.IndexedBase("p", positive=True)
q = sp.IndexedBase("q", positive=True)
y = sp.IndexedBase("y", nonnegative=True)
w = sp.IndexedBase("w", nonnegative=True)
h = sp.IndexedBase("h", real=True)
#: log-probabilities (the input of nll_loss)
a = sp.IndexedBase("a", real=True)
#: ±1 labels of the one-vs-all hinge loss
u = sp.IndexedBase("u", real=True)

#: scalar logit, target and probability of the binary losses
x = sp.Symbol("x", real=True)
b = sp.Symbol("b", nonnegative=True)
#: the soft margin loss's target, usually −1 or +1 (any real in torch); printed y, as torch writes it
y_sign = sp.Symbol("y", real=True)
r = sp.Symbol("r", positive=True)

epsilon = sp.Symbol("epsilon", nonnegative=True)
#: the focal loss's focusing parameter γ ≥ 0 (γ = 0: cross-entropy)
gamma = sp.Symbol("gamma", nonnegative=True)
#: the poly-1 loss's coefficient ε₁ of (1 − p_t); any real (Leng et al. use ε₁ ≥ −1)
epsilon_1 = sp.Symbol("epsilon_1", real=True)
pos_weight = sp.Symbol("pos_weight", positive=True)
#: the sigmoid focal loss's weights of a positive (b = 1) and a negative (b = 0) target: α_t = α₁b + α₀(1 − b)
alpha_1 = sp.Symbol("alpha_1", real=True)
alpha_0 = sp.Symbol("alpha_0", real=True)
weight = sp.Symbol("weight", nonnegative=True)
#: 1 when a sample's label is kept, 0 when it equals ``ignore_index``
keep = sp.Symbol("keep", nonnegative=True)
#: the shift of a max-shifted logsumexp (any real number; the kernels use max_k z_k)
m = sp.Symbol("m", real=True)
