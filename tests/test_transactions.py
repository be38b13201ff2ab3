"""Transaction schema, the cleaning pipeline and file reading, on a hand-made log."""

from __future__ import annotations

import pandas as pd
import pytest

from insurereco.errors import DataNotFoundError, DataValidationError
from insurereco.reporting import is_ci
from insurereco.transactions import (
    CLEANING_STEPS,
    TRANSACTION_COLUMNS,
    clean_transactions,
    from_cdnow,
    from_online_retail,
    load_segment_rules,
    make_cdnow_like,
    normalise_transactions,
    read_transactions,
)

RAW_COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


def hand_made_raw() -> pd.DataFrame:
    """Thirteen raw Online Retail lines; each cleaning step removes exactly one of them.

    Customers after cleaning (snapshot 2011-02-11, the day after the last purchase):
    100: R 10, F 2, M 18.0; 200: R 37, F 1, M 10.0; 300: R 1, F 1, M 17.0.
    """
    rows = [
        ("536001", "85123A", "HEART", 2, "2011-01-10 10:00", 2.5, 100),  # kept: 5.0
        ("536001", "71053", "LANTERN", 1, "2011-01-10 10:00", 3.0, 100),  # kept: 3.0
        ("536001", "71053", "LANTERN", 1, "2011-01-10 10:00", 3.0, 100),  # duplicate
        ("536002", "POST", "POSTAGE", 1, "2011-01-20 11:00", 18.0, 100),  # non-product
        ("536003", "22333", "MUG", 3, "2011-01-18 12:00", 1.0, 100),  # reversed below
        ("C536003", "22333", "MUG", -3, "2011-01-21 12:00", 1.0, 100),  # cancellation
        ("536004", "85123A", "HEART", 4, "2011-02-01 09:00", 2.5, 100),  # kept: 10.0
        ("536005", "22222", "CUP", 3, "2011-01-15 10:00", 1.0, None),  # no customer
        ("536006", "22222", "CUP", -1, "2011-01-16 10:00", 1.0, 200),  # non-positive qty
        ("536007", "22222", "CUP", 5, "2011-01-17 10:00", 0.0, 200),  # zero price
        ("536008", "22222", "CUP", 5, "2011-01-05 10:00", 2.0, 200),  # kept: 10.0
        ("536009", "84029G", "BOTTLE", 10, "2011-02-10 15:00", 1.5, 300),  # kept: 15.0
        ("536009", "84030E", "BOTTLE", 2, "2011-02-10 15:00", 1.0, 300),  # kept: 2.0
    ]
    df = pd.DataFrame(
        [(*r[:6], r[6], "United Kingdom") for r in rows],
        columns=RAW_COLUMNS,
    )
    df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"])
    df["CustomerID"] = df["CustomerID"].astype("Int64")
    return df


EXPECTED_REMOVED = {
    "reversed purchases": 1,
    "cancellations": 1,
    "missing customer": 1,
    "non-positive quantity": 1,
    "non-positive price": 1,
    "non-product stock code": 1,
    "duplicates": 1,
}


def test_normalised_schema_from_online_retail():
    tx = from_online_retail(hand_made_raw())
    assert list(tx.columns[:4]) == list(TRANSACTION_COLUMNS)
    assert tx["customer_id"].iloc[0] == "100"
    assert tx["customer_id"].isna().sum() == 1
    assert tx["amount"].iloc[0] == pytest.approx(5.0)
    assert pd.api.types.is_datetime64_any_dtype(tx["date"])


def test_each_cleaning_step_removes_its_row_and_says_why():
    clean, log = clean_transactions(from_online_retail(hand_made_raw()))
    assert list(log["step"]) == ["raw", *(name for name, _, _ in CLEANING_STEPS)]
    assert dict(zip(log["step"][1:], log["rows_removed"][1:], strict=True)) == EXPECTED_REMOVED
    assert log["reason"].str.len().min() > 5
    assert log["rows_left"].iloc[-1] == len(clean) == 6
    assert sorted(clean["customer_id"].unique()) == ["100", "200", "300"]
    assert clean["amount"].sum() == pytest.approx(18.0 + 10.0 + 17.0)
    assert not clean["invoice_id"].str.startswith("C").any()
    assert log["customers_left"].iloc[-1] == 3


