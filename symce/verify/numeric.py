"""The numeric check: the function in float64 against the spec at 50 digits, on adversarial inputs.

Cases are drawn per input kind and domain — ordinary values, logits at ±1e3 and ±1e4,
mixed scales, ties, probabilities within 1e-12 of 0 or 1, one-hot and smoothed targets —
for several batch sizes and class counts. The reference is ``Spec.evaluate`` (mpmath), reduced
over the batch as ``Problem.expected_numeric`` says. Where the function breaks on a case with
real-valued inputs, the inputs are rescaled to find the magnitude at which it starts to break.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import mpmath
import numpy as np

from symce.verify.problem import Problem

#: relative error above which a value counts as wrong (float64 loss code is good to ~1e-12),
#: and the floor below which an entry is judged on the scale of the case's largest value
TOLERANCE = 1e-6
FLOOR = 1e-12
#: the same for code that computes in float32 (``.float()``): ε(float32) ≈ 1.2e-7
FLOAT32_TOLERANCE = 1e-4
FLOAT32_FLOOR = 1e-6


@dataclass
class Case:
    description: str
    values: dict                 # spec input name -> numpy array (batch first)
    extreme: bool


#: (pattern, extreme?): each input kind reads the pattern its own way (see the _real, _probability,
#: _simplex and _target generators); four ordinary cases, then the adversarial ones
PATTERNS = (
    ("normal", False), ("normal", False), ("normal", False), ("normal", False),
    ("large", True), ("huge", True), ("mixed", True), ("ties", True), ("boundary", True), ("smoothed", True),
)
SCALES = {"large": 1e3, "huge": 1e4}


def _real(pattern, shape, rng, scale=None):
    if pattern == "beyond":
        pattern = "large"
    if pattern in SCALES:
        return rng.uniform(-1, 1, shape) * SCALES[pattern], f"±{SCALES[pattern]:.0e}"
    if pattern == "mixed":
        values = rng.normal(0, 1, shape)
        values.flat[rng.integers(values.size)] = 1e3
        if values.size > 1:
            values.flat[rng.integers(values.size)] = -1e3
        return values, "mixed scale (O(1) and ±1e3)"
    if pattern == "ties":
        return np.full(shape, 800.0 * rng.choice([-1, 1])), "ties at ±800"
    if pattern == "boundary" and len(shape) == 1:
        return rng.choice([-1, 1], shape) * rng.uniform(30, 60, shape), "±30..60"
    return rng.normal(0, 2, shape), "N(0, 2)"


def _probability(pattern, shape, rng, scale=None):
    if pattern == "beyond":
        return np.where(rng.random(shape) < 0.5, scale, 1 - scale), f"at {scale:.3g} from 0 or 1"
    if pattern in ("boundary", "large", "huge"):
        tiny = 10.0 ** -rng.uniform(8, 13, shape)
        return np.where(rng.random(shape) < 0.5, tiny, 1 - tiny), "within 1e-8..1e-13 of 0 or 1"
    return rng.uniform(0.05, 0.95, shape), "in (0.05, 0.95)"


def _simplex(pattern, shape, rng, positive=False, scale=None):
    samples, classes = shape
    hot = np.eye(classes)[rng.integers(classes, size=samples)]
    if pattern == "beyond":
        return (hot + scale) / (1 + classes * scale), f"near one-hot, the others at {scale:.3g}"
    if positive:  # a distribution that is logged (p, q > 0): near one-hot, never exactly 0
        hot = (hot + 1e-12) / (1 + classes * 1e-12)
    if pattern in ("boundary", "large", "huge", "ties"):
        return hot, "one-hot"
    if pattern == "smoothed":
        return 0.9 * hot + 0.1 / classes, "smoothed one-hot (ε = 0.1)"
    if pattern == "mixed":
        tiny = rng.dirichlet(np.ones(classes), samples) * 1e-12 + hot
        return tiny / tiny.sum(axis=1, keepdims=True), "near one-hot (1e-12)"
    return rng.dirichlet(np.ones(classes), samples), "Dirichlet(1)"


def _target(pattern, shape, rng):
    if pattern in ("boundary", "large", "huge", "ties"):
        return rng.integers(0, 2, shape).astype(float), "in {0, 1}"
    return rng.uniform(0, 1, shape), "in [0, 1]"


def draw_case(problem: Problem, pattern: str, extreme: bool, samples: int, classes: int,
              rng: np.random.Generator, scale: float | None = None) -> Case:
    values, words = {}, []
    for item in problem.spec.inputs:
        shape = (samples, classes) if item.kind == "vector" else (samples,)
        if item.kind == "label":
            values[item.name] = rng.integers(0, classes, samples)
            continue
        if item.domain == "real":
            value, text = _real(pattern, shape, rng, scale)
        elif item.domain == "simplex":
            value, text = _simplex(pattern, shape, rng, bool(item.symbol[0].is_positive), scale)
        elif item.domain == "sign":
            value, text = rng.choice([-1.0, 1.0], shape), "±1"
        elif item.kind == "scalar" and item.name == "labels":
            value, text = _target(pattern, shape, rng)
        else:
            value, text = _probability(pattern, shape, rng, scale)
            if item.kind == "vector":
                value = value / value.sum(axis=1, keepdims=True)
        values[item.name] = value
        words.append(f"{item.name} {text}")
    labels = [item.name for item in problem.spec.inputs if item.kind == "label"]
    reals = [item.name for item in problem.spec.inputs if item.kind == "vector" and item.domain == "real"]
    if labels and reals and extreme:
        # the hard labels of large logits: the smallest logit (largest loss) and the largest
        logits = values[reals[0]]
        values[labels[0]] = np.where(np.arange(samples) % 2 == 0, logits.argmin(axis=1), logits.argmax(axis=1))
        words.append(f"{labels[0]} at the smallest/largest logit")
    return Case(", ".join(words) + f" (N={samples}" + (f", C={classes})" if reals or labels else ")"),
                values, extreme)


def cases(problem: Problem, seed: int = 0, constants: list[float] = ()) -> list[Case]:
    """The ``PATTERNS`` over several shapes, then, for each small constant of the code (an eps,
    a clip bound), a case with probabilities a decade beyond it."""
    rng = np.random.default_rng(seed)
    sizes = ((1, 2), (3, 3), (2, 5), (4, 4), (3, 7))
    if problem.fixed_classes:
        sizes = tuple((samples, problem.fixed_classes) for samples, _ in sizes)
    drawn = [draw_case(problem, pattern, extreme, *sizes[n % len(sizes)], rng)
             for n, (pattern, extreme) in enumerate(PATTERNS)]
    return drawn + [draw_case(problem, "beyond", True, *sizes[1], rng, scale=constant / 10) for constant in constants]


#: the eps and clip bounds loss code uses most (float32's and float64's machine epsilon among
#: them): where the trace fails, the numeric check also looks beyond these
COMMON_CONSTANTS = (1e-7, 1.1920928955078125e-07, 1e-8, 1e-10, 1e-12, 1e-15, 2.220446049250313e-16)


# ----- running the function and the reference ---------------------------------------------
def run(problem: Problem, values: dict) -> np.ndarray:
    """The function's output in float64 (NumPy arrays or torch tensors, as its framework needs).
    It gets copies: code that updates its inputs in place (``logits -= logits.max()``) must not
    change the case."""
    values = {name: np.array(v) for name, v in values.items()}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if problem.framework == "torch":
            import torch
            args = {name: torch.from_numpy(v) for name, v in values.items()}
            out = problem.call(args)
            out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else out
        else:
            out = problem.call(values)
    out = np.asarray(out)
    return out if out.dtype == np.float32 else np.asarray(out, dtype=np.float64)


def samples_of(problem: Problem, values: dict) -> list[dict]:
    count = len(next(iter(values.values())))
    return [{name: (int(v[i]) if v.dtype.kind in "iu" else (list(v[i]) if v.ndim == 2 else v[i]))
             for name, v in values.items()} for i in range(count)]


@dataclass
class Outcome:
    case: Case
    expected: np.ndarray          # mpmath numbers
    got: np.ndarray | None
    error: float                  # worst relative error (inf: non-finite or raised)
    where: tuple | None
    raised: str | None = None
    tolerance: float = TOLERANCE

    @property
    def ok(self) -> bool:
        return self.error <= self.tolerance


def relative_errors(expected: np.ndarray, got: np.ndarray, floor_ratio: float = FLOOR) -> np.ndarray:
    """|got − expected| / |expected|, with a floor of ``floor_ratio`` × the case's largest value
    (so an entry that is 0 up to rounding is judged on the scale of the others)."""
    reference = np.asarray([float(v) for v in expected.ravel()]).reshape(expected.shape)
    finite = np.isfinite(reference)
    floor = floor_ratio * max(1.0, float(np.max(np.abs(reference[finite]))) if finite.any() else 1.0)
    with np.errstate(all="ignore"):
        errors = np.abs(got - reference) / np.maximum(np.abs(reference), floor)
    # where the spec itself is undefined (outside its domain) there is nothing to compare
    return np.where(~finite, 0.0, np.where(np.isfinite(got), errors, np.inf))


def check(problem: Problem, case: Case) -> Outcome:
    expected = problem.expected_numeric(samples_of(problem, case.values))
    try:
        got = run(problem, case.values)
    except Exception as error:  # the user's code failing on an input is a finding, not a crash
        return Outcome(case, expected, None, math.inf, None, f"{type(error).__name__}: {error}")
    if got.shape != expected.shape:
        if got.size != expected.size:
            return Outcome(case, expected, got, math.inf, None,
                           f"returned shape {got.shape}, the spec gives {expected.shape}")
        got = got.reshape(expected.shape)
    single = got.dtype == np.float32
    errors = relative_errors(expected, got.astype(np.float64), FLOAT32_FLOOR if single else FLOOR)
    worst = np.unravel_index(int(np.argmax(errors)), errors.shape) if errors.size else None
    return Outcome(case, expected, got.astype(np.float64), float(np.max(errors)) if errors.size else 0.0, worst,
                   tolerance=FLOAT32_TOLERANCE if single else TOLERANCE)


def breaking_magnitude(problem: Problem, outcome: Outcome, steps: int = 14) -> tuple[str, float] | None:
    """For a failing case with real inputs: the smallest max |input| (rescaling the case) at
    which the function is wrong, found by bisection on a log scale from where it is right."""
    reals = [item.name for item in problem.spec.inputs if item.domain == "real" and item.kind != "label"]
    if not reals:
        return None
    name = reals[0]
    values = outcome.case.values
    top = float(np.max(np.abs(values[name])))
    if top == 0:
        return None

    def fails(magnitude):
        scaled = dict(values, **{name: values[name] * (magnitude / top)})
        return not check(problem, Case("", scaled, True)).ok

    low, high = 1.0, top
    if fails(low) or not fails(high):
        return None
    for _ in range(steps):
        middle = math.sqrt(low * high)
        low, high = (low, middle) if fails(middle) else (middle, high)
    return name, high


def mp_to_float(array: np.ndarray) -> list:
    with np.errstate(all="ignore"):
        return np.vectorize(lambda v: float(mpmath.mpf(v)), otypes=[float])(array).tolist()
