"""The set-up the symce.compile tests share: specs in a file, compiled by a first process into a cache
under tmp, and the test process pointed at that cache (so a second process can be checked to load it)."""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys

import pytest


def run_workload(workload: str, folder, cache) -> dict:
    """``workload`` (Python printing one JSON line last) run in a new process over ``folder``'s specs."""
    env = {**os.environ, "SYMCE_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", workload, str(folder)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def compiled_first(tmp_path_factory, module: str, text: str, workload: str):
    """``text`` written as ``<module>.py``, a cache compiled by a first process running ``workload``, and this
    process pointed at that cache with the module imported: {"folder", "cache", "first", "losses"}."""
    folder = tmp_path_factory.mktemp("losses")
    (folder / f"{module}.py").write_text(text)
    cache = tmp_path_factory.mktemp("cache")
    first = run_workload(workload, folder, cache)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYMCE_CACHE_DIR", str(cache))
        patch.syspath_prepend(str(folder))
        yield {"folder": folder, "cache": cache, "first": first, "losses": importlib.import_module(module)}
