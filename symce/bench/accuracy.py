"""How accurate the generated kernels are: errors against the spec in mpmath, and torch's.

The reference is the spec itself evaluated at 50 digits (:meth:`Spec.evaluate`, and
``expr=spec.gradient()`` for gradients) at the exact float inputs. The error of a value
``got`` against ``true`` is ``|got − true| / max(|true|, tiny)`` with ``tiny`` the smallest
normal number of the dtype, so a true value that underflows is judged absolutely; a
gradient's error is the largest such error over its elements (element-wise, not norm-wise:
a small entry must be right too). ``python -m symce.bench.accuracy`` prints the table.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import numpy as np

from symce.spec import get

#: logits of the adversarial domain: confident correct predictions, ±1e4, mixed scales, ties
LOGIT_ROWS = (
    ([40.0, 0.0, 0.0], 0),
    ([12.0, 3.0, -5.0, 1.0], 0),
    ([1e4, -1e4, 0.0], 0),
    ([1e4, 1e4 - 1.0, 0.0], 1),
    ([-1e4, -1e4 + 2.0, -1e4 + 1.0], 2),
    ([0.5, 0.2, -0.3], 2),
    ([30.0, 29.9, -30.0], 0),
    ([-3.0, 700.0, 690.0, 0.0], 1),
    ([1e-3, -1e-3, 0.0], 0),
    ([100.0, 0.0, -100.0, 50.0], 3),
    ([5.0, 5.0, 5.0], 1),
    ([1e4, 1e-4, -1e-4, 1.0], 1),
    ([-20.0, 15.0, 14.0, -7.5], 1),
)
#: the label smoothing of the cross-entropy rows with options, and the uniform share of the soft targets
SMOOTHING = 0.1
SOFT = 0.3
#: (logit, label) pairs of the binary losses
BINARY_POINTS = ((40.0, 1.0), (-40.0, 0.0), (1e4, 0.0), (-1e4, 1.0), (0.0, 0.5), (3.5, 1.0), (-750.0, 0.0),
                 (1e-8, 1.0), (20.0, 0.3), (-2.0, 0.9))
#: (probability, label) pairs of binary_cross_entropy, inside the range where torch's clamps are inactive
PROB_POINTS = ((0.5, 1.0), (1e-10, 0.0), (1 - 2.0 ** -30, 1.0), (0.25, 0.75), (1e-3, 1.0), (0.999, 0.2))
#: probability rows of entropy
PROB_ROWS = ([0.5, 0.5], [1.0, 0.0, 0.0], [1e-30, 1.0 - 1e-30], [0.1, 0.2, 0.3, 0.4], [0.98, 0.01, 0.01])


def digits(*values) -> int:
    """Decimal digits enough for the spec's own cancellations at these inputs (1 − σ(x) at x = 1e4
    differs from 1 in the 4343rd digit): 50 plus |x|/ln 10 for the largest input."""
    largest = max(abs(float(v)) for value in values for v in np.ravel(value))
    return 50 + int(largest / 2.302585) + 1


def relative_error(got: np.ndarray, true: Sequence, dtype) -> float:
    """max over entries of |got − true| / max(|true|, tiny(dtype)); inf where got is not finite."""
    got = np.asarray(got, dtype=np.float64).ravel()
    true = np.array([float(v) for v in true], dtype=np.float64)
    if got.shape != true.shape:
        raise ValueError(f"shape mismatch: got {got.shape}, reference {true.shape}")
    if not np.all(np.isfinite(got[np.isfinite(true)])):
        return float("inf")
    tiny = np.finfo(dtype).tiny
    return float(np.max(np.abs(got - true) / np.maximum(np.abs(true), tiny)))


def _symce(kernel: Callable, *args: object) -> Callable[[], tuple]:
    """The call of ``kernel(*args)`` with its arrays read-only, as symce.functional passes them (numba
    compiles one specialisation per writeable flag: writeable arrays would compile each kernel again)."""
    from symce.functional._kernels import read_only

    def call() -> tuple:
        result = kernel(*map(read_only, args))
        return result if isinstance(result, tuple) else (result,)

    return call


@dataclass(frozen=True)
class Case:
    """One input of one kernel: how to call symce and torch, and the spec's reference."""

    kernel: str
    dtype: type
    symce: Callable[[], tuple]
    torch: Callable[[], tuple]
    reference: Callable[[], tuple]


