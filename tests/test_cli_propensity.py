"""Command-line round trip of ``insurereco propensity fit|score`` on small tables."""

from __future__ import annotations

import pandas as pd
import pytest

from insurereco.campaign_timeline import make_bank_campaign
from insurereco.cli import main


@pytest.fixture(scope="module")
def bank_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bank")
    df = make_bank_campaign(1200, random_state=0)
    df.insert(0, "client_id", [f"C{i:05d}" for i in range(len(df))])
    train = folder / "train.csv"
    df.iloc[:900].to_csv(train, sep=";", index=False)
    new = df.iloc[900:].drop(columns=["y"]).copy()
    new.loc[new.index[:3], "job"] = "astronaut"
    score = folder / "prospects.csv"
    new.to_csv(score, index=False)
    return folder, train, score, new


LEAKY = ("duration", "campaign")  # known only once the calls are over (rules/propensity.yml)


def fit_args(data):
    """``propensity fit`` on ``data`` with the two leaking columns dropped."""
    return ["propensity", "fit", "--data", str(data), "--target", "y", "--drop", *LEAKY]


def test_fit_and_score_round_trip(bank_files, capsys):
    folder, train, score, new = bank_files
    model = folder / "model.joblib"
    args = fit_args(train)
    args += ["--key", "client_id", "--model-type", "logistic", "--model", str(model)]
    assert main(args) == 0
    assert "fitted logistic on 900 rows" in capsys.readouterr().out
    out = folder / "scores.csv"
    assert (
        main(
            ["propensity", "score", "--model", str(model), "--data", str(score), "--out", str(out)]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "job: 3" in captured.err and "__unseen__" in captured.err
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["client_id", "probability", "rank"]
    assert scores["client_id"].tolist() == new["client_id"].tolist()  # input order
    assert scores["probability"].between(0, 1).all()
    assert sorted(scores["rank"]) == list(range(1, len(new) + 1))

    top = folder / "top.csv"
    args = ["propensity", "score", "--model", str(model), "--data", str(score)]
    assert main([*args, "--out", str(top), "--top", "25"]) == 0
    best = pd.read_csv(top)
    assert len(best) == 25 and sorted(best["rank"]) == list(range(1, 26))
    assert best["client_id"].is_monotonic_increasing  # still input order
    assert best["probability"].min() >= scores["probability"].nlargest(25).min()


def test_headerless_file_uses_positions(tmp_path):
    df = make_bank_campaign(600, random_state=2)[["age", "campaign", "pdays", "y"]]
    df["y"] = (df["y"] == "yes").astype(int)
    data = tmp_path / "plain.txt"
    df.to_csv(data, sep="\t", header=False, index=False)
    model = tmp_path / "m.joblib"
    args = ["propensity", "fit", "--data", str(data), "--target", "col4", "--model", str(model)]
    assert main([*args, "--model-type", "tree"]) == 0
    out = tmp_path / "s.csv"
    assert (
        main(["propensity", "score", "--model", str(model), "--data", str(data), "--out", str(out)])
        == 0
    )
    assert pd.read_csv(out)["row"].tolist() == list(range(len(df)))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "nope"], "target column 'nope' not found"),
        (["--target", "job"], "must be binary"),
        (["--target", "y"], "leaks the outcome"),
    ],
)
def test_fit_bad_inputs(bank_files, tmp_path, capsys, extra, message):
    _, train, _, _ = bank_files
    model = tmp_path / "m.joblib"
    assert main(["propensity", "fit", "--data", str(train), *extra, "--model", str(model)]) == 2
    assert message in capsys.readouterr().err
    assert not model.exists()


def test_allow_leaky_warns(bank_files, tmp_path, capsys):
    _, train, _, _ = bank_files
    model = tmp_path / "m.joblib"
    args = ["propensity", "fit", "--data", str(train), "--target", "y", "--allow-leaky"]
    assert main([*args, "--model-type", "logistic", "--model", str(model)]) == 0
    assert "warning" in capsys.readouterr().err and model.exists()


def test_empty_and_missing_files(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    model = tmp_path / "m.joblib"
    assert (
        main(["propensity", "fit", "--data", str(empty), "--target", "y", "--model", str(model)])
        == 2
    )
    assert "empty" in capsys.readouterr().err
    out = tmp_path / "o.csv"
    args = ["propensity", "score", "--model", str(tmp_path / "none.joblib"), "--data", str(empty)]
    assert main([*args, "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert not out.exists()


def test_score_missing_column_leaves_no_output(bank_files, tmp_path, capsys):
    folder, train, score, new = bank_files
    model = tmp_path / "m.joblib"
    args = fit_args(train)
    assert main([*args, "--model-type", "tree", "--model", str(model)]) == 0
    broken = tmp_path / "broken.csv"
    new.drop(columns=["age"]).to_csv(broken, index=False)
    out = tmp_path / "o.csv"
    assert (
        main(
            ["propensity", "score", "--model", str(model), "--data", str(broken), "--out", str(out)]
        )
        == 2
    )
    assert "missing feature column" in capsys.readouterr().err
    assert not out.exists()
