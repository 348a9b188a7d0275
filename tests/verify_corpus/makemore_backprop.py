"""Manual backprop through the cross-entropy, the way a from-scratch language-model lecture
does it: the forward pass op by op, and the closed-form gradient of the mean loss w.r.t. the
logits. Spec: softmax_cross_entropy_with_integer_labels.
"""
import torch
import torch.nn.functional as F


def manual_logits_grad(logits, Yb):
    """dlogits = softmax; dlogits[range(n), Yb] -= 1; dlogits /= n.
    Expected (wrt logits): equivalent."""
    n = logits.shape[0]
    dlogits = F.softmax(logits, 1)
    dlogits[range(n), Yb] -= 1
    dlogits /= n
    return dlogits


def manual_logits_grad_per_example(logits, Yb):
    """The same without the division by the batch size. Expected (wrt logits):
    not_equivalent — a missing factor 1/N."""
    n = logits.shape[0]
    dlogits = F.softmax(logits, 1)
    dlogits[range(n), Yb] -= 1
    return dlogits


def manual_forward_loss(logits, Yb):
    """The op-by-op forward pass: shift, exp, sum, reciprocal, product, log, pick, mean.
    The max shift prevents overflow, but log(probs) still takes the log of a softmax that
    underflows to 0 once a logit is ~745 below the max: -inf. Expected: unstable."""
    n = logits.shape[0]
    row_max = logits.max(1, keepdim=True).values
    centred = logits - row_max
    numer = centred.exp()
    denom = numer.sum(1, keepdims=True)
    denom_inv = denom ** -1
    probs = numer * denom_inv
    log_probs = probs.log()
    return -log_probs[range(n), Yb].mean()
