"""Classification losses, one sample each, with torch.nn.functional's semantics.

Reductions are not part of the value: each spec also says what one sample contributes to
the denominator of ``reduction='mean'`` (``Spec.mean_weight``), which is where torch's
weighted means differ from a plain average.
"""
import sympy as sp

from symce.spec import blocks
from symce.spec.core import Assumption, Input, Param, Spec, class_sum
from symce.spec.symbols import (
    C, a, alpha_0, alpha_1, b, epsilon, epsilon_1, gamma, h, k, keep, pos_weight, r, t, u, w, weight, x, y, y_sign, z,
)

LOGITS = Input("logits", z, "vector", "real", "unnormalised scores, one per class")
PROB_LABELS = Input("labels", y, "vector", "simplex", "target probabilities over the classes")
INT_LABELS = Input("labels", t, "label", "index", "the target class index, 0 <= t < C")
LOG_PROBS = Input("log_probs", a, "vector", "real", "log-probabilities, one per class")
BINARY_LOGIT = Input("logits", x, "scalar", "real", "a real-valued logit")
BINARY_PROB = Input("probs", r, "scalar", "probability", "the predicted probability of the positive class")
BINARY_LABEL = Input("labels", b, "scalar", "probability", "the target probability of the positive class")
SIGN_LABEL = Input("labels", y_sign, "scalar", "real", "the target y, usually −1 or +1")
SIGN_LABELS = Input("labels", u, "vector", "sign", "one label per class, +1 or -1")
SCORES = Input("scores", h, "vector", "real", "raw scores, one per class")
CLASS_LOGITS = Input("logits", h, "vector", "real", "one logit per class, each its own two-class problem")
CLASS_LABELS = Input("labels", y, "vector", "probability", "one target in [0, 1] per class (1: the class applies)")

CLASS_WEIGHTS = Param("weight", w, "vector", sp.Integer(1), "class weights w_k (torch's weight)")
SMOOTHING = Param("label_smoothing", epsilon, "scalar", sp.Integer(0), "label smoothing ε in [0, 1]")
KEEP = Param("keep", keep, "scalar", sp.Integer(1), "1 for a counted sample, 0 where the label is ignore_index")
SAMPLE_WEIGHT = Param("weight", weight, "scalar", sp.Integer(1), "per-element weight (torch's weight)")
FOCUSING = Param("gamma", gamma, "scalar", sp.Integer(0), "focusing parameter γ ≥ 0 of the focal loss (0: cross-entropy)")
POLY_COEFFICIENT = Param("epsilon", epsilon_1, "scalar", sp.Integer(0),
                         "coefficient ε₁ of the poly-1 term (1 − p_t) (0: cross-entropy)")
POS_WEIGHT = Param("pos_weight", pos_weight, "scalar", sp.Integer(1), "weight of the positive term")
POSITIVE_ALPHA = Param("alpha_positive", alpha_1, "scalar", sp.Integer(1),
                       "weight α₁ of a positive target (torchvision's α; 1 where its α < 0 turns weighting off)")
NEGATIVE_ALPHA = Param("alpha_negative", alpha_0, "scalar", sp.Integer(1),
                       "weight α₀ of a negative target (torchvision's 1 − α; 1 where its α < 0)")

Y_SIMPLEX = Assumption("labels_sum_to_one", sp.Eq(class_sum(y[k]), 1), "Σ_k y_k = 1")
LABEL_IN_RANGE = Assumption("label_in_range", sp.And(sp.Ge(t, 0), sp.Lt(t, C)), "0 ≤ t < C")


def _negative_log_softmax(index):
    return -blocks.log_softmax(z, index)


softmax_cross_entropy = Spec(
    name="softmax_cross_entropy",
    expr=class_sum(w[k] * blocks.smoothed(y, k, epsilon) * _negative_log_softmax(k)),
    inputs=(LOGITS, PROB_LABELS),
    params=(CLASS_WEIGHTS, SMOOTHING),
    assumptions=(Y_SIMPLEX,),
    doc=("Cross-entropy between probability targets and softmax(logits). torch.nn.functional."
         "cross_entropy with probability targets: smoothing is y(1-ε) + ε/C, and 'mean' divides "
         "by the number of samples, whatever the weights."),
    family="cross_entropy",
    reference="optax.losses.softmax_cross_entropy; torch.nn.functional.cross_entropy",
    torch="cross_entropy",
)

