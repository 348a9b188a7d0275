"""Every bad call of ``bad_inputs.CASES``, run in child processes: each must raise its exception, with
a message naming the problem; a child that crashes or hangs fails the case it was running.

The cases run in as few children as possible: one child runs them in order, printing one line per
case, and where a child dies, the case it was on is recorded with how it died and the rest go on in
a new child.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bad_inputs import CASES

HERE = Path(__file__).resolve().parent
TIMEOUT = 180

CHILD = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from bad_inputs import CASES
    for name in sys.argv[2:]:
        try:
            CASES[name][0]()
            outcome = {"name": name, "raised": None}
        except Exception as error:
            outcome = {"name": name, "raised": type(error).__name__, "message": str(error)}
        print(json.dumps(outcome), flush=True)
""")


def run_isolated(names: list[str]) -> dict[str, dict]:
    outcomes, pending = {}, list(names)
    while pending:
        try:
            done = subprocess.run([sys.executable, "-c", CHILD, str(HERE), *pending], capture_output=True, text=True,
                                  timeout=TIMEOUT)
            stdout, death = done.stdout, f"exit code {done.returncode}: {done.stderr[-2000:]}"
        except subprocess.TimeoutExpired as expired:
            stdout, death = (expired.stdout or b"").decode(), f"hung for more than {TIMEOUT} s"
        lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        outcomes.update((line["name"], line) for line in lines)
        pending = pending[len(lines):]
        if pending:
            outcomes[pending.pop(0)] = {"died": death}
    return outcomes


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict]:
    return run_isolated(list(CASES))


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_raises_an_error_that_names_the_problem(outcomes, name):
    _, exception, pattern = CASES[name]
    outcome = outcomes[name]
    assert "died" not in outcome, f"{name}: the child process died ({outcome.get('died')})"
    assert outcome["raised"] == exception, f"{name}: raised {outcome['raised']} ({outcome.get('message')})"
    assert re.search(pattern, outcome["message"]), f"{name}: {outcome['message']!r} does not match {pattern!r}"