def _torch_value_and_grad(loss, inputs, target) -> tuple:
    """torch's value (reduction='none') and the gradient of its sum with respect to ``inputs``."""
    import torch

    tensor = torch.tensor(inputs, requires_grad=True)
    value = loss(tensor, torch.tensor(target), reduction="none")
    value.sum().backward()
    return value.detach().numpy(), tensor.grad.numpy()


def _spec_value_and_grad(spec, values, params=None) -> tuple:
    """The spec's value and gradient at ``values`` (and ``params``), with digits enough for its
    cancellations."""
    dps = digits(*values.values())
    return spec.evaluate(values, params, dps=dps), spec.evaluate(values, params, dps=dps, expr=spec.gradient())


def _ce_cases(dtype) -> list[Case]:
    import torch
    from symce.generated import kernels

    spec = get("softmax_cross_entropy_with_integer_labels")
    prob = get("softmax_cross_entropy")
    cases = []
    for row, label in LOGIT_ROWS:
        x = np.array([row], dtype=dtype)
        labels = np.array([label])
        ones = np.ones(x.shape[1], dtype=dtype)
        onehot = np.eye(x.shape[1], dtype=dtype)[labels]
        values = {"logits": list(x[0]), "labels": label}



        cases.append(Case(
            "cross_entropy integer labels", dtype,
            _symce(kernels.softmax_cross_entropy_with_integer_labels.forward_backward,
                   x, labels, ones, 0.0, -100, np.ones(1, dtype=dtype)),
            partial(_torch_value_and_grad, torch.nn.functional.cross_entropy, x, labels),
            partial(_spec_value_and_grad, spec, values)))
        prob_values = {"logits": list(x[0]), "labels": list(onehot[0])}
        cases.append(Case(
            "cross_entropy probability labels", dtype,
            _symce(kernels.softmax_cross_entropy.forward_backward,
                   x, onehot, ones, 0.0, np.ones(1, dtype=dtype)),
            partial(_torch_value_and_grad, torch.nn.functional.cross_entropy, x, onehot),
            partial(_spec_value_and_grad, prob, prob_values)))
        # the options, whose gradients are sums (softmax − smoothed target) rather than products
        weight = np.linspace(0.5, 2.0, x.shape[1]).astype(dtype)
        options = {"weight": list(weight), "label_smoothing": SMOOTHING}
        cases.append(Case(
            "cross_entropy integer labels, weights + smoothing", dtype,
            _symce(kernels.softmax_cross_entropy_with_integer_labels.forward_backward,
                   x, labels, weight, SMOOTHING, -100, np.ones(1, dtype=dtype)),
            partial(_torch_value_and_grad, partial(torch.nn.functional.cross_entropy, weight=torch.tensor(weight),
                                                   label_smoothing=SMOOTHING), x, labels),
            partial(_spec_value_and_grad, spec, values, options)))
        soft = (onehot * (1 - SOFT) + SOFT / x.shape[1]).astype(dtype)
        cases.append(Case(
            "cross_entropy soft probability labels", dtype,
            _symce(kernels.softmax_cross_entropy.forward_backward,
                   x, soft, ones, 0.0, np.ones(1, dtype=dtype)),
            partial(_torch_value_and_grad, torch.nn.functional.cross_entropy, x, soft),
            partial(_spec_value_and_grad, prob, {"logits": list(x[0]), "labels": list(soft[0])})))
    return cases


#: the focal loss's γ and the poly-1 coefficient ε₁ of the accuracy table (the papers' usual choices).
#: A γ in (0, 1) is accurate at [40, 0, 0] too, but its gradient is 0·inf = nan where every other
#: class underflows (r = Σ_{k≠a} exp(z_k − m) = 0: margins above ~745 in float64, ~104 in float32)
FOCAL_GAMMA = 2.0
POLY1_EPSILON = 1.0
#: torchvision's defaults for the sigmoid focal loss's rows
SIGMOID_FOCAL_ALPHA = 0.25
SIGMOID_FOCAL_GAMMA = 2.0


