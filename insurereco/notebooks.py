"""Execute the parameterised chapter notebooks with Papermill.

Each chapter source ``notebooks/NN_name.ipynb`` has one cell tagged ``parameters``.
``notebooks/params/NN_name.yml`` may hold two parameter sets::

    smoke: {SAMPLE_SIZE: 2000}   # fast run used by the tests
    full: {}                     # overrides of the notebook defaults for the book

Usage::

    python -m insurereco.notebooks run [--profile full|smoke] [--only NN_name ...]
                                       [--set NAME=VALUE ...]
                                       [--output-dir book/chapters] [--metrics-dir DIR]

``--set`` overrides a parameter of every chapter run (the value is read as YAML, so
``--set RANDOM_STATE=3`` gives an int and ``--set K_RANGE=[3,4]`` a list); a name that is
not in a chapter's ``parameters`` cell is refused before anything runs.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from insurereco.data import PROJECT_ROOT

__all__ = [
    "BOOK_CHAPTERS",
    "NOTEBOOKS_DIR",
    "ChapterFailed",
    "PROFILES",
    "chapter_names",
    "execute_notebook",
    "main",
    "notebook_parameters",
    "parse_overrides",
    "run_notebooks",
]

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

BOOK_CHAPTERS = PROJECT_ROOT / "book" / "chapters"
PROFILES = ("full", "smoke")


class ChapterFailed(RuntimeError):
    """A cell of a chapter raised.

    Attributes
    ----------
    name : str
        The chapter.
    ename, evalue : str
        The error's type and message.
    kept : Path
        The notebook as run up to the error, kept for inspection.
    """

    def __init__(self, name: str, error, kept: Path) -> None:
        self.name, self.kept = name, kept
        self.ename, self.evalue = error.ename, error.evalue
        super().__init__(
            f"{name}: cell [{error.exec_count}] raised {error.ename}: {error.evalue} "
            f"(the notebook run up to the error: {kept})"
        )


def chapter_names(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """Stems of every chapter notebook, in file-name order."""
    return sorted(p.stem for p in notebooks_dir.glob("*.ipynb"))


def notebook_parameters(
    name: str, *, profile: str = "full", notebooks_dir: Path = NOTEBOOKS_DIR
) -> dict[str, Any]:
    """Parameters for ``name`` under ``profile`` from ``notebooks/params/<name>.yml``."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    path = notebooks_dir / "params" / f"{name}.yml"
    if not path.is_file():
        return {}
    sets = yaml.safe_load(path.read_text()) or {}
    unknown = set(sets) - set(PROFILES)
    if unknown:
        raise ValueError(f"{path}: unknown parameter set(s) {sorted(unknown)}")
    return dict(sets.get(profile) or {})


#: Longest socket path used for local (IPC) kernels: Unix caps socket paths at 104 bytes
#: on macOS (108 on Linux); a longer runtime folder falls back to TCP.
_MAX_SOCKET_PATH = 100


def _ipc_kernel_manager() -> type:
    """A kernel manager whose kernel talks over local sockets, not TCP.

    The chapters' kernels only ever talk to this process, so local (IPC) sockets are
    enough; over TCP, ipykernel prints a warning about plain-text traffic on every run.
    Each kernel gets its own connection file in Jupyter's runtime folder, and its
    sockets beside it, so chapters run in parallel (``make -j``) never share a socket.
    When those socket paths would be too long for the system, the kernel uses TCP.
    """
    import uuid

    from jupyter_client import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import default

    class IpcKernelManager(AsyncKernelManager):
        @default("connection_file")
        def _own_connection_file(self) -> str:
            runtime = Path(jupyter_runtime_dir())
            runtime.mkdir(parents=True, exist_ok=True)
            return str(runtime / f"kernel-{uuid.uuid4().hex[:12]}.json")

        @default("transport")
        def _local_when_the_path_fits(self) -> str:
            # jupyter_client names the sockets "<connection file stem>-ipc-<n>"
            sockets = f"{os.path.splitext(self.connection_file)[0]}-ipc-99"
            return "ipc" if len(sockets.encode()) <= _MAX_SOCKET_PATH else "tcp"

    return IpcKernelManager


