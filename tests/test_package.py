"""Every module says what it exports: ``__all__`` lists exactly its public names."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import insurereco

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(insurereco.__path__, prefix="insurereco.")
    if not m.name.endswith("__main__")
)
# Packages whose only content is a docstring (the sub-commands register themselves).
NOTHING_TO_EXPORT = {"insurereco.commands"}


def _defined_public_names(module) -> set[str]:
    """Public functions, classes and constants defined at the top of the module's source."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("name", sorted(set(MODULES) - NOTHING_TO_EXPORT))
def test_all_lists_the_public_names(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert [n for n in exported if not hasattr(module, n)] == []
    assert sorted(_defined_public_names(module) - set(exported)) == []


@pytest.mark.parametrize("name", MODULES)
def test_public_callables_have_docstrings(name):
    module = importlib.import_module(name)
    public = [getattr(module, n) for n in getattr(module, "__all__", [])]
    undocumented = [
        f.__name__ for f in public if callable(f) and hasattr(f, "__name__") and not f.__doc__
    ]
    assert undocumented == []
