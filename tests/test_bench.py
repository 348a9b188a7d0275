"""`symce bench` runs end to end (a smoke run: tiny shapes; its timings are never asserted)."""
import argparse

import pytest

from symce import bench
from symce.cli import main


def test_quick_run_prints_every_case(capsys):
    assert main(["bench", "--quick", "--shapes", "4x3", "--dtypes", "float64"]) == 0
    out = capsys.readouterr().out
    assert "torch / symce" in out
    for case in bench.cases():
        assert f"{case.name}" in out


@pytest.mark.parametrize("text", ["4096", "4x0", "axb", "4x3x2"])
def test_bad_shapes_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="shape"):
        bench.parse_shapes(text)


def test_shapes_parse():
    assert bench.parse_shapes("4096x1000,65536x10") == ((4096, 1000), (65536, 10))


@pytest.mark.parametrize("text", ["float16", "int64", "float32,double"])
def test_bad_dtypes_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="dtypes"):
        bench.parse_dtypes(text)
