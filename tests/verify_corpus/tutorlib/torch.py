"""The torch flavour of the textbook helpers: short aliases so the book's code reads the same
in every framework (``tl.exp``, ``tl.reduce_sum``, ...), and a few small functions."""
import torch
import torch.nn.functional as F

exp = torch.exp
log = torch.log
arange = torch.arange
reduce_sum = torch.sum
reduce_mean = lambda x, *args, **kwargs: x.mean(*args, **kwargs)  # noqa: E731
float64 = torch.float64


def softmax(X):
    """The book's first softmax: exponentiate, divide by the row sums (no max shift)."""
    powers = exp(X)
    return powers / powers.sum(1, keepdim=True)


def log_softmax(x):
    """The book's stable version: subtract the row max before exponentiating."""
    shifted = x - x.max(dim=1, keepdim=True).values
    return shifted - log(reduce_sum(exp(shifted), dim=1, keepdim=True))


def one_hot(labels, depth):
    return F.one_hot(labels, depth).to(float64)
