"""Saving and loading pytrees and coaxlike objects, checked by a structural fingerprint.

A file starts with the 32-byte SHA-256 *fingerprint* of its skeleton: a canonical text
description (:func:`describe`) of the tree's key paths, container types, leaf shapes and dtypes,
and of a JSON-able ``static`` dict of hyperparameters. Then come the magic bytes ``b"CXLK"``, a
format-version byte, the description itself (so a mismatch can be explained), the leaves' raw
bytes and a SHA-256 checksum of everything before it. The byte-by-byte layout is in
``doc/serialization.rst`` (the "Saving and loading" page).

* :func:`save` / :func:`load`: any pytree of arrays, typed PRNG keys and Python scalars.
  :func:`load` takes a skeleton ``like`` and returns a tree with its structure and leaf types,
  or raises ``ValueError`` naming what differs; it never executes code from the file (no
  pickle) and never returns a partial result.
* :func:`save_object` / :func:`load_object`: objects that implement
  ``_serial_static() -> dict``, ``_serial_tree() -> pytree`` and
  ``_serial_restore(tree) -> None``; the class's ``module.qualname`` is fingerprinted too.
* :func:`fingerprint` / :func:`describe`: the fingerprint and the text it hashes.

File names: ``suffix`` (default ``".cxl"``) is appended to ``path`` unless it already ends
with it, by saving and loading alike, so ``save("q", ...)`` writes ``q.cxl`` and
``load("q", ...)`` reads it; pass ``suffix=None`` (or ``""``) to use paths exactly as given.

Writing is atomic: a temporary file in the target's directory is written, ``fsync``-ed and
renamed onto the target, so an interrupted save leaves the previous file intact.

Examples:
    >>> import os, tempfile
    >>> import jax, jax.numpy as jnp
    >>> from coaxlike import serialization
    >>> tree = {"params": {"w": jnp.ones((2, 2))}, "key": jax.random.key(42), "epsilon": 0.1}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = serialization.save(os.path.join(d, "run"), tree, static={"n_actions": 2})
    ...     back = serialization.load(path, tree, static={"n_actions": 2})
    >>> back["epsilon"], back["key"].dtype, back["params"]["w"].dtype
    (0.1, key<fry>, dtype('float32'))
"""
from coaxlike.serialization._file import load, save
from coaxlike.serialization._fingerprint import describe, fingerprint
from coaxlike.serialization._objects import load_object, save_object

__all__ = ["save", "load", "fingerprint", "describe", "save_object", "load_object"]