def test_cleaning_as_of_a_date_ignores_later_cancellations():
    tx = from_online_retail(hand_made_raw())
    # the mug bought on 2011-01-18 is cancelled on 2011-01-21: seen from 2011-01-20 the
    # cancellation has not happened yet, so the purchase stays
    early, log = clean_transactions(tx, before="2011-01-20")
    assert log.set_index("step").loc["reversed purchases", "rows_removed"] == 0
    assert log.set_index("step").loc["raw", "rows_left"] == 8  # lines dated before the 20th
    assert early["date"].max() < pd.Timestamp("2011-01-20")
    by_customer = early.groupby("customer_id")["amount"].sum()
    assert by_customer.to_dict() == {"100": pytest.approx(5.0 + 3.0 + 3.0), "200": 10.0}
    # seen from the day after the cancellation, the purchase is reversed
    later, _ = clean_transactions(tx, before="2011-01-22")
    assert later.groupby("customer_id")["amount"].sum()["100"] == pytest.approx(8.0)
    with pytest.raises(DataValidationError, match="no transaction before"):
        clean_transactions(tx, before="2010-01-01")


def test_cleaning_everything_away_is_an_error():
    raw = hand_made_raw()
    raw["CustomerID"] = pd.array([None] * len(raw), dtype="Int64")
    with pytest.raises(DataValidationError, match="no valid transactions"):
        clean_transactions(from_online_retail(raw))


def test_non_product_codes_come_from_the_rules_file():
    codes = load_segment_rules()["cleaning"]["non_product_stock_codes"]
    assert {"POST", "DOT", "M", "BANK CHARGES"} <= set(codes)


def test_cdnow_rows_on_one_day_form_one_order_and_zero_value_goes():
    raw = pd.DataFrame(
        {
            "customer_id": ["00001", "00001", "00001", "00002"],
            "date": pd.to_datetime(["1997-01-01", "1997-01-01", "1997-02-01", "1997-01-03"]),
            "number_of_cds": [1, 1, 2, 1],
            "dollar_value": [10.0, 10.0, 20.0, 0.0],
        }
    )
    clean, log = clean_transactions(from_cdnow(raw))
    assert list(clean["invoice_id"]) == ["00001-19970101", "00001-19970201"]
    assert list(clean["amount"]) == [20.0, 20.0]
    assert log.set_index("step").loc["non-positive price", "rows_removed"] == 1
    assert log.set_index("step").loc["duplicates", "rows_removed"] == 0


def test_only_online_retail_cancellations_count_as_cancellations():
    """Invoice numbers that merely start with C are purchases like any other."""
    cdnow = pd.DataFrame(
        {
            "customer_id": ["C01", "C01"],
            "date": pd.to_datetime(["1997-01-01", "1997-02-01"]),
            "number_of_cds": [1, 2],
            "dollar_value": [10.0, 20.0],
        }
    )
    clean, _ = clean_transactions(from_cdnow(cdnow))
    assert list(clean["invoice_id"]) == ["C01-19970101", "C01-19970201"]
    normalised = pd.DataFrame(
        {
            "customer_id": ["7", "7", "7"],
            "invoice_id": ["CUST-1", "C2", "C3"],
            "date": pd.to_datetime(["2011-01-01", "2011-01-02", "2011-01-03"]),
            "amount": [5.0, 6.0, -6.0],
        }
    )
    clean, log = clean_transactions(normalise_transactions(normalised))
    assert list(clean["invoice_id"]) == ["CUST-1", "C2"]
    assert log.set_index("step").loc["cancellations", "rows_removed"] == 1


def test_make_cdnow_like_is_deterministic_and_in_the_cdnow_layout():
    a = make_cdnow_like(200, random_state=3)
    b = make_cdnow_like(200, random_state=3)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["customer_id", "date", "number_of_cds", "dollar_value"]
    assert a["date"].min() >= pd.Timestamp("1997-01-01")
    assert a["date"].max() <= pd.Timestamp("1998-06-30")
    assert a["customer_id"].nunique() == 200


