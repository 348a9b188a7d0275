"""``verify``: is this hand-written function the loss (or gradient) its spec defines?

0. the framework — named by the code (``Reach.framework``), else the one whose arrays it runs on;
1. symbolic — trace on small shapes, prove or refute equality (``compare``), probe one more shape
   (``CHECK_SHAPE``), explain a difference (``diagnose``);
2. numeric — float64 against the spec at 50 digits on adversarial inputs (``numeric``), and beyond
   the small constants of the code;
3. the verdict (``_judge``): different in exact arithmetic at any traced shape, or wrong on
   ordinary inputs at any shape, is ``not_equivalent``; equal in exact arithmetic but inf/nan or
   inaccurate at extreme inputs is ``unstable``. When the trace fails the numeric comparison
   alone decides, and says so; wrong only at extreme inputs, with finite values, is then
   ``unknown`` (a clip and lost precision look alike without the trace).
"""
from __future__ import annotations

import ast
import inspect
import linecache
import sysconfig
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from symce.spec import Spec, get
from symce.verify import compare, diagnose, framework, numeric, ops
from symce.verify.ops import TraceError
from symce.verify.problem import REDUCTIONS, Problem
from symce.verify.report import Report

#: time for tracing more shapes, and for all the proofs of the symbolic phase together
SYMBOLIC_SECONDS = 3.0
PROOF_BUDGET_SECONDS = 5.0
SYMBOLIC_SAMPLES = 2
SYMBOLIC_CLASSES = (2, 3, 4)
#: one more shape, probed (not proven): a function right only at N = 2 or C ≤ 4 (a sum halved,
#: a normaliser over the first classes) differs here
CHECK_SHAPE = (3, 5)


class VerifyError(ValueError):
    """The request cannot be analysed (unknown spec, bad binding, ...): exit code 2."""


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


def call_parameters(fn: Callable) -> list[str]:
    """The parameters a call of ``fn`` binds: an ``nn.Module``'s are its ``forward``'s, a
    callable instance's its ``__call__``'s, a bound method's those after ``self``."""
    forward = getattr(fn, "forward", None)
    target = forward if callable(forward) and _is_module(fn) else fn
    try:
        return list(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        raise VerifyError(f"cannot read the parameters of {fn!r}") from None


def _is_module(fn: Callable) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" == "torch.nn.modules.module.Module" for c in type(fn).__mro__)


def resolve_binding(fn: Callable, spec: Spec, bind: Mapping[str, str] | None) -> dict[str, str]:
    """spec input → function parameter: ``bind`` maps function parameters to spec inputs;
    without it the spec's inputs go to the function's first parameters in order."""
    parameters = list(call_parameters(fn))
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


@dataclass
class Symbolic:
    """What the symbolic phase found: ``status`` ∈ proven, probed, different, failed; the report's
    sentence; the shape that differs and its diagnosis; the notes of the traces."""

    status: str
    text: str
    differing: compare.ShapeResult | None = None
    diagnosis: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def symbolic_phase(problem: Problem) -> Symbolic:
    start = time.monotonic()
    deadline = start + PROOF_BUDGET_SECONDS
    classes = SYMBOLIC_CLASSES if problem.spec.is_per_class else (None,)
    if problem.fixed_classes:
        classes = (problem.fixed_classes,)
    done: list[compare.ShapeResult] = []
    for count in classes:
        for labels in compare.label_patterns(problem, count, SYMBOLIC_SAMPLES):
            if done and time.monotonic() - start > SYMBOLIC_SECONDS:
                break
            try:
                result = compare.compare(compare.trace(problem, SYMBOLIC_SAMPLES, count, labels), deadline=deadline)
            except compare.ShapeMismatch as error:
                return Symbolic("different", f"not equal: {error}")
            except Exception as error:  # any failure to trace means: no symbolic verdict
                if done:
                    break
                return Symbolic("failed", f"not traced ({untraced(error)}); the verdict rests on the numeric "
                                          "comparison alone")
            if not result.probe.equal:
                return _different(problem, result, "")
            done.append(result)
    return _other_shape(problem, done) or _equal(problem, done)


def _different(problem: Problem, result: compare.ShapeResult, lead: str) -> Symbolic:
    labels = result.traced.labels
    shape = result.traced.shape_text + (f", labels {list(labels)}" if labels else "")
    text = (f"not equal: {lead}the traced expression differs from the spec at {shape} "
            "(found at an exact-arithmetic probe point)")
    found = diagnose.diagnose(problem, result) or [
        "no constant factor, constant offset, epsilon, clip or other parameter value explains the difference"]
    return Symbolic("different", text, result, found, ops.merged([result.traced.notes]))


def _other_shape(problem: Problem, done: list[compare.ShapeResult]) -> Symbolic | None:
    """Probe at ``CHECK_SHAPE``: a function equal to the spec at the traced shapes only is different."""
    samples, count = CHECK_SHAPE
    count = problem.fixed_classes or (count if problem.spec.is_per_class else None)
    labels = compare.label_patterns(problem, count, samples)
    try:
        result = compare.compare(compare.trace(problem, samples, count, labels[1 % len(labels)]), prove=False)
    except compare.ShapeMismatch as error:
        return Symbolic("different", f"not equal: equal at {_shapes(done)}, but at {samples} samples {error}")
    except Exception:  # the traced shapes decide, as before this check
        return None
    if result.probe.equal:
        return None
    return _different(problem, result, f"equal at {_shapes(done)}, but ")


def untraced(error: BaseException) -> str:
    """Why a trace stopped, and where in the user's code: "reason, at file.py:12: `line`"."""
    reason = f"{type(error).__name__}: {error}" if not isinstance(error, TraceError) else str(error)
    frame = _user_frame(error)
    return f"{reason}, at {frame}" if frame else reason


def _user_frame(error: BaseException) -> str | None:
    """The innermost traceback line in code that is neither symce's nor an installed library's."""
    libraries = {Path(p).resolve() for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"],
                                             sysconfig.get_paths()["platlib"], Path(__file__).parent)}
    found = None
    for frame, line in traceback.walk_tb(error.__traceback__):
        path = Path(frame.f_code.co_filename).resolve()
        if frame.f_code.co_filename.startswith("<") or any(path.is_relative_to(p) for p in libraries):
            continue
        code = linecache.getline(str(path), line).strip()
        found = f"{path.name}:{line}" + (f": `{code}`" if code else "")
    return found


