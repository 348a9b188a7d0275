"""Hand-written PyTorch losses as people write them — some right, some subtly wrong.

Run this file to see every verdict (``python examples/losses_torch.py [NAME ...]``), or check one with::

    symce verify examples/losses_torch.py:nll_of_log_softmax \
        --spec softmax_cross_entropy_with_integer_labels

Shapes: ``logits`` [N, C], integer ``labels`` [N] (int64); binary losses take [N] tensors.
The expected verdict of each is in its docstring (and asserted in tests/test_verify.py).
"""
import torch
import torch.nn.functional as F


def cross_entropy(logits, labels):
    """torch's own. Verdict: equivalent."""
    return F.cross_entropy(logits, labels)


def cross_entropy_logsumexp(logits, labels):
    """logits − logsumexp, gathered at the labels. Verdict: equivalent."""
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -log_probs.gather(1, labels.unsqueeze(1)).squeeze(1).mean()


def cross_entropy_naive_softmax(logits, labels):
    """Softmax without the max shift: exp overflows. Verdict: unstable."""
    probs = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    return -torch.log(probs[torch.arange(len(labels)), labels]).mean()


def cross_entropy_eps_in_log(logits, labels):
    """"Avoid log(0)" with an epsilon. Verdict: not_equivalent (an extra epsilon term)."""
    probs = F.softmax(logits, dim=1)
    return -torch.log(probs[torch.arange(len(labels)), labels] + 1e-7).mean()


def nll_of_log_softmax(logits, labels):
    """nll_loss of log(softmax): the softmax underflows to 0 first. Verdict: unstable
    (F.nll_loss(F.log_softmax(...)) is the equivalent form)."""
    return F.nll_loss(torch.log(F.softmax(logits, dim=1)), labels)


def nll_of_log_softmax_fused(logits, labels):
    """The fused form. Verdict: equivalent."""
    return F.nll_loss(F.log_softmax(logits, dim=1), labels)


def cross_entropy_on_probabilities(logits, labels):
    """F.cross_entropy expects logits; it is given probabilities. Verdict: not_equivalent."""
    return F.cross_entropy(F.softmax(logits, dim=1), labels)


def label_smoothing(logits, labels, smoothing=0.1):
    """torch's label smoothing. Verdict with --param label_smoothing=0.1: equivalent."""
    return F.cross_entropy(logits, labels, label_smoothing=smoothing)


def label_smoothing_other_classes(logits, labels, smoothing=0.1):
    """1 − ε on the label, ε spread over the C − 1 other classes (scatter). Verdict with
    --param label_smoothing=0.1: not_equivalent, = torch's at ε·C/(C−1)."""
    classes = logits.shape[1]
    targets = torch.full_like(logits, smoothing / (classes - 1))
    targets = targets.scatter(1, labels.unsqueeze(1), 1 - smoothing)
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


class LabelSmoothingLoss(torch.nn.Module):
    """A model-zoo style module: the target puts 1 − ε on the label and ε/(C − 1) on each other
    class, padded positions are masked out. Verdict with --param label_smoothing=0.1:
    not_equivalent — it is torch's smoothing at ε·C/(C − 1), not at ε."""

    def __init__(self, smoothing=0.1, ignore_index=-100):
        super().__init__()
        self.smoothing, self.ignore_index = smoothing, ignore_index

    def forward(self, logits, target):
        log_probs = logits.log_softmax(dim=-1)
        with torch.no_grad():
            true_dist = torch.empty_like(log_probs).fill_(self.smoothing / (logits.size(-1) - 1))
            keep = target != self.ignore_index
            true_dist.scatter_(1, target.clamp(min=0).unsqueeze(1), 1.0 - self.smoothing)
        loss = torch.sum(-true_dist * log_probs, dim=-1)
        return loss[keep].mean()


def bce_clamped(probs, labels):
    """Clamp the probabilities "for safety". Verdict: not_equivalent (the clamp changes the value
    below 1e-7 and above 1 − 1e-7 in exact arithmetic)."""
    probs = probs.clamp(1e-7, 1 - 1e-7)
    return -(labels * torch.log(probs) + (1 - labels) * torch.log(1 - probs)).mean()


def bce_through_sigmoid(logits, labels):
    """sigmoid, then log: σ(x) rounds to 1 for x > 37. Verdict: unstable."""
    probs = torch.sigmoid(logits)
    return -(labels * torch.log(probs) + (1 - labels) * torch.log(1 - probs)).mean()


def bce_with_logits(logits, labels):
    """torch's own. Verdict: equivalent."""
    return F.binary_cross_entropy_with_logits(logits, labels)


def cross_entropy_grad(logits, labels):
    """d mean-CE / d logits = (softmax − one_hot) / N. Verdict with --wrt logits: equivalent."""
    one_hot = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    return (torch.softmax(logits, dim=1) - one_hot) / logits.shape[0]


def cross_entropy_grad_missing_mean(logits, labels):
    """The per-sample gradient, used for a mean loss. Verdict with --wrt logits: not_equivalent (1/N)."""
    one_hot = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    return torch.softmax(logits, dim=1) - one_hot


def cross_entropy_grad_flipped_sign(logits, labels):
    """one_hot − softmax. Verdict with --wrt logits: not_equivalent (sign)."""
    one_hot = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    return (one_hot - torch.softmax(logits, dim=1)) / logits.shape[0]


CE = "softmax_cross_entropy_with_integer_labels"
#: the spec each example claims to compute, and the options of its check (its verdict is in its docstring)
CHECKS = {
    "cross_entropy": (CE, {}), "cross_entropy_logsumexp": (CE, {}), "nll_of_log_softmax_fused": (CE, {}),
    "cross_entropy_naive_softmax": (CE, {}), "nll_of_log_softmax": (CE, {}), "cross_entropy_eps_in_log": (CE, {}),
    "cross_entropy_on_probabilities": (CE, {}),
    "label_smoothing": (CE, {"params": {"label_smoothing": 0.1}}),
    "label_smoothing_other_classes": (CE, {"params": {"label_smoothing": 0.1}}),
    "LabelSmoothingLoss": (CE, {"params": {"label_smoothing": 0.1}}),
    "bce_clamped": ("binary_cross_entropy", {}), "bce_through_sigmoid": ("sigmoid_binary_cross_entropy", {}),
    "bce_with_logits": ("sigmoid_binary_cross_entropy", {}),
    "cross_entropy_grad": (CE, {"wrt": "logits"}), "cross_entropy_grad_missing_mean": (CE, {"wrt": "logits"}),
    "cross_entropy_grad_flipped_sign": (CE, {"wrt": "logits"}),
}

if __name__ == "__main__":  # python examples/losses_torch.py [NAME ...]: each example's verdict
    import sys

    import symce

    for name in sys.argv[1:] or CHECKS:
        spec, options = CHECKS[name]
        example = globals()[name]
        print(f"{name}: {symce.verify(example() if isinstance(example, type) else example, spec, **options).verdict}")
