"""The documentation: public API coverage, runnable getting-started code, a warning-free build.

The Sphinx builds are slow (they import everything and run the examples) and are marked
``slow``; CI runs them with ``python -m pytest -m slow``.
"""
import importlib
import importlib.util
import inspect
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "doc"
PACKAGES = ["coaxlike", "coaxlike.policies", "coaxlike.distributions", "coaxlike.serialization",
            "coaxlike.reward_tracing", "coaxlike.experience_replay", "coaxlike.td_learning",
            "coaxlike.wrappers", "coaxlike.utils", "coaxlike.distributed",
            "coaxlike.value_transforms", "coaxlike.value_losses", "coaxlike.agents"]

# `.. autoclass:: coaxlike.Q`, `.. automodule:: coaxlike.policies`, `.. data:: ...`
_API_DIRECTIVE = re.compile(r"^\.\. (?:auto)?(?:module|class|function|data)::\s+(\S+)\s*$",
                            re.MULTILINE)


def _resolve(dotted):
    """The object named ``dotted``, importing sub-modules on the way where needed."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, attr in enumerate(parts[1:], 2):
        obj = (getattr(obj, attr) if hasattr(obj, attr)
               else importlib.import_module(".".join(parts[:i])))
    return obj


def _public_symbols():
    """``(qualified name, object)`` for every name in the ``__all__`` of each package present."""
    for package in PACKAGES:
        if importlib.util.find_spec(package) is None:
            continue  # a sub-package not written yet
        module = importlib.import_module(package)
        for name in module.__all__:
            yield f"{package}.{name}", getattr(module, name)


def _has_own_docstring(obj):
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if not (doc or "").strip():
        return False
    # a NamedTuple without a docstring gets "Name(field, ...)"
    return not (inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("))


def test_every_public_symbol_has_a_docstring_and_an_api_entry():
    targets = _API_DIRECTIVE.findall((DOC / "api.rst").read_text())
    documented = {}
    for target in targets:
        documented.setdefault(id(_resolve(target)), []).append(target)  # stale entries raise
    missing_doc, missing_api = [], []
    for qualname, obj in _public_symbols():
        documentable = inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj)
        if documentable and not _has_own_docstring(obj):
            missing_doc.append(qualname)
        # re-exports count once: coaxlike.policies.EpsilonGreedy is coaxlike.EpsilonGreedy
        if not (qualname in targets or (documentable and id(obj) in documented)):
            missing_api.append(qualname)
        if inspect.isclass(obj):
            missing_doc += [f"{qualname}.{k}" for k, v in vars(obj).items()
                            if not k.startswith("_") and (callable(v) or isinstance(v, property))
                            and not (getattr(v, "__doc__", None) or "").strip()]
    assert not missing_doc, f"public symbols without a docstring: {missing_doc}"
    assert not missing_api, f"public symbols missing from doc/api.rst: {missing_api}"


def test_every_example_script_is_on_the_examples_page():
    page = (DOC / "examples.rst").read_text()
    scripts = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
    assert scripts, "no example scripts found"
    missing = [s for s in scripts if f".. literalinclude:: ../examples/{s}" not in page]
    assert not missing, f"examples not shown in doc/examples.rst: {missing}"


def _python_blocks(path):
    """The bodies of the ``.. code-block:: python`` directives of a reST file, dedented."""
    lines = path.read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        body, j = [], i + 1
        while j < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[j]):  # directive options
            j += 1
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith(" ")):
            body.append(lines[j])
            j += 1
        blocks.append(textwrap.dedent("\n".join(body)).strip() + "\n")
    return blocks


def test_getting_started_code_runs_as_printed(tmp_path, monkeypatch, capsys):
    blocks = _python_blocks(DOC / "getting_started.rst")
    assert len(blocks) >= 3, "expected the getting-started page's code blocks"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__getting_started__"}
    for number, code in enumerate(blocks, 1):
        exec(compile(code, f"getting_started.rst, block {number}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "return of one episode:" in out
    assert namespace["pi"].epsilon == pytest.approx(0.05)


def _sphinx(builder, out_dir):
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", builder,
         str(DOC), str(out_dir)], capture_output=True, text=True, cwd=ROOT, check=False)


@pytest.mark.slow
def test_sphinx_html_build_has_no_warnings(tmp_path):
    result = _sphinx("html", tmp_path / "html")
    assert result.returncode == 0, f"sphinx html build failed:\n{result.stderr}"
    assert (tmp_path / "html" / "api.html").exists()


@pytest.mark.slow
def test_sphinx_doctests_pass(tmp_path):
    """The ``>>>`` examples and ``testcode`` blocks of the pages and of every docstring."""
    result = _sphinx("doctest", tmp_path / "doctest")
    assert result.returncode == 0, (f"sphinx doctests failed:\n{result.stderr}\n"
                                    f"{(tmp_path / 'doctest' / 'output.txt').read_text()}")
