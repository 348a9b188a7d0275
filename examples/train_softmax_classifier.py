"""A softmax classifier trained with symce.torch.cross_entropy and with torch's, side by side.

One linear layer (64 features → 20 classes) on synthetic Gaussian clusters, trained by plain SGD
from the same initial weights twice: once with ``symce.torch.cross_entropy`` (symce's generated
fused forward+backward kernel, run on the tensors' own memory) and once with
``torch.nn.functional.cross_entropy``. Each step prints both losses and their difference (they
agree to about 1e-6 in float32) and, at the end, the median time of a step (forward, backward and
the SGD update) for each.

Run it: ``python examples/train_softmax_classifier.py [--steps 30] [--batch 512]``.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

import symce.torch


def make_data(samples: int, features: int, classes: int, generator: torch.Generator):
    """Gaussian clusters: sample i is centre[y_i] + unit noise (centres about 0.3·√(2·features) apart)."""
    centres = 0.3 * torch.randn(classes, features, generator=generator)
    labels = torch.randint(0, classes, (samples,), generator=generator)
    inputs = centres[labels] + torch.randn(samples, features, generator=generator)
    return inputs, labels


def train(loss_fn, model: torch.nn.Module, inputs, labels, steps: int, lr: float):
    """Full-batch SGD; the loss before each update and the wall time of each step (fwd + bwd + update)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses, seconds = [], []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
        losses.append(loss.item())
    return losses, seconds


def main(steps: int = 30, batch: int = 512, features: int = 64, classes: int = 20, lr: float = 0.5,
         seed: int = 0, verbose: bool = True) -> dict:
    """Train both ways from the same initial weights; per-step losses and median seconds per step."""
    generator = torch.Generator().manual_seed(seed)
    inputs, labels = make_data(batch, features, classes, generator)
    torch.manual_seed(seed)
    initial = torch.nn.Linear(features, classes)
    # the first symce call loads (or, on a fresh checkout, compiles) the numba kernel: keep it
    # out of the timed steps, and warm torch's path the same way
    symce.torch.cross_entropy(initial(inputs), labels).backward()
    F.cross_entropy(initial(inputs), labels).backward()
    results = {}
    for name, loss_fn in (("symce", symce.torch.cross_entropy), ("torch", F.cross_entropy)):
        losses, seconds = train(loss_fn, copy.deepcopy(initial), inputs, labels, steps, lr)
        results[name], results[f"{name}_seconds"] = losses, statistics.median(seconds)
    if verbose:
        print(f"softmax classifier: batch {batch}, {features} features, {classes} classes, float32, SGD lr {lr}")
        print(f"{'step':>4}  {'symce.torch':>14}  {'torch F.cross_entropy':>21}  {'|difference|':>12}")
        for step, (ours, theirs) in enumerate(zip(results["symce"], results["torch"])):
            print(f"{step:>4}  {ours:>14.8f}  {theirs:>21.8f}  {abs(ours - theirs):>12.1e}")
        print(f"median time per step (forward + backward + SGD update): "
              f"symce.torch {results['symce_seconds'] * 1e3:.3f} ms, torch {results['torch_seconds'] * 1e3:.3f} ms")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=512)
    arguments = parser.parse_args()
    main(steps=arguments.steps, batch=arguments.batch)
