"""Helpers shared by the notebooks and the command line: metrics files, demo banners,
data fallback, tables and atomic writes.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from insurereco.data import PROJECT_ROOT
from insurereco.errors import DataNotFoundError, DataValidationError

__all__ = [
    "METRICS_DIR",
    "atomic_path",
    "atomic_write_csv",
    "axes_or_new",
    "dump_artifact",
    "load_artifact",
    "demo_banner",
    "format_table",
    "glue",
    "panel_grid",
    "range_text",
    "is_ci",
    "read_metrics",
    "threads",
    "resolve_dataset",
    "target_verdict",
    "write_metrics",
]

#: Default folder of the headline-metrics JSON files (generated, not committed).
METRICS_DIR = PROJECT_ROOT / "reports" / "metrics"

# Styled tables get ids from this counter, not random ones, so re-executing a notebook
# reproduces its HTML output exactly (nbval compares it).
_TABLE_IDS = itertools.count(1)


def is_ci() -> bool:
    """True when running under CI (``CI=true``), where missing data is an error."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def threads(n_jobs: int | None = None) -> int:
    """Number of threads a model may use: ``n_jobs`` when given, else the environment.

    ``INSURERECO_N_JOBS`` (default 2, the machine's cores) sets it for every model at once.
    ``make`` sets it to 1 because it already runs two notebooks or test workers side by
    side; two multi-threaded fits on two cores spin against each other and run many times
    slower.
    """
    if n_jobs is not None:
        return int(n_jobs)
    return int(os.environ.get("INSURERECO_N_JOBS", "2"))


def _plain(value: Any) -> Any:
    """Turn numpy/pandas scalars and containers into JSON values (floats to 6 d.p.)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray | pd.Series):
        return [_plain(v) for v in list(value)]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        return round(float(value), 6) if math.isfinite(value) else None  # JSON has no inf
    return value


def _metrics_path(name: str, metrics_dir: str | os.PathLike | None) -> Path:
    return Path(metrics_dir or METRICS_DIR) / f"{name}.json"


def write_metrics(
    name: str, metrics: Mapping[str, Any], *, metrics_dir: str | os.PathLike | None = None
) -> Path:
    """Write a notebook's headline metrics to ``<metrics_dir>/<name>.json``.

    Parameters
    ----------
    name : str
        Notebook stem, e.g. ``"01_eda"``.
    metrics : mapping
        JSON-able values; numpy scalars are converted, floats rounded to 6 d.p. and
        NaN or infinite values written as ``null``.
    metrics_dir : path-like, optional
        Folder (default :data:`METRICS_DIR`).

    Returns
    -------
    Path
        The written file.
    """
    path = _metrics_path(name, metrics_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_plain(dict(metrics)), indent=2, sort_keys=True) + "\n"
    _atomic_write_text(text, path)
    return path


def read_metrics(name: str, *, metrics_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read the metrics JSON written by :func:`write_metrics`."""
    return json.loads(_metrics_path(name, metrics_dir).read_text())


def glue(name: str, value: Any, *, display: bool = False) -> None:
    """Glue ``value`` for the book text, as a plain Python value.

    Wraps :func:`myst_nb.glue`: numpy and pandas scalars are turned into ``int``/``float``
    first, so ``{glue:text}`name:.1%``` formats them (their repr, ``np.float64(...)``,
    cannot be formatted).
    """
    from myst_nb import glue as _glue

    _glue(name, _plain(value), display=display)


def demo_banner(what: str) -> None:
    """Display a visible DEMO DATA warning admonition in a notebook's output.

    Parameters
    ----------
    what : str
        Which data set is replaced and how to get the real one.
    """
    from IPython.display import Markdown, display

    display(
        Markdown(
            ":::{warning}\n**DEMO DATA: these figures are not real.** "
            f"{what} This page ran on a synthetic stand-in; its numbers illustrate the "
            "method only.\n:::"
        )
    )


def resolve_dataset(
    loader: Callable[[], pd.DataFrame],
    *,
    allow_synthetic: bool,
    synthetic: Callable[[], pd.DataFrame],
) -> tuple[pd.DataFrame, bool]:
    """Load real data, or a synthetic stand-in when the file is missing.

    Parameters
    ----------
    loader : callable
        Loads the real data; raises :class:`~insurereco.errors.DataNotFoundError` when absent.
    allow_synthetic : bool
        Whether a missing file may fall back to ``synthetic()``. Under CI (``CI=true``)
        a missing file is always an error, so a broken path never publishes a demo.
    synthetic : callable
        Builds the stand-in.

    Returns
    -------
    data : DataFrame
    is_demo : bool
        True when the synthetic stand-in was used (show :func:`demo_banner`).
    """
    try:
        return loader(), False
    except DataNotFoundError:
        if not allow_synthetic or is_ci():
            raise
        return synthetic(), True


