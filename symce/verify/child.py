"""The child side of ``symce verify``: ``python -m symce.verify.child REQUEST_JSON RESULT_PATH``.

Loads the target and verifies it in this process, so that nothing the user's code does (print,
exit, crash, loop) reaches the command's output; :mod:`symce.verify.isolation` starts it and
reads the answer. The answer goes to ``RESULT_PATH``, never to stdout:
``{"report": ..., "text": ..., "exit_code": ...}``, or ``{"error": ...}`` when loading or
verifying raised. A process that ends without writing it (sys.exit, os._exit, a signal) is the
parent's to describe.
"""
from __future__ import annotations

import faulthandler
import json
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from symce.compile.targets import is_path, spec as spec_named
from symce.verify.problem import parse_assignments
from symce.verify.targets import load_target, parse_init, split_target
from symce.verify.verifier import verify


def answer(request: dict) -> dict:
    """The report for ``request`` (the command's options, as :func:`symce.verify.cli.request` makes
    them), or the error that stopped it."""
    try:
        target = load_target(request["target"], parse_init(request["init"]))
        params = {}
        for item in request["params"]:
            params.update(parse_assignments(item, "--param"))
        spec = request["spec"]
        if is_path(spec):  # a user's Spec, or a function traced into one, in path.py:NAME
            spec = spec_named(spec, request.get("like"))
        report = verify(target.fn, spec, bind=parse_assignments(request["bind"], "--bind") or None,
                        reduction=request["reduction"], params=params, wrt=request["wrt"],
                        framework=request["framework"])
        report.function = target.name  # as the command named it: ScaledCE(scale=2), loss, ScaledCE.loss
    except Exception as error:  # the request, or the user's code, failed: say why
        where = _user_line(error, request["target"])
        if where is not None:  # the user's own code raised: its whole traceback helps them
            traceback.print_exception(error)
        return {"error": describe(error, where)}
    # through JSON text and back: to_json turns any NumPy number to_dict leaves into a plain float
    return {"report": json.loads(report.to_json()), "text": report.text(), "exit_code": report.exit_code}


def describe(error: Exception, where: str | None) -> str:
    """One line: our own ValueErrors and KeyErrors (a bad request) by their message; anything
    else, and whatever the user's code raised, by type, message and ``where`` (file.py:LINE)."""
    # a KeyError's str() is its message in quotes
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    if where is None and isinstance(error, (ValueError, KeyError)):
        return message
    return f"{type(error).__name__}: {message}" + (f" (at {where})" if where else "")


def _user_line(error: BaseException, target: str) -> str | None:
    """``file.py:LINE``, the deepest line of the user's file the error passed through."""
    try:
        file, _ = split_target(target)
    except ValueError:
        return None
    resolved = file.resolve()
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if Path(frame.filename).resolve() == resolved]
    if isinstance(error, SyntaxError) and error.filename and Path(error.filename).resolve() == resolved:
        lines.append(error.lineno)
    return f"{file}:{lines[-1]}" if lines else None


def print_to_stderr() -> None:
    """Point stdout, the file descriptor as well as ``sys.stdout``, at stderr: what the user's
    code prints, from Python or native code, shows but never mixes into the command's output."""
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def send(result: dict, path: str) -> None:
    """Write ``result`` whole or not at all: the parent reads the file only once it exists."""
    partial = f"{path}.partial"
    Path(partial).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


def main(argv: list[str]) -> NoReturn:
    request_json, result_path = argv
    request = json.loads(request_json)
    print_to_stderr()
    faulthandler.enable()  # a crash in native code shows the Python line it happened on
    sys.argv = [request["target"].rpartition(":")[0]]  # code that reads argv sees its own file, not our request
    send(answer(request), result_path)
    sys.stderr.flush()
    # the answer is sent: no thread the user's code left running, nor an atexit hook of it, may
    # keep this process (and the command waiting for it) alive
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
