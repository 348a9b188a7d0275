"""``symce specs``: every spec, its inputs and its one-line formula."""
import argparse

from symce.spec import SPECS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", "-v", action="store_true", help="also print inputs, parameters and docs")


def run(args: argparse.Namespace) -> int:
    width = max(len(name) for name in SPECS)
    for spec in SPECS.values():
        print(f"{spec.name:<{width}}  {spec.formula}")
        if args.verbose:
            print(f"{'':<{width}}  inputs: {', '.join(f'{i.name} ({i.domain} {i.kind})' for i in spec.inputs)}")
            if spec.params:
                print(f"{'':<{width}}  params: {', '.join(f'{p.name}={p.default}' for p in spec.params)}")
            print(f"{'':<{width}}  {spec.doc}")
    return 0