#: Cell padding and alignment of the book's tables (numbers never run into each other).
_TABLE_STYLES = [
    {"selector": "th, td", "props": "padding: 0.2em 0.5em; text-align: right;"},
    {"selector": "th", "props": "border-bottom: 1px solid #999;"},
]

#: A table holding a number this large writes its numbers from 1,000 up with thousands
#: separators, in every column alike; tables of smaller numbers (years, codes) have none.
_THOUSANDS_FROM = 10_000

#: A column of words wider than this many characters keeps a readable minimum width.
_LONG_TEXT = 40


def _is_number(column: pd.Series) -> bool:
    """True for a column of numbers (true/false flags are not numbers here)."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _is_written_number(column: pd.Series) -> bool:
    """True for text that starts like a number (such as "0.08 [0.07, 0.09]")."""
    text = column.dropna().astype(str)
    text = text[~text.isin(["–", "-", ""])]  # placeholders of a missing value
    return bool(len(text)) and bool(text.str.match(r"\s*[-+\u2212\u2013]?[\d.]").all())


def _number_format(column: pd.Series, precision: int, *, separators: bool) -> str:
    """Format string of a numeric column: whole numbers without decimals; with ``separators``,
    commas in a column that reaches 1,000."""
    values = column.dropna().astype(float)
    sep = "," if separators and len(values) and values.abs().max() >= 1_000 else ""
    whole = pd.api.types.is_integer_dtype(column) or bool(
        len(values) and np.isfinite(values).all() and (values == values.round()).all()
    )
    return f"{{:{sep}.{0 if whole else precision}f}}"


def _needs_separators(numbers: pd.DataFrame) -> bool:
    """True when any number of the table reaches :data:`_THOUSANDS_FROM`."""
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    return bool(np.nanmax(np.abs(values), initial=0) >= _THOUSANDS_FROM)


def _yes_no(flag: bool) -> str:
    """A true/false cell in words."""
    return "yes" if flag else "no"


def _column_styles(df: pd.DataFrame) -> list[dict[str, str]]:
    """Per-column styles: words left-aligned (header too), long ones with a minimum width;
    numbers written as text (a value and its interval) kept on one line."""
    styles = []
    for i, name in enumerate(df.columns):
        column = df[name]
        if _is_number(column):
            continue
        if _is_written_number(column):
            styles.append({"selector": f"td.col{i}", "props": "white-space: nowrap;"})
            continue
        props = "text-align: left;"
        if column.dropna().astype(str).str.len().max() > _LONG_TEXT:
            props += " min-width: 12em;"
        styles.append({"selector": f"td.col{i}, th.col_heading.col{i}", "props": props})
    return styles


def format_table(
    df: pd.DataFrame,
    *,
    precision: int = 3,
    percent: tuple[str, ...] = (),
    decimals: Mapping[Any, int] | None = None,
):
    """Style a table for the book: fixed precision, percentages, padded cells, no index clutter.

    Floats get ``precision`` decimals, or ``decimals[column]`` for the columns it names
    (counts of customers to one decimal beside a score to four, say), and ``percent``
    columns one-decimal percentages.
    Whole numbers show no decimals; in a table with a number of 10,000 or more, numbers
    from 1,000 up get thousands separators. Column names show spaces for underscores,
    columns of words are left-aligned, a value written with its interval stays on one
    line, and true/false cells read yes/no.

    Parameters
    ----------
    df : DataFrame
        Table to style; its index is hidden.
    precision : int, default 3
        Decimals of the non-whole numeric columns.
    percent : tuple of str, default ()
        Columns of shares shown as percentages with one decimal.
    decimals : mapping, optional
        Column -> decimals, overriding ``precision`` for those numeric columns (whole
        numbers still show none).

    Returns
    -------
    pandas.io.formats.style.Styler
    """
    numbers = [c for c in df.columns if _is_number(df[c]) and c not in percent]
    separators = _needs_separators(df[numbers])
    formats: dict[Any, str | Callable[[bool], str]] = {
        c: _number_format(df[c], (decimals or {}).get(c, precision), separators=separators)
        for c in numbers
    }
    formats.update({c: "{:.1%}" for c in percent})
    formats.update({c: _yes_no for c in df.columns if pd.api.types.is_bool_dtype(df[c])})
    styler = df.style.format(formats, na_rep="–")
    styler = styler.format_index(lambda label: str(label).replace("_", " "), axis=1)
    styles = _TABLE_STYLES + _column_styles(df)
    styler = styler.set_table_styles(styles).set_uuid(f"t{next(_TABLE_IDS)}")
    return styler.hide(axis="index")


def range_text(low, high, *, spec: str = ".1f") -> list[str]:
    """Each pair of bounds as "low to high", both written with the format ``spec``.

    A pair whose low bound is missing reads "–" (no range), as missing cells do in
    :func:`format_table`.

    Examples
    --------
    >>> range_text([0.951, None], [0.985, None], spec=".1%")
    ['95.1% to 98.5%', '–']
    """
    return [
        f"{a:{spec}} to {b:{spec}}" if pd.notna(a) else "–" for a, b in zip(low, high, strict=True)
    ]


def axes_or_new(ax=None, *, figsize: tuple[float, float] = (6.0, 4.0)):
    """``ax`` itself, or the axes of a new figure of ``figsize`` inches when it is None.

    The plot helpers take an ``ax`` keyword; this is their shared "draw where I am
    told, or on a fresh figure" step.
    """
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize)
    return new


def panel_grid(n_panels: int, *, ncols: int = 2, panel_size: tuple[float, float] = (5.0, 4.0)):
    """A figure of ``n_panels`` axes, ``ncols`` to a row, sized for the book's text column.

    Four panels in one row shrink to unreadable labels in the book; two to a row keep
    them legible. Unused cells of the last row are removed.

    Parameters
    ----------
    n_panels : int
        Number of axes wanted (at least 1).
    ncols : int, default 2
        Panels per row.
    panel_size : (float, float), default (5.0, 4.0)
        Width and height of one panel, in inches.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
        One per panel, row by row.
    """
    import matplotlib.pyplot as plt

    if n_panels < 1:
        raise ValueError(f"n_panels must be at least 1, got {n_panels}")
    ncols = min(ncols, n_panels)
    nrows = math.ceil(n_panels / ncols)
    width, height = panel_size
    fig, grid = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    axes = list(grid.ravel())
    for ax in axes[n_panels:]:
        ax.remove()
    return fig, axes[:n_panels]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (mode 644).

    On any error the temporary file is removed and ``path`` is left untouched, so no
    half-written file is ever seen.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_write_text(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_csv(df: pd.DataFrame, path: str | os.PathLike, **to_csv_kwargs: Any) -> Path:
    """Write ``df`` as CSV atomically: a failure leaves no partial file behind.

    Parameters
    ----------
    df : DataFrame
        Table to write.
    path : path-like
        Destination; its folder must exist.
    **to_csv_kwargs
        Passed to :meth:`pandas.DataFrame.to_csv` (``index=False`` by default).

    Returns
    -------
    Path
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder {path.parent} does not exist")
    to_csv_kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **to_csv_kwargs)
    return path


