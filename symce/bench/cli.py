"""``symce bench``: the command-line arguments and the run (see :mod:`symce.bench`)."""
from __future__ import annotations

import argparse
import importlib.util
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

from symce.bench.cases import BY_NAME, PEERS

DTYPES = ("float32", "float64")
#: the checkout's benchmarks/, where the committed results live (absent in an installed package)
CHECKOUT_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
#: what the run imports beyond symce's own dependencies (the `bench` extra)
DEPENDENCIES = ("torch", "matplotlib")


def parse_shapes(text: str) -> tuple[tuple[int, int], ...]:
    """'4096x1000,65536x10' -> ((4096, 1000), (65536, 10))."""
    try:
        shapes = tuple(tuple(int(size) for size in item.lower().split("x")) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shapes must look like 4096x1000,65536x10, got {text!r}") from None
    if any(len(shape) != 2 or min(shape) < 1 for shape in shapes):
        raise argparse.ArgumentTypeError(f"each shape is NxC with N, C >= 1, got {text!r}")
    return shapes


def parse_dtypes(text: str) -> tuple[np.dtype, ...]:
    """'float32,float64' -> the dtypes; only those the kernels are compiled for."""
    names = tuple(text.split(","))
    if not set(names) <= set(DTYPES):
        raise argparse.ArgumentTypeError(f"dtypes must be among {', '.join(DTYPES)}, got {text!r}")
    return tuple(np.dtype(name) for name in dict.fromkeys(names))


def _known_names(text: str, known, what: str) -> tuple[str, ...]:
    """The comma-separated names of ``text``, once each and in order, all of them in ``known``."""
    names = tuple(dict.fromkeys(text.split(",")))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what}(s) {', '.join(unknown)}; {what}s are {', '.join(known)}")
    return names


def parse_cases(text: str):
    """'ce,bce_logits' -> those cases, in the order given."""
    return tuple(BY_NAME[name] for name in _known_names(text, BY_NAME, "case"))


def parse_peers(text: str) -> tuple[str, ...]:
    """'jax,torch_compile' -> those peers; 'none' -> no peer."""
    return () if text == "none" else _known_names(text, PEERS, "peer")


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def missing_dependencies() -> list[str]:
    return [name for name in DEPENDENCIES if importlib.util.find_spec(name) is None]


def default_output() -> Path:
    """A new folder in the working directory, named by the date and the machine, so that a run never
    overwrites another's results (the committed ones included: --update-committed writes those)."""
    cpu = platform.processor() or platform.machine()
    machine = re.sub(r"[^A-Za-z0-9]+", "-", f"{platform.node()}-{cpu}").strip("-")
    return Path(f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{machine}")


def output_folder(args: argparse.Namespace) -> Path:
    if not args.update_committed:
        return args.output or default_output()
    if args.output is not None:
        raise SystemExit("symce bench: --update-committed writes the checkout's benchmarks/; leave out --output")
    if not CHECKOUT_BENCHMARKS.is_dir():
        raise SystemExit(f"symce bench: --update-committed needs a checkout of symce ({CHECKOUT_BENCHMARKS} "
                         "does not exist); use --output DIR")
    return CHECKOUT_BENCHMARKS


def configure(parser: argparse.ArgumentParser) -> None:
    cases = ", ".join(f"{case.name} ({case.title})" for case in BY_NAME.values()).replace("%", "%%")
    parser.description = (
        "Time symce.functional against torch (same thread count) and a plain NumPy reference, forward and "
        "forward+backward, with the fraction of the measured copy bandwidth, peak extra memory, start-up time "
        "and the accuracy table; print the tables and write results.json, results.png and results.md "
        "(quick.json, quick.png, quick.md with --quick) into --output.")
    parser.add_argument("--quick", action="store_true", help="small shapes and 3 repeats: under a minute once numba has cached the kernels")
    parser.add_argument("--repeat", type=positive_int, default=None,
                        help="timed calls per measurement (default 9; torch and NumPy 3 on rows of 16 Mi elements or "
                             "more; 3 with --quick)")
    parser.add_argument("--shapes", type=parse_shapes, default=None,
                        help="comma-separated NxC shapes for every case (binary cross-entropy: the input's shape); "
                             "default: each case's own")
    parser.add_argument("--dtypes", type=parse_dtypes, default=tuple(np.dtype(d) for d in DTYPES),
                        help="comma-separated: float32,float64 (default both)")
    parser.add_argument("--cases", type=parse_cases, default=None, help=f"comma-separated, of: {cases}")
    parser.add_argument("--peers", type=parse_peers, default=tuple(PEERS),
                        help=f"comma-separated, of: {', '.join(PEERS)} (torch.compile, JAX + optax), or none; "
                             "default: all (--quick compiles torch.compile on its first row only)")
    parser.add_argument("--no-linear", dest="linear", action="store_false",
                        help="leave out the chunked linear + cross-entropy row (8192×1024→32000 float32)")
    parser.add_argument("--output", type=Path, default=None, metavar="DIR",
                        help="where to write the results (default: a new folder bench-DATE-MACHINE here)")
    parser.add_argument("--update-committed", action="store_true",
                        help="write the results into the checkout's benchmarks/, replacing the committed ones")


def run(args: argparse.Namespace) -> int:
    missing = missing_dependencies()
    if missing:
        print(f"symce bench needs {' and '.join(missing)}, not installed here: pip install 'symce[bench]' "
              "(torch==2.13.0 and matplotlib)", file=sys.stderr)
        return 2
    from symce.bench import report, suite

    settings = suite.Settings(cases=args.cases or suite.Settings.cases, shapes=args.shapes,
                              dtypes=tuple(args.dtypes), repeat=args.repeat, quick=args.quick,
                              linear=args.linear, peers=args.peers)
    output = output_folder(args)
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(message):
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    result = suite.run(settings, log=log)
    stem = "quick" if args.quick else "results"
    # the tables first: a figure that fails to draw must not cost the measurements
    report.write_json(result, output / f"{stem}.json")
    (output / f"{stem}.md").write_text(report.markdown(result))
    print(report.text(result))
    report.write_png(result, output / f"{stem}.png")
    print(f"\nwritten: {', '.join(str(output / f'{stem}.{ext}') for ext in ('json', 'png', 'md'))} "
          f"({result['seconds']:.0f} s)")
    return 0