def _torch_modulated(input, target, reduction: str, weight, focus: Callable) -> object:
    """A PolyLoss variant as torch code writes it, w_t · ``focus(log p_t)`` from torch's log_softmax
    (torch has neither loss; this is how focal_loss_torch writes the focal loss)."""
    import torch

    log_pt = torch.log_softmax(input, -1).gather(-1, target[:, None])[:, 0]
    assert reduction == "none"
    return torch.as_tensor(weight)[target] * focus(log_pt)


def _focal(log_pt):
    return -(1 - log_pt.exp()) ** FOCAL_GAMMA * log_pt


def _poly1(log_pt):
    return -log_pt + POLY1_EPSILON * (1 - log_pt.exp())


def _torch_poly1_probabilities(input, target, reduction: str, weight) -> object:
    """optax.losses.poly_loss_cross_entropy as torch code writes it, each class's term weighted by w_k."""
    import torch

    log_p = torch.log_softmax(input, -1)
    assert reduction == "none"
    return (torch.as_tensor(weight) * target * (-log_p + POLY1_EPSILON * (1 - log_p.exp()))).sum(-1)


def _polyloss_cases(dtype) -> list[Case]:
    """focal_loss and poly1_cross_entropy (class indices and one-hot probabilities), with class weights, on the
    logit rows."""
    from symce.generated import kernels

    losses = ((f"focal_loss γ = {FOCAL_GAMMA:g}", "focal_loss", "gamma", FOCAL_GAMMA, _focal),
              (f"poly1_cross_entropy ε = {POLY1_EPSILON:g}", "poly1_cross_entropy", "epsilon", POLY1_EPSILON, _poly1))
    probability_labels = kernels.poly1_cross_entropy_with_probability_labels
    cases = []
    for row, label in LOGIT_ROWS:
        x, labels = np.array([row], dtype=dtype), np.array([label])
        weight = np.linspace(0.5, 2.0, x.shape[1]).astype(dtype)
        values = {"logits": list(x[0]), "labels": label}
        for kernel, name, option, value, focus in losses:
            cases.append(Case(
                kernel, dtype,
                _symce(getattr(kernels, name).forward_backward,
                       x, labels, weight, value, -100, np.ones(1, dtype=dtype)),
                partial(_torch_value_and_grad, partial(_torch_modulated, weight=weight, focus=focus), x, labels),
                partial(_spec_value_and_grad, get(name), values, {"weight": list(weight), option: value})))
        onehot = np.eye(x.shape[1], dtype=dtype)[labels]
        cases.append(Case(
            f"poly1_cross_entropy ε = {POLY1_EPSILON:g}, probability labels", dtype,
            _symce(probability_labels.forward_backward,
                   x, onehot, weight, POLY1_EPSILON, np.ones(1, dtype=dtype)),
            partial(_torch_value_and_grad, partial(_torch_poly1_probabilities, weight=weight), x, onehot),
            partial(_spec_value_and_grad, get("poly1_cross_entropy_with_probability_labels"),
                    {"logits": list(x[0]), "labels": list(onehot[0])},
                    {"weight": list(weight), "epsilon": POLY1_EPSILON})))
    return cases


def _softmax_cases(dtype) -> list[Case]:
    import torch
    from symce.generated import kernels

    cases = []
    for row, _ in LOGIT_ROWS:
        x = np.array([row], dtype=dtype)
        values = {"logits": list(x[0])}
        for name, torch_fn in (("softmax", lambda t: torch.softmax(t, -1)),
                               ("log_softmax", lambda t: torch.log_softmax(t, -1)),
                               ("logsumexp", lambda t: torch.logsumexp(t, -1))):
            cases.append(Case(name, dtype, _symce(getattr(kernels, name).forward, x),
                              lambda x=x, fn=torch_fn: (fn(torch.tensor(x)).numpy(),),
                              lambda values=values, name=name: (get(name).evaluate(values, dps=digits(*values.values())),)))
    return cases