def test_read_transactions_detects_each_layout(tmp_path):
    raw = hand_made_raw()
    raw_path = tmp_path / "raw.csv"
    raw.to_csv(raw_path, index=False)
    from_raw = read_transactions(raw_path)
    expected = from_online_retail(raw)
    pd.testing.assert_frame_equal(from_raw, expected, check_dtype=False)

    norm_path = tmp_path / "norm.csv.gz"
    expected[list(TRANSACTION_COLUMNS)].to_csv(norm_path, index=False)
    from_norm = read_transactions(norm_path)
    assert list(from_norm.columns) == list(TRANSACTION_COLUMNS)
    assert from_norm["amount"].sum() == pytest.approx(expected["amount"].sum())

    cdnow_path = tmp_path / "cdnow.txt"
    cdnow_path.write_text(
        "customer_id date number_of_cds dollar_value\n00001 19970101 1 11.77\n"
        "00002 19970112 5 77.00\n"
    )
    from_cd = read_transactions(cdnow_path)
    assert list(from_cd["invoice_id"]) == ["00001-19970101", "00002-19970112"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("customer_id,invoice_id,date\n1,A,2011-01-01\n", "missing column.*amount"),
        ("customer_id,invoice_id,date,amount\n1,A,not a date,3\n", "date.*unparsable"),
        ("customer_id,invoice_id,date,amount\n1,A,2011-01-01,abc\n", "amount.*non-numeric"),
        ("customer_id,invoice_id,date,amount\n", "no rows"),
        ("", "empty"),
    ],
)
def test_read_transactions_errors_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataValidationError, match=message):
        read_transactions(path)


def test_missing_file_is_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="nope.csv"):
        read_transactions(tmp_path / "nope.csv")


def test_normalise_rejects_missing_dates():
    df = pd.DataFrame(
        {"customer_id": ["1"], "invoice_id": ["A"], "date": [pd.NaT], "amount": [1.0]}
    )
    with pytest.raises(DataValidationError, match="date"):
        normalise_transactions(df)


@pytest.mark.real_data
def test_real_online_retail_matches_the_published_cleaning_counts():
    from insurereco.data import load_online_retail

    try:
        raw = load_online_retail()
    except DataNotFoundError:
        if is_ci():
            raise
        pytest.skip("Online Retail absent")
    tx = from_online_retail(raw)
    standard = ["cancellations", "missing customer", "non-positive quantity", "non-positive price"]
    _, log = clean_transactions(tx, steps=standard)
    after_price = log.set_index("step").loc["non-positive price"]
    # SOURCE.md: the usual RFM cleaning leaves 397884 rows, 4338 customers, 18532 invoices.
    assert after_price["rows_left"] == 397884
    assert after_price["customers_left"] == 4338
    assert after_price["invoices_left"] == 18532
    assert log["rows_removed"].iloc[1] == 9288  # the 'C' invoices
    _, full = clean_transactions(tx)
    assert full.set_index("step").loc["reversed purchases", "rows_removed"] > 1000


def test_unknown_cleaning_step_is_refused():
    with pytest.raises(ValueError, match="unknown cleaning step"):
        clean_transactions(from_online_retail(hand_made_raw()), steps=["tidy up"])


def test_make_online_retail_like_has_the_defects_cleaning_removes():
    from insurereco.contract import ONLINE_RETAIL_COLUMNS
    from insurereco.transactions import make_online_retail_like

    raw = make_online_retail_like(300, random_state=2)
    assert tuple(raw.columns) == tuple(ONLINE_RETAIL_COLUMNS)
    _, log = clean_transactions(from_online_retail(raw))
    removed = log.set_index("step")["rows_removed"]
    for step in ("cancellations", "missing customer", "non-product stock code", "duplicates"):
        assert removed[step] > 0, step


def test_sample_customers_keeps_whole_histories():
    from insurereco.transactions import sample_customers

    tx = from_cdnow(make_cdnow_like(100, random_state=0))
    sampled = sample_customers(tx, 10, random_state=1)
    assert sampled["customer_id"].nunique() == 10
    kept = tx.loc[tx["customer_id"].isin(sampled["customer_id"])]
    assert len(sampled) == len(kept)
    pd.testing.assert_frame_equal(sampled, sample_customers(tx, 10, random_state=1))
    assert sample_customers(tx, None) is tx


def test_segment_rules_are_a_fresh_copy_each_time():
    rules = load_segment_rules()
    rules["segments"].clear()
    assert load_segment_rules()["segments"], "a caller's change leaked into the next load"
