"""``symce verify FILE.py:NAME`` from the command line: the target forms real code comes in, the
errors for the ones that cannot be verified, and user code that prints, exits, crashes or hangs.

The verdicts are the verifier's; the references here are losses written to equal their spec
(a log-sum-exp cross entropy for ``softmax_cross_entropy_with_integer_labels``, torch's
``F.cross_entropy`` with label smoothing) or to differ from it by a known factor.
"""
import json
import subprocess
import sys
import textwrap
import time

import pytest

from symce.cli import main

CE = "softmax_cross_entropy_with_integer_labels"

#: a NumPy cross entropy equal to CE: −(x − logsumexp x) at the label, mean over the batch
NUMPY_CE = """\
import numpy as np


def cross_entropy(logits, labels):
    shift = logits.max(axis=1, keepdims=True)
    logsumexp = shift + np.log(np.exp(logits - shift).sum(axis=1, keepdims=True))
    return -np.mean(np.take_along_axis(logits - logsumexp, labels[:, None], axis=1))
"""

CLASSES = NUMPY_CE + """

class ScaledCE:
    def __init__(self, scale=1.0):
        self.scale = scale

    def __call__(self, logits, labels):
        return self.scale * cross_entropy(logits, labels)

    def loss(self, logits, labels):
        return self.scale * cross_entropy(logits, labels)

    @staticmethod
    def static_loss(logits, labels):
        return cross_entropy(logits, labels)

    @classmethod
    def class_loss(cls, logits, labels):
        return cross_entropy(logits, labels)


class NeedsArguments:
    def __init__(self, weight, *, mode):
        self.weight, self.mode = weight, mode

    def __call__(self, logits, labels):
        return cross_entropy(logits, labels)


class NotCallable:
    pass


loss = ScaledCE(1.0)
table = {"a": 1}
"""

SMOOTHED_MODULE = """\
import torch
import torch.nn.functional as F


class SmoothedCE(torch.nn.Module):
    def __init__(self, smoothing=0.0):
        super().__init__()
        self.smoothing = smoothing

    def forward(self, logits, labels):
        return F.cross_entropy(logits, labels, label_smoothing=self.smoothing)
"""


