"""A NumPy next-token loss over one sequence (logits [T, C], tokens [T]): predict token t + 1
from position t. Against the spec (logits[i] scores labels[i]) it is a different function:
it drops one position and pairs each logit row with the next label. Expected: not_equivalent."""
import numpy as np


def next_token_nll(logits, labels):
    inputs, targets = logits[:-1], labels[1:]
    shifted = inputs - inputs.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(targets)), targets].mean()
