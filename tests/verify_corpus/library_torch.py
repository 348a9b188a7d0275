"""What real PyTorch code does around a loss: guards and conversions, detached shifts,
scatter one-hots, padding masks, finfo clamps, torch.where branches, built-in losses with
their own documented details, and the other specs (KL, entropy, squared error, hinge, NLL)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


# ----- integer-label cross-entropy ------------------------------------------------------
def guarded_cross_entropy(logits, labels):
    """isinstance / is_tensor guards, .to(device=...), shape and range checks that raise,
    .contiguous().view(...), then F.cross_entropy. Expected: equivalent."""
    if not isinstance(logits, torch.Tensor):
        logits = torch.as_tensor(logits)
    if not torch.is_tensor(labels):
        labels = torch.as_tensor(labels)
    labels = labels.to(device=logits.device, dtype=torch.long)
    if logits.dim() != 2:
        raise ValueError(f"expected [N, C] logits, got {tuple(logits.shape)}")
    if labels.min() < 0 or labels.max() >= logits.size(1):
        raise IndexError("label out of range")
    flat = logits.contiguous().view(-1, logits.size(-1))
    return F.cross_entropy(flat, labels.view(-1))


def shifted_ce_with_accuracy(logits, labels):
    """Shift by .max(dim=1).values.detach(); an accuracy from .max(1).indices is computed
    (and .item()'d for a log line) but not returned. Expected: equivalent."""
    row_max = logits.max(dim=1, keepdim=True).values.detach()
    z = logits - row_max
    log_norm = z.exp().sum(dim=1).log()
    nll = log_norm - z.gather(1, labels.view(-1, 1)).squeeze(1)
    predicted = logits.max(1).indices
    accuracy = (predicted == labels).float().mean().item()
    del accuracy
    return nll.mean()


def data_max_shift(logits, labels):
    """The shift from the old .data attribute and .max(1)[0]; torch.arange on .device.
    Expected: equivalent."""
    shift = logits.data.max(1)[0].unsqueeze(1)
    z = logits - shift
    rows = torch.arange(logits.size(0), device=logits.device)
    return (torch.logsumexp(z, dim=1) - z[rows, labels]).mean()


def scatter_one_hot_ce(logits, labels):
    """One-hot by torch.zeros_like(...).scatter_(1, y[:, None], 1.0). Expected: equivalent."""
    one_hot = torch.zeros_like(logits).scatter_(1, labels[:, None], 1.0)
    return -(one_hot * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def masked_padding_ce(logits, labels, pad_id=-100):
    """Padding positions masked with masked_fill, mean over the valid count (clamped ≥ 1).
    No label is padding in the spec's inputs. Expected: equivalent."""
    valid = labels.ne(pad_id)
    safe = labels.masked_fill(~valid, 0)
    nll = -torch.log_softmax(logits, -1).gather(1, safe.unsqueeze(1)).squeeze(1)
    nll = nll.masked_fill(~valid, 0.0)
    return nll.sum() / valid.sum().clamp(min=1)


def weighted_cross_entropy(logits, labels, class_weight=(0.2, 1.0, 3.0)):
    """Class weights as a tensor on the logits' dtype/device; 'mean' divides by Σ w_t.
    Expected with params weight=[0.2, 1.0, 3.0]: equivalent."""
    weight = torch.tensor(class_weight, dtype=logits.dtype, device=logits.device)
    return F.cross_entropy(logits, labels, weight=weight)


def nll_module_on_log_of_softmax(logits, labels):
    """nn.NLLLoss() on torch.log(torch.softmax(...)): the softmax underflows to 0 first.
    Expected: unstable."""
    criterion = nn.NLLLoss()
    return criterion(torch.log(torch.softmax(logits, dim=1)), labels)


# ----- binary ---------------------------------------------------------------------------
def finfo_clamped_bce(probs, labels):
    """Clamp at torch.finfo(dtype).eps (2.2e-16 in float64). Expected vs binary_cross_entropy:
    not_equivalent (for p < 2.2e-16 or p > 1 − 2.2e-16 the clamp changes the value)."""
    eps = torch.finfo(probs.dtype).eps
    p = probs.clamp(eps, 1 - eps)
    return -(labels * p.log() + (1 - labels) * (-p).log1p()).mean()


def builtin_bce(probs, labels):
    """torch's F.binary_cross_entropy, which (as documented) clamps each log term at −100.
    Expected: not_equivalent — for p < e^−100 ≈ 3.7e-44 it returns 100 where −log p is
    larger (e.g. 115.1 at p = 1e-50), in exact arithmetic and in float64 alike."""
    return F.binary_cross_entropy(probs, labels)


def where_stable_bce(logits, labels):
    """The two-branch stable logit BCE with torch.where (both branches evaluated, the
    selected one finite). Expected vs sigmoid_binary_cross_entropy: equivalent."""
    pos = torch.log1p(torch.exp(-logits)) + (1 - labels) * logits
    neg = torch.log1p(torch.exp(logits)) - labels * logits
    return torch.where(logits >= 0, pos, neg).mean()


def bce_with_logits_pos_weight(logits, labels, pos_weight=3.0):
    """F.binary_cross_entropy_with_logits with a pos_weight tensor. Expected with params
    pos_weight=3.0: equivalent."""
    weight = torch.full_like(logits, pos_weight)
    return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight)


# ----- distributions --------------------------------------------------------------------
def kl_batchmean(p, q):
    """F.kl_div(log q, p, reduction="batchmean") = mean over the batch of KL(p‖q).
    Expected vs kl_divergence: equivalent."""
    return F.kl_div(q.log(), p, reduction="batchmean")


def kl_elementwise_mean(p, q):
    """reduction="mean" divides by N·C, not N (torch warns about exactly this).
    Expected: not_equivalent — a factor 1/C."""
    return F.kl_div(torch.log(q), p, reduction="mean")


def cross_entropy_pq(p, q):
    """H(p, q) = −Σ p log q, mean over the batch. Expected vs cross_entropy: equivalent."""
    return -(p * q.log()).sum(-1).mean()


def categorical_entropy(p):
    """torch.distributions.Categorical(probs=p).entropy(): the distribution's logits are
    log(clamp(p, eps, 1 − eps)) with eps = finfo(float64).eps = 2.2e-16. Expected vs entropy:
    not_equivalent (a p_k above 1 − 2.2e-16 or below 2.2e-16 is clamped; exact arithmetic
    differs there)."""
    return torch.distributions.Categorical(probs=p).entropy().mean()


# ----- probability-target cross-entropy, squared error, hinge, NLL, log-softmax -------------
def soft_target_cross_entropy(logits, targets):
    """F.cross_entropy with probability rows as targets. Expected vs softmax_cross_entropy:
    equivalent."""
    return F.cross_entropy(logits, targets)


def mse_on_softmax_elementwise_mean(logits, targets):
    """F.mse_loss(softmax, targets) means over N·C entries; the spec sums over classes.
    Expected vs squared_error_softmax: not_equivalent — a factor 1/C."""
    return F.mse_loss(F.softmax(logits, dim=1), targets)


def mse_on_softmax_sum_over_n(logits, targets):
    """reduction="sum", divided by the batch size. Expected vs squared_error_softmax:
    equivalent."""
    return F.mse_loss(torch.softmax(logits, 1), targets, reduction="sum") / logits.shape[0]


def hinge_relu(scores, labels):
    """One-vs-all hinge Σ_k relu(1 − y_k h_k), mean over the batch. Expected vs
    multiclass_hinge: equivalent."""
    return F.relu(1 - labels * scores).sum(dim=1).mean()


def builtin_nll(log_probs, labels):
    """F.nll_loss. Expected vs nll_loss: equivalent."""
    return F.nll_loss(log_probs, labels)


def log_softmax_by_logsumexp(logits):
    """z − logsumexp(z) with the tensor method. Expected vs log_softmax: equivalent."""
    return logits - logits.logsumexp(dim=1, keepdim=True)
