"""``insurereco fit / predict / contacts``: round trip and every bad-input case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from insurereco import cli
from insurereco.campaign import never_offered_products
from insurereco.contract import PRODUCTS
from insurereco.models import load_model
from insurereco.protocol import evaluation_split


def _to_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write a typed portfolio in the Zimnat file layout (join_date d/m/yyyy)."""
    out = df.copy()
    joined = out["join_date"]
    out["join_date"] = (
        joined.dt.day.astype("Int64").astype(str) + "/" + joined.dt.month.astype("Int64").astype(str)
        + "/" + joined.dt.year.astype("Int64").astype(str)
    ).where(joined.notna())  # fmt: skip
    out.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, portfolio):
    folder = tmp_path_factory.mktemp("cli")
    split = evaluation_split(portfolio.head(800), test_size=0.25, random_state=0)
    train = _to_csv(split.train, folder / "train.csv")
    customers = _to_csv(split.masked, folder / "customers.csv")
    model = folder / "model.joblib"
    assert cli.main(["fit", "--train", str(train), "--model", str(model), "--n-jobs", "1"]) == 0
    return {"folder": folder, "train": train, "customers": customers, "model": model,
            "masked": split.masked}  # fmt: skip


def test_predict_writes_a_zindi_submission(files, capsys):
    out = files["folder"] / "submission.csv"
    code = cli.main(
        ["predict", "--model", str(files["model"]), "--customers", str(files["customers"]),
         "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    n = len(files["masked"])
    assert f"wrote {n * 21:,} rows ({n:,} customers x 21 products)" in capsys.readouterr().out
    sub = pd.read_csv(out)
    masked = files["masked"]
    assert list(sub.columns) == ["ID X PCODE", "Label"]
    assert len(sub) == len(masked) * len(PRODUCTS)
    expected_keys = [f"{i} X {p}" for i in masked["ID"] for p in PRODUCTS]
    assert sub["ID X PCODE"].tolist() == expected_keys
    labels = sub["Label"].to_numpy().reshape(len(masked), len(PRODUCTS))
    held = masked[list(PRODUCTS)].to_numpy() == 1
    assert (labels[held] == 1).all()
    assert labels[~held].reshape(-1).max() < 1
    open_mass = np.where(held, 0, labels).sum(axis=1)
    assert open_mass == pytest.approx(np.ones(len(masked)), abs=1e-4)


def test_contacts_rank_value_action_and_reasons(files, capsys):
    out = files["folder"] / "contacts.csv"
    args = ["contacts", "--model", str(files["model"]), "--customers", str(files["customers"]),
            "--out", str(out), "--top-k", "2", "--cost-per-contact", "10",
            "--value-per-sale", "100"]  # fmt: skip
    assert cli.main(args) == 0
    table = pd.read_csv(out, keep_default_na=False)
    n_contacts = (table["action"] == "contact").sum()
    assert f"{n_contacts:,} contacts proposed" in capsys.readouterr().out
    masked = files["masked"].set_index("ID")
    assert list(table.columns) == [
        "ID", "rank", "product", "probability", "acceptance", "expected_value",
        "expected_profit", "action", "reasons",
    ]  # fmt: skip
    assert table["acceptance"].to_numpy() == pytest.approx(table["probability"], rel=1e-4)
    assert table.groupby("ID").size().eq(2).all()
    assert all(masked.loc[i, p] == 0 for i, p in zip(table["ID"], table["product"], strict=True))
    contact = table["action"] == "contact"
    assert (table.loc[contact, "rank"] == 1).all()
    assert (table.loc[contact, "probability"] * 100 > 10).all()
    first = table["rank"] == 1
    assert (table.loc[first & ~contact, "probability"] * 100 <= 10).all()
    assert table["expected_value"].to_numpy() == pytest.approx(table["probability"] * 100, rel=1e-4)
    assert table.loc[first, "reasons"].str.len().gt(0).mean() > 0.9

    budget = files["folder"] / "budget.csv"
    base = ["contacts", "--model", str(files["model"]), "--customers", str(files["customers"])]
    assert cli.main([*base, "--out", str(budget), "--budget", "5"]) == 0
    limited = pd.read_csv(budget, keep_default_na=False)
    assert (limited["action"] == "contact").sum() == min(5, int(contact.sum()))


def test_contacts_take_up_scales_probabilities_before_the_action_rule(files, capsys):
    base = ["contacts", "--model", str(files["model"]), "--customers", str(files["customers"]),
            "--top-k", "2", "--cost-per-contact", "10", "--value-per-sale", "100"]  # fmt: skip
    plain, low = files["folder"] / "plain.csv", files["folder"] / "low.csv"
    assert cli.main([*base, "--out", str(plain)]) == 0
    capsys.readouterr()
    everyone = str(len(files["masked"]))  # a pilot on the whole file
    assert cli.main([*base, "--out", str(low), "--take-up", "0.05", "--pilot-top", everyone]) == 0
    assert f"so that the top {int(everyone):,} first offers average 0.05" in capsys.readouterr().out
    plain = pd.read_csv(plain, keep_default_na=False)
    low = pd.read_csv(low, keep_default_na=False)
    # same offers and reasons; only the assumed acceptance and what follows from it change
    pd.testing.assert_frame_equal(
        plain[["ID", "rank", "product", "probability", "reasons"]],
        low[["ID", "rank", "product", "probability", "reasons"]],
    )
    first = low["rank"] == 1
    assert low.loc[first, "acceptance"].mean() == pytest.approx(0.05, rel=1e-3)
    ratio = low["acceptance"] / low["probability"]
    assert ratio.to_numpy() == pytest.approx(np.full(len(low), ratio.iloc[0]), rel=1e-3)
    assert low["expected_value"].to_numpy() == pytest.approx(low["acceptance"] * 100, rel=1e-4)
    contact = low["action"] == "contact"
    assert (low.loc[contact, "acceptance"] * 100 > 10).all()
    assert (low.loc[first & ~contact, "acceptance"] * 100 <= 10).all()
    assert contact.sum() < (plain["action"] == "contact").sum()
    # measured by a pilot on the top 3 of the ranking: their first offers average 0.05
    pilot = files["folder"] / "pilot.csv"
    assert cli.main([*base, "--out", str(pilot), "--take-up", "0.05", "--pilot-top", "3"]) == 0
    assert "so that the top 3 first offers average 0.05" in capsys.readouterr().out
    pilot = pd.read_csv(pilot, keep_default_na=False)
    top3 = pilot.loc[first, "acceptance"].nlargest(3)
    assert top3.mean() == pytest.approx(0.05, rel=1e-3)
    assert (pilot["acceptance"] <= low["acceptance"] + 1e-9).all()  # the top scores more


def test_contacts_exact_reasons_same_offers_reasons_from_tree_shap(files):
    from insurereco.explain import reasons
    from insurereco.models import load_model

    base = ["contacts", "--model", str(files["model"]), "--customers", str(files["customers"]),
            "--top-k", "1"]  # fmt: skip
    fast, exact = files["folder"] / "fast.csv", files["folder"] / "exact.csv"
    assert cli.main([*base, "--out", str(fast)]) == 0
    assert cli.main([*base, "--out", str(exact), "--exact-reasons"]) == 0
    fast = pd.read_csv(fast, keep_default_na=False)
    exact = pd.read_csv(exact, keep_default_na=False)
    pd.testing.assert_frame_equal(fast.drop(columns="reasons"), exact.drop(columns="reasons"))
    model, _ = load_model(files["model"])
    masked = files["masked"]
    expected = reasons(model, masked, products=exact["product"].to_numpy(), approximate=False)
    assert exact["reasons"].tolist() == expected["reasons"].tolist()
    assert (exact["reasons"] != fast["reasons"]).any()  # the two attributions do differ


def test_contact_list_takes_its_economics_from_the_rules_file(files):
    from insurereco.campaign import CampaignParameters, load_campaign_parameters
    from insurereco.commands.recommend import contact_list

    model, _ = load_model(files["model"])
    masked = files["masked"].head(40)
    default = contact_list(model, masked, top_k=1, with_reasons=False)
    rules = load_campaign_parameters()
    value = default["probability"] * rules.value_per_sale
    assert default["expected_value"].to_numpy() == pytest.approx(value)
    assert default["expected_profit"].to_numpy() == pytest.approx(value - rules.cost_per_contact)
    dear = contact_list(
        model, masked, top_k=1, with_reasons=False, parameters=CampaignParameters(30.0, 50.0)
    )
    assert dear["expected_profit"].to_numpy() == pytest.approx(dear["probability"] * 50 - 30)
    assert (dear["action"] == "contact").sum() < (default["action"] == "contact").sum()
    # a product worth ten times the others moves up the ranking and is offered more often
    product = default["product"].value_counts().index[-1]  # a product rarely offered first
    valued = contact_list(
        model, masked, top_k=3, with_reasons=False,
        parameters=CampaignParameters(10.0, 100.0, product_values={product: 1000.0}),
    )  # fmt: skip
    plain = contact_list(model, masked, top_k=3, with_reasons=False)
    first = valued["rank"] == 1
    assert (valued.loc[first, "product"] == product).sum() > (
        plain.loc[plain["rank"] == 1, "product"] == product
    ).sum()
    worth = valued["probability"] * np.where(valued["product"] == product, 1000.0, 100.0)
    assert valued["expected_value"].to_numpy() == pytest.approx(worth.to_numpy())
    ranks = valued.assign(worth=worth).groupby("ID")["worth"]
    assert ranks.apply(lambda w: w.is_monotonic_decreasing).all()  # ranked by expected value
    contact = valued["action"] == "contact"
    assert (valued.loc[contact, "expected_profit"] > 0).all() and (
        valued.loc[contact, "rank"] == 1
    ).all()


def _expect_failure(files, capsys, args, message, out_name="out.csv"):
    out = files["folder"] / out_name
    out.unlink(missing_ok=True)
    code = cli.main([*args, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert message in err
    assert not out.exists()
    assert not list(files["folder"].glob(f".{out_name}.*"))


def _customers_variant(files, name, change):
    df = pd.read_csv(files["customers"], dtype=str, keep_default_na=False)
    df = change(df)
    path = files["folder"] / name
    if isinstance(df, str):
        path.write_text(df)
    else:
        df.to_csv(path, index=False)
    return path


BAD_CUSTOMERS = {
    "unknown_column": (lambda d: d.assign(EXTRA=1), "unexpected column(s) EXTRA"),
    "unknown_product": (lambda d: d.assign(ZZZZ=0), "ZZZZ"),
    "missing_column": (lambda d: d.drop(columns=["branch_code"]), "missing column(s) branch_code"),
    "missing_product": (lambda d: d.drop(columns=["QBOL"]), "QBOL"),
    "flag_not_01": (lambda d: d.assign(RVSZ="2"), "RVSZ must hold 0/1"),
    "duplicate_ids": (
        lambda d: pd.concat([d, d.head(2)]),
        "2 value(s) on more than one row (4 rows)",
    ),
    "empty_file": (lambda d: "", "empty"),
    "header_only": (lambda d: d.head(0), "no rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_CUSTOMERS))
@pytest.mark.parametrize("command", ["predict", "contacts"])
def test_bad_customer_files_fail_cleanly(files, capsys, case, command):
    change, message = BAD_CUSTOMERS[case]
    path = _customers_variant(files, f"{case}.csv", change)
    _expect_failure(
        files, capsys, [command, "--model", str(files["model"]), "--customers", str(path)], message
    )


@pytest.mark.parametrize("command", ["predict", "contacts"])
def test_unreadable_or_missing_model_fails_cleanly(files, capsys, command):
    garbage = files["folder"] / "garbage.joblib"
    garbage.write_bytes(b"\x00\x01 definitely not joblib")
    customers = ["--customers", str(files["customers"])]
    _expect_failure(
        files, capsys, [command, "--model", str(garbage), *customers], "unreadable model"
    )
    absent = str(files["folder"] / "absent.joblib")
    _expect_failure(files, capsys, [command, "--model", absent, *customers], "not found")


def test_bad_contact_options_fail_cleanly(files, capsys):
    base = ["contacts", "--model", str(files["model"]), "--customers", str(files["customers"])]
    _expect_failure(files, capsys, [*base, "--top-k", "0"], "--top-k")
    _expect_failure(files, capsys, [*base, "--budget", "-1"], "--budget")
    pilot = ["--pilot-top", "5"]
    _expect_failure(files, capsys, [*base, "--take-up", "0", *pilot], "--take-up must be in (0, 1]")
    _expect_failure(
        files, capsys, [*base, "--take-up", "1.5", *pilot], "--take-up must be in (0, 1]"
    )
    _expect_failure(files, capsys, [*base, *pilot], "--take-up and --pilot-top go together")
    _expect_failure(
        files, capsys, [*base, "--take-up", "0.1"], "--take-up and --pilot-top go together"
    )
    too_many = str(len(files["masked"]) + 1)
    for bad in ("0", too_many):
        _expect_failure(files, capsys, [*base, "--take-up", "0.1", "--pilot-top", bad],
                        f"--pilot-top must be between 1 and the {len(files['masked']):,} customers")  # fmt: skip
    _expect_failure(files, capsys, [*base, "--value-per-sale", "-5"], "value_per_sale")
    _expect_failure(files, capsys, [*base, "--exclude", "QBOL", "NOPE"], "unknown product(s) NOPE")


def test_contacts_leave_out_the_never_offered_products_unless_told(files, capsys):
    assert never_offered_products() == ("RVSZ", "K6QO")
    base = ["contacts", "--model", str(files["model"]), "--customers", str(files["customers"]),
            "--top-k", "3"]  # fmt: skip
    offered, said = {}, {}
    runs = {
        "default": [],
        "all": ["--offer-all"],
        "qbol": ["--exclude", "QBOL"],
        "all_but_qbol": ["--offer-all", "--exclude", "QBOL"],
    }
    for name, extra in runs.items():
        out = files["folder"] / f"offers_{name}.csv"
        assert cli.main([*base, "--out", str(out), *extra]) == 0
        said[name] = capsys.readouterr().out
        offered[name] = pd.read_csv(out, keep_default_na=False)
    dominant = ["RVSZ", "K6QO"]
    assert not offered["default"]["product"].isin(dominant).any()
    assert said["default"].rstrip().endswith("never offered: RVSZ, K6QO")
    assert offered["all"]["product"].isin(dominant).any()
    assert said["all"].rstrip().endswith("never offered: none")
    # --exclude adds to the rules file's list
    assert not offered["qbol"]["product"].isin(["QBOL", *dominant]).any()
    assert said["qbol"].rstrip().endswith("never offered: RVSZ, K6QO, QBOL")
    assert "QBOL" not in set(offered["all_but_qbol"]["product"])
    assert offered["all_but_qbol"]["product"].isin(dominant).any()


def test_fit_learns_from_unlabelled_customers(files, capsys):
    model = files["folder"] / "semi.joblib"
    args = ["fit", "--train", str(files["train"]), "--model", str(model), "--n-jobs", "1"]
    assert cli.main([*args, "--unlabelled", str(files["customers"])]) == 0
    said = capsys.readouterr().out
    assert f"(+{len(files['masked'])} unlabelled)" in said and f"wrote {model}" in said
    fitted, _ = load_model(model)
    assert fitted.n_unlabelled_ == len(files["masked"])
    plain, _ = load_model(files["model"])
    assert plain.n_unlabelled_ == 0
    head = files["masked"].head(20)
    assert not np.allclose(fitted.predict_proba(head), plain.predict_proba(head))


def test_fit_rejects_bad_unlabelled_files(files, capsys):
    model = files["folder"] / "never.joblib"
    base = ["fit", "--train", str(files["train"]), "--model", str(model), "--unlabelled"]
    for unlabelled, words in (
        (files["train"], "also in"),
        (_customers_variant(files, "extra_col.csv", lambda d: d.assign(extra=1)), "extra"),
        (_customers_variant(files, "bad_flags.csv", lambda d: d.assign(QBOL=2)), "QBOL"),
        (files["folder"] / "absent.csv", "absent.csv"),
    ):
        assert cli.main([*base, str(unlabelled)]) == 2
        assert words in capsys.readouterr().err
        assert not model.exists()


def test_fit_rejects_bad_training_files(files, capsys):
    bad = _customers_variant(files, "bad_train.csv", lambda d: d.assign(RVSZ="x"))
    model = files["folder"] / "never.joblib"
    code = cli.main(["fit", "--train", str(bad), "--model", str(model)])
    assert code == 2
    assert "RVSZ" in capsys.readouterr().err
    assert not model.exists()


def test_round_trip_on_zimnat_matches_the_sample_submission(zimnat_paths, tmp_path):
    """Fit on (part of) the real Train file with Test as unlabelled, predict Test.csv."""
    train = pd.read_csv(zimnat_paths["train"], dtype=str, keep_default_na=False).head(3000)
    small_train = tmp_path / "train.csv"
    train.to_csv(small_train, index=False)
    model, out = tmp_path / "model.joblib", tmp_path / "submission.csv"
    test = str(zimnat_paths["test"])
    fit = ["fit", "--train", str(small_train), "--unlabelled", test, "--model", str(model)]
    assert cli.main([*fit, "--n-jobs", "1"]) == 0
    assert load_model(model)[0].n_unlabelled_ == 10000
    assert cli.main(["predict", "--model", str(model), "--customers", test, "--out", str(out)]) == 0
    sub, sample = pd.read_csv(out), pd.read_csv(zimnat_paths["sample"])
    # same rows, same order, same columns as Zindi's SampleSubmission.csv
    assert list(sub.columns) == list(sample.columns)
    assert sub["ID X PCODE"].tolist() == sample["ID X PCODE"].tolist()
    # held products (Label 1 in the sample) are 1; every other product is a probability < 1
    held = (sample["Label"] == 1).to_numpy()
    assert (sub.loc[held, "Label"] == 1).all()
    assert sub.loc[~held, "Label"].between(0, 1, inclusive="left").all()
    # exactly one product is missing per customer: the open probabilities sum to one
    open_mass = sub["Label"].where(~held, 0).to_numpy().reshape(-1, len(PRODUCTS)).sum(axis=1)
    assert open_mass == pytest.approx(np.ones(len(open_mass)), abs=1e-4)


def test_a_missing_output_folder_is_refused_before_any_work(files, capsys):
    missing = files["folder"] / "no-such-folder"
    runs = {
        "fit": ["fit", "--train", str(files["train"]), "--model", str(missing / "m.joblib")],
        "predict": ["predict", "--model", str(files["model"]), "--customers",
                    str(files["customers"]), "--out", str(missing / "s.csv")],
        "contacts": ["contacts", "--model", str(files["model"]), "--customers",
                     str(files["customers"]), "--out", str(missing / "c.csv")],
    }  # fmt: skip
    for argv in runs.values():
        assert cli.main(argv) == 2
        said = capsys.readouterr()
        assert f"output folder {missing} does not exist" in said.err
        assert said.out == ""  # refused before reading, fitting or scoring anything
    assert not missing.exists()
