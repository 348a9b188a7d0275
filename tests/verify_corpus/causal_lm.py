"""Causal language-model losses: position t predicts token t + 1.

The spec's inputs are logits [N, C] and labels [N]; these functions read the batch as one
sequence of N tokens (reshaped to [1, N, C] where the code expects a batch dimension), so the
last position has no target. The result is the mean over N − 1 positions of
CE(logits[i], labels[i + 1]): a different function from the spec's mean over N of
CE(logits[i], labels[i]) (and nan at N = 1). Expected: not_equivalent.
"""
import torch.nn.functional as F


def causal_lm_loss(logits, labels, ignore_index=-100):
    """Shift, flatten, F.cross_entropy(..., ignore_index=-100). Expected: not_equivalent."""
    logits = logits.reshape(1, *logits.shape)
    labels = labels.reshape(1, -1)
    shift_logits = logits[:, :-1, :].contiguous()
    shift_labels = labels[:, 1:].contiguous()
    vocab = shift_logits.size(-1)
    return F.cross_entropy(shift_logits.view(-1, vocab), shift_labels.view(-1), ignore_index=ignore_index)


def causal_lm_loss_padded(logits, labels, ignore_index=-100):
    """The newer form: pad the labels with ignore_index on the right and shift them left,
    so every logit is used and the last one is ignored. Expected: not_equivalent."""
    targets = F.pad(labels, (0, 1), value=ignore_index)[1:]
    return F.cross_entropy(logits, targets, ignore_index=ignore_index)