def _shapes(results) -> str:
    samples = results[0].traced.samples
    classes = sorted({r.traced.classes for r in results if r.traced.classes})
    labelled = any(r.traced.labels for r in results)
    text = f"N={samples}" + (f", C={_range(classes)}" if classes else "")
    return text + (" (every class as a label)" if labelled else "")


def _range(values) -> str:
    return f"{values[0]}..{values[-1]}" if len(values) > 2 and values == list(range(values[0], values[-1] + 1)) \
        else ",".join(map(str, values))


def _equal(problem, done) -> Symbolic:
    status, text = _equal_text(done)
    return Symbolic(status, text, notes=ops.merged([r.traced.notes for r in done]))


def _equal_text(done):
    proven = [r for r in done if r.proven]
    probed = [r for r in done if not r.proven]
    methods = sorted({m for r in proven for m in r.proofs if m})
    points = sum(r.probe.points for r in done)
    if not probed:
        return "proven", (f"proven equal for {_shapes(proven)} by SymPy ({'; '.join(methods)}); probed equal "
                          f"at N={CHECK_SHAPE[0]}; other shapes checked numerically only")
    text = (f"checked numerically: equal at {points} exact-arithmetic probe points for {_shapes(done)}, "
            "but SymPy found no proof")
    if proven:
        text = f"proven equal for {_shapes(proven)} by SymPy ({'; '.join(methods)}); " + text.replace(
            f"for {_shapes(done)}", f"for {_shapes(probed)}")
    return "probed", text


def _case_inputs(case: numeric.Case) -> dict:
    return {name: value.tolist() for name, value in case.values.items()}


def _floats(array) -> list | float:
    return numeric.mp_to_float(np.asarray(array, dtype=object))


