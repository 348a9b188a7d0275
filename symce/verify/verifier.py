"""``verify``: is this hand-written function the loss (or gradient) its spec defines?

1. symbolic — trace on small shapes, prove or refute equality (``compare``), explain a
   difference (``diagnose``);
2. numeric — float64 against the spec at 50 digits on adversarial inputs (``numeric``);
3. the verdict: a function different in exact arithmetic is ``not_equivalent``; one equal in
   exact arithmetic that is inf/nan or inaccurate somewhere is ``unstable``; when the trace
   fails, the numeric comparison alone decides and ``symbolic`` says so.
"""
from __future__ import annotations

import ast
import inspect
import time
from typing import Callable, Mapping

import numpy as np

from symce.spec import Spec, get
from symce.verify import compare, diagnose, numeric, ops
from symce.verify.ops import TraceError
from symce.verify.problem import REDUCTIONS, Problem
from symce.verify.report import Report

SYMBOLIC_SECONDS = 4.0
SYMBOLIC_SAMPLES = 2
SYMBOLIC_CLASSES = (2, 3, 4)


class VerifyError(ValueError):
    """The request cannot be analysed (unknown spec, bad binding, ...): exit code 2."""


def _referenced(fn: Callable, depth: int = 3) -> list:
    """The global values ``fn`` names (and, recursively, the plain functions it calls do)."""
    code, names = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    if code is None:
        return []
    codes, found = [code], []
    while codes:
        current = codes.pop()
        codes += [c for c in current.co_consts if inspect.iscode(c)]
        found += [names[n] for n in current.co_names if n in names]
    if depth:
        found += [v for f in found if inspect.isfunction(f) for v in _referenced(f, depth - 1)]
    return found


def detect_framework(fn: Callable) -> str:
    """'torch' when the function (or a helper it calls) uses torch, else 'numpy'."""
    for value in _referenced(fn):
        name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        if isinstance(name, str) and name.split(".")[0] == "torch":
            return "torch"
    return "numpy"


def parse_value(text: object) -> object:
    """A parameter value (from the command line: a string): an exact number or a list of them."""
    if not isinstance(text, str):
        return [ops.to_sympy(v) for v in text] if isinstance(text, (list, tuple)) else ops.to_sympy(text)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise VerifyError(f"parameter value {text!r} is not a number or a list of numbers") from None
    return parse_value(list(value) if isinstance(value, tuple) else value)


def _literal(value: object) -> object:
    try:
        return ast.literal_eval(value) if isinstance(value, str) else value
    except (ValueError, SyntaxError):
        return value


def resolve_binding(fn: Callable, spec: Spec, bind: Mapping[str, str] | None) -> dict[str, str]:
    """spec input → function parameter: ``bind`` maps function parameters to spec inputs;
    without it the spec's inputs go to the function's first parameters in order."""
    try:
        parameters = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        raise VerifyError(f"cannot read the parameters of {fn!r}") from None
    inputs = [item.name for item in spec.inputs]
    if bind:
        binding = {}
        for parameter, name in bind.items():
            if parameter not in parameters:
                raise VerifyError(f"--bind: the function has no parameter {parameter!r}; it has {parameters}")
            if name not in inputs:
                raise VerifyError(f"--bind: spec {spec.name!r} has no input {name!r}; inputs: {inputs}")
            binding[name] = parameter
        missing = [name for name in inputs if name not in binding]
        rest = [p for p in parameters if p not in binding.values()]
        binding.update(zip(missing, rest))
    else:
        binding = dict(zip(inputs, parameters))
    if len(binding) < len(inputs):
        raise VerifyError(f"spec {spec.name!r} has inputs {inputs}; the function takes only {parameters}")
    return binding


