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

from symce.bench import cases, cli, linear, measure, memory, peers, ratios, reference, report, suite
from symce.bench.cases import CASES, FORWARD, FORWARD_BACKWARD, PEERS
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
        for part in ("forward", "forward_backward"):  # every peer is timed, or n/a with its reason
            assert all(row[part][key] is not None or key in row["unavailable"] for key in PEERS)
            assert row["bound"][part]["bytes"] == row["bytes"][part] and row["bound"][part]["seconds"] > 0
            assert row["fastest_peer"][part] in cases.RIVALS
        assert row["bound"]["copy"]["buffer_bytes"] == row["bytes"]["gradient"]
    first = report["rows"][0]  # --quick compiles torch.compile there only, and keeps the compilation out
    assert "torch_compile" in first["compile_s"]["forward_backward"] or "torch_compile" in first["unavailable"]
    assert all("torch_compile" in row["unavailable"] for row in report["rows"][1:])
    assert report["linear_cross_entropy"]["unavailable"]["torch_compile"] == linear.NO_COMPILE
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
    assert "Speed-up over the fastest peer" in printed and "Memory-traffic bound of the forward+backward" in printed
    assert f"n/a: {suite.QUICK_COMPILE}" in printed


def test_quick_run_measures_peak_memory_where_linux_allows(quick_run):
    _, output, _ = quick_run
    report = json.loads((output / "quick.json").read_text())
    assert report["peak_memory"]["measured"] == measure.peak_memory_supported()
    if report["peak_memory"]["measured"]:
        row = report["rows"][0]
        assert set(row["peak_extra_bytes"]["forward_backward"]) == set(FORWARD_BACKWARD) - set(PEERS)
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
    measured = sum(row["forward"][key] is not None for key in FORWARD)  # peers may be n/a
    assert line.count(f"% {report.UNRELIABLE}") == measured and line.endswith(f"× {report.UNRELIABLE}")
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


# --- peers, bounds and ratios ---------------------------------------------------------------------

def test_the_bound_is_the_bytes_over_the_copy_bandwidth_and_a_reading_reaches_bound_over_median():
    bound = ratios.traffic_bound(3000, 1e9, {"fast": {"median_s": 6e-6}, "missing": None})
    assert bound == {"bytes": 3000, "seconds": 3e-6, "fraction": {"fast": 0.5, "missing": None}}


def _constructed_row(medians: dict[str, dict[str, float | None]]) -> dict:
    """A row as measure_row leaves it before _compare: part -> key -> median seconds (None: n/a)."""
    timing = lambda median: None if median is None else {"median_s": median, "min_s": median / 2}
    row = {"bytes": {"forward": 1000, "forward_backward": 3000, "gradient": 2000}}
    row |= {part: {key: timing(medians[part].get(key)) for key in keys}
            for part, keys in (("forward", FORWARD), ("forward_backward", FORWARD_BACKWARD))}
    return row


def test_a_row_is_compared_with_its_fastest_peer_and_its_memory_traffic_bound():
    row = _constructed_row({  # seconds, bytes and bytes/s chosen so that the ratios are exact in binary
        "forward": {"torch": 4.0, "torch_compile": None, "jax": 2.0, "numpy": 9.0, "symce": 1.0},
        "forward_backward": {"torch": 8.0, "torch_compile": 5.0, "jax": 6.0, "numpy": 9.0, "symce": 10.0,
                             "symce_out": 2.5, "symce_inplace": None}})
    suite._compare(row, bandwidth=1000.0, row_copy={"reference": 2000.0, "buffer_bytes": 2000})
    assert row["fastest_peer"] == {"forward": "jax", "forward_backward": "torch_compile"}
    assert row["speedup_vs_fastest_peer"] == {"forward": {"symce": 2.0},
                                              "forward_backward": {"symce": 0.5, "symce_out": 2.0, "symce_inplace": None}}
    assert row["speedup"]["forward"] == {"symce": 4.0}                     # against torch eager, as before
    assert row["speedup_vs_fastest_torch"]["forward_backward"]["symce_out"] == 1.6  # torch's fastest call: 4 s
    # the bounds at the row's copy bandwidth: 1000 B / 2000 B/s forward, 3000 B / 2000 B/s forward+backward
    assert row["bound"]["forward"]["seconds"] == 0.5 and row["bound"]["forward_backward"]["seconds"] == 1.5
    assert row["bound"]["forward"]["fraction"]["symce"] == 0.5 and row["bound"]["forward"]["fraction"]["jax"] == 0.25
    assert row["bound"]["forward_backward"]["fraction"]["symce_out"] == 0.6
    assert row["bound"]["forward"]["fraction"]["torch_compile"] is None
    assert row["bandwidth_fraction"]["forward"]["symce"] == 1.0           # against the run's large copy
    assert ratios.fastest({"torch": None, "jax": None}, cases.RIVALS) is None


