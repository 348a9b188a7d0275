"""``symce regen [--check] [--out DIR]``: regenerate the kernels, or check they are fresh."""
from __future__ import annotations

import argparse
from pathlib import Path

from symce.codegen import regen


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 listing every missing, stale (with its diff) or orphaned file")
    parser.add_argument("--out", type=Path, default=regen.DEFAULT_OUT,
                        help=f"the folder of generated modules (default: {regen.DEFAULT_OUT})")


def run(args: argparse.Namespace) -> int:
    if args.check:
        problems = regen.stale(args.out)
        for line in problems:
            print(line)
        if problems:
            print(f"{args.out} is out of date: run `symce regen`")
            return 1
        print(f"{args.out} is up to date")
        return 0
    changed = regen.write(args.out)
    print(f"{args.out}: " + (f"updated {', '.join(changed)}" if changed else "already up to date"))
    return 0
