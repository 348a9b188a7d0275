"""The benchmark report: text tables (printed), Markdown tables, JSON and a PNG figure.

Every table is built once as headers and rows of strings (:func:`tables`) and rendered either as
aligned text or as Markdown, so the README quotes exactly what the run printed.
"""
from __future__ import annotations

import json
from pathlib import Path

from symce.bench.cases import FORWARD, FORWARD_BACKWARD, PEERS

MIB = 1 << 20
SYMCE_KEYS = tuple(key for key in FORWARD_BACKWARD if key.startswith("symce"))

#: a reading is unreliable when its interquartile range exceeds this fraction of its median, or when it
#: rests on fewer than UNRELIABLE_CALLS calls (--quick's 3 repeats gave ratios from 0.39x to 52.8x in one table)
UNRELIABLE_SPREAD = 0.25
UNRELIABLE_CALLS = 5
#: the marker of an unreliable reading, and of a ratio computed from one
UNRELIABLE = "?"


def unreliable(timing) -> bool:
    """Whether a timing's median cannot be trusted: too few calls, or calls spread too widely."""
    return timing is not None and (len(timing["times_s"]) < UNRELIABLE_CALLS or timing["spread"] > UNRELIABLE_SPREAD)


def _ms(timing) -> str:
    if timing is None:
        return "n/a"
    marker = f" {UNRELIABLE}" if unreliable(timing) else ""
    return f"{_significant(timing['median_s'] * 1e3)} ±{timing['spread'] * 100:.0f}%{marker}"


def _significant(value: float) -> str:
    """Three significant digits, without exponent: 0.0123, 1.23, 12.3, 123, 1234."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _ratio(value, *timings) -> str:
    """A speed-up, marked unreliable where any of the ``timings`` it divides is."""
    if value is None:
        return "n/a"
    return f"{value:.2f}×" + (f" {UNRELIABLE}" if any(unreliable(timing) for timing in timings) else "")


def _percent(value) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _memory(row, part, key) -> str:
    peaks = row.get("peak_extra_bytes")
    if peaks is None or peaks[part].get(key) is None:
        return "n/a"
    extra = peaks[part][key]
    return f"{extra / MIB:.1f} ({extra / row['bytes']['gradient']:.2f}×)"


def _label(row) -> list[str]:
    return [row["title"], "x".join(map(str, row["shape"])), row["dtype"]]


def _load(report: dict, when: str) -> str:
    value = report.get("load_average", {}).get(when)
    return "?" if value is None else f"{value:.2f}"


def header_lines(report: dict) -> list[str]:
    """What ran where: machine, threads, repeats, bandwidth, start-up."""
    m, settings, bandwidth = report["machine"], report["settings"], report["bandwidth"]
    memory = f", {m['memory_bytes'] / (1 << 30):.0f} GiB RAM" if m.get("memory_bytes") else ""
    threads = report["threads"]
    if settings["repeat"]:
        repeats = f"{settings['repeat']} calls"
    elif settings["quick"]:
        repeats = f"{settings['quick_repeat']} calls"
    else:
        repeats = (f"{settings['default_repeat']} calls (torch and NumPy: {settings['large_repeat']} on rows of "
                   f"{settings['large_elements'] / 2**20:.0f} Mi elements or more)")
        if settings.get("fill_seconds"):
            repeats += (f", and more while they add up to less than {settings['fill_seconds']} s (at most "
                        f"{settings['most_calls']} calls)")
    def startup_runs(runs, median):
        each = ", ".join(f"{run['total_s']:.2f}" if "total_s" in run else f"failed ({run['error']})" for run in runs)
        # the median of the processes after the first, which may fill the caches
        return (f"median {median:.2f} s after the first" if median is not None else "no median") + f" (each, s: {each})"

    def with_hidden(measured, hidden_note):
        runs = startup_runs(measured["runs"], measured.get("median_s"))
        if measured.get("runs_hidden"):
            runs += f"; with {', '.join(report['startup']['hidden'])} hidden{hidden_note}: " \
                    f"{startup_runs(measured['runs_hidden'], measured.get('median_hidden_s'))}"
        return runs

    startup = with_hidden(report["startup"], " (installed here, not needed by symce, imported by numba when present)")
    floor = with_hidden(report["startup"]["numba_floor"], "")
    return [
        f"machine: {m['cpu']}, {m['usable_cores']} cores{memory}; Python {m['python']}, NumPy {m['numpy']}, "
        f"numba {m['numba']} ({m.get('numba_threading_layer') or '?'} threading layer), torch {m['torch']}",
        f"threads: {threads['numba']} for symce (numba) and {threads['torch']} for torch; the NumPy reference runs "
        f"on one; load average {_load(report, 'before')} before the run, {_load(report, 'after')} after",
        f"timings: median ±spread (interquartile range / median) of {repeats} after one warm-up; reduction='mean'; "
        f"'{UNRELIABLE}' marks an unreliable reading (spread above {UNRELIABLE_SPREAD:.0%} or fewer than "
        f"{UNRELIABLE_CALLS} calls) and every ratio computed from one: rerun such rows with a larger --repeat",
        f"memory-copy bandwidth: {bandwidth['reference'] / 1e9:.1f} GB/s, the faster of np.copyto "
        f"({bandwidth['numpy_copyto'] / 1e9:.1f} GB/s, 1 thread) and torch copy_ ({bandwidth['torch_copy'] / 1e9:.1f} "
        f"GB/s, {threads['torch']} threads) on a {bandwidth['buffer_bytes'] / MIB:.0f} MiB buffer, bytes read + written",
        f"start-up in a new process (import symce.functional + first cross_entropy_value_and_grad): {startup}; "
        f"goal < {report['startup']['goal_s']} s",
        f"numba's own start-up, the floor under symce's (import numba + first call of a cached one-line njit "
        f"function, the first process filling its cache): {floor}",
        _peers_line(report),
    ]


def _peers_line(report: dict) -> str:
    """What the peer columns ran: versions, threads, how they were compiled."""
    m, threads = report["machine"], report["threads"]
    jax = (f"JAX {m['jax']} (jaxlib {m.get('jaxlib')}) + optax {m['optax']} under jax.jit, on "
           f"{threads.get('jax') or '?'} XLA CPU threads (its intra-op pool, sized by the CPU affinity it starts with)"
           if m.get("jax") and m.get("optax") else "JAX + optax: not installed here")
    return (f"peers: torch.compile (inductor, torch {m['torch']}: the torch column's formula compiled for each row, "
            f"dynamic=False) and {jax}; each compiles on a first call timed apart (the compile table), not in its "
            "median; the fastest of torch, torch.compile and JAX is a row's fastest peer")


LABEL = ["case", "shape", "dtype"]
#: the implementations whose peak memory the probe measures (not the peers: they would compile again there)
MEMORY_KEYS = tuple(key for key in FORWARD_BACKWARD if key not in PEERS)


def tables(report: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of every table of the report."""
    rows = report["rows"]
    return [_forward_table(rows), _backward_table(rows), _fastest_torch_table(rows), _fastest_peer_table(rows),
            *_compile_table(rows), _bound_table(rows, "forward", FORWARD),
            _bound_table(rows, "forward_backward", FORWARD_BACKWARD), _memory_table(rows),
            *_linear_table(report.get("linear_cross_entropy")), _accuracy_table(report["accuracy"])]


