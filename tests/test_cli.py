"""The top-level command line: discovery of sub-commands and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from insurereco import cli


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    assert "usage: insurereco" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["fit", "predict", "contacts", "segment", "propensity"])
def test_each_command_has_plain_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    shown = capsys.readouterr().out
    assert f"usage: insurereco {command}" in shown
    assert "``" not in shown  # no docstring markup in what a user reads


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "insurereco", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "insurereco" in result.stdout
