# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # symce's kernels against torch: accuracy and speed
#
# **Accuracy.** `symce.bench.accuracy` runs every generated kernel and torch on an adversarial domain
# (logits up to ±1e4, mixed scales, ties, confident predictions such as $[40, 0, 0]$ with target 0,
# probabilities near 0 and 1) and compares each with the spec evaluated in mpmath at 50+ digits; the error
# is $|\text{got} - \text{true}| / \max(|\text{true}|, \text{tiny})$, gradients element by element.
#
# **Speed.** `symce bench` times symce and torch in the same run, same inputs, same thread count, after a
# warm-up. Here on small shapes so that the notebook runs in seconds: the timings say little about the
# large shapes in the README, and nothing about another machine.

# %%
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import matplotlib.pyplot as plt
import numba
import numpy as np
import torch
import torch.nn.functional as TF
from IPython.display import Markdown, display

import symce.functional as sf
from symce.bench.accuracy import worst_errors

# %% [markdown]
# ## Accuracy: worst relative error over the adversarial domain

# %%
DTYPES = ("float64", "float32")
accuracy = {dtype: worst_errors(np.dtype(dtype).type) for dtype in DTYPES}


def cell(errors, index):
    return f"{errors[index]:.1e}" if index < len(errors) else "—"


rows = ["| kernel | dtype | symce loss | torch loss | symce grad | torch grad |", "|---|---|---|---|---|---|"]
for dtype, table in accuracy.items():
    for kernel, errors in table.items():
        symce, torch_ = errors["symce"], errors["torch"]
        rows.append(f"| {kernel} | {dtype} | {cell(symce, 0)} | {cell(torch_, 0)} | {cell(symce, 1)} | "
                    f"{cell(torch_, 1)} |")
display(Markdown("\n".join(rows)))

# %%
FLOOR = 1e-18  # an exact answer (error 0) is drawn here
fig, axes = plt.subplots(2, 2, figsize=(13, 8), sharex=True)
for row, dtype in enumerate(DTYPES):
    kernels = list(accuracy[dtype])
    positions = np.arange(len(kernels))
    for column, what in enumerate(("loss", "gradient")):
        ax = axes[row, column]
        for offset, who, color in ((-0.2, "symce", "tab:blue"), (0.2, "torch", "tab:orange")):
            values = [accuracy[dtype][k][who][column] if column < len(accuracy[dtype][k][who]) else np.nan
                      for k in kernels]
            ax.barh(positions + offset, np.maximum(values, FLOOR), height=0.4, color=color, label=who)
        ax.axvline(np.finfo(dtype).eps, color="gray", linestyle="--", linewidth=1, label="the dtype's machine epsilon")
        ax.set_xscale("log")
        ax.set_xlim(FLOOR / 3, 10)
        ax.set_yticks(positions, kernels if column == 0 else [""] * len(kernels))
        ax.invert_yaxis()
        ax.set_title(f"{what}, {dtype}")
        if row == 1:
            ax.set_xlabel("worst relative error (log scale; 0 drawn at 1e-18; no bar: no gradient)")
fig.suptitle("Worst relative error against the spec in mpmath: symce's generated kernels vs torch")
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=3, bbox_to_anchor=(0.5, 0.96))
fig.tight_layout(rect=(0, 0, 1, 0.93))
plt.show()

# %% [markdown]
# torch's errors of 1.0 are the confident predictions: for logits $[40, 0, 0]$ and target 0 it returns a
# loss of 0 where the truth is $8.5\cdot10^{-18}$, and loses every digit of the small gradient entries.
# symce computes $-\log\operatorname{softmax}(z)_t$ as $\log1p\big(\sum_{k\ne t} e^{z_k - z_t}\big)$ and the
# target's gradient as $-\sum_{k\ne t} e_k / \sum_k e_k$, both proven identities applied as rewrites
# (`why_stable_kernels.py` shows the same thing as the logits grow).