def symbolic_phase(problem: Problem) -> tuple[str, str, compare.ShapeResult | None, list[str]]:
    """(status, text, the differing shape, diagnosis); status ∈ proven, probed, different, failed."""
    start = time.monotonic()
    classes = SYMBOLIC_CLASSES if problem.spec.is_per_class else (None,)
    if problem.fixed_classes:
        classes = (problem.fixed_classes,)
    done: list[compare.ShapeResult] = []
    for count in classes:
        for labels in compare.label_patterns(problem, count, SYMBOLIC_SAMPLES):
            if done and time.monotonic() - start > SYMBOLIC_SECONDS:
                break
            try:
                result = compare.compare(compare.trace(problem, SYMBOLIC_SAMPLES, count, labels))
            except compare.ShapeMismatch as error:
                return "different", f"not equal: {error}", None, []
            except Exception as error:  # any failure to trace means: no symbolic verdict
                reason = f"{type(error).__name__}: {error}" if not isinstance(error, TraceError) else str(error)
                if done:
                    break
                return "failed", (f"not traced ({reason}); the verdict rests on the numeric comparison "
                                  "alone"), None, []
            if not result.probe.equal:
                shape = result.traced.shape_text + (f", labels {list(result.traced.labels)}" if labels else "")
                text = (f"not equal: the traced expression differs from the spec at {shape} "
                        f"(found at an exact-arithmetic probe point)")
                found = diagnose.diagnose(problem, result) or [
                    "no constant factor, constant offset, epsilon or other parameter value explains the difference"]
                return "different", text, result, found
            done.append(result)
    return _equal_text(problem, done)


def _shapes(results) -> str:
    samples = results[0].traced.samples
    classes = sorted({r.traced.classes for r in results if r.traced.classes})
    labelled = any(r.traced.labels for r in results)
    text = f"N={samples}" + (f", C={_range(classes)}" if classes else "")
    return text + (" (every class as a label)" if labelled else "")


def _range(values) -> str:
    return f"{values[0]}..{values[-1]}" if len(values) > 2 and values == list(range(values[0], values[-1] + 1)) \
        else ",".join(map(str, values))


def _equal_text(problem, done):
    proven = [r for r in done if r.proven]
    probed = [r for r in done if not r.proven]
    methods = sorted({m for r in proven for m in r.proofs if m})
    points = sum(r.probe.points for r in done)
    if not probed:
        return "proven", (f"proven equal for {_shapes(proven)} by SymPy ({'; '.join(methods)}); other shapes "
                          "checked numerically only"), None, []
    text = (f"checked numerically: equal at {points} exact-arithmetic probe points for {_shapes(done)}, "
            "but SymPy found no proof")
    if proven:
        text = f"proven equal for {_shapes(proven)} by SymPy ({'; '.join(methods)}); " + text.replace(
            f"for {_shapes(done)}", f"for {_shapes(probed)}")
    return "probed", text, None, []


def _case_inputs(case: numeric.Case) -> dict:
    return {name: value.tolist() for name, value in case.values.items()}


def _floats(array) -> list | float:
    return numeric.mp_to_float(np.asarray(array, dtype=object))


def _instability(problem: Problem, failures: list[numeric.Outcome]) -> dict:
    cases = [{"where": o.case.description, "inputs": _case_inputs(o.case), "expected": _floats(o.expected),
              "got": (o.got.tolist() if o.got is not None else o.raised), "rel_error": o.error}
             for o in sorted(failures, key=lambda o: -o.error)]
    thresholds = []
    for outcome in sorted(failures, key=lambda o: -o.error)[:4]:
        found = numeric.breaking_magnitude(problem, outcome)
        if found:
            thresholds.append({"input": found[0], "max_abs": found[1], "where": outcome.case.description})
    thresholds.sort(key=lambda t: t["max_abs"])
    if thresholds:
        first = thresholds[0]
        each = "; ".join(f"from {t['max_abs']:.4g} on: {t['where']}" for t in thresholds)
        rng = f"{first['input']} with max |{first['input']}| ≥ {first['max_abs']:.4g}"
        summary = (f"{rng} (failing cases rescaled — {each}); inf/nan or inaccurate on "
                   f"{len(failures)} numeric case(s)")
    else:
        rng = None
        summary = f"fails on {len(failures)} numeric case(s): " + "; ".join(o.case.description for o in failures[:3])
    return {"summary": summary, "range": rng, "thresholds": thresholds, "cases": cases}