def _forward_table(rows):
    return ("Forward, ms (speed-up = torch time / symce time: above 1, symce is faster)",
            LABEL + [FORWARD[key] for key in FORWARD] + ["speed-up"],
            [_label(row) + [_ms(row["forward"][key]) for key in FORWARD]
             + [_ratio(row["speedup"]["forward"]["symce"], *_pair(row, "forward", "symce"))] for row in rows])


def _backward_table(rows):
    return ("Forward+backward, ms (symce: fresh gradient, out= a reused buffer, in place; speed-up = torch time / "
            "symce time)",
            LABEL + [FORWARD_BACKWARD[key] for key in FORWARD_BACKWARD]
            + ["speed-up" + FORWARD_BACKWARD[key].removeprefix("symce") for key in SYMCE_KEYS],
            [_label(row) + [_ms(row["forward_backward"][key]) for key in FORWARD_BACKWARD]
             + [_ratio(row["speedup"]["forward_backward"][key], *_pair(row, "forward_backward", key))
                for key in SYMCE_KEYS] for row in rows])


def _fastest_torch_table(rows):
    return ("Speed-up over torch's fastest call (torch's minimum / symce's median): the reading that torch's "
            "own noise cannot inflate",
            LABEL + ["fwd"] + ["fwd+bwd" + FORWARD_BACKWARD[key].removeprefix("symce") for key in SYMCE_KEYS],
            [_label(row) + [_ratio(row["speedup_vs_fastest_torch"]["forward"]["symce"], *_pair(row, "forward", "symce"))]
             + [_ratio(row["speedup_vs_fastest_torch"]["forward_backward"][key], *_pair(row, "forward_backward", key))
                for key in SYMCE_KEYS] for row in rows])


def _peer_label(row, part: str) -> str:
    key = row["fastest_peer"][part]
    return "n/a" if key is None else FORWARD_BACKWARD[key]