def torchvision_sigmoid_focal_loss(inputs, targets, alpha: float = 0.25, gamma: float = 2.0,
                                   reduction: str = "none") -> object:
    """torchvision.ops.sigmoid_focal_loss (torchvision/ops/focal_loss.py) as it computes it, in torch ops
    (torchvision's wheels do not load against torch's CPU build here): the tests' reference too."""
    import torch

    p = torch.sigmoid(inputs)
    ce_loss = torch.nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return {"none": lambda: loss, "mean": loss.mean, "sum": loss.sum}[reduction]()


def torch_sigmoid_mse_loss(input, target, reduction: str = "mean") -> object:
    """The squared error on a sigmoid as torch code writes it: mse_loss of torch.sigmoid (the tests' reference too)."""
    import torch

    return torch.nn.functional.mse_loss(torch.sigmoid(input), target, reduction=reduction)


def _binary_cases(dtype) -> list[Case]:
    import torch
    from symce.generated import kernels

    spec = get("sigmoid_binary_cross_entropy")
    focal = get("sigmoid_focal_loss")
    soft_margin = get("soft_margin_loss")
    bce = get("binary_cross_entropy")
    squared_error = get("squared_error_sigmoid")
    cases = []
    one = np.ones(1, dtype=dtype)
    alpha, gamma = SIGMOID_FOCAL_ALPHA, SIGMOID_FOCAL_GAMMA
    for logit, label in BINARY_POINTS:
        x, y = np.array([logit], dtype=dtype), np.array([label], dtype=dtype)
        values = {"logits": x[0], "labels": y[0]}
        cases.append(Case("sigmoid_binary_cross_entropy", dtype,
                          _symce(kernels.sigmoid_binary_cross_entropy.forward_backward, x, y, one, one, one),
                          partial(_torch_value_and_grad, torch.nn.functional.binary_cross_entropy_with_logits, x, y),
                          partial(_spec_value_and_grad, spec, values)))
        cases.append(Case(f"sigmoid_focal_loss α = {alpha:g}, γ = {gamma:g}", dtype,
                          _symce(kernels.sigmoid_focal_loss.forward_backward, x, y, alpha, 1 - alpha, gamma, one),
                          partial(_torch_value_and_grad, partial(torchvision_sigmoid_focal_loss, alpha=alpha, gamma=gamma),
                                  x, y),
                          partial(_spec_value_and_grad, focal, values,
                                  {"alpha_positive": alpha, "alpha_negative": 1 - alpha, "gamma": gamma})))
        sign = 2 * y - 1  # the soft margin's target: ±1 at the labels 1 and 0
        cases.append(Case("soft_margin_loss", dtype,
                          _symce(kernels.soft_margin_loss.forward_backward, x, sign, one),
                          partial(_torch_value_and_grad, torch.nn.functional.soft_margin_loss, x, sign),
                          partial(_spec_value_and_grad, soft_margin, {"logits": x[0], "labels": sign[0]})))
        cases.append(Case("sigmoid_mse_loss", dtype,
                          _symce(kernels.squared_error_sigmoid.forward_backward, x, y, one),
                          partial(_torch_value_and_grad, torch_sigmoid_mse_loss, x, y),
                          partial(_spec_value_and_grad, squared_error, values)))
    for prob, label in PROB_POINTS:
        r, y = np.array([prob], dtype=dtype), np.array([label], dtype=dtype)
        if not 0.0 < r[0] < 1.0:
            continue
        values = {"probs": r[0], "labels": y[0]}
        cases.append(Case("binary_cross_entropy", dtype,
                          _symce(kernels.binary_cross_entropy.forward_backward, r, y, one, one),
                          partial(_torch_value_and_grad, torch.nn.functional.binary_cross_entropy, r, y),
                          partial(_spec_value_and_grad, bce, values)))
    return cases


def _multilabel_cases(dtype) -> list[Case]:
    """multilabel_soft_margin_loss with class weights on the logit rows, two classes applying in each."""
    import torch
    from symce.generated import kernels

    spec = get("multilabel_soft_margin_loss")
    cases = []
    for row, label in LOGIT_ROWS:
        x = np.array([row], dtype=dtype)
        targets = np.zeros_like(x)
        targets[0, [label, (label + 1) % x.shape[1]]] = 1
        weight = np.linspace(0.5, 2.0, x.shape[1]).astype(dtype)
        cases.append(Case(
            "multilabel_soft_margin_loss", dtype,
            _symce(kernels.multilabel_soft_margin_loss.forward_backward,
                   x, targets, weight, np.ones(1, dtype=dtype)),
            partial(_torch_value_and_grad, partial(torch.nn.functional.multilabel_soft_margin_loss,
                                                   weight=torch.tensor(weight)), x, targets),
            partial(_spec_value_and_grad, spec, {"logits": list(x[0]), "labels": list(targets[0])},
                    {"weight": list(weight)})))
    return cases