def _instability(problem: Problem, failures: list[numeric.Outcome]) -> dict:
    cases = [{"where": o.case.description, "inputs": _case_inputs(o.case), "expected": _floats(o.expected),
              "got": (o.got.tolist() if o.got is not None else o.raised), "rel_error": o.error}
             for o in sorted(failures, key=lambda o: -o.error)]
    thresholds = []
    for outcome in sorted(failures, key=lambda o: -o.error)[:3]:
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
                      framework or "numpy")
    constants = problem.reached.small_literals()
    all_cases = numeric.cases(problem, seed, constants)
    detected = problem.reached.framework()
    problem.framework = framework or choose_framework(problem, all_cases[1], detected)
    if reduction is None and wrt is None:
        # the function's output says whether it reduces: a value per sample means 'none'
        try:
            out = numeric.run(problem, all_cases[1].values)
            problem.reduction = "mean" if out.size == 1 else "none"
        except Exception:  # the numeric check reports what the function raises
            pass
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    report = Report(function=name, spec=spec.name, framework=problem.framework, reduction=problem.reduction,
                    verdict="unknown", symbolic="", params=given, wrt=wrt)
    if not framework and detected != problem.framework:
        report.notes.append(framework_note(detected, problem.framework))

    start = time.monotonic()
    found = symbolic_phase(problem)
    report.symbolic, report.diagnosis = found.text, found.diagnosis
    report.notes += found.notes
    report.seconds["symbolic"] = time.monotonic() - start
    if found.status == "failed":   # no trace to find a computed clip bound (finfo(x.dtype).eps): try the usual ones
        more = [c for c in numeric.COMMON_CONSTANTS if c not in constants]
        all_cases += numeric.cases(problem, seed + 1, more)[len(numeric.PATTERNS):]

    start = time.monotonic()
    outcomes = [numeric.check(problem, case) for case in all_cases]
    _judge(problem, report, found, outcomes)
    report.seconds["numeric"] = time.monotonic() - start
    return report


def _judge(problem: Problem, report: Report, found: Symbolic, outcomes: list[numeric.Outcome]) -> None:
    """The verdict from the symbolic phase and the numeric outcomes (see the module docstring)."""
    report.max_rel_error = max(o.error for o in outcomes)
    worst = max(outcomes, key=lambda o: o.error)
    report.worst_case = {"where": worst.case.description}
    if worst.where:
        report.worst_case["entry"] = [int(i) for i in worst.where]
    failures = [o for o in outcomes if not o.ok]
    ordinary = [o for o in failures if not o.case.extreme]
    if found.status == "failed" and all(o.raised for o in outcomes if not o.case.extreme):
        report.verdict = "unknown"
        report.reason = f"the function raised on ordinary inputs: {ordinary[0].raised}"
    elif found.status == "different" or ordinary:
        # wrong on ordinary inputs is a different function, even where the traced shapes agreed
        report.verdict = "not_equivalent"
        report.counterexample = _counterexample(outcomes, found.differing)
        if found.status in ("proven", "probed"):
            report.symbolic += (f"; but the numeric check differs on ordinary inputs at other shapes "
                                f"({ordinary[0].case.description})")
    elif found.status == "failed" and any(o.got is not None and np.all(np.isfinite(o.got)) for o in failures):
        # finite wrong values at extreme inputs: a clip (a different function) or lost digits
        # (an unstable one) both give them, and without a trace nothing tells them apart
        report.verdict = "unknown"
        report.reason = ("not traced, and numerically right on ordinary inputs but wrong (finite values) on "
                         f"extreme ones ({failures[0].case.description}): a clip or epsilon would make it "
                         "not_equivalent, lost precision unstable; the trace is needed to tell")
        report.unstable_inputs = _instability(problem, failures)
    elif failures:
        report.verdict = "unstable"
        report.unstable_inputs = _instability(problem, failures)
    else:
        report.verdict = "equivalent"


def choose_framework(problem: Problem, case: numeric.Case, detected: str | None) -> str:
    """The framework the code names (``detected``), else the first of NumPy and torch whose
    arrays the function runs on; one it raises with gives way to the other."""
    order = [detected] + [f for f in framework.FRAMEWORKS if f != detected] if detected else list(framework.FRAMEWORKS)
    for name in order:
        problem.framework = name
        try:
            numeric.run(problem, case.values)
            return name
        except Exception:  # it does not run on this framework's arrays: try the other
            continue
    return order[0]


def framework_note(detected: str | None, chosen: str) -> str:
    """The sentence for a framework found by running the code, not by reading it."""
    if detected is None:
        return f"the code names neither NumPy nor torch; it runs on {chosen} inputs, so it was traced as {chosen} code"
    return f"the code names {detected} but raises on {detected} inputs and runs on {chosen} ones: traced as {chosen}"


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