def _fastest_peer_table(rows):
    """symce against the fastest of torch eager, torch.compile and JAX, per row and part."""
    def ratio(row, part, key):
        peer = row[part].get(row["fastest_peer"][part])
        return _ratio(row["speedup_vs_fastest_peer"][part][key], peer, row[part][key])

    return ("Speed-up over the fastest peer (the fastest median of torch, torch.compile and JAX / symce's median: "
            "above 1, symce is faster than all of them)",
            LABEL + ["fwd fastest", "fwd", "fwd+bwd fastest"]
            + ["fwd+bwd" + FORWARD_BACKWARD[key].removeprefix("symce") for key in SYMCE_KEYS],
            [_label(row) + [_peer_label(row, "forward"), ratio(row, "forward", "symce"),
                            _peer_label(row, "forward_backward")]
             + [ratio(row, "forward_backward", key) for key in SYMCE_KEYS] for row in rows])


def _seconds(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _compile_table(rows):
    """The peers' compile times (their first call), when any peer was compiled."""
    if not any(row.get("compile_s", {}).get(part) for row in rows for part in ("forward", "forward_backward")):
        return []
    columns = [(part, key) for key in PEERS for part in ("forward", "forward_backward")]
    return [("Compile time of the peers, s: their first call (compilation and one run), kept out of the medians",
             LABEL + [f"{PEERS[key]} {'fwd' if part == 'forward' else 'fwd+bwd'}" for part, key in columns],
             [_label(row) + [_seconds(row["compile_s"][part].get(key)) for part, key in columns] for row in rows])]


def _bound_table(rows, part: str, labels: dict):
    """A part's memory-traffic bound per row and the fraction of it each implementation reaches."""
    keys = [key for key in labels if key != "numpy"]
    moved = ("logits and targets read once" + (", gradient written once" if part == "forward_backward" else ""))
    return (f"Memory-traffic bound of the {'forward' if part == 'forward' else 'forward+backward'}: the bytes that "
            f"must move ({moved}) / the copy bandwidth of an array of the row's size; % = bound / median time, "
            "the fraction of the bound each reading reaches",
            LABEL + ["MiB", "copy GB/s", "bound ms"] + [labels[key] for key in keys],
            [_label(row) + [f"{row['bound'][part]['bytes'] / MIB:.1f}", f"{row['bound']['copy']['reference'] / 1e9:.1f}",
                            _significant(row["bound"][part]["seconds"] * 1e3)]
             + [_percent(row["bound"][part]["fraction"].get(key)) for key in keys] for row in rows])


def _memory_table(rows):
    return ("Peak extra memory of one forward+backward, MiB (× the gradient's size); forward: torch / symce",
            LABEL + ["gradient MiB"] + [FORWARD_BACKWARD[key] for key in MEMORY_KEYS] + ["fwd torch", "fwd symce"],
            [_label(row) + [f"{row['bytes']['gradient'] / MIB:.1f}"]
             + [_memory(row, "forward_backward", key) for key in MEMORY_KEYS]
             + [_memory(row, "forward", "torch"), _memory(row, "forward", "symce")] for row in rows])


def _accuracy_table(accuracy):
    return ("Accuracy: worst relative error against the spec in mpmath on symce.bench.accuracy's adversarial inputs",
            ["kernel", "dtype", "symce loss", "torch loss", "symce grad", "torch grad", "goal", "symce within goal"],
            [[row["kernel"], row["dtype"], f"{row['symce'][0]:.1e}", f"{row['torch'][0]:.1e}",
              f"{row['symce'][1]:.1e}" if len(row["symce"]) > 1 else "—",
              f"{row['torch'][1]:.1e}" if len(row["torch"]) > 1 else "—",
              f"{row['goal']:.0e}", "yes" if row["symce_within_goal"] else "NO"]
             for row in accuracy["rows"]])


def _pair(row, part: str, key: str) -> tuple:
    """The two timings a speed-up of ``key`` over torch divides."""
    return row[part]["torch"], row[part][key]


def _linear_table(linear: dict | None) -> list:
    """The chunked linear + cross-entropy row: time, speed-up, peak memory and compile time of each
    implementation, and symce against the fastest of the others."""
    if not linear:
        return []
    shape = linear["shape"]
    peak = linear.get("peak_extra_mib") or {}
    compile_s = linear.get("compile_s", {})
    fastest = linear.get("fastest_peer")
    versus = (f"; symce vs the fastest peer ({fastest}): "
              + _ratio(linear["speedup_vs_fastest_peer"], linear["time"][fastest], linear["time"]["symce"])
              if fastest else "")
    title = (f"Linear + cross-entropy, loss and gradients of hidden states and weight: N={shape['n']}, "
             f"H={shape['hidden']}, V={shape['vocab']}, {shape['dtype']} ({linear['logits_mib']:.0f} MiB of logits; "
             f"symce chunks of {linear['chunk_size']} rows){versus}")
    rows = [[name, _ms(timing), _ratio(linear["speedup_vs_torch"].get(name, 1.0), timing, linear["time"].get("torch")),
             f"{peak[name]:.0f}" if peak.get(name) is not None else "n/a", _seconds(compile_s.get(name))]
            for name, timing in linear["time"].items() if timing is not None]
    return [(title, ["implementation", "ms", "speed-up", "peak extra MiB", "compile s"], rows)]


def _is_number(cell: str) -> bool:
    return cell[:1].isdigit() or cell in ("n/a", "—")


def render_text(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    right = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(cells):
        return "  ".join(cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(cells, widths, right)).rstrip()
    return "\n".join([line(headers), "-" * len(line(headers))] + [line(row) for row in rows])


def render_markdown(headers: list[str], rows: list[list[str]]) -> str:
    right = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def text(report: dict) -> str:
    parts = ["symce bench", *header_lines(report)]
    for title, headers, rows in tables(report):
        parts += ["", title, render_text(headers, rows)]
    notes = _notes(report)
    if notes:
        parts += ["", *notes]
    return "\n".join(parts)


def markdown(report: dict) -> str:
    parts = ["# symce bench results", "", *[f"- {line}" for line in header_lines(report)]]
    for title, headers, rows in tables(report):
        parts += ["", f"**{title}**", "", render_markdown(headers, rows)]
    notes = _notes(report)
    if notes:
        parts += ["", *[f"- {note}" for note in notes]]
    return "\n".join(parts) + "\n"


#: agreement with torch worse than this is reported (relative; loss and gradient)
AGREEMENT = {"float64": 1e-9, "float32": 1e-3}


def _notes(report: dict) -> list[str]:
    """Columns that could not be measured, and results that disagree with torch's."""
    notes = []
    linear = report.get("linear_cross_entropy") or {}
    reasons = sorted({reason for row in report["rows"] for reason in row["unavailable"].values()}
                     | {f"linear + cross-entropy: {reason}" for reason in linear.get("unavailable", {}).values()})
    notes += [f"n/a: {reason}" for reason in reasons]
    if report["accuracy"].get("error"):
        notes.append(f"accuracy table failed: {report['accuracy']['error']}")
    if not report["peak_memory"]["measured"]:
        notes.append("n/a: peak memory needs Linux's /proc/self/clear_refs")
    for row in report["rows"]:
        if row.get("peak_memory_error"):
            notes.append(f"peak memory of {' '.join(_label(row))} failed: {row['peak_memory_error']}")
        for part, results in row["agreement"].items():
            for key, agreement in results.items():
                worst = max(agreement.values())
                if not worst <= AGREEMENT[row["dtype"]]:
                    notes.append(f"WARNING: {' '.join(_label(row))} {part} {key} differs from torch by {worst:.1e}")
    return notes


def write_json(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=1) + "\n")


def _bars(axes, rows, series) -> None:
    """One horizontal bar per (row, series): series are (label, value of a row) pairs."""
    height = 0.8 / len(series)
    for index, (name, value) in enumerate(series):
        positions = [i + (index - (len(series) - 1) / 2) * height for i in range(len(rows))]
        axes.barh(positions, [value(row) or 0 for row in rows], height, label=name)
    axes.legend(loc="lower right", fontsize="small")


def write_png(report: dict, path: Path) -> None:
    """Two panels, a group of bars per row of the report: the speed-up over torch and over the fastest
    peer (log scale), and the fraction of the copy bandwidth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    figure, (speed, bandwidth) = plt.subplots(1, 2, figsize=(14, 1.5 + 0.45 * len(rows)), sharey=True)
    _bars(speed, rows, [("forward", lambda row: row["speedup"]["forward"]["symce"]),
                        ("fwd+bwd", lambda row: row["speedup"]["forward_backward"]["symce"]),
                        ("fwd+bwd out=", lambda row: row["speedup"]["forward_backward"]["symce_out"]),
                        ("fwd+bwd vs fastest peer",
                         lambda row: row.get("speedup_vs_fastest_peer", {}).get("forward_backward", {}).get("symce"))])
    _bars(bandwidth, rows, [(f"{name} fwd+bwd", lambda row, key=key: 100 * (row["bandwidth_fraction"]
                                                                           ["forward_backward"][key] or 0))
                            for key, name in (("torch", "torch"), ("symce", "symce"), ("symce_out", "symce out="))])
    speed.set_xscale("log")
    speed.axvline(1, color="black", linewidth=0.8)
    speed.set_xlabel("speed-up = torch (or fastest peer) time / symce time (> 1: symce faster)")
    speed.set_yticks(range(len(rows)), [" ".join(_label(row)) for row in rows])
    speed.invert_yaxis()
    bandwidth.set_xlabel("% of the measured memory-copy bandwidth")
    m = report["machine"]
    figure.suptitle(f"symce bench: {m['cpu']}, {report['threads']['numba']} threads, torch {m['torch']}, "
                    f"numba {m['numba']}, numpy {m['numpy']}", fontsize="medium")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
