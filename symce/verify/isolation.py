"""The parent side of ``symce verify``: load and verify the user's code in a child process.

Importing someone's loss file runs their code, and so does verifying it: a ``print`` would
corrupt ``--json`` output, a ``sys.exit(0)`` would pass for success, an endless loop would hang
the command and a segfault would take it down. :mod:`symce.verify.child` does both in a
process of its own, in its own session so that a timeout ends whatever it started too, and
writes its answer to a file; every way it can end without one is described here, as a reason
for the verdict 'unknown'. This module imports neither torch nor the user's code.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

#: the signals faulthandler (enabled in the child) prints a traceback for
CRASHES = {signal.SIGSEGV, signal.SIGFPE, signal.SIGABRT, signal.SIGBUS, signal.SIGILL}


def verify_in_child(request: dict, timeout: float) -> dict:
    """The child's answer to ``request`` — ``{"report", "text", "exit_code"}`` or
    ``{"error"}`` — or ``{"error"}`` saying how it ended without one."""
    with tempfile.TemporaryDirectory(prefix="symce-verify-") as folder:
        result = Path(folder) / "result.json"
        command = [sys.executable, "-m", "symce.verify.child", json.dumps(request), str(result)]
        # no stdin: user code that asks for input gets EOF instead of waiting for it forever
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            status = child.wait(timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"did not finish within {timeout:g} s (an endless loop?)"}
        finally:
            _end(child)
        if result.exists():
            return json.loads(result.read_text(encoding="utf-8"))
        return {"error": ended_without_answer(status)}


def ended_without_answer(status: int) -> str:
    """Why a child with exit ``status`` (negative: the signal that killed it) sent no report."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = str(-status)
        crashed = " (a crash: the Python traceback on stderr shows where)" if -status in CRASHES else ""
        return f"the process verifying the code was killed by signal {name} before sending a report{crashed}"
    return (f"the process verifying the code exited with status {status} before sending a report "
            "(sys.exit or os._exit in the code?)")


def _end(child: subprocess.Popen) -> None:
    """Kill ``child``'s whole process group if it is still running (a timeout, or Ctrl-C here)."""
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended in between
            pass
        child.wait()