def execute_notebook(
    name: str,
    *,
    profile: str = "full",
    output_dir: Path = BOOK_CHAPTERS,
    parameters: dict[str, Any] | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
) -> Path:
    """Execute one chapter notebook with Papermill and return the executed copy's path.

    The notebook runs with the project root as working directory; ``parameters``
    override the profile's parameters, which override the notebook defaults. The run
    writes into a temporary folder beside the output and replaces the output only when
    every cell succeeded: a failed run leaves the previous chapter (and the book) as it was,
    keeps the notebook run up to the error in the temporary folder of the system, and
    raises :class:`ChapterFailed`.

    Parameters
    ----------
    name : str
        Chapter stem, e.g. ``"01_eda"`` (the notebook ``<notebooks_dir>/<name>.ipynb``).
    profile : {"full", "smoke"}, default "full"
        Parameter set of ``<notebooks_dir>/params/<name>.yml`` to apply.
    output_dir : Path, default :data:`BOOK_CHAPTERS`
        Folder of the executed copy ``<name>.ipynb`` (created if missing).
    parameters : dict, optional
        Parameter name -> value, applied over the profile's parameters.
    notebooks_dir : Path, default :data:`NOTEBOOKS_DIR`
        Folder of the chapter sources and their ``params/`` files.

    Returns
    -------
    Path
        The executed copy, with the code of its cells folded.
    """
    import papermill as pm

    params = notebook_parameters(name, profile=profile, notebooks_dir=notebooks_dir)
    params.update(parameters or {})
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"{name}.ipynb"
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=f".running-{name}-") as scratch:
        partial = Path(scratch) / output.name
        try:
            pm.execute_notebook(
                str(notebooks_dir / f"{name}.ipynb"),
                str(partial),
                parameters=params,
                cwd=str(PROJECT_ROOT),
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                report_mode=False,
                kernel_manager_class=_ipc_kernel_manager(),
            )
        except pm.PapermillExecutionError as exc:
            kept = Path(tempfile.gettempdir()) / f"insurereco-failed-{name}.ipynb"
            shutil.copyfile(partial, kept)
            raise ChapterFailed(name, exc, kept) from exc
        _fold_code(partial)
        os.replace(partial, output)
    return output


def _fold_code(path: Path) -> None:
    """Fold the code of every cell in the book copy (readers click to show it).

    The parameters cells, and cells tagged ``show-input``, stay open: analysts see which
    settings produced the page. Stakeholders see prose, figures and tables first.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    keep_open = {"parameters", "injected-parameters", "show-input"}
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if cell.cell_type == "code" and not keep_open & set(tags) and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(nb, path)


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["NAME=VALUE", ...]`` to ``{NAME: value}``, each value read as YAML.

    A date (``2011-07-01``) stays the text it was written as, since the chapters take
    dates as text; ``None`` (as in the parameters cells) means YAML's ``null``.

    Raises
    ------
    ValueError
        A pair without ``=``, a name that is not UPPER_CASE, or a value that is not YAML.
    """
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.isupper() or not name.isidentifier():
            raise ValueError(f"--set {pair!r}: expected NAME=VALUE with an UPPER_CASE name")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"--set {pair!r}: the value is not valid YAML ({exc})") from None
        if isinstance(value, datetime.date):
            value = text.strip()
        overrides[name] = None if value == "None" else value
    return overrides