def verify(fn: Callable, spec: str | Spec, bind: Mapping[str, str] | None = None, reduction: str | None = None,
           params: Mapping[str, object] | None = None, wrt: str | None = None, framework: str | None = None,
           seed: int = 0) -> Report:
    """Check ``fn`` against ``spec``; see the module docstring for how the verdict is reached."""
    spec = get(spec) if isinstance(spec, str) else spec
    given = {name: _literal(value) for name, value in (params or {}).items()}
    params = {name: parse_value(value) for name, value in (params or {}).items()}
    for name in params:
        try:
            spec.param(name)
        except KeyError as error:
            raise VerifyError(str(error.args[0])) from None
    if wrt is not None:
        try:
            kind = spec.input(wrt).kind
        except KeyError as error:
            raise VerifyError(str(error.args[0])) from None
        if kind not in ("vector", "scalar"):
            raise VerifyError(f"--wrt {wrt}: input {wrt!r} of {spec.name!r} is a {kind}; it has no gradient")
    if reduction is not None and reduction not in REDUCTIONS:
        raise VerifyError(f"reduction must be one of {REDUCTIONS}, not {reduction!r}")
    problem = Problem(fn, spec, resolve_binding(fn, spec, bind), reduction or "mean", params, wrt,
                      framework or detect_framework(fn))
    all_cases = numeric.cases(problem, seed)
    if reduction is None and wrt is None:
        # the function's output says whether it reduces: a value per sample means 'none'
        try:
            out = numeric.run(problem, all_cases[1].values)
            problem.reduction = "mean" if out.size == 1 else "none"
        except Exception:  # the numeric check reports what the function raises
            pass
    name = getattr(fn, "__qualname__", repr(fn))
    report = Report(function=name, spec=spec.name, framework=problem.framework, reduction=problem.reduction,
                    verdict="unknown", symbolic="", params=given, wrt=wrt)

    start = time.monotonic()
    status, report.symbolic, differing, report.diagnosis = symbolic_phase(problem)
    report.seconds["symbolic"] = time.monotonic() - start

    start = time.monotonic()
    outcomes = [numeric.check(problem, case) for case in all_cases]
    errors = [o.error for o in outcomes]
    report.max_rel_error = max(errors)
    worst = max(outcomes, key=lambda o: o.error)
    report.worst_case = {"where": worst.case.description}
    if worst.where:
        report.worst_case["entry"] = [int(i) for i in worst.where]
    failures = [o for o in outcomes if not o.ok]
    ordinary_failures = [o for o in failures if not o.case.extreme]

    if status == "failed" and all(o.raised for o in outcomes if not o.case.extreme):
        report.verdict = "unknown"
        report.reason = f"the function raised on ordinary inputs: {ordinary_failures[0].raised}"
    elif status == "different" or (status == "failed" and ordinary_failures):
        report.verdict = "not_equivalent"
        report.counterexample = _counterexample(outcomes, differing)
    elif failures:
        report.verdict = "unstable"
        report.unstable_inputs = _instability(problem, failures)
    else:
        report.verdict = "equivalent"
    report.seconds["numeric"] = time.monotonic() - start
    return report


def _counterexample(outcomes: list[numeric.Outcome], differing: compare.ShapeResult | None) -> dict:
    """The numeric case where the function is furthest from the spec (and still finite), else
    the exact probe point that separated the expressions."""
    finite = [o for o in outcomes if o.got is not None and np.all(np.isfinite(o.got)) and not o.ok]
    if finite:
        o = max(finite, key=lambda o: o.error)
        return {"where": o.case.description, "inputs": _case_inputs(o.case),
                "expected": _floats(o.expected), "got": o.got.tolist(), "rel_error": o.error}
    if differing is not None:
        probe = differing.probe
        return {"where": f"exact arithmetic at {differing.traced.shape_text}",
                "inputs": {str(s): float(v) for s, v in probe.point.items()},
                "expected": [float(v) for v in probe.expected], "got": [float(v) for v in probe.got]}
    o = max(outcomes, key=lambda o: o.error)
    return {"where": o.case.description, "inputs": _case_inputs(o.case), "expected": _floats(o.expected),
            "got": o.got.tolist() if o.got is not None else o.raised}