softmax_cross_entropy_with_integer_labels = Spec(
    name="softmax_cross_entropy_with_integer_labels",
    expr=keep * ((1 - epsilon) * w[t] * _negative_log_softmax(t)
                 + epsilon / C * class_sum(w[k] * _negative_log_softmax(k))),
    inputs=(LOGITS, INT_LABELS),
    params=(CLASS_WEIGHTS, SMOOTHING, KEEP),
    assumptions=(LABEL_IN_RANGE,),
    mean_weight=keep * w[t],
    doc=("Cross-entropy of an integer label against softmax(logits), as torch.nn.functional."
         "cross_entropy defines it: the smoothing term is weighted by the class weights, an "
         "ignored sample (keep = 0) contributes nothing, and 'mean' divides by Σ keep·w_t."),
    family="cross_entropy",
    reference="optax.losses.softmax_cross_entropy_with_integer_labels; torch.nn.functional.cross_entropy",
    torch="cross_entropy",
)

nll_loss = Spec(
    name="nll_loss",
    expr=-keep * w[t] * a[t],
    inputs=(LOG_PROBS, INT_LABELS),
    params=(CLASS_WEIGHTS, KEEP),
    assumptions=(LABEL_IN_RANGE,),
    mean_weight=keep * w[t],
    doc="Negative log-likelihood of the target's log-probability; 'mean' divides by Σ keep·w_t.",
    family="nll",
    reference="torch.nn.functional.nll_loss",
    torch="nll_loss",
)

# PolyLoss (Leng et al., 2022) writes cross-entropy as Σ_j (1 − p_t)^j / j and its variants as changes of
# those coefficients: the focal loss shifts them all by γ (its leading term is (1 − p_t)^(1+γ)), poly-1
# adds ε₁ to the first. Both take torch's integer-label conventions from cross_entropy (class weight
# w_t, ignore_index as keep = 0, 'mean' over Σ keep·w_t), so at γ = 0 or ε₁ = 0 each is F.cross_entropy.

def _polyloss(name: str, modulated: sp.Expr, param: Param, doc: str, reference: str) -> Spec:
    """keep·w_t·``modulated``: a PolyLoss variant with cross_entropy's class-index conventions."""
    return Spec(name=name, expr=keep * w[t] * modulated, inputs=(LOGITS, INT_LABELS),
                params=(CLASS_WEIGHTS, param, KEEP), assumptions=(LABEL_IN_RANGE,), mean_weight=keep * w[t],
                doc=doc, family="polyloss", reference=reference)


focal_loss = _polyloss(
    name="focal_loss",
    modulated=(1 - blocks.softmax(z, t)) ** gamma * _negative_log_softmax(t),
    param=FOCUSING,
    doc=("Softmax focal loss of an integer label (Lin et al., 2017): cross-entropy −w_t log p_t scaled by "
         "(1 − p_t)^γ, p_t = softmax(z)_t, so that well-classified samples count less. The class weights play "
         "the part of the paper's α_t, as in the focal_loss_torch and kornia softmax focal losses; an ignored "
         "sample (keep = 0) contributes nothing, and 'mean' divides by Σ keep·w_t as torch's cross_entropy "
         "does (focal_loss_torch divides by the number of kept samples, which differs with weights), so "
         "γ = 0 gives torch.nn.functional.cross_entropy exactly."),
    reference=("Lin et al. (2017), Focal Loss for Dense Object Detection, eq. 5 with α_t = w_t; "
               "kornia.losses.focal_loss; focal_loss_torch"),
)