def dump_artifact(payload: Any, path: str | os.PathLike) -> Path:
    """Save a fitted model (any picklable object) with joblib, atomically.

    Parameters
    ----------
    payload : object
        What to save; models save a dict with ``format`` and ``version`` keys.
    path : path-like
        Destination; its folder must exist.

    Returns
    -------
    Path
    """
    import joblib

    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"model folder {path.parent} does not exist")
    with atomic_path(path) as tmp:
        joblib.dump(payload, tmp)
    return path


def load_artifact(
    path: str | os.PathLike, *, fmt: str, version: int | None = None
) -> dict[str, Any]:
    """Load a dict saved by :func:`dump_artifact` and check its ``format`` and ``version``.

    Only load files you trust: joblib files can run code when loaded.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataValidationError
        The file is unreadable, of another format, or of an unsupported version.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: model file not found")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # unpickling can raise almost anything
        raise DataValidationError(f"{path}: unreadable model file ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise DataValidationError(f"{path}: not an {fmt} model file")
    if version is not None and payload.get("version") != version:
        raise DataValidationError(
            f"{path}: model format version {payload.get('version')} is not supported "
            f"(expected {version}); refit the model"
        )
    return payload


def target_verdict(values, target: float, *, lower_is_better: bool) -> str:
    """How many of ``values`` (one per evaluation split) meet ``target``, in words.

    Returns ``"every split meets it"``, ``"no split meets it"`` or ``"k of n splits
    meet it"``; a value equal to the target meets it.
    """
    values = np.asarray(values, dtype=float)
    meets = values <= target if lower_is_better else values >= target
    if meets.all():
        return "every split meets it"
    if not meets.any():
        return "no split meets it"
    return f"{int(meets.sum())} of {len(values)} splits meet it"
