"""Sphinx configuration for the coaxlike documentation.

Build with ``python -m sphinx -W --keep-going -b html doc doc/_build/html``; the doctest
builder (``-b doctest``) runs the ``>>>`` examples of the pages and of the docstrings.
"""
import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))

import coaxlike  # noqa: E402  (after the path is set, so a plain checkout builds too)

project = "coaxlike"
author = "the coaxlike developers"
copyright = "the coaxlike developers"
release = coaxlike.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "_generated", "_figures"]
root_doc = "index"
language = "en"

# Google-style docstrings only; keep "Examples:" as a rubric with a doctest block under it.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True}
autodoc_preserve_defaults = True

# No intersphinx: the build must work without network access. Pages link to the JAX, haiku,
# distrax, optax and gymnasium documentation with plain URLs instead, and references to their
# objects are rendered as literals. `nitpicky` stays off until the library's docstrings
# resolve every coaxlike reference; the external ones are ignored here for that day.
nitpicky = False
nitpick_ignore_regex = [(r"py:.*", r"(jax|jaxlib|haiku|distrax|optax|gymnasium|numpy|os)\..*")]

# The doctests run with JAX as strict as the test suite makes it (see tests/conftest.py).
doctest_global_setup = """
import jax
jax.config.update("jax_numpy_rank_promotion", "raise")
"""


def _hide_private_parameters(app, what, name, obj, options, signature, return_annotation):
    """Drop keyword parameters whose names start with ``_`` (internal plumbing between a
    base class and its subclasses) from rendered signatures."""
    if signature:
        signature = re.sub(r",\s*_\w+(=[^,)]*)?(?=[,)])", "", signature)
    return signature, return_annotation


def setup(app):
    app.connect("autodoc-process-signature", _hide_private_parameters)


html_theme = "furo"
html_title = f"coaxlike {release}"
html_static_path = []


# --- examples: outputs shown on the examples page ------------------------------------------
# Fast examples are run at every build, so the output printed in the docs is what the current
# code prints. Slow ones (training runs) are not: their output and figure are recorded by hand
# in _figures/ and shown when present.

_HERE = os.path.dirname(os.path.abspath(__file__))
_RUN_AT_BUILD = ["cartpole_policies.py", "cartpole_jax.py"]


def _run_examples():
    import subprocess

    out_dir = os.path.join(_HERE, "_generated")
    os.makedirs(out_dir, exist_ok=True)
    for script in _RUN_AT_BUILD:
        path = os.path.join(_HERE, "..", "examples", script)
        result = subprocess.run([sys.executable, path], capture_output=True, text=True,
                                timeout=600, cwd=out_dir, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"examples/{script} failed while building the docs:\n"
                               f"{result.stderr}")
        with open(os.path.join(out_dir, script.replace(".py", ".txt")), "w") as f:
            f.write(result.stdout.strip("\n") + "\n")


_run_examples()


def _figure_include():
    """The DQN example's recorded output and learning curve, once they are in _figures/."""
    figure = os.path.join(_HERE, "_figures", "dqn_cartpole.png")
    output = os.path.join(_HERE, "_figures", "dqn_cartpole.txt")
    text = ""
    if os.path.exists(output):
        text += ("Output of one run (recorded, not rerun at build time):\n\n"
                 ".. literalinclude:: /_figures/dqn_cartpole.txt\n   :language: text\n\n")
    if os.path.exists(figure):
        text += ("The learning curve of that run:\n\n"
                 ".. image:: /_figures/dqn_cartpole.png\n"
                 "   :alt: episode returns during training and greedy evaluation returns\n")
    if not text:
        text = ("To show a run here, run the script and copy its output and\n"
                "``dqn_cartpole.png`` to ``doc/_figures/``.\n")
    with open(os.path.join(_HERE, "_generated", "dqn_cartpole_figure.rst"), "w") as f:
        f.write(text)


_figure_include()
