"""Every chapter notebook is well-formed and executes end to end with its smoke parameters."""

from __future__ import annotations

import ast
import json

import nbformat
import papermill
import pytest

from insurereco.notebooks import (
    NOTEBOOKS_DIR,
    ChapterFailed,
    _check_overrides,
    chapter_names,
    execute_notebook,
    main,
    notebook_parameters,
    parse_overrides,
)

CHAPTERS = chapter_names()


def _typed(parameter: dict) -> bool:
    return parameter["inferred_type_name"] != "None"


def test_there_are_chapters():
    assert "01_eda" in CHAPTERS


@pytest.mark.parametrize("name", CHAPTERS)
def test_notebook_is_stripped_and_parameterised(name):
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
        "commit notebooks with outputs stripped"
    )
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    found = papermill.inspect_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb"))
    names = list(found)
    assert names and all(n.isupper() for n in names), "parameters are UPPER_CASE"
    assigned = [t.id for node in ast.parse(tagged[0].source).body for t in node.targets]
    assert sorted(assigned) == sorted(names), "papermill sees every parameter (no '=' in help)"
    untyped = [n for n, p in found.items() if p["default"] == "None" and not _typed(p)]
    assert not untyped, f"declare the type of None defaults ('# type: int'): {untyped}"
    assert "METRICS_DIR" in names
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    smoke = notebook_parameters(name, profile="smoke")
    assert set(smoke) <= set(names), (
        f"smoke parameters not in the notebook: {set(smoke) - set(names)}"
    )


@pytest.mark.notebooks
@pytest.mark.parametrize("name", CHAPTERS)
def test_notebook_executes_with_smoke_parameters(name, tmp_path):
    out = execute_notebook(
        name, profile="smoke", output_dir=tmp_path, parameters={"METRICS_DIR": str(tmp_path)}
    )
    assert out.is_file()
    metrics = json.loads((tmp_path / f"{name}.json").read_text())
    assert metrics, "the chapter writes its headline metrics"


@pytest.mark.notebooks
@pytest.mark.parametrize("name", CHAPTERS)
def test_notebook_builds_on_stand_ins_without_any_data_file(name, tmp_path, monkeypatch):
    """Off CI, a machine without the data files still builds every chapter, under a banner."""
    no_data = tmp_path / "no-data"
    no_data.mkdir()
    monkeypatch.setenv("INSURERECO_DATA", str(no_data))  # only this folder is searched
    monkeypatch.delenv("CI", raising=False)
    out = execute_notebook(
        name, profile="smoke", output_dir=tmp_path, parameters={"METRICS_DIR": str(tmp_path)}
    )
    metrics = json.loads((tmp_path / f"{name}.json").read_text())
    flags = {key: value for key, value in metrics.items() if key.endswith("is_demo")}
    assert all(flags.values()), f"a chapter without its data says it used it: {flags}"
    shown = "".join(
        str(output.get("data", {}).get("text/markdown", ""))
        for cell in nbformat.read(out, as_version=4).cells
        for output in cell.get("outputs", [])
    )
    assert shown.count("DEMO DATA") == len(flags)


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="profile"):
        notebook_parameters("01_eda", profile="fast")


def test_overrides_are_read_as_yaml():
    pairs = ["RANDOM_STATE=3", "K_RANGE=[3, 4]", "DATA_DIR=null", "X_Y=abc", "K=None"]
    assert parse_overrides([*pairs, "SPLIT=2011-07-01"]) == {
        "RANDOM_STATE": 3,
        "K_RANGE": [3, 4],
        "DATA_DIR": None,
        "X_Y": "abc",
        "K": None,
        "SPLIT": "2011-07-01",  # dates stay text, as the chapters take them
    }


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ("MIN_STABILITY=high", "expects a number"),
        ("K_RANGE=5", "expects a list"),
        ("ALLOW_SYNTHETIC=1", "expects true or false"),
        ("RETAIL_SPLIT=2011", "expects text"),
        # None defaults: the kind declared in the line's "# type:" comment
        ("K=three", "expects a whole number"),
        ("N_SEEDS=2.5", "expects a whole number"),
        ("SNAPSHOT=20111201", "expects text"),
        ("SAMPLE_CUSTOMERS=[100]", "expects a whole number"),
    ],
)
def test_an_override_of_another_kind_than_the_default_is_refused(pair, expected, tmp_path, capsys):
    argv = ["run", "--only", "07_segmentation", "--set", pair, "--output-dir", str(tmp_path)]
    assert main(argv) == 2
    assert f"07_segmentation {expected} here (default" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_declared_types_of_none_defaults_accept_their_kinds(tmp_path):
    chapter = ["06_campaign"]
    accepted = {"CACHE_DIR": False, "COST_PER_CONTACT": 5, "SAMPLE_SIZE": None, "DATA_DIR": "d"}
    for key, value in accepted.items():
        _check_overrides(chapter, {key: value}, NOTEBOOKS_DIR)
    with pytest.raises(ValueError, match="expects text or true or false here"):
        _check_overrides(chapter, {"CACHE_DIR": 3}, NOTEBOOKS_DIR)


