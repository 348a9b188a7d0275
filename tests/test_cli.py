"""The ``symce`` command's own conventions: --version, ``python -m symce``, and plain error messages."""
import subprocess
import sys
from importlib.metadata import version

import pytest

import symce
from symce.cli import main
from symce.derivations import derivation
from symce.errors import UnknownName
from symce.identities import get as identity
from symce.spec import get as spec


def test_version_is_the_installed_distributions(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"symce {version('symce')}" == f"symce {symce.__version__}"


def test_python_dash_m_symce_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "symce", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"symce {symce.__version__}"
    done = subprocess.run([sys.executable, "-m", "symce", "derive", "no_such_derivation"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0 and "no derivation named 'no_such_derivation'" in done.stdout + done.stderr


@pytest.mark.parametrize("lookup, name", [(spec, "no_such_spec"), (identity, "no_such_identity"),
                                          (derivation, "no_such_derivation")])
def test_an_unknown_name_is_a_key_error_whose_message_is_not_wrapped_in_quotes(lookup, name):
    with pytest.raises(KeyError) as raised:
        lookup(name)
    assert isinstance(raised.value, UnknownName)
    message = str(raised.value)
    assert message.startswith("no ") and f"{name!r}" in message and not message.startswith(("'", '"'))


def test_a_spec_names_its_unknown_input_without_quotes_around_the_message():
    with pytest.raises(KeyError) as raised:
        spec("softmax").input("no_such_input")
    assert str(raised.value).startswith("spec 'softmax' has no input 'no_such_input'")
