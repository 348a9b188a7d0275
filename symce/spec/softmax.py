"""softmax, log_softmax and logsumexp over the class axis."""
import sympy as sp

from symce.spec import blocks
from symce.spec.core import Input, Param, Spec
from symce.spec.symbols import j, m, z

Z = Input("logits", z, "vector", "real", "logits, one real number per class")

softmax = Spec(
    name="softmax",
    expr=blocks.softmax(z, j),
    inputs=(Z,),
    output="vector",
    notation="softmax(z)_j",
    doc="Normalised exponential; entries are positive and sum to 1.",
    family="softmax",
    reference="Bridle (1990), 'Probabilistic interpretation of feedforward classification network outputs'",
    torch="softmax",
)

log_softmax = Spec(
    name="log_softmax",
    expr=blocks.log_softmax(z, j),
    inputs=(Z,),
    output="vector",
    notation="log_softmax(z)_j",
    doc="Log of the softmax; kernels compute it as z_j − logsumexp(z), a proven identity.",
    family="softmax",
    torch="log_softmax",
)

logsumexp = Spec(
    name="logsumexp",
    expr=blocks.logsumexp(z),
    inputs=(Z,),
    notation="logsumexp(z)",
    doc="Smooth maximum; its gradient is the softmax.",
    family="softmax",
    torch="logsumexp",
)

logsumexp_shifted = Spec(
    name="logsumexp_shifted",
    expr=blocks.logsumexp_shifted(z, m),
    inputs=(Z,),
    params=(Param("m", m, "scalar", sp.Integer(0), "the shift; any real, kernels use max_k z_k"),),
    notation="logsumexp(z)",
    doc="The max-shifted form: with m = max_k z_k no exponent exceeds 0, so nothing overflows.",
    family="softmax",
    torch="logsumexp",
)

SPECS = (softmax, log_softmax, logsumexp, logsumexp_shifted)
