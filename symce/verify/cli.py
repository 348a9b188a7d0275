"""``symce verify FILE.py:FUNCTION --spec NAME``: check a hand-written loss against a spec."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from symce.verify.problem import REDUCTIONS, parse_assignments


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="path/to/losses.py:function_name")
    parser.add_argument("--spec", required=True, help="the spec it should equal (see `symce specs`)")
    parser.add_argument("--bind", help="function parameter = spec input, e.g. x=logits,y=labels "
                                       "(default: the spec's inputs in order)")
    parser.add_argument("--reduction", choices=REDUCTIONS,
                        help="how the function reduces over the batch (default: 'none' if it returns a "
                             "value per sample, else 'mean')")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="fix a spec parameter, e.g. label_smoothing=0.1 (repeatable)")
    parser.add_argument("--wrt", help="the function is the gradient of the reduced loss with respect to this input")
    parser.add_argument("--framework", choices=("numpy", "torch"), help="default: detected from the module")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def load(target: str):
    """The function named by ``path.py:name``."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"expected path/to/file.py:function, got {target!r}")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"no such file: {path}")
    module_spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(file.parent.resolve()))
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    if not callable(getattr(module, name, None)):
        raise ValueError(f"{path} defines no function {name!r}")
    return getattr(module, name)


def run(args: argparse.Namespace) -> int:
    from symce.verify.verifier import verify

    try:
        fn = load(args.target)
        params = {}
        for item in args.param:
            params.update(parse_assignments(item, "--param"))
        report = verify(fn, args.spec, bind=parse_assignments(args.bind, "--bind") or None,
                        reduction=args.reduction, params=params, wrt=args.wrt, framework=args.framework)
    except Exception as error:  # could not analyse: say why, exit 2
        message = f"{type(error).__name__}: {error}" if not isinstance(error, (ValueError, KeyError)) else str(error)
        if args.json:
            import json
            print(json.dumps({"verdict": "unknown", "reason": message.strip("'\"")}))
        else:
            print(f"symce verify: could not analyse: {message}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.text())
    return report.exit_code
