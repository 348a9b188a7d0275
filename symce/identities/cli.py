"""``symce check``: establish the identities and print what was proven how.

Progress goes to stderr (one line per identity, as it starts); the table (or JSON) to
stdout. The exit status is 1 when any identity FAILED.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence, TextIO

from symce.identities import IDENTITIES, establish_all
from symce.identities.core import Identity, Result

COLUMNS = ("name", "statement", "status", "seconds")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(IDENTITIES),
                        help="establish only these identities (default: all)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--how", action="store_true", help="add the argument used and its details under each row")


def table(results: Sequence[Result], how: bool = False) -> str:
    """The results as an aligned text table: name, statement, status, seconds."""
    rows = [(r.identity.name, r.identity.statement, r.label, f"{r.seconds:.2f}") for r in results]
    widths = [max(len(column), *(len(row[n]) for row in rows)) for n, column in enumerate(COLUMNS)]
    widths[1] = min(widths[1], 90)

    def line(cells) -> str:
        return "  ".join(cell.ljust(width) if n < 3 else cell.rjust(width)
                         for n, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    out = [line(COLUMNS), line("-" * width for width in widths)]
    for result, row in zip(results, rows):
        statement = row[1] if len(row[1]) <= widths[1] else row[1][: widths[1] - 1] + "…"
        out.append(line((row[0], statement, row[2], row[3])))
        if how or not result.ok:
            if result.identity.assumptions:
                out.append(f"    assuming: {'; '.join(a.text for a in result.identity.assumptions)}")
            out.append(f"    how: {result.identity.how}")
            out.append(f"    {result.outcome.detail}")
    proven = sum(r.status.proven for r in results)
    numeric = sum(not r.status.proven and r.ok for r in results)
    failed = sum(not r.ok for r in results)
    total = sum(r.seconds for r in results)
    out.append(f"\n{len(results)} identities: {proven} proven, {numeric} checked numerically only, "
               f"{failed} failed ({total:.1f} s)")
    return "\n".join(out)


def report(results: Sequence[Result], as_json: bool = False, how: bool = False, out: TextIO | None = None) -> int:
    """Print the results (to stdout unless ``out`` is given); the exit status: 1 if any identity failed, else 0."""
    out = sys.stdout if out is None else out
    if as_json:
        json.dump([r.as_dict() for r in results], out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(table(results, how) + "\n")
    return 0 if all(r.ok for r in results) else 1


def _progress(position: int, total: int, identity: Identity) -> None:
    print(f"[{position}/{total}] {identity.name} ...", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    results = establish_all(args.only, progress=_progress)
    return report(results, as_json=args.json, how=args.how)