def _kind(value: Any) -> str | None:
    """The kind of value a parameter holds, for the override check (None: any)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return None


#: Kinds of the type names a parameters cell may declare in a ``# type:`` comment.
_TYPE_KINDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "list": "a list",
    "dict": "a mapping",
}


def _expected_kinds(parameter: dict[str, str]) -> set[str]:
    """Kinds an override of ``parameter`` (from ``papermill.inspect_notebook``) may have.

    The kind of the default; for a ``None`` default, the type declared in the line's
    ``# type: int`` comment (``str|bool``: either). Empty: anything goes (a default that
    is an expression, or ``None`` with no declared type).
    """
    try:
        default = ast.literal_eval(parameter["default"])
    except (ValueError, SyntaxError):  # a default that is an expression
        return set()
    if default is not None:
        return {_kind(default)} - {None}
    declared = parameter.get("inferred_type_name", "None").split("|")
    kinds = {_TYPE_KINDS.get(name.strip()) for name in declared if name.strip() != "None"}
    return set() if None in kinds else kinds


def _check_overrides(names: list[str], overrides: dict[str, Any], notebooks_dir: Path) -> None:
    """Refuse names missing from a chapter, and values of another kind than it expects."""
    import papermill as pm

    for name in names:
        known = pm.inspect_notebook(str(notebooks_dir / f"{name}.ipynb"))
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(
                f"{name} has no parameter {', '.join(unknown)} (its parameters cell lists "
                f"{', '.join(sorted(known))})"
            )
        for key, value in overrides.items():
            expected = _expected_kinds(known[key])
            kind = _kind(value)
            if kind == "a whole number" and "a number" in expected:
                kind = "a number"  # 5 for a parameter that takes 5.0
            if expected and value is not None and kind not in expected:
                raise ValueError(
                    f"--set {key}={value!r}: {name} expects {' or '.join(sorted(expected))} "
                    f"here (default {known[key]['default']})"
                )


def run_notebooks(
    names: Iterable[str] | None = None,
    *,
    profile: str = "full",
    output_dir: Path = BOOK_CHAPTERS,
    metrics_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
) -> list[Path]:
    """Execute several chapters (default: all) and return the executed copies.

    ``overrides`` (parameter name to value) apply to every chapter, over the profile; every
    name must be in each chapter's ``parameters`` cell. Unknown chapters and overrides are
    refused (``ValueError``) before any chapter runs.

    Parameters
    ----------
    names : iterable of str, optional
        Chapter stems to run, in this order; default (or empty): every chapter of
        ``notebooks_dir``.
    profile : {"full", "smoke"}, default "full"
        Parameter set applied to every chapter (see :func:`execute_notebook`).
    output_dir : Path, default :data:`BOOK_CHAPTERS`
        Folder of the executed copies.
    metrics_dir : Path, optional
        Passed to every chapter as its ``METRICS_DIR`` parameter (where it writes its
        headline metrics); default: each chapter's own default.
    overrides : dict, optional
        Parameter name -> value, applied to every chapter over the profile.
    notebooks_dir : Path, default :data:`NOTEBOOKS_DIR`
        Folder of the chapter sources and their ``params/`` files.

    Returns
    -------
    list of Path
        The executed copies, in the order run.
    """
    available = chapter_names(notebooks_dir)
    names = list(names or available)
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise ValueError(f"no chapter {', '.join(unknown)} in {notebooks_dir}")
    extra = dict(overrides or {})
    _check_overrides(names, extra, notebooks_dir)
    if metrics_dir:
        extra["METRICS_DIR"] = str(metrics_dir)
    outputs = []
    for name in names:
        print(f"executing {name} ({profile})", flush=True)
        outputs.append(
            execute_notebook(
                name,
                profile=profile,
                output_dir=output_dir,
                parameters=extra,
                notebooks_dir=notebooks_dir,
            )
        )
    return outputs


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m insurereco.notebooks")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute chapter notebooks with Papermill")
    run.add_argument("--profile", choices=PROFILES, default="full")
    run.add_argument("--only", nargs="+", metavar="NAME", help="chapter stems to run")
    run.add_argument("--output-dir", type=Path, default=BOOK_CHAPTERS)
    run.add_argument("--metrics-dir", type=Path, default=None)
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter of every chapter run (value read as YAML; repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        run_notebooks(
            args.only,
            profile=args.profile,
            output_dir=args.output_dir,
            metrics_dir=args.metrics_dir,
            overrides=parse_overrides(args.set),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ChapterFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
