"""``python benchmarks/run.py [ARGS]`` is ``symce bench [ARGS]`` (see benchmarks/README.md)."""
import sys

from symce.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