def _information_cases(dtype) -> list[Case]:
    import torch
    from symce.generated import kernels

    spec = get("entropy")
    cases = []
    for row in PROB_ROWS:
        p = np.array([row], dtype=dtype)
        positive = {"p": [v for v in p[0] if v > 0]}  # 0·log 0 = 0: the zero entries contribute nothing
        cases.append(Case("entropy", dtype, _symce(kernels.entropy.forward, p),
                          lambda p=p: (torch.special.entr(torch.tensor(p)).sum(-1).numpy(),),
                          lambda values=positive: (spec.evaluate(values),)))
    return cases


#: (log q, p) pairs of torch's kl_div pointwise
KL_POINTS = ((-1e-12, 1.0), (-40.0, 1e-20), (-0.5, 0.6), (-700.0, 0.3), (-1e-3, 0.999))


def _kl_cases(dtype) -> list[Case]:
    import sympy as sp
    import torch
    from symce.generated import kernels
    from symce.spec.symbols import k, q

    spec = get("kl_divergence")
    log_q = sp.Symbol("log_q", real=True)
    pointwise = spec.expr.xreplace({q[k]: sp.exp(log_q)})
    cases = []
    for lq, target in KL_POINTS:
        a, p = np.array([lq], dtype=dtype), np.array([target], dtype=dtype)
        exact = {log_q: sp.Float(a[0].item(), 60)}
        values = {"p": [p[0]], "q": [1.0]}  # q enters through log_q


        cases.append(Case("kl_div pointwise", dtype,
                          _symce(kernels.kl_divergence.forward_backward, a, p, False, np.ones(1, dtype)),
                          partial(_torch_value_and_grad, torch.nn.functional.kl_div, a, p),
                          lambda values=values, exact=exact: (
                              spec.evaluate(values, dps=digits(*exact.values()), expr=pointwise.subs(exact)),
                              spec.evaluate(values, dps=digits(*exact.values()),
                                            expr=sp.diff(pointwise, log_q).subs(exact)))))
    return cases


def cases(dtype) -> list[Case]:
    """Every case of the adversarial domain for ``dtype`` (np.float64 or np.float32)."""
    return (_ce_cases(dtype) + _polyloss_cases(dtype) + _softmax_cases(dtype) + _binary_cases(dtype)
            + _multilabel_cases(dtype) + _information_cases(dtype) + _kl_cases(dtype))


def worst_errors(dtype) -> dict[str, dict[str, list[float]]]:
    """kernel → {"symce": [value error, gradient error], "torch": [...]}, worst over the domain."""
    table: dict[str, dict[str, list[float]]] = {}
    for case in cases(dtype):
        reference = case.reference()
        for who, call in (("symce", case.symce), ("torch", case.torch)):
            got = call()
            errors = [relative_error(g, r, dtype) for g, r in zip(got, reference)]
            row = table.setdefault(case.kernel, {}).setdefault(who, [0.0] * len(errors))
            table[case.kernel][who] = [max(a, b) for a, b in zip(row, errors)]
    return table


def markdown_table() -> str:
    """The README table: worst relative error per kernel, symce and torch, float64 and float32."""
    lines = ["| kernel | dtype | symce loss | torch loss | symce grad | torch grad |",
             "|---|---|---|---|---|---|"]
    for dtype in (np.float64, np.float32):
        for kernel, errors in worst_errors(dtype).items():
            s, t = errors["symce"], errors["torch"]
            grads = (f"{s[1]:.1e}", f"{t[1]:.1e}") if len(s) > 1 else ("—", "—")
            lines.append(f"| {kernel} | {np.dtype(dtype).name} | {s[0]:.1e} | {t[0]:.1e} | {grads[0]} | {grads[1]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
