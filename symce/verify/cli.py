"""``symce verify FILE.py:NAME --spec NAME``: check a hand-written loss against a spec.

The loss is loaded and verified in a child process (:mod:`symce.verify.isolation`): what its
code prints goes to stderr, and an exit, crash or endless loop in it is the verdict 'unknown'
(exit status 2), never a success.
"""
from __future__ import annotations

import argparse
import json
import sys

from symce.verify.isolation import verify_in_child
from symce.verify.problem import REDUCTIONS


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="path/to/losses.py:NAME, where NAME is a function, a callable class "
                                       "(an nn.Module, say; constructed with --init or its defaults), "
                                       "Class.method, or a callable object the module defines")
    parser.add_argument("--spec", required=True, help="the spec it should equal (see `symce specs`), or "
                                                      "path/to/file.py:NAME, a Spec or a function there (--like)")
    parser.add_argument("--like", metavar="SPEC", help="where --spec names a function: the spec whose inputs it "
                                                       "takes (the function is traced into a spec)")
    parser.add_argument("--bind", help="function parameter = spec input, e.g. x=logits,y=labels "
                                       "(default: the spec's inputs in order)")
    parser.add_argument("--reduction", choices=REDUCTIONS,
                        help="how the function reduces over the batch (default: 'none' if it returns a "
                             "value per sample, else 'mean')")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="fix a spec parameter, e.g. label_smoothing=0.1 (repeatable)")
    parser.add_argument("--init", action="append", default=[], metavar="NAME=VALUE",
                        help="a constructor argument of a class target, e.g. smoothing=0.1 (repeatable; "
                             "a Python literal, else a string)")
    parser.add_argument("--wrt", help="the function is the gradient of the reduced loss with respect to this input")
    parser.add_argument("--framework", choices=("numpy", "torch"), help="default: detected from the code")
    parser.add_argument("--timeout", type=_seconds, default=60.0, metavar="SECONDS",
                        help="give up (verdict unknown) after this long (default: 60)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def request(args: argparse.Namespace) -> dict:
    """What the child needs to load and verify the target: the options as given."""
    return {"target": args.target, "spec": args.spec, "bind": args.bind, "reduction": args.reduction,
            "params": args.param, "wrt": args.wrt, "framework": args.framework, "init": args.init,
            "like": args.like}


def run(args: argparse.Namespace) -> int:
    answer = verify_in_child(request(args), args.timeout)
    if "error" in answer:  # could not analyse: say why, exit 2
        if args.json:
            print(json.dumps({"verdict": "unknown", "reason": answer["error"]}, ensure_ascii=False))
        else:
            print(f"symce verify: could not analyse: {answer['error']}", file=sys.stderr)
        return 2
    print(json.dumps(answer["report"], indent=2, ensure_ascii=False) if args.json else answer["text"])
    return answer["exit_code"]
