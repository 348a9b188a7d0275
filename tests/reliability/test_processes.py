"""symce inside the processes training code runs in: fork pools, DataLoader workers, Python threads,
processes racing to fill a cold cache, a corrupt cache file, and a regeneration killed midway.

Each scenario runs in a child process with a timeout, so that a hang or a kill fails its test instead
of the run. References are torch's losses, computed in the child next to symce's.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest

import symce.functional as F
from symce import kernel_cache
from symce.codegen import regen

TIMEOUT = 240


def child(code: str, env: dict | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run ``code`` in a new Python; fail (not hang) if it outlives ``timeout``."""
    environment = {**os.environ, **(env or {})}
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              timeout=timeout, env=environment)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"the child hung for {timeout} s; its output: {expired.stdout!r} {expired.stderr!r}")


def passes(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


FORK_POOL = """
    import multiprocessing, numpy as np, torch, torch.nn.functional as TF
    import symce.functional as sf

    def inputs(seed):
        rng = np.random.default_rng(seed)
        return rng.normal(size=(64, 7)), rng.integers(0, 7, 64)

    def ours(seed):
        return float(sf.cross_entropy(*inputs(seed), label_smoothing=0.1))

    # torch's references are computed here: torch itself hangs in a forked child that runs its
    # operators after the parent did, unless the child calls torch.set_num_threads(1) first
    theirs = [float(TF.cross_entropy(*map(torch.from_numpy, inputs(seed)), label_smoothing=0.1)) for seed in range(6)]
    ours(0)  # a kernel runs in the parent before the fork
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(max(abs(a - b) for a, b in zip(pool.map_async(ours, range(6)).get(timeout=120), theirs)))
"""


def tbb_installed() -> bool:
    try:
        version("tbb")
    except PackageNotFoundError:
        return False
    return True


needs_tbb = pytest.mark.skipif(not tbb_installed(), reason="the tbb package has no wheel for this platform")


@needs_tbb
def test_kernels_run_on_the_tbb_layer_unless_the_user_chose_another():
    code = "import numpy as np, numba, symce.functional as sf; sf.softmax(np.zeros((2, 3)), 1); print(numba.threading_layer())"
    assert passes(child(code)).strip() == "tbb"
    assert passes(child(code, env={"NUMBA_THREADING_LAYER": "workqueue"})).strip() == "workqueue"


@needs_tbb
def test_a_fork_pool_after_a_kernel_ran_computes_torchs_numbers():
    assert float(passes(child(FORK_POOL))) < 1e-12


def test_a_fork_after_gnu_openmp_ran_raises_an_error_that_names_the_fix():
    """Where the layer is GNU OpenMP (tbb missing, or chosen), a forked child must get an error it can
    report, not be killed (which hangs the pool)."""
    result = child(FORK_POOL, env={"NUMBA_THREADING_LAYER": "omp"})
    assert result.returncode != 0
    assert "forked from one that had already run numba's OpenMP" in result.stderr
    assert "spawn" in result.stderr and "pip install tbb" in result.stderr


@needs_tbb
def test_dataloader_workers_call_symce_torch():
    code = """
        import torch, torch.nn.functional as TF
        import symce.torch as S

        class Losses(torch.utils.data.Dataset):
            def __len__(self):
                return 8
            def __getitem__(self, i):
                g = torch.Generator().manual_seed(i)
                x, t = torch.randn(16, 5, generator=g, dtype=torch.float64), torch.randint(0, 5, (16,), generator=g)
                return S.cross_entropy(x, t) - TF.cross_entropy(x, t)

        S.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]))  # a kernel runs before the workers fork
        loader = torch.utils.data.DataLoader(Losses(), batch_size=4, num_workers=2, timeout=120)
        print(max(float(batch.abs().max()) for batch in loader))
    """
    assert float(passes(child(code))) < 1e-12


def test_concurrent_calls_from_threads_give_the_serial_results_bit_for_bit():
    rng = np.random.default_rng(0)
    cases = [(rng.normal(size=(4096, classes)).astype(dtype), rng.integers(0, classes, 4096))
             for classes in (10, 1000) for dtype in (np.float32, np.float64)]
    serial = [F.cross_entropy_value_and_grad(x, t, label_smoothing=0.1) for x, t in cases]

    def call(number):
        x, t = cases[number % len(cases)]
        return number % len(cases), F.cross_entropy_value_and_grad(x, t, label_smoothing=0.1)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(64)))
    for number, (loss, grad) in results:
        assert loss == serial[number][0]
        np.testing.assert_array_equal(grad, serial[number][1])


