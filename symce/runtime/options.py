"""The numba options every runtime function states."""
from __future__ import annotations

#: cached (a source file per module), and IEEE division (inf/nan, as torch gives) instead of
#: Python's ZeroDivisionError check, whose branch also stops a loop from vectorising
JIT_OPTIONS = {"cache": True, "error_model": "numpy"}

#: reassoc lets LLVM vectorise the row sums (their order is free); contract allows FMA. No
#: nnan/ninf/nsz: inf and nan keep their IEEE meaning, which the plain-row branch relies on.
FASTMATH = {"reassoc", "contract"}

#: the polynomial helpers': FMA, but their arithmetic in its written order
CONTRACT = {"contract"}
