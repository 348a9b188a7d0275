"""Information-theoretic quantities on probability vectors: entropy, cross-entropy, KL."""
import sympy as sp

from symce.spec.core import Assumption, Input, Spec, class_sum
from symce.spec.symbols import k, p, q, r

P = Input("p", p, "vector", "simplex", "a probability vector over C classes (the 'true' distribution)")
Q = Input("q", q, "vector", "simplex", "a probability vector over C classes with every q_k > 0 (the model)")
R = Input("r", r, "scalar", "probability", "the probability of the positive class, 0 < r < 1")

P_SIMPLEX = Assumption("p_sums_to_one", sp.Eq(class_sum(p[k]), 1), "Σ_k p_k = 1")
Q_SIMPLEX = Assumption("q_sums_to_one", sp.Eq(class_sum(q[k]), 1), "Σ_k q_k = 1")

entropy = Spec(
    name="entropy",
    expr=-class_sum(p[k] * sp.log(p[k])),
    inputs=(P,),
    assumptions=(P_SIMPLEX,),
    notation="H(p)",
    doc="Shannon entropy in nats.",
    family="information",
    reference="Cover & Thomas, Elements of Information Theory, eq. 2.1",
)

cross_entropy = Spec(
    name="cross_entropy",
    expr=-class_sum(p[k] * sp.log(q[k])),
    inputs=(P, Q),
    assumptions=(P_SIMPLEX, Q_SIMPLEX),
    notation="H(p, q)",
    doc="Cross-entropy of q relative to p, in nats.",
    family="information",
    reference="Cover & Thomas, Elements of Information Theory, §2.3",
)

kl_divergence = Spec(
    name="kl_divergence",
    expr=class_sum(p[k] * sp.log(p[k] / q[k])),
    inputs=(P, Q),
    assumptions=(P_SIMPLEX, Q_SIMPLEX),
    notation="KL(p‖q)",
    doc="Kullback–Leibler divergence of q from p, in nats. torch's kl_div takes log q as input.",
    family="information",
    reference="Kullback & Leibler (1951); Cover & Thomas eq. 2.26",
    torch="kl_div",
)

perplexity = Spec(
    name="perplexity",
    expr=sp.exp(-class_sum(p[k] * sp.log(p[k]))),
    inputs=(P,),
    assumptions=(P_SIMPLEX,),
    notation="PP(p)",
    doc="Perplexity: the effective number of equally likely classes.",
    family="information",
    reference="Jelinek et al. (1977)",
)

binary_entropy = Spec(
    name="binary_entropy",
    expr=-r * sp.log(r) - (1 - r) * sp.log(1 - r),
    inputs=(R,),
    notation="H_b(r)",
    doc="Entropy of a Bernoulli(r) variable, in nats.",
    family="information",
    reference="Cover & Thomas eq. 2.5",
)

SPECS = (entropy, cross_entropy, kl_divergence, perplexity, binary_entropy)
