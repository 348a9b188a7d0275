"""Course-assignment softmax classifier code, written against the scores (logits) instead of W.

The patterns: a two-loop "naive" loss, the "neural network case study" loss, a looped
hand-written gradient (``grad[i, y[i]] -= 1``), and the vectorised gradient with
``dscores[range(n), y] -= 1``. Spec: softmax_cross_entropy_with_integer_labels (mean);
the gradients with ``wrt="logits"``.
"""
import numpy as np


def softmax_loss_naive(scores, y):
    """Loops over the batch and over the classes, shifted by the row max.
    Expected: equivalent."""
    num_train, num_classes = scores.shape
    loss = 0.0
    for i in range(num_train):
        row = scores[i] - np.max(scores[i])
        total = 0.0
        for j in range(num_classes):
            total += np.exp(row[j])
        loss += np.log(total) - row[y[i]]
    return loss / num_train


def softmax_loss_naive_unshifted(scores, y):
    """The same loops without the max shift: exp(1e3) overflows to inf, inf/inf is nan.
    Expected: unstable."""
    num_train, num_classes = scores.shape
    loss = 0.0
    for i in range(num_train):
        total = 0.0
        for j in range(num_classes):
            total += np.exp(scores[i, j])
        loss -= np.log(np.exp(scores[i, y[i]]) / total)
    loss /= num_train
    return loss


def softmax_loss_case_study(scores, y):
    """The case-study form: probabilities first, then -log of the correct ones.
    Unshifted exp overflows, and the log of an underflowed probability is -inf.
    Expected: unstable."""
    num_examples = scores.shape[0]
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    correct_logprobs = -np.log(probs[range(num_examples), y])
    return np.sum(correct_logprobs) / num_examples


def softmax_loss_vectorized(scores, y):
    """Vectorised, max-shifted, log-sum-exp minus the correct score. Expected: equivalent."""
    n = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return np.mean(log_norm - shifted[np.arange(n), y])


def softmax_grad_naive(scores, y):
    """d(mean loss)/d(scores) with loops: softmax row, minus 1 at the label, / N.
    Expected (wrt logits): equivalent."""
    num_train, num_classes = scores.shape
    grad = np.zeros_like(scores)
    for i in range(num_train):
        row = scores[i] - scores[i].max()
        probs = np.exp(row) / np.sum(np.exp(row))
        for j in range(num_classes):
            grad[i, j] = probs[j]
        grad[i, y[i]] -= 1
    grad /= num_train
    return grad


def softmax_grad_vectorized(scores, y):
    """dscores = softmax; dscores[range(n), y] -= 1; dscores /= n.
    Expected (wrt logits): equivalent."""
    n = scores.shape[0]
    exp_scores = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    dscores = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    dscores[range(n), y] -= 1
    dscores /= n
    return dscores


def softmax_grad_vectorized_no_mean(scores, y):
    """The vectorised gradient without the final / n: the gradient of the *summed* loss,
    used with a mean loss. Expected (wrt logits): not_equivalent — a missing factor 1/N."""
    exp_scores = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    dscores = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    dscores[np.arange(scores.shape[0]), y] -= 1
    return dscores