#: a call that compiles its kernels where the cache is cold: the elementwise BCE-with-logits family, the
#: cheapest to compile (the row kernels of cross_entropy take about twice as long)
COLD_CALL = """
    import numpy as np, torch, torch.nn.functional as TF
    import symce.functional as sf
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(32, 6)), rng.uniform(size=(32, 6))
    loss, grad = sf.binary_cross_entropy_with_logits_value_and_grad(x, y)
    leaf = torch.from_numpy(x).requires_grad_(True)
    TF.binary_cross_entropy_with_logits(leaf, torch.from_numpy(y)).backward()
    print(abs(float(loss) - float(TF.binary_cross_entropy_with_logits(torch.from_numpy(x), torch.from_numpy(y)))),
          float(np.abs(grad - leaf.grad.numpy()).max()))
"""


def errors(stdout: str) -> list[float]:
    return [float(value) for value in stdout.split()]


def test_cold_cache_races_then_a_corrupt_cache_is_recompiled_with_one_warning(tmp_path):
    """Two processes compile into one empty cache at once; a third loads what they wrote; then every
    index of that cache is truncated, and the next process says so once, recompiles and is right."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    racers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(COLD_CALL)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, **env}) for _ in range(2)]
    for racer in racers:
        stdout, stderr = racer.communicate(timeout=TIMEOUT)
        assert racer.returncode == 0, stderr
        assert max(errors(stdout)) < 1e-12
    indexes = list(tmp_path.rglob("*.nbi"))
    assert indexes, "the racers cached nothing"
    assert max(errors(passes(child(COLD_CALL, env)))) < 1e-12
    for index in indexes:
        index.write_bytes(index.read_bytes()[:20])
    repaired = child(COLD_CALL, env)
    assert max(errors(passes(repaired))) < 1e-12
    assert "KernelCacheWarning" in repaired.stderr and "could not be read" in repaired.stderr
    again = child(COLD_CALL, env)
    assert max(errors(passes(again))) < 1e-12 and "KernelCacheWarning" not in again.stderr


def test_regen_reports_and_removes_cache_files_numba_could_not_load(tmp_path):
    files = regen.render()
    regen.write(tmp_path, files)
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    (cache / "softmax.softmax_rows-10.py311.nbi").write_bytes(b"")
    (cache / "softmax.softmax_rows-10.py311.1.nbc").write_bytes(b"\x80\x05garbled")
    assert [path.name for path in kernel_cache.unreadable(tmp_path)] == [
        "softmax.softmax_rows-10.py311.1.nbc", "softmax.softmax_rows-10.py311.nbi"]
    assert any("unreadable numba cache" in line for line in regen.stale(tmp_path, files))
    regen.write(tmp_path, files)
    assert kernel_cache.unreadable(tmp_path) == [] and regen.stale(tmp_path, files) == []


def test_a_killed_regen_leaves_every_module_old_or_new(tmp_path):
    """kill -9 at moments spread over a regeneration: each module is then the old text or the new one,
    never empty or torn, and no temporary file is left where Python would import it."""
    files = regen.render()
    old = {name: text + "# an older generation\n" for name, text in files.items()}
    command = [sys.executable, "-m", "symce.cli", "regen", "--out", str(tmp_path)]
    for delay in (0.3, 0.8, 1.3, 1.8, 2.5, 3.5):
        regen.write(tmp_path, old)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for name in files:
            assert (tmp_path / name).read_text() in (old[name], files[name]), (name, delay)
    regen.write(tmp_path, files)
    assert regen.stale(tmp_path, files) == [] and not list(tmp_path.glob(".*.tmp"))


def test_a_write_that_fails_before_its_rename_leaves_the_old_module(tmp_path, monkeypatch):
    path = tmp_path / "module.py"
    path.write_text("old = 1\n")

    def crash(source, target):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        regen.write_if_changed(path, "new = 2\n")
    assert path.read_text() == "old = 1\n" and [p.name for p in tmp_path.iterdir()] == ["module.py"]
