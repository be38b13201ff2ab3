"""Metrics files, data fallback and atomic writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco import reporting
from insurereco.errors import DataNotFoundError


def test_metrics_round_trip(tmp_path):
    path = reporting.write_metrics(
        "demo", {"auc": np.float64(0.8123456789), "n": np.int64(3), "nan": float("nan"),
                 "ratio": np.float64(np.inf)},
        metrics_dir=tmp_path,
    )  # fmt: skip
    assert path == tmp_path / "demo.json"
    assert "Infinity" not in path.read_text()  # not JSON
    assert reporting.read_metrics("demo", metrics_dir=tmp_path) == {
        "auc": 0.812346, "n": 3, "nan": None, "ratio": None,
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


def test_format_table_shows_whole_numbers_plainly_and_big_ones_with_separators():
    df = pd.DataFrame(
        {
            "profit": [42470.0, 5200.0],  # whole numbers held as floats (after a transpose)
            "expected": [50.918, 1100.77],
            "n_treatment": [6414, 875],
            "rows_left": [393526, 432],
        }
    )
    html = reporting.format_table(df, precision=2).to_html()
    assert ">42,470<" in html and ">5,200<" in html and "42470.00" not in html
    assert ">50.92<" in html and ">1,100.77<" in html
    assert ">6,414<" in html and ">875<" in html  # every column alike, not just the big one
    assert ">393,526<" in html and ">432<" in html
    assert ">rows left<" in html and "rows_left" not in html  # readable headers


def test_format_table_takes_decimals_per_column():
    df = pd.DataFrame({"expected": [1983.486], "ece": [0.00812]})
    html = reporting.format_table(df, precision=4, decimals={"expected": 1}).to_html()
    assert ">1983.5<" in html and ">0.0081<" in html


def test_format_table_leaves_small_tables_without_separators():
    html = reporting.format_table(pd.DataFrame({"year": [2008, 2010], "n": [1991, 5]})).to_html()
    assert ">2008<" in html and ">1991<" in html and "," not in html.split("</style>")[1]


def test_format_table_writes_flags_as_yes_or_no():
    html = reporting.format_table(pd.DataFrame({"within range": [True, False]})).to_html()
    assert ">yes<" in html and ">no<" in html and "True" not in html


def test_format_table_left_aligns_words_not_numbers():
    df = pd.DataFrame(
        {
            "n": [1, 2],
            "reason": [
                "rows read",
                "a long reason that takes more than one line to say in a table",
            ],
            "interval": ["0.0883 [0.0866, 0.0905]", "–"],  # a dash stands for no value
            "change": ["−0.5 [−1, 0]", "-2"],
        }
    )
    html = reporting.format_table(df).to_html()
    styles = " ".join(html.split("</style>")[0].split())
    left = "{ text-align: left; min-width: 12em; }"  # long words keep a readable width
    assert f"td.col1 {left}" in styles and f"th.col_heading.col1 {left}" in styles
    assert "col0" not in styles  # numbers stay right-aligned
    for written in ("col2", "col3"):  # numbers written as text: right-aligned, on one line
        assert f"td.{written} {{ white-space: nowrap; }}" in styles
        assert f"th.col_heading.{written}" not in styles


def test_target_verdict_counts_splits_meeting_a_target():
    verdict = reporting.target_verdict
    assert verdict([0.027, 0.029], 0.0258, lower_is_better=True) == "no split meets it"
    assert verdict([0.89, 0.90, 0.91], 0.90, lower_is_better=False) == "2 of 3 splits meet it"
    assert verdict([0.025, 0.0258], 0.0258, lower_is_better=True) == "every split meets it"
    assert verdict(pd.Series([0.95]), 0.90, lower_is_better=True) == "no split meets it"


@pytest.mark.parametrize(
    ("n_panels", "shape"), [(1, (1, 1)), (3, (2, 2)), (4, (2, 2)), (5, (3, 2))]
)
def test_panel_grid_puts_two_panels_to_a_row_and_drops_empty_cells(n_panels, shape):
    import matplotlib.pyplot as plt

    fig, axes = reporting.panel_grid(n_panels, panel_size=(5.0, 4.0))
    try:
        assert len(axes) == n_panels == len(fig.axes)  # no empty frame left in the last row
        rows, cols = shape
        assert tuple(fig.get_size_inches()) == (5.0 * cols, 4.0 * rows)
    finally:
        plt.close(fig)


def test_panel_grid_refuses_no_panels():
    with pytest.raises(ValueError, match="at least 1"):
        reporting.panel_grid(0)


def test_range_text_writes_bounds_and_a_dash_for_no_range():
    assert reporting.range_text([0.951, np.nan], [0.985, np.nan], spec=".1%") == [
        "95.1% to 98.5%",
        "–",
    ]
    assert reporting.range_text(pd.Series([146.6]), pd.Series([159.6])) == ["146.6 to 159.6"]
    with pytest.raises(ValueError):
        reporting.range_text([1.0, 2.0], [3.0])  # bounds must pair up


def test_axes_or_new_draws_where_told_or_on_a_new_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert reporting.axes_or_new(ax) is ax
    new = reporting.axes_or_new(None, figsize=(3.0, 2.0))
    assert new is not ax and tuple(new.figure.get_size_inches()) == (3.0, 2.0)
    plt.close("all")