poly1_cross_entropy = _polyloss(
    name="poly1_cross_entropy",
    modulated=_negative_log_softmax(t) + epsilon_1 * (1 - blocks.softmax(z, t)),
    param=POLY_COEFFICIENT,
    doc=("Poly-1 cross-entropy of an integer label (Leng et al., 2022): −log p_t + ε₁(1 − p_t), "
         "p_t = softmax(z)_t, which is optax.losses.poly_loss_cross_entropy at the one-hot target of t "
         "(optax: CE + ε Σ_k y_k (1 − p_k), per example, no reduction). torch has no such loss; torch's "
         "integer-label conventions are added as for cross_entropy: the class weight w_t scales the whole "
         "sample's loss, an ignored sample (keep = 0) contributes nothing, and 'mean' divides by Σ keep·w_t, "
         "so ε₁ = 0 gives torch.nn.functional.cross_entropy exactly."),
    reference=("Leng et al. (2022), PolyLoss: A Polynomial Expansion Perspective of Classification Loss "
               "Functions, eq. 3; optax.losses.poly_loss_cross_entropy"),
)

poly1_cross_entropy_with_probability_labels = Spec(
    name="poly1_cross_entropy_with_probability_labels",
    expr=class_sum(w[k] * y[k] * (_negative_log_softmax(k) + epsilon_1 * (1 - blocks.softmax(z, k)))),
    inputs=(LOGITS, PROB_LABELS),
    params=(CLASS_WEIGHTS, POLY_COEFFICIENT),
    doc=("Poly-1 cross-entropy of probability targets (Leng et al., 2022), as optax.losses.poly_loss_cross_entropy "
         "defines it: CE + ε₁ Σ_k y_k (1 − p_k), p = softmax(z), for any targets y. The class weights weigh each "
         "class's term, as torch's cross_entropy weighs probability targets, and 'mean' divides by the number of "
         "samples; at w = 1 it is optax's loss, at ε₁ = 0 softmax_cross_entropy, and at a one-hot target of t "
         "poly1_cross_entropy."),
    family="polyloss",
    reference="optax.losses.poly_loss_cross_entropy; Leng et al. (2022), eq. 3",
)

binary_cross_entropy = Spec(
    name="binary_cross_entropy",
    expr=-weight * (b * sp.log(r) + (1 - b) * sp.log(1 - r)),
    inputs=(BINARY_PROB, BINARY_LABEL),
    params=(SAMPLE_WEIGHT,),
    doc=("Binary cross-entropy on probabilities. torch clamps each log at -100; that clamp is "
         "part of symce.functional's contract, not of the mathematics."),
    family="binary",
    reference="torch.nn.functional.binary_cross_entropy",
    torch="binary_cross_entropy",
)

sigmoid_binary_cross_entropy = Spec(
    name="sigmoid_binary_cross_entropy",
    expr=-weight * (pos_weight * b * sp.log(blocks.sigmoid(x)) + (1 - b) * sp.log(1 - blocks.sigmoid(x))),
    inputs=(BINARY_LOGIT, BINARY_LABEL),
    params=(SAMPLE_WEIGHT, POS_WEIGHT),
    doc="Binary cross-entropy on a logit, with torch's pos_weight on the positive term.",
    family="binary",
    reference="optax.losses.sigmoid_binary_cross_entropy; torch.nn.functional.binary_cross_entropy_with_logits",
    torch="binary_cross_entropy_with_logits",
)


def _sigmoid_focal_loss() -> Spec:
    sigma = blocks.sigmoid(x)
    cross_entropy = -(b * sp.log(sigma) + (1 - b) * sp.log(1 - sigma))
    one_minus_p_t = b * (1 - sigma) + (1 - b) * sigma  # 1 − p_t, p_t = σ(x)·b + (1 − σ(x))(1 − b)
    return Spec(
        name="sigmoid_focal_loss",
        expr=(alpha_1 * b + alpha_0 * (1 - b)) * one_minus_p_t ** gamma * cross_entropy,
        inputs=(BINARY_LOGIT, BINARY_LABEL),
        params=(POSITIVE_ALPHA, NEGATIVE_ALPHA, FOCUSING),
        doc=("Sigmoid focal loss (Lin et al., 2017), as torchvision.ops.sigmoid_focal_loss: the binary "
             "cross-entropy on a logit scaled by (1 − p_t)^γ and by α_t = α₁b + α₀(1 − b). torchvision's "
             "alpha ≥ 0 is α₁ = alpha, α₀ = 1 − alpha, and its alpha < 0 (no weighting) is α₁ = α₀ = 1; "
             "soft targets b in [0, 1] are allowed, as there. 1 − p_t is written b·σ(−x) + (1 − b)·σ(x), "
             "so a confident prediction keeps its digits where torchvision's 1 − σ(x) rounds to 0."),
        family="binary",
        reference=("Lin et al. (2017), Focal Loss for Dense Object Detection, eq. 5; "
                   "torchvision.ops.sigmoid_focal_loss"),
    )


