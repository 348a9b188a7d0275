"""``symce derive NAME [--format latex|markdown|text]`` and ``symce derive --list``."""
from __future__ import annotations

import argparse
import sys

from symce.compile.targets import is_path, spec as spec_named
from symce.derivations.catalog import CATALOG, derivation, generic_gradient
from symce.derivations.core import DerivationError
from symce.derivations.printing import FORMATS, render


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Print a step-by-step derivation whose every step SymPy has checked. NAME is a spec "
                          "(the gradient with respect to its first input) or an identity.")
    parser.add_argument("name", nargs="?", metavar="NAME", help="a spec or identity name (see --list), or "
                                                                "path/to/file.py:NAME, a Spec or a function there")
    parser.add_argument("--like", metavar="SPEC", help="where NAME is a function: the spec whose inputs it takes")
    parser.add_argument("--format", "-f", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--list", "-l", action="store_true", help="list the derivations and exit")


def _listing() -> str:
    width = max(len(name) for name in CATALOG)
    lines = []
    for kind in ("identity", "gradient"):
        lines.append(f"{kind} derivations:")
        lines += [f"  {entry.name:<{width}}  {entry.summary}" for entry in CATALOG.values() if entry.kind == kind]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(_listing())
        return 0
    if args.name is None:
        print("symce derive: give a NAME or --list", file=sys.stderr)
        return 2
    if is_path(args.name):  # a user's Spec, or a function traced into one: its generic gradient
        try:
            found = generic_gradient(spec_named(args.name, args.like))
        except (ValueError, TypeError) as error:
            print(f"symce derive: {error}", file=sys.stderr)
            return 2
        print(render(found, args.format))
        return 0
    if args.name not in CATALOG:
        print(f"symce derive: no derivation named {args.name!r}; `symce derive --list` lists the "
              f"{len(CATALOG)} known names", file=sys.stderr)
        return 2
    try:
        print(render(derivation(args.name), args.format))
    except DerivationError as error:
        print(f"symce derive: {error}", file=sys.stderr)
        return 1
    return 0