def test_kernels_use_their_own_local_sockets_when_the_path_fits(tmp_path, monkeypatch):
    from insurereco.notebooks import _ipc_kernel_manager

    manager = _ipc_kernel_manager()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    one, two = manager(kernel_name="python3"), manager(kernel_name="python3")
    assert one.transport == two.transport == "ipc"
    assert one.ip != two.ip and one.ip.startswith(str(tmp_path))
    deep = tmp_path / ("d" * 100)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(deep))
    assert manager(kernel_name="python3").transport == "tcp"  # socket path too long


@pytest.mark.parametrize("pair", ["RANDOM_STATE", "random_state=3", "K_RANGE=[3, 4", "=1"])
def test_bad_overrides_are_refused(pair):
    with pytest.raises(ValueError, match="--set"):
        parse_overrides([pair])


def test_an_unknown_parameter_stops_the_run_before_any_chapter(tmp_path, capsys):
    argv = ["run", "--only", "00_judging_success", "01_eda", "--set", "SAMPLE_SIZE=500"]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 2
    assert "00_judging_success has no parameter SAMPLE_SIZE" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_an_unknown_chapter_is_refused(tmp_path, capsys):
    assert main(["run", "--only", "01_ed", "--output-dir", str(tmp_path)]) == 2
    assert "no chapter 01_ed" in capsys.readouterr().err


@pytest.mark.notebooks
def test_an_override_reaches_the_chapter(tmp_path, capfd):
    argv = ["run", "--profile", "smoke", "--only", "00_judging_success", "--set", "RANDOM_STATE=3"]
    assert main([*argv, "--output-dir", str(tmp_path), "--metrics-dir", str(tmp_path)]) == 0
    assert "TCP" not in capfd.readouterr().err, "the kernel talks over local sockets"
    nb = nbformat.read(tmp_path / "00_judging_success.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "RANDOM_STATE = 3\n" in injected[0].source
    assert (tmp_path / "00_judging_success.json").is_file()


@pytest.mark.notebooks
def test_a_failed_run_leaves_the_previous_chapter_as_it_was(tmp_path):
    previous = tmp_path / "00_judging_success.ipynb"
    previous.write_text("the chapter of the last good run")
    with pytest.raises(ChapterFailed, match="treatment_rate equals") as failed:
        execute_notebook(  # a contact rate equal to the control rate cannot be sized
            "00_judging_success",
            profile="smoke",
            output_dir=tmp_path,
            parameters={"CONTACT_RATE": 0.02, "CONTROL_RATE": 0.02, "METRICS_DIR": str(tmp_path)},
        )
    assert isinstance(failed.value.__cause__, papermill.PapermillExecutionError)
    assert previous.read_text() == "the chapter of the last good run"
    assert [p.name for p in tmp_path.iterdir()] == [previous.name]
    # the run up to the error is kept for inspection, outside the book
    kept = nbformat.read(failed.value.kept, as_version=4)
    errors = [o for c in kept.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1 and "treatment_rate equals" in errors[0]["evalue"]


@pytest.mark.notebooks
def test_a_failed_chapter_says_so_in_one_line(tmp_path, capsys):
    code = main(["run", "--profile", "smoke", "--only", "00_judging_success",
                 "--output-dir", str(tmp_path), "--metrics-dir", str(tmp_path),
                 "--set", "CONTACT_RATE=0.02", "--set", "CONTROL_RATE=0.02"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("error: 00_judging_success: cell [")
    assert "treatment_rate equals" in err[-1] and "insurereco-failed-00_judging_success" in err[-1]


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_book_chapter_was_executed_from_the_current_source(name):
    """A chapter in book/chapters/ is its notebook run as it is now, not an older version."""
    from insurereco.notebooks import BOOK_CHAPTERS
    from insurereco.reporting import is_ci

    built = BOOK_CHAPTERS / f"{name}.ipynb"
    if not built.is_file():
        if is_ci():
            pytest.fail(f"{built} missing: make report builds it")
        pytest.skip("the book has not been built")
    source = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    executed = nbformat.read(built, as_version=4)
    ran = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    assert [c.source for c in ran] == [c.source for c in source.cells], (
        f"{built} was executed from another version of notebooks/{name}.ipynb: rerun it"
    )
