"""Focal losses in PyTorch (Lin et al. 2017), binary and multiclass, with a ``gamma`` argument.

At γ = 0 the modulating factor (1 − p_t)^γ is identically 1, so each reduces to the plain loss:
binary ones to sigmoid_binary_cross_entropy, multiclass ones to
softmax_cross_entropy_with_integer_labels. At γ = 2 they are different functions.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def binary_focal(logits, targets, gamma=0.0, alpha=None):
    """BCE-with-logits per element (reduction="none") times (1 − p_t)^γ, p_t from σ(x) and
    the (possibly soft) target; optional α balance, off by default. Expected: equivalent."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    prob = torch.sigmoid(logits)
    prob_true = targets * prob + (1.0 - targets) * (1.0 - prob)
    modulating = (1.0 - prob_true) ** gamma
    if alpha is not None:
        modulating = modulating * (targets * alpha + (1.0 - targets) * (1.0 - alpha))
    return (modulating * bce).mean()


def binary_focal_gamma2(logits, targets, gamma=2.0):
    """The same at its usual γ = 2. Expected: not_equivalent (down-weights easy examples)."""
    return binary_focal(logits, targets, gamma=gamma)


def binary_focal_where(logits, targets, gamma=0.0):
    """p_t chosen with torch.where on the target, factor via torch.pow.
    Expected: equivalent (at γ = 0 the factor is 1 whatever p_t is)."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    prob = logits.sigmoid()
    p_t = torch.where(targets > 0.5, prob, 1 - prob)
    return torch.mean(torch.pow(1 - p_t, gamma) * bce)


def softmax_focal(logits, labels, gamma=0.0):
    """−(1 − p_t)^γ log p_t with log p_t from log_softmax and p_t = exp(log p_t).
    Expected: equivalent."""
    log_pt = F.log_softmax(logits, dim=-1).gather(1, labels.unsqueeze(1)).squeeze(1)
    pt = log_pt.exp()
    return (-((1 - pt) ** gamma) * log_pt).mean()


def softmax_focal_gamma2(logits, labels, gamma=2.0):
    """Expected: not_equivalent (γ = 2 is not cross-entropy)."""
    return softmax_focal(logits, labels, gamma)


class FocalLoss(nn.Module):
    """The module form: per-sample CE from F.cross_entropy(reduction="none"),
    p_t = exp(−CE). Default γ = 2 (not_equivalent); built with gamma=0.0: equivalent."""

    def __init__(self, gamma=2.0, weight=None):
        super().__init__()
        self.gamma = gamma
        self.weight = weight

    def forward(self, input, target):
        ce = F.cross_entropy(input, target, weight=self.weight, reduction="none")
        p_t = torch.exp(-ce)
        return ((1 - p_t) ** self.gamma * ce).mean()