sigmoid_focal_loss = _sigmoid_focal_loss()

soft_margin_loss = Spec(
    name="soft_margin_loss",
    expr=blocks.softplus(-y_sign * x),
    inputs=(BINARY_LOGIT, SIGN_LABEL),
    doc=("Two-class logistic loss on a ±1 target, as torch.nn.functional.soft_margin_loss: log(1 + exp(−y·x)), "
         "'mean' over all elements. At y = 2b − 1 for a label b in {0, 1} it is the sigmoid binary "
         "cross-entropy. torch computes log1p(exp(−y·x)), which overflows to inf for −y·x above ~88 (float32) "
         "or ~709 (float64); the kernels use the stable softplus form."),
    family="binary",
    reference="torch.nn.functional.soft_margin_loss",
    torch="soft_margin_loss",
)


def _multilabel_soft_margin_loss() -> Spec:
    sigma = blocks.sigmoid(h[k])
    per_class = -(y[k] * sp.log(sigma) + (1 - y[k]) * sp.log(1 - sigma))
    return Spec(
        name="multilabel_soft_margin_loss",
        expr=class_sum(w[k] * per_class) / C,
        inputs=(CLASS_LOGITS, CLASS_LABELS),
        params=(CLASS_WEIGHTS,),
        doc=("Multi-label one-versus-all logistic loss, as torch.nn.functional.multilabel_soft_margin_loss: the "
             "sigmoid binary cross-entropy of every class's logit against its own target, weighted by w_k and "
             "averaged over the C classes; 'mean' then averages over the samples. Each class is its own two-class "
             "problem, so, unlike softmax cross-entropy, several classes (or none) may apply."),
        family="multilabel",
        reference="torch.nn.functional.multilabel_soft_margin_loss",
        torch="multilabel_soft_margin_loss",
    )


multilabel_soft_margin_loss = _multilabel_soft_margin_loss()

squared_error_sigmoid = Spec(
    name="squared_error_sigmoid",
    expr=(blocks.sigmoid(x) - b) ** 2,
    inputs=(BINARY_LOGIT, BINARY_LABEL),
    doc="Squared error on a sigmoid output: its gradient vanishes where σ saturates.",
    family="neighbours",
    reference="torch.nn.functional.mse_loss(torch.sigmoid(x), y)",
    torch="mse_loss",
)

squared_error_softmax = Spec(
    name="squared_error_softmax",
    expr=class_sum((blocks.softmax(z, k) - y[k]) ** 2),
    inputs=(LOGITS, PROB_LABELS),
    doc="Squared error between softmax(logits) and the targets, summed over classes (the Brier score).",
    family="neighbours",
    reference="Brier (1950); torch.nn.functional.mse_loss(softmax(z), y, reduction='sum')",
    torch="mse_loss",
)

multiclass_hinge = Spec(
    name="multiclass_hinge",
    expr=class_sum(sp.Max(0, 1 - u[k] * h[k])),
    inputs=(SCORES, SIGN_LABELS),
    doc="One-vs-all hinge loss over classes.",
    family="neighbours",
    reference="Rifkin & Klautau (2004), 'In defense of one-vs-all classification'",
)

SPECS = (
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
    nll_loss,
    focal_loss,
    poly1_cross_entropy,
    poly1_cross_entropy_with_probability_labels,
    binary_cross_entropy,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    soft_margin_loss,
    multilabel_soft_margin_loss,
    squared_error_sigmoid,
    squared_error_softmax,
    multiclass_hinge,
)
