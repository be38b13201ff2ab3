"""``insurereco segment``: outputs, the saved model and one-line errors."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_transactions import hand_made_raw

from insurereco.cli import main
from insurereco.commands.segment import OUTPUT_COLUMNS
from insurereco.transactions import TRANSACTION_COLUMNS, from_cdnow, make_cdnow_like


@pytest.fixture(scope="module")
def normalised_csv(tmp_path_factory):
    """A 400-customer synthetic log in the normalised schema."""
    path = tmp_path_factory.mktemp("tx") / "transactions.csv"
    tx = from_cdnow(make_cdnow_like(400, random_state=1))
    tx.loc[:, list(TRANSACTION_COLUMNS)].to_csv(path, index=False)
    return path


def _run(*args) -> int:
    return main(["segment", *map(str, args)])


def test_raw_online_retail_gives_the_right_rfm(tmp_path):
    src, out = tmp_path / "raw.csv", tmp_path / "out.csv"
    hand_made_raw().to_csv(src, index=False)
    assert _run("--transactions", src, "--out", out, "--k", 2) == 0
    result = pd.read_csv(out, dtype={"customer_id": str})
    assert tuple(result.columns) == OUTPUT_COLUMNS
    rfm = result.set_index("customer_id")[["recency", "frequency", "monetary"]]
    assert rfm.loc["100"].tolist() == [10, 2, 18.0]
    assert rfm.loc["200"].tolist() == [37, 1, 10.0]
    assert rfm.loc["300"].tolist() == [1, 1, 17.0]
    assert result["strategy"].str.len().min() > 10


def test_snapshot_and_automatic_k(normalised_csv, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert _run("--transactions", normalised_csv, "--out", out, "--snapshot", "1998-01-01") == 0
    result = pd.read_csv(out, dtype={"customer_id": str})
    assert result["customer_id"].is_unique
    assert result["recency"].min() >= 1
    assert 3 <= result["segment"].nunique() <= 6
    assert "wrote" in capsys.readouterr().out


def test_model_is_saved_then_reused(normalised_csv, tmp_path, capsys):
    model, first, second = tmp_path / "seg.joblib", tmp_path / "a.csv", tmp_path / "b.csv"
    assert _run("--transactions", normalised_csv, "--out", first, "--k", 4, "--model", model) == 0
    assert model.is_file()
    assert _run("--transactions", normalised_csv, "--out", second, "--model", model) == 0
    pd.testing.assert_frame_equal(pd.read_csv(first), pd.read_csv(second))
    code = _run("--transactions", normalised_csv, "--out", second, "--k", 3, "--model", model)
    assert code == 2
    assert "k=4" in capsys.readouterr().err


def test_a_model_applied_to_another_shop_warns(normalised_csv, tmp_path, capsys):
    model, out = tmp_path / "seg.joblib", tmp_path / "out.csv"
    assert _run("--transactions", normalised_csv, "--out", out, "--k", 3, "--model", model) == 0
    assert _run("--transactions", normalised_csv, "--out", out, "--model", model) == 0
    assert "warning" not in capsys.readouterr().err
    dearer = tmp_path / "dearer.csv"
    tx = pd.read_csv(normalised_csv)
    tx.assign(amount=tx["amount"] * 50).to_csv(dearer, index=False)
    assert _run("--transactions", dearer, "--out", out, "--model", model) == 0
    err = capsys.readouterr().err
    assert "warning: these customers are unlike" in err
    # Geometric means of 1 + spend: a little under 50 times.
    assert re.search(r"typical spend 4\d\.\d times higher", err)
    assert "purchases" not in err
    assert pd.read_csv(out)["segment"].notna().all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("customer_id,invoice_id,amount\n1,A,3\n", "missing column(s) date"),
        ("customer_id,invoice_id,date,amount\n1,A,31/31/2011,3\n", "unparsable date"),
        ("customer_id,invoice_id,date,amount\n", "no rows"),
        ("", "empty"),
        ("customer_id,invoice_id,date,amount\n1,A,2011-01-01,-3\n", "no valid transactions"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, text, message):
    src, out = tmp_path / "bad.csv", tmp_path / "out.csv"
    src.write_text(text)
    assert _run("--transactions", src, "--out", out, "--k", 2) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_too_few_customers_for_an_automatic_k(tmp_path, capsys):
    src, out = tmp_path / "few.csv", tmp_path / "out.csv"
    rows = [f"{c},I{c}{d},2011-01-0{c + d},{5 * c * d}" for c in range(1, 4) for d in (1, 2)]
    src.write_text("customer_id,invoice_id,date,amount\n" + "\n".join(rows) + "\n")
    assert _run("--transactions", src, "--out", out) == 2
    assert "3 customer(s) are too few to choose the number of segments" in capsys.readouterr().err
    assert not out.exists()
    assert _run("--transactions", src, "--out", out, "--k", 2) == 0


def test_missing_file_and_bad_snapshot(normalised_csv, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert _run("--transactions", tmp_path / "none.csv", "--out", out) == 2
    assert "none.csv" in capsys.readouterr().err
    code = _run("--transactions", normalised_csv, "--out", out, "--snapshot", "someday")
    assert code == 2
    assert "someday" in capsys.readouterr().err
    assert not out.exists()