# %%
for dtype, table in accuracy.items():
    eps = np.finfo(dtype).eps
    for kernel, errors in table.items():
        for ours, theirs in zip(errors["symce"], errors["torch"]):
            assert ours <= theirs + 4 * eps, (dtype, kernel, ours, theirs)  # never worse than torch
assert accuracy["float64"]["cross_entropy integer labels"]["symce"][0] < 1e-15
assert accuracy["float64"]["cross_entropy integer labels"]["torch"][0] > 0.5

# %% [markdown]
# ## Speed
#
# Where the timings come from, in order of preference:
#
# 1. the committed benchmark result `benchmarks/results.json`, measured on a quiet machine;
# 2. `symce bench --quick` run now, through its command line, on small shapes and two cases, writing its
#    JSON into a temporary folder (never into the checkout);
# 3. if neither is available, the same measurement done here (median of repeated calls of
#    `symce.functional` and `torch.nn.functional` after a warm-up, the same thread count for both); the
#    output says why.
#
# Either way the numbers are medians per (case, shape, dtype), forward alone and forward+backward, and the
# plot shows torch's time over symce's (above 1: symce is faster).

# %%
PARTS = {"forward": "forward", "forward_backward": "forward + backward"}
SHAPES, REPEAT = ((1024, 10), (128, 1000)), 5


def find_results():
    """benchmarks/results.json from the repository root or from notebooks/ (Jupyter's working folder)."""
    for root in (pathlib.Path.cwd(), pathlib.Path.cwd().parent):
        path = root / "benchmarks" / "results.json"
        if path.is_file():
            return path
    return None


def timing_rows(result):
    """One row per (case, shape, dtype) of a `symce bench` JSON: the median ms of torch and symce for
    each part; None when the JSON does not have that shape (another version of the benchmark)."""
    try:
        rows = [{"case": f"{row['title']} {row['shape'][0]}x{row['shape'][1]}", "dtype": row["dtype"],
                 **{part: {who: 1e3 * row[part][who]["median_s"] for who in ("torch", "symce")} for part in PARTS}}
                for row in result["rows"]]
    except (KeyError, TypeError, IndexError):
        return None
    return rows or None


def run_symce_bench():
    """`symce bench --quick` on small shapes; (its JSON, None) or (None, why it could not run)."""
    with tempfile.TemporaryDirectory() as output:
        command = [sys.executable, "-m", "symce.cli", "bench", "--quick", "--cases", "ce,bce_logits",
                   "--shapes", ",".join(f"{n}x{c}" for n, c in SHAPES), "--output", output]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        written = pathlib.Path(output, "quick.json")
        if done.returncode != 0 or not written.is_file():
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            return None, f"`symce bench` exited with status {done.returncode}: {last}"
        return json.loads(written.read_text()), None


def time_here():
    """symce.functional against torch.nn.functional, median of REPEAT calls after a warm-up, one thread count."""
    torch.set_num_threads(numba.get_num_threads())

    def torch_forward(loss):
        def run(logits, target):
            with torch.no_grad():
                return loss(logits, target)
        return run

    def torch_forward_backward(loss):
        def run(logits, target):
            logits = logits.detach().requires_grad_()
            loss(logits, target).backward()
            return logits.grad
        return run

    def median_ms(call, args):
        call(*args)  # warm-up
        times = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            call(*args)
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times)

    cases = {  # title: (targets, {part: (symce, torch)})
        "cross_entropy": ("labels", {
            "forward": (sf.cross_entropy, torch_forward(TF.cross_entropy)),
            "forward_backward": (sf.cross_entropy_value_and_grad, torch_forward_backward(TF.cross_entropy))}),
        "binary_cross_entropy_with_logits": ("binary", {
            "forward": (sf.binary_cross_entropy_with_logits, torch_forward(TF.binary_cross_entropy_with_logits)),
            "forward_backward": (sf.binary_cross_entropy_with_logits_value_and_grad,
                                 torch_forward_backward(TF.binary_cross_entropy_with_logits))}),
    }
    rng, rows = np.random.default_rng(0), []
    for title, (targets, parts) in cases.items():
        for n, c in SHAPES:
            for dtype in ("float32", "float64"):
                logits = (rng.standard_normal((n, c)) * 3).astype(dtype)
                target = rng.integers(0, c, n) if targets == "labels" else rng.integers(0, 2, (n, c)).astype(dtype)
                row = {"case": f"{title} {n}x{c}", "dtype": dtype}
                for part, (ours, theirs) in parts.items():
                    row[part] = {"symce": median_ms(ours, (logits, target)),
                                 "torch": median_ms(theirs, (torch.from_numpy(logits), torch.from_numpy(target)))}
                rows.append(row)
    return rows


