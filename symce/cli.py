"""The ``symce`` command: one subcommand per module, loaded only when it runs.

Each subcommand module defines ``configure(parser)`` (its arguments) and ``run(args) -> int``
(its exit status), so ``symce --help`` stays fast and no subcommand imports another's code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

import symce

COMMANDS = {
    "specs": ("symce.spec.cli", "list every spec with its one-line formula"),
    "check": ("symce.identities.cli", "prove the identities and print a table of what was proven how"),
    "derive": ("symce.derivations.cli", "print a step-by-step, machine-checked derivation"),
    "regen": ("symce.codegen.cli", "regenerate the numba kernels in generated/ (--check: fail if stale)"),
    "verify": ("symce.verify.cli", "check a hand-written loss (NumPy or PyTorch) against a spec"),
    "compile": ("symce.compile.cli", "compile your own loss (path.py:NAME) to cached kernels; print its gradient"),
    "bench": ("symce.bench.cli", "time the generated kernels against torch on this machine"),
}

DESCRIPTION = """\
symce: the mathematics of classification losses, proven and compiled.

One SymPy definition per quantity (symce specs); identities about them proven by SymPy
(symce check); step-by-step derivations in LaTeX, Markdown or text (symce derive); numba
kernels generated from the definitions (symce regen); hand-written loss code checked
against them (symce verify).
"""


def parser_for(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symce", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"symce {symce.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, (module, summary) in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary)
        if name == chosen:
            importlib.import_module(module).configure(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = parser_for(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return importlib.import_module(COMMANDS[args.command][0]).run(args)


if __name__ == "__main__":
    sys.exit(main())
