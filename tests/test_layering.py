"""The parts never import the rooms above them (GUIDE: agents, wrappers, value_transforms and
distributed compose the parts; a part importing a room makes a cycle waiting to happen).

The check reads the source text, so an import inside a function body counts as much as one at
the top of a module."""
import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "coaxlike"
ROOMS = ("agents", "wrappers", "value_transforms", "distributed")


def _room(path):
    """The room a file belongs to, or None for a part (the package's ``__init__`` re-exports
    everything and belongs to no layer)."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    if rel == ("__init__",):
        return "__init__"
    return rel[0] if rel[0] in ROOMS else None


def _package_of(path):
    """The dotted package a module's relative imports start from."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    return ["coaxlike", *rel[:-1]]


def imported_modules(path):
    """Every module an ``import``/``from ... import`` anywhere in ``path`` names (absolute,
    dotted; ``from x import y`` gives both ``x`` and ``x.y``), plus the string arguments of
    ``importlib.import_module(...)`` and ``__import__(...)``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(path)[:len(_package_of(path)) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in ("import_module", "__import__"):
                found.append(node.args[0].value)
    return found


def room_imports(path):
    pattern = re.compile(rf"^coaxlike\.({'|'.join(ROOMS)})(\.|$)")
    return sorted({m for m in imported_modules(path) if pattern.match(m)})


PARTS = sorted(p for p in PACKAGE.rglob("*.py") if _room(p) is None)


def test_the_parts_are_found():
    names = {p.relative_to(PACKAGE).as_posix() for p in PARTS}
    assert {"_q.py", "policies/_base.py", "utils/_gif.py", "serialization/_file.py"} <= names
    assert not any(n.startswith(ROOMS) for n in names)


@pytest.mark.parametrize("path", PARTS, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_part_imports_a_room(path):
    assert room_imports(path) == [], (f"{path.relative_to(PACKAGE)} imports a room; move what it "
                                      f"needs into a part")


def test_the_check_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    """The detector itself: an import inside a function, a relative one two levels up and an
    importlib call are all caught (a check that cannot fail is a defect)."""
    fake = PACKAGE / "utils" / "_fake.py"
    source = ("import numpy\n"
              "def f():\n"
              "    from ..wrappers import TrainMonitor\n"
              "    from .. import agents\n"
              "    import importlib\n"
              "    return importlib.import_module('coaxlike.distributed._apex')\n"
              "from ..value_transforms import LogTransform\n")
    monkeypatch.setattr(pathlib.Path, "read_text", lambda self: source)
    assert room_imports(fake) == ["coaxlike.agents", "coaxlike.distributed._apex",
                                  "coaxlike.value_transforms",
                                  "coaxlike.value_transforms.LogTransform", "coaxlike.wrappers",
                                  "coaxlike.wrappers.TrainMonitor"]