def write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def cli(*args, cwd=None):
    """``symce verify ARGS`` as a command: (its result, seconds it took)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "symce.cli", "verify", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)
    return done, time.monotonic() - start


def verdict(capfd, *args):
    """``symce verify ARGS --json`` through ``symce.cli.main`` (the child is a process all the
    same): (exit code, the one JSON object on stdout, stderr)."""
    code = main(["verify", *map(str, args), "--json"])
    out, err = capfd.readouterr()
    return code, json.loads(out), err


@pytest.fixture
def classes(tmp_path):
    return write(tmp_path, "classes.py", CLASSES)


# ----- target forms ---------------------------------------------------------------------------
def test_function(tmp_path, capfd):
    path = write(tmp_path, "numpy_ce.py", NUMPY_CE)
    code, report, _ = verdict(capfd, f"{path}:cross_entropy", "--spec", CE)
    assert (code, report["verdict"], report["function"]) == (0, "equivalent", "cross_entropy")


@pytest.mark.parametrize("target, init, expected, name", [
    ("ScaledCE", [], "equivalent", "ScaledCE()"),                                 # a class, its defaults
    ("ScaledCE", ["--init", "scale=2"], "not_equivalent", "ScaledCE(scale=2)"),   # 2 × the spec
    ("ScaledCE", ["--init", "scale=1.0"], "equivalent", "ScaledCE(scale=1.0)"),
    ("ScaledCE.loss", ["--init", "scale=1"], "equivalent", "ScaledCE.loss"),      # a method of an instance
    ("ScaledCE.static_loss", [], "equivalent", "ScaledCE.static_loss"),
    ("ScaledCE.class_loss", [], "equivalent", "ScaledCE.class_loss"),
    ("NeedsArguments", ["--init", "weight=[1, 2]", "--init", "mode=mean"], "equivalent",
     "NeedsArguments(weight=[1, 2], mode='mean')"),                               # a literal, a string
    ("loss", [], "equivalent", "loss"),                                           # a module-level object
])
def test_class_method_and_object_targets(classes, capfd, target, init, expected, name):
    code, report, _ = verdict(capfd, f"{classes}:{target}", "--spec", CE, *init)
    assert (report["verdict"], report["function"]) == (expected, name)
    assert code == (0 if expected == "equivalent" else 1)
    if expected == "not_equivalent":
        assert "constant factor" in report["diagnosis"][0] and "2" in report["diagnosis"][0]


def test_nn_module_with_smoothing_from_init(tmp_path):
    path = write(tmp_path, "smoothed.py", SMOOTHED_MODULE)
    done, _ = cli(f"{path}:SmoothedCE", "--init", "smoothing=0.1", "--spec", CE,
                  "--param", "label_smoothing=0.1", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert (report["verdict"], report["framework"]) == ("equivalent", "torch")
    assert report["function"] == "SmoothedCE(smoothing=0.1)"


def test_nn_module_instance_from_torch(tmp_path, capfd):
    # torch's own class: its forward(input, target) is what the spec's inputs bind to
    path = write(tmp_path, "torch_loss.py", """\
        import torch
        loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    """)
    code, report, _ = verdict(capfd, f"{path}:loss", "--spec", CE, "--param", "label_smoothing=0.1")
    assert (code, report["verdict"], report["framework"]) == (0, "equivalent", "torch")


def test_the_parent_does_not_import_torch(tmp_path):
    path = write(tmp_path, "smoothed.py", SMOOTHED_MODULE)
    probe = ("import sys; from symce.cli import main; code = main(sys.argv[1:]); "
             "print('torch imported' if 'torch' in sys.modules else 'no torch', file=sys.stderr); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe, "verify", f"{path}:SmoothedCE", "--spec", CE],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip().endswith("no torch"), done.stderr


def test_modules_next_to_the_file_import_at_load_and_lazily(tmp_path, capfd):
    write(tmp_path, "mylib.py", """\
        import numpy as np

        def logsumexp(x):
            shift = x.max(axis=1, keepdims=True)
            return shift + np.log(np.exp(x - shift).sum(axis=1, keepdims=True))
    """)
    write(tmp_path, "lazy_helper.py", "def pick(x, labels):\n    return x[range(len(labels)), labels]\n")
    path = write(tmp_path, "uses_mylib.py", """\
        from mylib import logsumexp, np

        def cross_entropy(logits, labels):
            from lazy_helper import pick   # imported only when called, during verification
            return -np.mean(pick(logits - logsumexp(logits), labels))
    """)
    code, report, _ = verdict(capfd, f"{path}:cross_entropy", "--spec", CE)
    assert (code, report["verdict"]) == (0, "equivalent")


def test_text_report_and_exit_codes(classes):
    ok, _ = cli(f"{classes}:ScaledCE", "--spec", CE)
    assert ok.returncode == 0 and "ScaledCE()  vs  " in ok.stdout and "verdict: EQUIVALENT" in ok.stdout
    bad, _ = cli(f"{classes}:ScaledCE", "--init", "scale=2", "--spec", CE)
    assert bad.returncode == 1 and "verdict: NOT EQUIVALENT" in bad.stdout


# ----- targets that cannot be verified: verdict unknown, exit 2, the problem named ------------
@pytest.mark.parametrize("target, init, message", [
    ("missing.py:cross_entropy", [], "no such file: "),
    ("classes.py", [], "expected path/to/file.py:NAME"),
    ("classes.py:nope", [], "defines no function 'nope'; its callables: cross_entropy, ScaledCE, "
                            "NeedsArguments, NotCallable, loss"),
    ("classes.py:ScaledCE.nope", [], "ScaledCE has no attribute 'nope'"),
    ("classes.py:table", [], "table in "),
    ("classes.py:NotCallable", [], "NotCallable is a class whose instances are not callable"),
    ("classes.py:NeedsArguments", [], "NeedsArguments() needs weight, mode: give each with --init NAME=VALUE"),
    ("classes.py:NeedsArguments", ["--init", "weight=1"], "NeedsArguments() needs mode: give it with --init"),
    ("classes.py:cross_entropy", ["--init", "scale=2"],
     "--init scale: cross_entropy is a function, not a class"),
    ("classes.py:loss", ["--init", "scale=2"], "--init scale: loss is a ScaledCE object, not a class"),
    ("classes.py:ScaledCE", ["--init", "scal=2"], "--init: ScaledCE() takes no argument 'scal'; it takes scale"),
    ("classes.py:ScaledCE", ["--init", "scale"], "--init: expected NAME=VALUE, got 'scale'"),
])
def test_target_errors(classes, capfd, monkeypatch, target, init, message):
    monkeypatch.chdir(classes.parent)
    code, answer, _ = verdict(capfd, target, "--spec", CE, *init)
    assert code == 2 and answer["verdict"] == "unknown"
    assert message in answer["reason"]


def test_errors_in_text_mode_go_to_stderr(classes):
    done, _ = cli(f"{classes}:nope", "--spec", CE)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("symce verify: ") and "defines no function 'nope'" in done.stderr


@pytest.mark.parametrize("options, message", [
    (["--spec", "no_such_spec"], "no spec named 'no_such_spec'"),
    (["--spec", CE, "--bind", "x=logits"], "--bind: the function has no parameter 'x'"),
])
def test_request_errors(classes, capfd, options, message):
    code, answer, _ = verdict(capfd, f"{classes}:cross_entropy", *options)
    assert (code, answer["verdict"]) == (2, "unknown") and message in answer["reason"]


# ----- user code that misbehaves ------------------------------------------------------------------
def test_endless_loop_times_out(tmp_path):
    path = write(tmp_path, "loops.py", """\
        def cross_entropy(logits, labels):
            while True:
                pass
    """)
    done, seconds = cli(f"{path}:cross_entropy", "--spec", CE, "--timeout", "3", "--json")
    assert json.loads(done.stdout) == {"verdict": "unknown",
                                       "reason": "did not finish within 3 s (an endless loop?)"}
    assert done.returncode == 2 and seconds < 8


@pytest.mark.parametrize("name, source", [
    ("sys.exit at import", "import sys\nsys.exit(0)\n"),
    ("os._exit in the function", "import os\n\ndef cross_entropy(logits, labels):\n    os._exit(0)\n"),
])
def test_exit_is_never_success(tmp_path, capfd, name, source):
    path = write(tmp_path, "exits.py", source)
    code, answer, _ = verdict(capfd, f"{path}:cross_entropy", "--spec", CE)
    assert (code, answer["verdict"]) == (2, "unknown")
    assert "exited with status 0 before sending a report" in answer["reason"]


def test_segfault(tmp_path, capfd):
    path = write(tmp_path, "crashes.py", """\
        import ctypes

        def cross_entropy(logits, labels):
            return ctypes.string_at(0)
    """)
    code, answer, err = verdict(capfd, f"{path}:cross_entropy", "--spec", CE)
    assert (code, answer["verdict"]) == (2, "unknown")
    assert "killed by signal SIGSEGV" in answer["reason"]
    assert "crashes.py\", line 4" in err  # faulthandler's traceback shows the line


def test_exception_at_import_names_the_line(tmp_path, capfd):
    path = write(tmp_path, "raises.py", "import numpy as np\n\nSCALE = 1 / 0\n")
    code, answer, err = verdict(capfd, f"{path}:cross_entropy", "--spec", CE)
    assert (code, answer["verdict"]) == (2, "unknown")
    assert answer["reason"] == f"ZeroDivisionError: division by zero (at {path}:3)"
    assert "Traceback" in err


def test_syntax_error_names_the_line(tmp_path, capfd):
    path = write(tmp_path, "broken.py", "def cross_entropy(logits, labels):\n    return (\n")
    code, answer, _ = verdict(capfd, f"{path}:cross_entropy", "--spec", CE)
    assert code == 2 and answer["reason"].startswith("SyntaxError: ") and f"{path}:2" in answer["reason"]


def test_prints_go_to_stderr_and_json_stays_one_object(tmp_path):
    path = write(tmp_path, "chatty.py", "import os\nprint('loading the loss')\n"
                 "os.write(1, b'native write\\n')\n" + NUMPY_CE.replace(
                     "    shift =", "    print('called with', logits.shape)\n    shift ="))
    done, _ = cli(f"{path}:cross_entropy", "--spec", CE, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["verdict"] == "equivalent"
    assert "loading the loss" in done.stderr and "native write" in done.stderr and "called with" in done.stderr


def test_a_thread_left_running_does_not_hold_the_command(tmp_path):
    path = write(tmp_path, "threads.py", "import threading, time\n"
                 "threading.Thread(target=time.sleep, args=(600,)).start()\n" + NUMPY_CE)
    done, seconds = cli(f"{path}:cross_entropy", "--spec", CE, "--timeout", "30")
    assert done.returncode == 0 and "verdict: EQUIVALENT" in done.stdout and seconds < 20