def this_machine():
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "usable_cores": usable,
            "platform": platform.platform(), "python": platform.python_version(), "numba": numba.__version__,
            "torch": torch.__version__, "numba_threads": numba.get_num_threads()}


results_path = find_results()
result = json.loads(results_path.read_text()) if results_path else None
bench_rows = timing_rows(result) if result else None
if bench_rows is not None:
    source, machine = f"read from {results_path}", result.get("machine")
else:
    if results_path:
        print(f"{results_path} is not in the form this notebook reads (rows of forward and forward_backward "
              "timings); measuring here instead")
    result, why_not = run_symce_bench()
    bench_rows = timing_rows(result) if result else None
    if bench_rows is not None:
        source, machine = "`symce bench --quick`, run now on small shapes", result.get("machine")
    else:
        print(why_not or "`symce bench` wrote a JSON this notebook cannot read")
        bench_rows, machine = time_here(), this_machine()
        source = "timed directly in this notebook, small shapes (`symce bench` could not be used)"
print("timings:", source)
print("machine:", json.dumps(machine, indent=2) if machine else "not recorded")
header = ("| case | dtype | torch ms fwd | symce ms fwd | torch / symce fwd "
          "| torch ms fwd+bwd | symce ms fwd+bwd | torch / symce fwd+bwd |")
lines = [header, "|---" * 8 + "|"]
for r in bench_rows:
    cells = [f"{r[p]['torch']:.3f} | {r[p]['symce']:.3f} | {r[p]['torch'] / r[p]['symce']:.2f}" for p in PARTS]
    lines.append(f"| {r['case']} | {r['dtype']} | {' | '.join(cells)} |")
display(Markdown("\n".join(lines)))

# %%
labels = list(dict.fromkeys(row["case"] for row in bench_rows))  # in the benchmark's order
dtypes = list(dict.fromkeys(row["dtype"] for row in bench_rows))
positions, height = np.arange(len(labels)), 0.8 / len(dtypes)
fig, axes = plt.subplots(1, 2, figsize=(13, 0.5 * len(labels) + 2.2), sharey=True)
for ax, (part, title) in zip(axes, PARTS.items()):
    for i, dtype in enumerate(dtypes):
        ratio = {row["case"]: row[part]["torch"] / row[part]["symce"] for row in bench_rows if row["dtype"] == dtype}
        values = np.array([ratio.get(case, np.nan) for case in labels])
        # bars start at 1 (as fast as torch): right is faster, left is slower
        ax.barh(positions + (i - (len(dtypes) - 1) / 2) * height, values - 1, left=1, height=height, label=dtype)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("torch time / symce time (log scale; > 1: symce faster)")
    ax.set_title(title)
axes[0].set_yticks(positions, labels)
axes[0].invert_yaxis()
where = f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores" if machine else "machine not recorded"
fig.suptitle(f"Speed against torch, median per case — {where}")
fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=len(dtypes), bbox_to_anchor=(0.5, 0.93))
fig.tight_layout(rect=(0, 0, 1, 0.88))
plt.show()

# %% [markdown]
# Small shapes measure call overhead as much as arithmetic, and a shared machine adds noise of its own
# (the table above has the medians; `symce bench` without `--quick` measures the README's large shapes,
# and benchmarks/README.md explains its columns). So nothing here asserts a speed; the checks below are
# only that there are timings for several cases.

# %%
assert all(row[part][who] > 0 for row in bench_rows for part in PARTS for who in ("symce", "torch"))
assert len(bench_rows) >= 4
