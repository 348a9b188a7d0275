"""``python -m symce``: the ``symce`` command, for environments without its script on PATH."""
import sys

from symce.cli import main

sys.exit(main())
