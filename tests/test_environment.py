"""The conda environment.yml carries exactly the pins of requirements.lock."""

from __future__ import annotations

import importlib.util
import re

import yaml

from insurereco.data import PROJECT_ROOT


def _tool():
    spec = importlib.util.spec_from_file_location(
        "sync_environment", PROJECT_ROOT / "tools" / "sync_environment.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_environment_yml_matches_lock():
    tool = _tool()
    lock = tool.lock_pins()
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = dict(re.match(r"(.+)==(.+)", line).groups() for line in pip if "==" in line)
    assert pins == lock
    assert "python=3.11" in env["dependencies"]


def test_core_stack_is_pinned():
    lock = _tool().lock_pins()
    for package in ["jupyter-book", "papermill", "nbval", "pandas", "scikit-learn", "xgboost-cpu",
                    "shap", "seaborn", "pandera"]:  # fmt: skip
        assert package in lock, package
    assert lock["jupyter-book"].startswith("1.")
