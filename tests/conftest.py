"""Shared fixtures: synthetic portfolios, small CSV writers and access to real data.

Real-data fixtures skip when a file is absent, except under CI (``CI=true``), where a
missing file fails the test so that a broken path can never pass unnoticed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from insurereco.errors import DataNotFoundError
from insurereco.reporting import METRICS_DIR, is_ci, read_metrics
from insurereco.synthetic import make_portfolio


def _real(loader):
    try:
        return loader()
    except DataNotFoundError as exc:
        if is_ci():
            raise
        pytest.skip(f"real data absent: {exc}")


@pytest.fixture(scope="session")
def portfolio() -> pd.DataFrame:
    """A 2,000-customer synthetic portfolio (Zimnat schema), the same every run."""
    return make_portfolio(2000, random_state=0)


@pytest.fixture(scope="session")
def zimnat_train() -> pd.DataFrame:
    """The real Zimnat Train portfolio (skips when absent, fails under CI)."""
    from insurereco.data import load_zimnat

    return _real(lambda: load_zimnat("train"))


@pytest.fixture(scope="session")
def zimnat_paths() -> dict[str, Path]:
    """Paths of the real Zimnat Train, Test and SampleSubmission files (skip/fail as above)."""
    from insurereco.data import find_data_file

    names = {"train": "Train.csv", "test": "Test.csv", "sample": "SampleSubmission.csv"}
    return _real(lambda: {key: find_data_file(f"zimnat/{name}") for key, name in names.items()})


@pytest.fixture()
def write_csv(tmp_path: Path):
    """Write a DataFrame (or raw text) to a CSV file in ``tmp_path`` and return its path."""

    def _write(content: pd.DataFrame | str, name: str = "file.csv", **kwargs) -> Path:
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        else:
            kwargs.setdefault("index", False)
            content.to_csv(path, **kwargs)
        return path

    return _write


def _recorded(name: str) -> dict:
    path = METRICS_DIR / f"{name}.json"
    if not path.is_file():
        if is_ci():
            pytest.fail(f"{path} missing: the book build must run before these tests")
        pytest.skip(f"{path} absent: run `make report` first")
    return read_metrics(name)


@pytest.fixture()
def recorded_metrics():
    """``recorded_metrics(name)``: metrics of the full (book) run of chapter ``name``.

    Skips when the file is absent, fails under CI (the book is built before the tests).
    """
    return _recorded
