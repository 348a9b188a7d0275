"""``symce compile path.py:NAME [--like SPEC] [--param NAME=VALUE] [--out DIR]``.

Compiles a user's loss (a Spec, or a function traced with ``--like``) into the kernel cache and
prints its gradient, the stability rewrites applied and where the kernels are.
"""
from __future__ import annotations

import argparse
import os
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="path.py:NAME",
                        help="a symce.spec.Spec, or a NumPy / torch loss function (with --like), defined in path.py")
    parser.add_argument("--like", metavar="SPEC", help="for a function: the spec whose inputs it takes, e.g. "
                                                       "softmax_cross_entropy_with_integer_labels")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="for a function: a keyword argument that becomes a parameter, with its default")
    parser.add_argument("--out", metavar="DIR", help="the kernel cache folder (default: $SYMCE_CACHE_DIR, else "
                                                     "the platform's user cache)")


def run(args: argparse.Namespace) -> int:
    from symce.compile import CacheDirError, compile
    from symce.compile.targets import load
    from symce.verify.targets import parse_init

    if args.out:
        os.environ["SYMCE_CACHE_DIR"] = args.out
    try:
        value = load(args.target)
        params = parse_init(args.param)
        loss = compile(value) if not callable(value) or args.like is None else compile(value, args.like, params)
        cached = not loss._loaded[1]
    except (ValueError, TypeError, CacheDirError) as error:
        print(f"symce compile: {error}", file=sys.stderr)
        return 2
    print(f"{loss.spec.name}: {_readable(loss.spec.formula, loss.spec.expr)}")
    variable = loss.spec.inputs[0].symbol
    print(f"gradient: ∂L/∂{variable}{'_j' if loss.kind.class_axis else ''} = {_readable(None, loss.gradient)}")
    print(f"rewrites applied: {', '.join(loss.rewrites) or 'none'}")
    print(f"kernels: {loss.path}{' (cached)' if cached else ' (generated)'}")
    return 0


def _readable(text, expr) -> str:
    """``text``, else ``expr`` as symce's formula printer writes it, else as SymPy does."""
    from symce.spec.printing import UnprintableNode, formula

    if text is not None:
        return text
    try:
        return formula(expr)
    except UnprintableNode:
        return str(expr)
