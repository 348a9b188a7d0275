"""The verdict of ``symce verify`` as an object, a text report and JSON."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

VERDICTS = ("equivalent", "unstable", "not_equivalent", "unknown")
EXIT_CODES = {"equivalent": 0, "unstable": 1, "not_equivalent": 1, "unknown": 2}


@dataclass
class Report:
    """What ``verify`` found. ``symbolic`` says exactly what was proven, for which shapes."""

    function: str
    spec: str
    framework: str
    reduction: str
    verdict: str
    symbolic: str
    params: dict = field(default_factory=dict)
    wrt: str | None = None
    max_rel_error: float | None = None
    worst_case: dict | None = None
    counterexample: dict | None = None
    unstable_inputs: dict | None = None
    diagnosis: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    reason: str | None = None
    seconds: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict:
        """Plain JSON types; inf and nan (which JSON cannot hold) as the strings "inf", "nan"."""
        out = _finite(asdict(self))
        return {key: value for key, value in out.items() if value not in (None, [], {})}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_plain, ensure_ascii=False)

    def text(self) -> str:
        what = f"d({self.spec})/d{self.wrt}" if self.wrt else self.spec
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        lines = [f"{self.function}  vs  {what}" + (f" [{params}]" if params else "")
                 + f"  ({self.framework}, reduction={self.reduction})",
                 f"verdict: {self.verdict.upper().replace('_', ' ')}"]
        if self.reason:
            lines.append(f"reason: {self.reason}")
        lines.append(f"symbolic: {self.symbolic}")
        for text in self.diagnosis:
            lines.append(f"diagnosis: {text}")
        for text in self.notes:
            lines.append(f"note: {text}")
        if self.max_rel_error is not None:
            where = f" — {self.worst_case['where']}" if self.worst_case else ""
            lines.append(f"numeric: worst relative error {_number(self.max_rel_error)}{where}")
        if self.counterexample:
            c = self.counterexample
            lines.append("counterexample:")
            lines.append(f"  inputs:   {_short(c['inputs'])}")
            lines.append(f"  expected: {_short(c['expected'])}")
            lines.append(f"  got:      {_short(c['got'])}")
        if self.unstable_inputs:
            u = self.unstable_inputs
            lines.append(f"{'unstable' if self.verdict == 'unstable' else 'wrong'}: {u['summary']}")
            for case in u.get("cases", [])[:4]:
                lines.append(f"  - {case['where']}: expected {_short(case['expected'])}, got {_short(case['got'])}")
        if self.seconds:
            lines.append("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items()))
        return "\n".join(lines)

    __str__ = text


def _finite(value):
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _number(value) -> str:
    return "inf" if value is None or (isinstance(value, float) and math.isinf(value)) else f"{value:.3g}"


def _short(value, limit=160) -> str:
    text = json.dumps(value, default=_plain)
    return text if len(text) <= limit else text[:limit] + "…"


def _plain(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
