"""symce.compile.cache: where the kernels live, under which names, and how processes share them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import sympy as sp

from symce.compile import cache
from symce.spec import Param, Spec, blocks
from symce.spec.losses import INT_LABELS, LOGITS
from symce.spec.symbols import t, z

SCALE = sp.Symbol("scale", positive=True)


def _spec(name="scaled_ce", default=1):
    return Spec(name=name, expr=-SCALE * blocks.log_softmax(z, t), inputs=(LOGITS, INT_LABELS),
                params=(Param("scale", SCALE, "scalar", sp.Integer(default), "a factor"),),
                doc="Scaled cross-entropy.")


def test_the_key_follows_the_spec_and_is_stable():
    assert cache.key(_spec()) == cache.key(_spec())
    assert cache.key(_spec()) != cache.key(_spec(default=2))
    assert cache.key(_spec()) != cache.key(_spec(name="other"))
    name = cache.module_name(_spec(), cache.key(_spec()))
    assert name == f"symce_compiled_scaled_ce_{cache.key(_spec())[:16]}"


def test_the_cache_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCE_CACHE_DIR", str(tmp_path / "here"))
    assert cache.root() == tmp_path / "here" and (tmp_path / "here").is_dir()
    monkeypatch.delenv("SYMCE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert cache.root() == tmp_path / "xdg" / "symce"


def test_an_unwritable_cache_folder_says_what_to_do(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SYMCE_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(cache.CacheDirError, match="set SYMCE_CACHE_DIR to a writable folder"):
        cache.root()
    monkeypatch.delenv("SYMCE_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(blocker))  # a home that is not a folder
    if sys.platform.startswith("linux"):
        with pytest.raises(cache.CacheDirError, match=str(blocker)):
            cache.root()


def test_write_once_never_replaces_a_module(tmp_path):
    path = tmp_path / "kernels.py"
    assert cache.write_once(path, "first\n")
    mtime = path.stat().st_mtime_ns
    assert not cache.write_once(path, "second\n")
    assert path.read_text() == "first\n" and path.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == ["kernels.py"]  # no temporary file left behind


RACER = textwrap.dedent('''
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import symce
    from test_compile_cache import _spec
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.005)
    loss = symce.compile(_spec(name="scaled_ce_race"))
    value = loss(np.array([[2.0, -1.0, 0.5], [0.0, 30.0, -30.0]]), np.array([0, 2]), reduction="none", scale=0.5)
    print(json.dumps({"generated": loss._loaded[1], "value": value.tolist(), "path": str(loss.path)}))
''')


def test_two_processes_compiling_the_same_new_spec_at_once(tmp_path):
    env = {**os.environ, "SYMCE_CACHE_DIR": str(tmp_path)}
    start = time.time() + 3  # both wait for this moment, after their imports
    racers = [subprocess.Popen([sys.executable, "-c", RACER, os.path.dirname(__file__), str(start)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    answers = []
    for racer in racers:
        out, err = racer.communicate(timeout=600)
        assert racer.returncode == 0, err
        answers.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(answer["generated"] for answer in answers) == [False, True]  # one wrote, one waited
    assert answers[0]["value"] == answers[1]["value"]
    # the reference: 0.5 (logsumexp(z) - z_t), in float64 from its definition
    rows, labels = np.array([[2.0, -1.0, 0.5], [0.0, 30.0, -30.0]]), [0, 2]
    expected = [0.5 * (np.logaddexp.reduce(row) - row[label]) for row, label in zip(rows, labels)]
    np.testing.assert_allclose(answers[0]["value"], expected, rtol=1e-14)
    folder = os.path.dirname(answers[0]["path"])
    names = sorted(os.listdir(folder))
    assert not [name for name in names if name.endswith(".tmp")], names
    with open(answers[0]["path"]) as module:
        compile(module.read(), answers[0]["path"], "exec")  # whole, not torn
