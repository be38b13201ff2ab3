"""Loaders and the data contract: real files load typed, bad input fails clearly."""

from __future__ import annotations

import pandas as pd
import pytest

from insurereco import data
from insurereco.contract import PRODUCTS, ZIMNAT_COLUMNS
from insurereco.errors import DataNotFoundError, DataValidationError


def _as_file_frame(portfolio: pd.DataFrame) -> pd.DataFrame:
    """The synthetic portfolio as it would be written in a Zimnat CSV (d/m/yyyy dates)."""
    out = portfolio.copy()
    out["join_date"] = out["join_date"].map(lambda d: f"{d.day}/{d.month}/{d.year}")
    return out.astype({"join_date": object})


@pytest.fixture()
def good(portfolio):
    return _as_file_frame(portfolio.head(50))


def test_read_portfolio_round_trip(write_csv, good, portfolio):
    df = data.read_portfolio(write_csv(good))
    assert list(df.columns) == list(ZIMNAT_COLUMNS)
    assert df["join_date"].dtype == "datetime64[ns]"
    assert df["birth_year"].dtype == "Int64"
    assert all(df[p].dtype == "int8" for p in PRODUCTS)
    pd.testing.assert_frame_equal(df, portfolio.head(50), check_dtype=False)


def test_missing_dates_are_kept_as_nat(write_csv, good):
    good.loc[3, "join_date"] = None
    df = data.read_portfolio(write_csv(good))
    assert df["join_date"].isna().sum() == 1


def test_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"zimnat/Train.csv not found.*zindi"):
        data.load_zimnat("train", data_dir=tmp_path)


def test_env_variable_is_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.search_dirs() == [tmp_path]
    with pytest.raises(DataNotFoundError, match=str(tmp_path)):
        data.find_data_file("cdnow/CDNOW_master.txt")


def test_default_search_order(monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    dirs = data.search_dirs()
    assert dirs[0] == data.PROJECT_ROOT / "data" / "raw"
    assert dirs[1] == data.PROJECT_ROOT.parent / "shared" / "data"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.drop(columns=["QBOL"]), r"missing column\(s\) QBOL"),
        (lambda df: df.assign(extra=1), r"unexpected column\(s\) extra"),
        (lambda df: df.assign(RVSZ=df["RVSZ"].replace(1, 2)), r"column RVSZ must hold 0/1 flags"),
        (lambda df: df.assign(K6QO="yes"), r"column K6QO must hold 0/1 flags; found yes"),
        (
            lambda df: pd.concat([df, df.head(1)]),
            r"column ID has 1 value\(s\) on more than one row \(2 rows\)",
        ),
        (lambda df: df.assign(join_date="2019-13-45"), r"column join_date has \d+ unparsable date"),
        (lambda df: df.assign(birth_year="old"), r"birth_year must hold whole years"),
        (lambda df: df.assign(marital_status="Z"), r"column marital_status"),
    ],
    ids=["missing", "extra", "flag-2", "flag-text", "duplicate-id", "bad-date", "bad-year", "code"],
)
def test_contract_violations_name_column_and_problem(write_csv, good, mutate, message):
    path = write_csv(mutate(good))
    with pytest.raises(DataValidationError, match=message) as info:
        data.read_portfolio(path)
    assert str(path) in str(info.value)


def test_empty_file(write_csv):
    with pytest.raises(DataValidationError, match="file is empty"):
        data.read_portfolio(write_csv(""))


def test_header_only_file(write_csv):
    with pytest.raises(DataValidationError, match="header but no rows"):
        data.read_portfolio(write_csv(",".join(ZIMNAT_COLUMNS) + "\n"))


def test_wrong_separator(write_csv, good):
    with pytest.raises(DataValidationError, match="wrong separator"):
        data.read_portfolio(write_csv(good, sep=";"))


def test_bank_marketing_wrong_separator(tmp_path):
    folder = tmp_path / "bank_marketing"
    folder.mkdir()
    (folder / "bank-additional-full.csv").write_text("age,job,y\n30,admin.,no\n")
    with pytest.raises(DataValidationError, match="wrong separator"):
        data.load_bank_marketing(data_dir=tmp_path)


def test_cdnow_unparsable_date(tmp_path):
    folder = tmp_path / "cdnow"
    folder.mkdir()
    (folder / "CDNOW_master.txt").write_text(
        "customer_id date number_of_cds dollar_value\n00001 19970101 1 11.77\n00002 1997x 1 2.0\n"
    )
    with pytest.raises(DataValidationError, match=r"column date has 1 unparsable date.*1997x"):
        data.load_cdnow(data_dir=tmp_path)


def test_coil_wrong_width(tmp_path):
    folder = tmp_path / "coil2000"
    folder.mkdir()
    names = [f"{i} COL{i} x" for i in range(1, 86)] + ["86 CARAVAN x"]
    (folder / "dictionary.txt").write_text("\n".join(names), encoding="cp1252")
    (folder / "ticdata2000.txt").write_text("1\t2\t3\n")
    with pytest.raises(DataValidationError, match="expected 86 tab-separated columns, found 3"):
        data.load_coil2000("train", data_dir=tmp_path)


def test_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_zimnat("validation")


@pytest.mark.real_data
def test_real_zimnat_train(zimnat_train):
    assert zimnat_train.shape == (25132, 29)
    assert zimnat_train[list(PRODUCTS)].sum(axis=1).min() >= 2
    assert zimnat_train["join_date"].isna().sum() == 2


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("loader", "shape"),
    [
        (lambda: data.load_zimnat("test"), (10000, 29)),
        (data.load_bank_marketing, (41188, 21)),
        (data.load_online_retail, (541909, 8)),
        (data.load_cdnow, (69659, 4)),
        (lambda: data.load_coil2000("train"), (5822, 86)),
        (lambda: data.load_coil2000("eval"), (4000, 85)),
    ],
    ids=["zimnat-test", "bank", "online-retail", "cdnow", "coil-train", "coil-eval"],
)
def test_real_sets_load_with_their_shapes(loader, shape):
    from insurereco.reporting import is_ci

    try:
        df = loader()
    except DataNotFoundError:
        if is_ci():
            raise
        pytest.skip("real data absent")
    assert df.shape == shape


def test_rules_files_are_checked_for_their_keys(monkeypatch):
    from insurereco import contract

    assert contract.load_rules_file("campaign.yml", required=("cost_per_contact",))["never_offer"]
    with pytest.raises(DataValidationError, match=r"rules/campaign.yml: missing key\(s\) nope"):
        contract.load_rules_file("campaign.yml", required=("cost_per_contact", "nope"))

    monkeypatch.setattr(contract, "_rules_text", lambda name: "- just\n- a list\n")
    with pytest.raises(DataValidationError, match="expected a mapping"):
        contract.load_rules_file("segments.yml")
