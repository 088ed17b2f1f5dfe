"""edamon's UI uses only the public API of Textual and Rich.

Fails when a module of edamon/ui:
- imports a private module of textual or rich (`textual.widgets._data_table`), or a private
  name from one of their modules (`from textual.x import _name`);
- reads, writes or overrides an underscore attribute of an object it did not define: on
  `self`/`super()`, an underscored name that a textual or rich class in the class's MRO
  defines (a method, or an attribute its source assigns); on any other object, an underscored
  name that no edamon/ui class or module defines;
- replaces an attribute of a textual or rich class (a monkeypatch such as `Strip.divide = …`).

The scan reads the source (ast) and resolves classes by importing the modules.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import edamon.ui

UI = Path(edamon.ui.__file__).parent
FOREIGN = ("textual", "rich")
ASSIGNED = re.compile(r"self\.(_[A-Za-z0-9]\w*)\s*(?::[^=\n]+)?=")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _foreign(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in FOREIGN


@cache
def foreign_privates(cls: type) -> frozenset[str]:
    """Underscored names that textual or rich classes in `cls`'s MRO define: in their class
    dicts, or assigned on `self` in their source (instance attributes)."""
    names: set[str] = set()
    for base in cls.__mro__:
        if not _foreign(base.__module__):
            continue
        names.update(name for name in vars(base) if _private(name))
        try:
            source = inspect.getsource(base)
        except (OSError, TypeError):
            continue
        names.update(ASSIGNED.findall(source))
    return frozenset(names)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _module_name(path: Path) -> str:
    relative = path.relative_to(UI.parent.parent).with_suffix("")
    return ".".join(relative.parts)


def _own_private_names(tree: ast.AST) -> set[str]:
    """Underscored names edamon code defines in a module: functions, classes, attributes
    assigned on any object, class-level names, dataclass fields."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if _private(name)}


@cache
def _all_own_private_names() -> frozenset[str]:
    names: set[str] = set()
    for path in sorted(UI.rglob("*.py")):
        names |= _own_private_names(ast.parse(path.read_text()))
    return frozenset(names)


def scan_source(source: str, path: str, module: object | None) -> list[Finding]:
    """Findings in one module's source; `module` (the imported module) resolves the classes
    whose MRO decides what `self._x` refers to."""
    tree = ast.parse(source)
    found: list[Finding] = []
    foreign_names: set[str] = set()  # names bound to textual/rich objects by imports

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _foreign(alias.name):
                    foreign_names.add((alias.asname or alias.name).split(".")[0])
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(Finding(path, node.lineno, f"imports {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and _foreign(node.module):
            assert node.module is not None
            for alias in node.names:
                foreign_names.add(alias.asname or alias.name)
                full = f"{node.module}.{alias.name}"
                if any(_private(part) for part in full.split(".")):
                    found.append(Finding(path, node.lineno, f"imports {full}"))

    own = _all_own_private_names()

    def visit_class(cls_node: ast.ClassDef) -> None:
        cls = getattr(module, cls_node.name, None) if module is not None else None
        theirs = foreign_privates(cls) if isinstance(cls, type) else frozenset()
        for item in cls_node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in theirs:
                found.append(Finding(path, item.lineno, f"overrides private {item.name}"))
        for node in ast.walk(cls_node):
            if not isinstance(node, ast.Attribute) or not _private(node.attr):
                continue
            on_self = (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")) or (
                isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "super"
            )
            if on_self and node.attr in theirs:
                found.append(Finding(path, node.lineno, f"uses textual/rich's {node.attr}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            visit_class(node)
        elif isinstance(node, ast.Attribute):
            value = node.value
            on_self = (isinstance(value, ast.Name) and value.id in ("self", "cls")) or (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "super"
            )
            if _private(node.attr) and not on_self and node.attr not in own:
                found.append(Finding(path, node.lineno, f"reads another's {node.attr}"))
            if (
                isinstance(node.ctx, ast.Store)
                and isinstance(value, ast.Name)
                and value.id in foreign_names
            ):
                found.append(Finding(path, node.lineno, f"replaces {value.id}.{node.attr}"))
    return sorted(set(found), key=lambda f: (f.line, f.what))


def scan_ui() -> list[Finding]:
    found: list[Finding] = []
    for path in sorted(UI.rglob("*.py")):
        module = importlib.import_module(_module_name(path))
        found += scan_source(path.read_text(), str(path.relative_to(UI.parent.parent)), module)
    return found


def test_the_ui_uses_only_public_textual_and_rich() -> None:
    found = scan_ui()
    assert not found, "private Textual/Rich use:\n" + "\n".join(map(str, found))


# --- the scan itself catches what it is for ------------------------------------------------


def _scan(code: str, module: object | None = None) -> list[str]:
    return [f.what for f in scan_source(textwrap.dedent(code), "x.py", module)]


def test_the_scan_catches_private_imports() -> None:
    assert _scan("from textual.widgets._data_table import CellCacheKey") == [
        "imports textual.widgets._data_table.CellCacheKey"
    ]
    assert _scan("import rich._loop") == ["imports rich._loop"]
    assert _scan("from textual.strip import _private_helper") == [
        "imports textual.strip._private_helper"
    ]
    assert _scan("from textual.widgets import DataTable\nimport rich.text") == []


class _Module:
    """Stands for an imported module: the scan looks classes up on it."""


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (  # overriding a private method of a textual base
            """
            class T(DataTable):
                def _render_cell(self): ...
            """,
            ["overrides private _render_cell"],
        ),
        (  # calling one through super()
            """
            class T(DataTable):
                def render(self):
                    return super()._render_cell()
            """,
            ["uses textual/rich's _render_cell"],
        ),
        (  # reading an instance attribute textual's __init__ sets
            """
            class T(DataTable):
                def render(self):
                    return self._row_locations
            """,
            ["uses textual/rich's _row_locations"],
        ),
        (  # an attribute of our own, on a textual subclass: fine
            """
            class T(DataTable):
                def __init__(self):
                    self._mine = 1
            """,
            [],
        ),
    ],
)
def test_the_scan_catches_private_use_through_the_mro(code: str, expected: list[str]) -> None:
    from textual.widgets import DataTable

    module = _Module()
    module.T = type("T", (DataTable,), {})  # type: ignore[attr-defined]
    assert _scan(code, module) == expected


def test_the_scan_catches_reads_of_another_objects_private_attribute() -> None:
    code = """
    def clear(cache):
        for entry in cache._cache.values():
            entry.clear()
    """
    assert _scan(code) == ["reads another's _cache"]


def test_the_scan_catches_a_monkeypatch() -> None:
    code = """
    from textual.strip import Strip
    Strip.divide = lambda self, cuts: [self]
    """
    assert _scan(code) == ["replaces Strip.divide"]


def test_the_scan_catches_a_private_event_handler_override() -> None:
    from textual.screen import Screen

    module = _Module()
    module.S = type("S", (Screen,), {})  # type: ignore[attr-defined]
    code = """
    class S(Screen):
        def _on_screen_resume(self, event): ...
    """
    assert _scan(code, module) == ["overrides private _on_screen_resume"]
