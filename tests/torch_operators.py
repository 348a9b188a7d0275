"""Checks shared by the tests of symce.torch's loss operators."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def assert_fullgraph_matches_eager(loss: Callable[[torch.Tensor], torch.Tensor], inputs: np.ndarray) -> None:
    """``loss`` under ``torch.compile(fullgraph=True)`` (aot_eager: the operator's fake kernel and autograd
    formula traced) gives the eager call's value and gradient, bit for bit."""
    eager_x, traced_x = (torch.tensor(inputs, requires_grad=True) for _ in range(2))
    eager = loss(eager_x)
    eager.backward()
    traced = torch.compile(loss, fullgraph=True, backend="aot_eager")(traced_x)
    traced.backward()
    assert traced.item() == eager.item()
    torch.testing.assert_close(traced_x.grad, eager_x.grad, rtol=0, atol=0)


def assert_gradcheck_and_reference(loss: Callable[[torch.Tensor], torch.Tensor], inputs: np.ndarray,
                                   expected: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
    """gradcheck passes for ``loss``, and its value and the gradient of its sum are ``expected`` (value,
    gradient: the reference's); returns the input tensor, its gradient filled."""
    x = torch.tensor(inputs, requires_grad=True)
    assert torch.autograd.gradcheck(loss, (x,))
    value = loss(x)
    value.sum().backward()
    np.testing.assert_allclose(value.detach().numpy(), expected[0], rtol=1e-13)
    np.testing.assert_allclose(x.grad.numpy(), expected[1], rtol=1e-12, atol=1e-16)
    return x


def assert_operators_pass_opcheck(name: str, x: torch.Tensor, operands: tuple) -> None:
    """torch.library.opcheck of both operators of ``symce::NAME``: the fused one at ``x`` (which wants a
    gradient), the forward-only one at ``x`` detached; ``operands`` are the arguments after the input."""
    torch.library.opcheck(getattr(torch.ops.symce, f"{name}_value_and_grad").default, (x, *operands))
    torch.library.opcheck(getattr(torch.ops.symce, name).default, (x.detach(), *operands))
