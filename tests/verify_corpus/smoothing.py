"""Label smoothing in PyTorch as training codebases write it.

torch's definition (the spec's): (1 − ε)·CE + ε/C · Σ_k −log softmax_k, i.e. target
(1 − ε)·one_hot + ε/C. Spreading ε/(C − 1) over the *other* classes instead is torch's
smoothing at ε' = ε·C/(C − 1): a different function at the same ε.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmoothedCrossEntropy(nn.Module):
    """A model-zoo style module: confidence·NLL + smoothing·mean_k(−log p_k).
    Expected with params label_smoothing=0.1: equivalent when built with smoothing=0.1,
    not_equivalent (it is label_smoothing=0.2) when built with smoothing=0.2."""

    def __init__(self, smoothing=0.1):
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError("smoothing must be in [0, 1)")
        self.smoothing = smoothing
        self.confidence = 1.0 - smoothing

    def forward(self, x, target):
        neg_logp = -torch.log_softmax(x, dim=-1)
        on_label = torch.take_along_dim(neg_logp, target[:, None], dim=-1)[:, 0]
        averaged = neg_logp.mean(-1)
        return torch.mean(self.confidence * on_label + self.smoothing * averaged)


@dataclass
class PaddedLabelSmoother:
    """A trainer-style smoother: positions whose label is ``ignore_index`` are masked out and
    the mean is over the active positions. With no padding in the batch: torch's smoothing.
    Expected with params label_smoothing=0.1 (built with epsilon=0.1): equivalent."""

    epsilon: float = 0.1
    ignore_index: int = -100

    def __call__(self, logits, labels):
        valid = labels.ne(self.ignore_index)
        safe_labels = torch.where(valid, labels, torch.zeros_like(labels))
        neg_logp = F.log_softmax(logits, dim=-1).neg()
        on_label = neg_logp.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
        uniform = neg_logp.sum(-1)
        on_label = on_label.masked_fill(~valid, 0.0)
        uniform = uniform.masked_fill(~valid, 0.0)
        count = valid.long().sum()
        hard = on_label.sum() / count
        soft = uniform.sum() / (count * logits.shape[-1])
        return hard * (1 - self.epsilon) + soft * self.epsilon


def fairseq_style_smoothed_nll(logits, target, epsilon=0.1, ignore_index=-100):
    """The sequence-toolkit form: eps_i = ε/(C − 1); (1 − ε − eps_i)·nll + eps_i·Σ_k −log p_k,
    so 1 − ε on the label and ε/(C − 1) on each other class. Expected with params
    label_smoothing=0.1: not_equivalent — it is label_smoothing = ε·C/(C − 1)."""
    log_p = F.log_softmax(logits, dim=-1)
    index = target.unsqueeze(-1)
    ignored = index.eq(ignore_index)
    picked = log_p.gather(-1, index).masked_fill(ignored, 0.0).squeeze(-1).neg()
    total = log_p.sum(-1, keepdim=True).masked_fill(ignored, 0.0).squeeze(-1).neg()
    per_other = epsilon / (log_p.size(-1) - 1)
    per_token = (1.0 - epsilon - per_other) * picked + per_other * total
    return per_token.sum() / index.size(0)


def smoothed_targets_float32(logits, labels, smoothing=0.1):
    """One-hot made float32 with ``.float()``, smoothed in float32, multiplied by float64
    log-probabilities (promoted to float64). The float32 rounding of 0.9 and 0.1/C is a
    relative 6e-8 on non-negative terms. Expected with params label_smoothing=0.1: equivalent."""
    classes = logits.size(1)
    one_hot = F.one_hot(labels, classes).float()
    target = one_hot * (1 - smoothing) + smoothing / classes
    return torch.sum(-target * F.log_softmax(logits, dim=1), dim=1).mean()


def smoothing_fill_scatter(logits, labels, smoothing=0.1):
    """empty_like(...).fill_(ε/(C − 1)) then scatter_ 1 − ε at the label (labels via .data).
    Expected with params label_smoothing=0.1: not_equivalent — label_smoothing = ε·C/(C − 1)."""
    classes = logits.shape[1]
    true_dist = torch.empty_like(logits).fill_(smoothing / (classes - 1))
    true_dist.scatter_(1, labels.data.unsqueeze(1), 1.0 - smoothing)
    return torch.mean(torch.sum(-true_dist * logits.log_softmax(dim=-1), dim=-1))


def soft_target_cross_entropy_smoothed(logits, targets, smoothing=0.1):
    """F.cross_entropy with probability targets and label_smoothing. Expected vs
    softmax_cross_entropy with params label_smoothing=0.1: equivalent."""
    return F.cross_entropy(logits, targets, label_smoothing=smoothing)
