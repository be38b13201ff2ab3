"""Metrics files, data fallback and atomic writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco import reporting
from insurereco.errors import DataNotFoundError


def test_metrics_round_trip(tmp_path):
    path = reporting.write_metrics(
        "demo", {"auc": np.float64(0.8123456789), "n": np.int64(3), "nan": float("nan")},
        metrics_dir=tmp_path,
    )  # fmt: skip
    assert path == tmp_path / "demo.json"
    assert reporting.read_metrics("demo", metrics_dir=tmp_path) == {
        "auc": 0.812346, "n": 3, "nan": None,
    }  # fmt: skip


def _missing():
    raise DataNotFoundError("x.csv not found")


def test_resolve_dataset_falls_back_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    df, demo = reporting.resolve_dataset(_missing, allow_synthetic=True, synthetic=pd.DataFrame)
    assert demo and df.empty
    real, demo = reporting.resolve_dataset(pd.DataFrame, allow_synthetic=True, synthetic=None)
    assert not demo


@pytest.mark.parametrize(("ci", "allow"), [("true", True), ("", False)])
def test_resolve_dataset_raises_under_ci_or_when_not_allowed(monkeypatch, ci, allow):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(DataNotFoundError):
        reporting.resolve_dataset(_missing, allow_synthetic=allow, synthetic=pd.DataFrame)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    class Boom(pd.DataFrame):
        def to_csv(self, *args, **kwargs):
            raise OSError("disk full")

    target = tmp_path / "out.csv"
    with pytest.raises(OSError, match="disk full"):
        reporting.atomic_write_csv(Boom({"a": [1]}), target)
    assert list(tmp_path.iterdir()) == []
    reporting.atomic_write_csv(pd.DataFrame({"a": [1]}), target)
    assert target.read_text() == "a\n1\n"
    assert target.stat().st_mode & 0o777 == 0o644


def test_atomic_write_needs_existing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        reporting.atomic_write_csv(pd.DataFrame({"a": [1]}), tmp_path / "no" / "out.csv")


def test_format_table_ids_are_deterministic_and_unique():
    df = pd.DataFrame({"x": [0.12345], "share": [0.5]})
    first = reporting.format_table(df, percent=("share",)).to_html()
    second = reporting.format_table(df, percent=("share",)).to_html()
    assert "50.0%" in first and "0.123" in first
    assert "padding" in first  # cells are padded: numbers never run into each other
    assert first != second  # distinct ids: no CSS clash between two tables on one page


def test_target_verdict_counts_splits_meeting_a_target():
    verdict = reporting.target_verdict
    assert verdict([0.027, 0.029], 0.0258, lower_is_better=True) == "no split meets it"
    assert verdict([0.89, 0.90, 0.91], 0.90, lower_is_better=False) == "2 of 3 splits meet it"
    assert verdict([0.025, 0.0258], 0.0258, lower_is_better=True) == "every split meets it"
    assert verdict(pd.Series([0.95]), 0.90, lower_is_better=True) == "no split meets it"
