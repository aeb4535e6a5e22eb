"""Reading and writing pytrees in the coaxlike file format (version 1).

Layout (integers unsigned little-endian; ``D`` and ``P`` as declared in the file)::

    offset      size  field
    0           32    fingerprint: SHA-256 of the description bytes
    32          4     magic: b"CXLK"
    36          1     format version: 1
    37          8     D: length of the description in bytes
    45          D     description: canonical JSON, UTF-8 (see ``describe``)
    45 + D      8     P: length of the payload in bytes
    53 + D      P     payload: each leaf's raw bytes, C order, little-endian, in flattening order
    53 + D + P  32    checksum: SHA-256 of bytes [0, 53 + D + P)

A file is exactly ``85 + D + P`` bytes long. The full specification, with the reasons behind
the choices, is ``doc/serialization.rst`` (the "Saving and loading" page).

This module holds the two public functions; the format's constants and the leaves' byte
encoding are in ``_layout``, the atomic replacement of a file in ``_atomic``, reading and its
checks in ``_reading``. No pickle, nothing that runs code: a leaf is only ever decoded as the
dtype the skeleton dictates.
"""
import hashlib
import os
from typing import Any, BinaryIO

import jax
import numpy as np

from coaxlike.serialization._atomic import write_atomically
from coaxlike.serialization._fingerprint import described
from coaxlike.serialization._layout import (_LENGTH, MAGIC, VERSION, _leaf_bytes, _restore,
                                            _to_host, resolve_path)
from coaxlike.serialization._reading import read_checked

__all__ = ["save", "load"]


def _write_file(f: BinaryIO, fingerprint: bytes, description: bytes,
                arrays: list[np.ndarray]) -> None:
    checksum = hashlib.sha256()

    def put(data: bytes) -> None:
        f.write(data)
        checksum.update(data)

    put(fingerprint + MAGIC + bytes([VERSION]) + _LENGTH.pack(len(description)))
    put(description)
    put(_LENGTH.pack(sum(array.nbytes for array in arrays)))
    for array in arrays:
        put(_leaf_bytes(array))
    f.write(checksum.digest())


def save(path: str | os.PathLike, tree: Any, *, static: dict[str, Any] | None = None,
         suffix: str | None = ".cxl") -> str:
    """Save a pytree, with its structural fingerprint, to a file, atomically.

    The file holds the fingerprint and canonical description of ``tree``'s skeleton (key paths,
    shapes, dtypes, container types) and of ``static``, then the leaves' raw bytes, then a
    SHA-256 checksum; see ``doc/serialization.rst`` (the "Saving and loading" page). The
    file is written to a temporary file in the same directory, flushed, ``fsync``-ed and renamed onto ``path``, so a reader
    sees the old file or the new one, never a mixture; if anything fails the old file stays.

    Args:
        path: where to write. ``suffix`` is appended unless ``path`` already ends with it.
        tree: a pytree whose leaves are JAX or NumPy arrays, NumPy scalars, typed PRNG keys
            (:func:`jax.random.key`, stored as their key data with the implementation's name)
            or Python ``bool``/``int``/``float``/``complex`` (stored as 0-d ``bool``,
            ``int64``, ``float64``, ``complex128``).
        static: JSON-able static hyperparameters (class name, network structure, spaces, ...)
            that must match on :func:`load`; part of the fingerprint, not of the payload.
        suffix: file-name ending to append to ``path`` when it is missing; ``None`` or ``""``
            uses ``path`` exactly as given.

    Returns:
        The path written, with the suffix applied.

    Raises:
        TypeError: a leaf is not array data, or ``static`` is not JSON-able.
        ValueError: ``static`` holds a non-finite float, or a Python ``int`` leaf does not fit
            in ``int64``.
        OSError: the file cannot be written (the previous file, if any, is left intact).

    Examples:
        >>> import os, tempfile
        >>> import jax, jax.numpy as jnp
        >>> from coaxlike.serialization import describe, save
        >>> tree = {"w": jnp.zeros((2, 3)), "key": jax.random.key(0)}
        >>> payload = 2 * 3 * 4 + 2 * 4          # float32 (2, 3) and a key's two uint32 words
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = save(os.path.join(d, "q"), tree)
        ...     size = os.path.getsize(path)
        >>> os.path.basename(path), size == 85 + len(describe(tree)) + payload
        ('q.cxl', True)
    """
    path = resolve_path(path, suffix)
    skeleton = described(tree, static)
    arrays = [_to_host(spec, leaf) for spec, leaf in zip(skeleton.specs, skeleton.leaves)]
    description = skeleton.text.encode("utf-8")
    fingerprint = hashlib.sha256(description).digest()
    write_atomically(path, lambda f: _write_file(f, fingerprint, description, arrays))
    return path


def load(path: str | os.PathLike, like: Any, *, static: dict[str, Any] | None = None,
         suffix: str | None = ".cxl") -> Any:
    """Load a pytree saved by :func:`save`, after checking it fits the skeleton ``like``.

    The fingerprint of ``like`` (with ``static``) is recomputed and compared with the file's
    right after its 45-byte head; on a mismatch the saved description is compared with the
    skeleton's to name what differs. Only ``like``'s structure, shapes and dtypes are used,
    never its values. Declared lengths are compared with the real file size and with what the
    skeleton needs before anything of that length is read, and only the bytes the skeleton
    needs are read (a huge or sparse file costs no memory); the checksum is verified before any
    JAX array is created, so a failed load returns nothing partial.

    Args:
        path: the file. ``suffix`` is appended unless ``path`` already ends with it.
        like: a skeleton with the structure, shapes and dtypes of the saved tree, e.g. a freshly
            initialised instance of what was saved.
        static: the static hyperparameters the file must have been saved with.
        suffix: as for :func:`save`; ``None`` or ``""`` uses ``path`` as given.

    Returns:
        A pytree with ``like``'s structure whose leaves have ``like``'s types: JAX arrays
        (on the default device) where ``like`` has JAX arrays, typed PRNG keys where it has keys,
        NumPy arrays and scalars, and Python scalars likewise.

    Raises:
        ValueError: the file is empty, truncated, corrupted, not a coaxlike file, of an unknown
            format version, or was saved from a different skeleton or ``static``; the message
            names the differing leaves (``leaf ['w']: saved (2, 3) float32, skeleton (3, 3)
            float32``) or static entries (``static['n_actions']: saved 2, skeleton 3``).
        TypeError: ``like`` or ``static`` cannot be described (see :func:`describe`).
        OSError: the file cannot be opened or read (e.g. ``FileNotFoundError``).

    Examples:
        >>> import os, tempfile
        >>> import jax.numpy as jnp
        >>> from coaxlike.serialization import load, save
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = save(os.path.join(d, "q"), {"w": jnp.arange(3.0)}, static={"n": 3})
        ...     print(load(path, {"w": jnp.zeros(3)}, static={"n": 3}))
        ...     try:
        ...         load(path, {"w": jnp.zeros(4)}, static={"n": 3})
        ...     except ValueError as error:
        ...         print(str(error).splitlines()[1:])
        {'w': Array([0., 1., 2.], dtype=float32)}
        ["  leaf ['w']: saved (3,) float32, skeleton (4,) float32"]
    """
    path = resolve_path(path, suffix)
    skeleton = described(like, static)
    arrays = read_checked(path, skeleton)
    leaves = [_restore(spec, like_leaf, array)
              for spec, like_leaf, array in zip(skeleton.specs, skeleton.leaves, arrays)]
    return jax.tree_util.tree_unflatten(skeleton.treedef, leaves)
