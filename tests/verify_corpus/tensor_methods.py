"""Loss code that touches torch only through tensor methods: there is no import at all in
this file, so nothing but the methods says it is torch code."""


def method_chain_ce(x, y):
    """x.log_softmax(-1).gather(1, y[:, None]).mean().neg(). Expected vs the integer-label
    cross-entropy: equivalent."""
    return x.log_softmax(-1).gather(1, y[:, None]).mean().neg()


def method_chain_bce_logits(x, y):
    """max(x, 0) − x·y + log1p(exp(−|x|)) with methods. Expected vs
    sigmoid_binary_cross_entropy: equivalent."""
    return (x.clamp(min=0) - x * y + x.abs().neg().exp().log1p()).mean()


def method_chain_bce_naive(x, y):
    """log of sigmoid and of 1 − sigmoid: log 0 = −inf at |x| ~ 1e3. Expected: unstable."""
    s = x.sigmoid()
    return (y * s.log() + (1 - y) * (1 - s).log()).mean().neg()


def method_chain_grad(x, y):
    """(softmax − one_hot) / N, the one-hot from new_zeros(...).scatter_.
    Expected (wrt logits): equivalent."""
    one_hot = x.new_zeros(x.shape).scatter_(1, y.unsqueeze(1), 1.0)
    return (x.softmax(1) - one_hot).div(x.shape[0])
