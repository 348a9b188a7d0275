"""`symce bench`: a quick run end to end, and the pieces it measures with.

Timings are never asserted; what is checked is that the run writes a complete report, that the
NumPy reference computes torch's losses and gradients (so the context it gives is right), that
the bandwidth is measured and that the peak-memory probe sees an allocation.
"""
import argparse
import ast
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from symce.bench import cases, cli, measure, memory, reference, report, suite
from symce.bench.cases import CASES, FORWARD, FORWARD_BACKWARD
from symce.cli import main


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run at a tiny shape, float64 only (its accuracy table is the slow part)."""
    output = tmp_path_factory.mktemp("bench")
    import contextlib
    import io
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["bench", "--quick", "--shapes", "8x5", "--dtypes", "float64", "--output", str(output)])
    return status, output, printed.getvalue()


def test_quick_run_writes_every_case_to_json_png_and_markdown(quick_run):
    status, output, printed = quick_run
    assert status == 0
    report = json.loads((output / "quick.json").read_text())
    assert [(row["case"], row["shape"], row["dtype"]) for row in report["rows"]] == [
        (case.name, [8, 5], "float64") for case in CASES]
    for row in report["rows"]:
        assert set(row["forward"]) == set(FORWARD) and set(row["forward_backward"]) == set(FORWARD_BACKWARD)
        for key in ("torch", "numpy", "symce"):
            assert row["forward"][key]["median_s"] > 0 and len(row["forward"][key]["times_s"]) == 3
            assert row["forward_backward"][key]["median_s"] > 0
        for key in ("symce_out", "symce_inplace"):  # measured once symce has out=, "n/a" with the reason before
            assert (row["forward_backward"][key] is None) == (key in row["unavailable"])
        assert row["speedup"]["forward"]["symce"] > 0 and row["speedup"]["forward_backward"]["symce"] > 0
        fastest = row["forward_backward"]["torch"]["min_s"] / row["forward_backward"]["symce"]["median_s"]
        assert row["speedup_vs_fastest_torch"]["forward_backward"]["symce"] == fastest
        assert set(row["agreement"]["forward_backward"]) >= {"numpy", "symce"}
    assert report["bandwidth"]["reference"] > 0
    assert report["threads"]["numba"] == report["threads"]["torch"] >= 1
    assert len(report["startup"]["runs"]) == 2 and all(run["total_s"] > 0 for run in report["startup"]["runs"])
    assert report["startup"]["median_s"] == report["startup"]["runs"][1]["total_s"]  # the first may fill the caches
    floor = report["startup"]["numba_floor"]
    assert len(floor["runs"]) == 2 and all(run["total_s"] > 0 for run in floor["runs"])
    if report["startup"]["hidden"]:
        assert all(run["total_s"] > 0 for run in report["startup"]["runs_hidden"] + floor["runs_hidden"])
    kernels = {row["kernel"] for row in report["accuracy"]["rows"]}
    assert {"cross_entropy integer labels", "sigmoid_binary_cross_entropy"} <= kernels
    assert (output / "quick.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| case |" in (output / "quick.md").read_text()
    assert "speed-up = torch time / symce time" in printed and "Peak extra memory" in printed
    assert "numba's own start-up" in printed


def test_quick_run_measures_peak_memory_where_linux_allows(quick_run):
    _, output, _ = quick_run
    report = json.loads((output / "quick.json").read_text())
    assert report["peak_memory"]["measured"] == measure.peak_memory_supported()
    if report["peak_memory"]["measured"]:
        row = report["rows"][0]
        assert set(row["peak_extra_bytes"]["forward_backward"]) == set(FORWARD_BACKWARD)
        assert all(value is None or value >= 0 for value in row["peak_extra_bytes"]["forward_backward"].values())


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-5)], ids=["float64", "float32"])
def test_reference_agrees_with_torch(case, dtype, tolerance):
    inputs = cases.make_inputs(case, (12, 7), dtype, seed=3)
    torch_forward, torch_forward_backward = cases.torch_functions(case, inputs)
    forward, forward_backward = cases.reference_functions(case)
    value = forward(inputs.logits, inputs.target, **inputs.options)
    both, gradient = forward_backward(inputs.logits, inputs.target, **inputs.options)
    torch_value, torch_gradient = torch_forward_backward()
    assert value == pytest.approx(torch_forward().item(), rel=tolerance)
    assert both == pytest.approx(torch_value.item(), rel=tolerance)
    assert gradient.dtype == dtype
    np.testing.assert_allclose(gradient, torch_gradient.numpy(), rtol=tolerance,
                               atol=tolerance * np.abs(torch_gradient.numpy()).max())


def test_reference_is_stable_where_a_naive_softmax_overflows():
    logits = np.array([[1e4, 0.0, -1e4], [-800.0, -800.0, -801.0]])
    value, gradient = reference.cross_entropy_value_and_grad(logits, np.array([1, 0]))
    torch_logits = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(torch_logits, torch.tensor([1, 0]))
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=1e-15)
    np.testing.assert_allclose(gradient, torch_logits.grad.numpy(), atol=1e-16)
    value, gradient = reference.binary_cross_entropy_with_logits_value_and_grad(np.array([1e4, -1e4]), np.array([0.0, 1.0]))
    assert value == 1e4 and np.array_equal(gradient, [0.5, -0.5])


def test_gradient_check_compares_every_row_of_a_small_gradient_and_a_sample_of_a_large_one():
    reference = np.ones((1000, 300))
    gradient = reference.copy()
    gradient[777, 7] = 3.0
    assert measure.gradient_difference(gradient, reference) == 2.0
    assert measure.gradient_difference(gradient, reference, sample=30_000) == 0.0  # rows 0, 10, 20, ...
    gradient[770, 7] = 1.5
    assert measure.gradient_difference(gradient, reference, sample=30_000) == 0.5


def _bench_imports(module: Path) -> set[str]:
    """The symce.bench modules ``module`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "symce.bench":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("symce.bench."):
            found.add(node.module.split(".")[2])
    return found


def test_the_bench_modules_import_one_another_without_a_cycle():
    package = Path(suite.__file__).parent
    graph = {path.stem: _bench_imports(path) for path in package.glob("*.py")}
    assert "suite" in graph["cli"] and "linear" in graph["suite"]   # the graph is read at all

    def reaches(start: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph.get(start, ()))

    assert [name for name in graph if reaches(name, name)] == []


def test_bandwidth_is_positive():
    bandwidth = measure.copy_bandwidth(1 << 24, repeat=2)
    assert bandwidth["numpy_copyto"] > 0 and bandwidth["torch_copy"] > 0
    assert bandwidth["reference"] == max(bandwidth["numpy_copyto"], bandwidth["torch_copy"])


@pytest.mark.skipif(not measure.peak_memory_supported(), reason="needs Linux's /proc/self/clear_refs")
def test_startup_can_hide_a_package_from_the_new_process():
    """The start-up measured as on a machine without SciPy: a hidden package cannot be imported
    (hiding numpy makes the run fail, naming it), and symce starts without SciPy."""
    [failed] = measure.startup(runs=1, hidden=("numpy",))
    assert "numpy" in failed["error"] and "hidden" in failed["error"]
    [run] = measure.startup(runs=1, hidden=("scipy",))
    assert run["total_s"] > 0


def test_new_processes_write_bytecode_as_python_does_by_default(monkeypatch):
    """A start-up is timed as a user's second run: the processes write Python's bytecode cache even
    where this process was told not to (a sandbox's PYTHONDONTWRITEBYTECODE)."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    script = "import json, sys\nprint(json.dumps({'writes': not sys.dont_write_bytecode}))"
    assert measure._new_processes(script, 1, ()) == [{"writes": True}]


def test_time_calls_fills_its_seconds_with_more_calls_up_to_a_limit(monkeypatch):
    def call():
        time.sleep(0.001)
    assert len(measure.time_calls(call, 3).times) == 3
    filled = measure.time_calls(call, 3, fill_seconds=0.05).times
    # past its repeats it stops at the first call that fills the seconds, however long the calls took
    assert len(filled) > 3 and sum(filled[:-1]) < 0.05 <= sum(filled)
    monkeypatch.setattr(measure, "MOST_CALLS", 5)
    assert len(measure.time_calls(call, 3, fill_seconds=10.0).times) == 5
    assert len(measure.time_calls(call, 7, fill_seconds=10.0).times) == 7  # the repeats come first


def test_full_runs_fill_their_timings_and_quick_or_fixed_ones_do_not():
    assert suite.Settings().fill_seconds == suite.FILL_SECONDS > 0
    assert suite.Settings(quick=True).fill_seconds == suite.Settings(repeat=20).fill_seconds == 0


def test_warm_median_leaves_out_the_first_process_and_failures():
    runs = [{"total_s": 5.0}, {"total_s": 0.4}, {"error": "ImportError"}, {"total_s": 0.6}, {"total_s": 0.5}]
    assert measure.warm_median(runs) == 0.5
    assert measure.warm_median(runs[:1]) is None and measure.warm_median([]) is None


def test_peak_memory_sees_a_large_allocation():
    size = 64 << 20
    assert measure.peak_extra_bytes(lambda: np.ones(size // 8)) >= 0.95 * size
    kept = np.ones(size // 8)  # already resident: using it costs nothing extra
    assert measure.peak_extra_bytes(lambda: kept.sum()) < 0.25 * size


@pytest.mark.skipif(not measure.peak_memory_supported(), reason="needs Linux's /proc/self/clear_refs")
def test_memory_probe_counts_the_call_and_not_the_loading_of_its_kernels():
    """In the benchmark's own probe process: writing the gradient over the logits costs no
    memory even for the first long rows, whose kernels the warm-up must already have loaded (loading
    them counted about 1 MiB)."""
    with memory.MemoryProbe() as probe:
        measured = probe.measure("ce_weights", (256, 1000), "float32", 0)["forward_backward"]
    assert measured["symce_inplace"] < 256 << 10
    assert measured["symce"] < (256 * 1000 * 4) + (256 << 10)  # the gradient, and not much more


def test_time_calls_restores_before_each_call_and_checks_the_warm_up():
    seen, state = [], {"value": 0}

    def call():
        state["value"] += 1
        return state["value"]
    timing = measure.time_calls(call, repeat=4, warmup=2, before=lambda: state.update(value=10), check=seen.append)
    assert seen == [11] and len(timing.times) == 4 and state["value"] == 11
    assert timing.median >= 0 and timing.spread >= 0


def test_inputs_are_reproducible_and_targets_fit_the_case():
    for case in CASES:
        a, b = cases.make_inputs(case, (50, 6), np.float32, seed=1), cases.make_inputs(case, (50, 6), np.float32, seed=1)
        assert np.array_equal(a.logits, b.logits) and np.array_equal(a.target, b.target)
        assert a.logits.dtype == np.float32 and a.logits.flags.c_contiguous
    ignored = cases.make_inputs(cases.BY_NAME["ce_ignore"], (4000, 6), np.float64).target
    assert 0.07 < np.mean(ignored == cases.IGNORE_INDEX) < 0.13
    probabilities = cases.make_inputs(cases.BY_NAME["ce_probs"], (10, 6), np.float64).target
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_large_rows_get_fewer_repeats_of_torch_and_numpy():
    settings = suite.Settings()
    assert set(settings.repeats((4096, 1000)).values()) == {suite.DEFAULT_REPEAT}
    for shape in ((8192, 32000), (4096, 4096)):
        repeats = settings.repeats(shape)
        assert repeats["torch"] == repeats["numpy"] == suite.LARGE_REPEAT
        assert repeats["symce"] == repeats["symce_out"] == repeats["symce_inplace"] == suite.DEFAULT_REPEAT
    assert set(suite.Settings(repeat=2).repeats((8192, 32000)).values()) == {2}
    assert set(suite.Settings(quick=True).repeats((8192, 32000)).values()) == {suite.QUICK_REPEAT}
    assert suite.Settings(quick=True).shapes_of(cases.BY_NAME["ce"]) == cases.QUICK_SHAPES


@pytest.mark.parametrize("text", ["4096", "4x0", "axb", "4x3x2"])
def test_bad_shapes_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="shape"):
        cli.parse_shapes(text)


def test_shapes_cases_and_dtypes_parse():
    assert cli.parse_shapes("4096x1000,65536x10") == ((4096, 1000), (65536, 10))
    assert [case.name for case in cli.parse_cases("bce_logits,ce")] == ["bce_logits", "ce"]
    assert cli.parse_dtypes("float64") == (np.dtype(np.float64),)


@pytest.mark.parametrize("text", ["float16", "int64", "float32,double"])
def test_bad_dtypes_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="dtypes"):
        cli.parse_dtypes(text)


@pytest.mark.parametrize("argv", [["--cases", "nope"], ["--repeat", "0"], ["--shapes", "4x0"], ["--dtypes", "int8"],
                                  ["--frobnicate"]])
def test_the_command_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["bench", *argv])
    assert exit.value.code == 2
    assert "error" in capsys.readouterr().err


def test_help_lists_every_case(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["bench", "--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert all(case.name in out for case in CASES)


def test_quick_readings_of_three_calls_are_marked_unreliable_and_so_are_their_ratios(quick_run):
    _, output, printed = quick_run
    row = json.loads((output / "quick.json").read_text())["rows"][0]
    assert report.unreliable(row["forward"]["symce"])  # 3 calls, fewer than UNRELIABLE_CALLS
    line = next(line for line in printed.splitlines() if line.startswith(row["title"]))
    assert line.count(f"% {report.UNRELIABLE}") == len(FORWARD) and line.endswith(f"× {report.UNRELIABLE}")
    assert "marks an unreliable reading" in printed


def _timing(spread: float, calls: int) -> dict:
    return {"median_s": 1.0, "spread": spread, "times_s": [1.0] * calls}


def test_a_reading_is_unreliable_when_spread_widely_or_taken_from_few_calls():
    steady, spread, few = _timing(0.1, 9), _timing(0.3, 9), _timing(0.0, 3)
    assert not report.unreliable(steady) and report.unreliable(spread) and report.unreliable(few)
    assert report._ratio(2.0, steady, steady) == "2.00×"
    assert report._ratio(2.0, steady, spread) == f"2.00× {report.UNRELIABLE}"


def test_a_missing_dependency_stops_the_run_before_it_writes_anything(monkeypatch, tmp_path, capsys):
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None if name == "matplotlib" else real(name))
    monkeypatch.chdir(tmp_path)
    assert main(["bench"]) == 2
    message = capsys.readouterr().err
    assert "needs matplotlib" in message and "pip install 'symce[bench]'" in message
    assert list(tmp_path.iterdir()) == []


def test_runs_write_a_new_folder_unless_asked_to_update_the_committed_results(monkeypatch, tmp_path):
    default = cli.output_folder(argparse.Namespace(output=None, update_committed=False))
    assert default.name.startswith("bench-") and not default.is_absolute()
    assert cli.output_folder(argparse.Namespace(output=tmp_path, update_committed=False)) == tmp_path
    monkeypatch.setattr(cli, "CHECKOUT_BENCHMARKS", tmp_path)
    assert cli.output_folder(argparse.Namespace(output=None, update_committed=True)) == tmp_path
    with pytest.raises(SystemExit, match="leave out --output"):
        cli.output_folder(argparse.Namespace(output=tmp_path, update_committed=True))
    monkeypatch.setattr(cli, "CHECKOUT_BENCHMARKS", tmp_path / "absent")
    with pytest.raises(SystemExit, match="needs a checkout"):
        cli.output_folder(argparse.Namespace(output=None, update_committed=True))


def test_the_tables_are_printed_and_saved_before_the_figure_is_drawn(quick_run, monkeypatch, tmp_path, capsys):
    measured = json.loads((quick_run[1] / "quick.json").read_text())
    monkeypatch.setattr(suite, "run", lambda settings, log: measured)

    def broken_figure(result, path):
        raise RuntimeError("no figure")
    monkeypatch.setattr(report, "write_png", broken_figure)
    with pytest.raises(RuntimeError, match="no figure"):
        main(["bench", "--quick", "--output", str(tmp_path)])
    assert (tmp_path / "quick.json").exists() and (tmp_path / "quick.md").exists()
    assert "Forward, ms" in capsys.readouterr().out
