"""symce installed from its wheel, as a user who does not clone the repository meets it: a fresh venv
(without this environment's packages, so the checkout cannot leak in), commands run from an empty folder."""
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*command, cwd, timeout=600):
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the venv's bin folder, an empty working folder, the venv's site-packages)."""
    base = tmp_path_factory.mktemp("installed")
    # built from a copy: setuptools builds in the source tree, and a build/ left there would keep modules
    # that the checkout has since removed
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__",
                                                                ".hypothesis", ".pytest_cache", "bench-*"))
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "wheel", source, cwd=base)
    assert built.returncode == 0, built.stderr
    venv.create(base / "venv", with_pip=True)
    bin_folder = base / "venv" / "bin"
    wheel, = (base / "wheel").glob("symce-*.whl")
    done = _run(bin_folder / "python", "-m", "pip", "install", "-q", wheel, cwd=base)
    assert done.returncode == 0, done.stderr
    site = Path(_run(bin_folder / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=base).stdout.strip())
    work = base / "elsewhere"
    work.mkdir()
    return bin_folder, work, site


def test_regen_check_addresses_the_installed_kernels_from_any_folder(installed):
    bin_folder, work, site = installed
    done = _run(bin_folder / "symce", "regen", "--check", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(site / "symce" / "generated") in done.stdout and "up to date" in done.stdout
    assert not (site / "generated").exists() and list(work.iterdir()) == []


def test_the_installed_package_is_marked_typed(installed):
    _, _, site = installed
    assert (site / "symce" / "py.typed").is_file()


def test_version_and_python_dash_m(installed):
    bin_folder, work, _ = installed
    version = _run(bin_folder / "symce", "--version", cwd=work)
    module = _run(bin_folder / "python", "-m", "symce", "--version", cwd=work)
    assert version.returncode == module.returncode == 0
    assert version.stdout.startswith("symce ") and version.stdout == module.stdout


def test_bench_without_its_extra_stops_at_once_with_the_install_hint(installed):
    bin_folder, work, _ = installed
    done = _run(bin_folder / "symce", "bench", cwd=work, timeout=120)
    assert done.returncode == 2 and "pip install 'symce[bench]'" in done.stderr
    assert list(work.iterdir()) == []