def test_quick_runs_compile_torch_on_the_first_row_forward_backward_only():
    quick = suite.Settings(quick=True)
    assert quick.left_out(0) == {"forward": {"torch_compile": suite.QUICK_COMPILE}, "forward_backward": {}}
    assert quick.left_out(1)["forward_backward"] == {"torch_compile": suite.QUICK_COMPILE}
    assert suite.Settings().left_out(5) == {"forward": {}, "forward_backward": {}}
    only_jax = suite.Settings(peers=("jax",)).left_out(0)["forward"]
    assert set(only_jax) == {"torch_compile"} and "--peers" in only_jax["torch_compile"]
    assert cli.parse_peers("jax") == ("jax",) and cli.parse_peers("none") == ()
    with pytest.raises(argparse.ArgumentTypeError, match="unknown peer"):
        cli.parse_peers("tensorflow")


def test_a_failing_torch_compile_is_a_blank_column_and_a_note(monkeypatch):
    """As on a machine without a C++ compiler: inductor fails on the first call."""
    def compiled(function):
        def fails(*args, **kwargs):
            raise RuntimeError("no C++ compiler\nmore detail")
        return fails
    monkeypatch.setattr(peers, "torch_compiled", compiled)
    settings = suite.Settings(quick=True, peers=("torch_compile",), dtypes=(np.dtype(np.float64),))
    row = suite.measure_row(cases.BY_NAME["ce"], (8, 5), np.dtype(np.float64), settings, bandwidth=1e9)
    assert row["forward_backward"]["torch_compile"] is None and row["forward_backward"]["symce"] is not None
    reason = row["unavailable"]["torch_compile"]
    assert reason == "torch.compile failed here: RuntimeError: no C++ compiler"
    notes = report._notes({"rows": [row], "accuracy": {}, "peak_memory": {"measured": True}})
    assert f"n/a: {reason}" in notes
    cells = dict(zip(report._backward_table([row])[1], report._backward_table([row])[2][0]))
    assert cells["torch.compile"] == "n/a" and cells["JAX"] == "n/a"


#: a row's JAX column in a new process with jax hidden, as on a machine without it (CI's); the rest of
#: the row (torch, symce) is left out: it would cost the process seconds of imports, and the in-process
#: test above renders a row's blank columns
MISSING_PEER_ROW = """\
import json
import numpy as np
from symce.bench import cases, peers, report, suite
case = cases.BY_NAME["ce"]
_, builders = peers.calls(case, cases.make_inputs(case, (8, 5), np.float64), ("jax",))
row = {"forward_backward": {}, "unavailable": {}, "compile_s": {"forward_backward": {}}, "agreement": {}}
suite._time_part("forward_backward", ("jax",), builders, {"jax": 1}, row, 0.0)
notes = report._notes({"rows": [row], "accuracy": {}, "peak_memory": {"measured": True}})
print(json.dumps({"timing": row["forward_backward"]["jax"], "unavailable": row["unavailable"], "notes": notes}))
"""


def test_a_missing_peer_is_a_blank_column_and_a_note():
    [result] = measure._new_processes(MISSING_PEER_ROW, 1, hidden=("jax",))
    assert "error" not in result, result
    reason = result["unavailable"]["jax"]
    assert result["timing"] is None and reason.startswith("JAX: jax") and "not installed" in reason
    assert f"n/a: {reason}" in result["notes"]


@pytest.mark.parametrize("options", [{}, {"weight": True, "label_smoothing": 0.1, "ignore_index": 1}],
                         ids=["cases", "weights+smoothing+ignore"])
def test_the_optax_formulas_compute_torchs_losses_and_gradients(options):
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    peers.start_jax(1)
    chosen = CASES if not options else [cases.BY_NAME["ce"]]
    for case in chosen:
        inputs = cases.make_inputs(case, (12, 7), np.float64, seed=3)
        if options:
            inputs.options.update(options, weight=np.linspace(0.5, 2.0, 7))
        _, torch_forward_backward = cases.torch_functions(case, inputs)
        torch_value, torch_gradient = torch_forward_backward()
        forward, forward_backward = peers.jax_calls(case, inputs)
        value, gradient = forward_backward().run()
        assert float(forward().run()) == pytest.approx(torch_value.item(), rel=1e-12), case.name
        assert float(value) == pytest.approx(torch_value.item(), rel=1e-12), case.name
        np.testing.assert_allclose(np.asarray(gradient), torch_gradient.numpy(), rtol=1e-12, atol=1e-15)
