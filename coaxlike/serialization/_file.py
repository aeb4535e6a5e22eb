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

Reading trusts nothing in the file until it is checked: the fingerprint is compared with the
skeleton's right after the 45-byte head, declared lengths are compared with the real file size
and with what the skeleton needs before anything of that length is read, only the bytes the
skeleton needs are read, and the checksum is verified before any array is returned. No pickle, nothing that runs code: a leaf is only ever decoded with
:func:`numpy.frombuffer` as the dtype the skeleton dictates.
"""
import contextlib
import hashlib
import json
import math
import os
import stat
import struct
from typing import Any, BinaryIO, Callable

import jax
import jax.numpy as jnp
import numpy as np

from coaxlike.serialization._fingerprint import (
    PYTHON_SCALARS, Described, LeafSpec, described, explain_mismatch, is_key,
    python_scalar_dtype)

__all__ = ["save", "load"]

MAGIC = b"CXLK"
VERSION = 1
_DIGEST = 32                                        # bytes in a SHA-256 digest
_LENGTH = struct.Struct("<Q")                       # D and P
_HEAD = _DIGEST + len(MAGIC) + 1 + _LENGTH.size      # fingerprint, magic, version, D: 45 bytes
_MIN_SIZE = _HEAD + _LENGTH.size + _DIGEST           # a file with D = P = 0: 85 bytes
_TEMP_ATTEMPTS = 100
_EXPLAIN_LIMIT = 1 << 24    # a longer saved description is not read to explain a mismatch


def resolve_path(path: str | os.PathLike, suffix: str | None) -> str:
    """``path`` with ``suffix`` appended unless it already ends with it (or suffix is falsy)."""
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike[str], got {path!r}")
    if suffix is not None and not isinstance(suffix, str):
        raise TypeError(f"suffix must be a str or None, got {suffix!r}")
    if not os.path.basename(path):   # "runs/" would silently become the hidden "runs/.cxl"
        raise ValueError(f"path must name a file, got {path!r}, which names a directory "
                         "(ends with a path separator or is empty)")
    return path + suffix if suffix and not path.endswith(suffix) else path


# ---------------------------------------------------------------------------------------------
# Leaves as bytes.

def _little_endian(dtype: np.dtype) -> np.dtype:
    return dtype.newbyteorder("<") if dtype.byteorder in "=>" else dtype


def _stored_layout(spec: LeafSpec, leaf: Any) -> tuple[np.dtype, tuple[int, ...]]:
    """Dtype and shape of the bytes a leaf is stored as (a typed key is stored as its data)."""
    if spec.impl is not None:
        data = jax.eval_shape(jax.random.key_data, leaf)
        return np.dtype(data.dtype), tuple(data.shape)
    dtype = python_scalar_dtype(leaf) if spec.shape == () else None
    return (dtype if dtype is not None else np.dtype(leaf.dtype)), spec.shape


def _to_host(spec: LeafSpec, leaf: Any) -> np.ndarray:
    """The leaf as a little-endian, C-contiguous NumPy array of its stored layout."""
    dtype, _ = _stored_layout(spec, leaf)
    try:
        data = np.asarray(jax.random.key_data(leaf) if spec.impl is not None else leaf, dtype)
    except OverflowError as error:
        raise ValueError(f"leaf {spec.path}: {leaf!r} does not fit in {dtype}") from error
    return np.ascontiguousarray(data, dtype=_little_endian(dtype))


def _leaf_bytes(array: np.ndarray) -> bytes:
    return array.tobytes(order="C")


def _restore(spec: LeafSpec, like: Any, array: np.ndarray) -> Any:
    """A host array as a leaf of the same type as the skeleton's leaf ``like``."""
    if is_key(like):
        return jax.random.wrap_key_data(jnp.asarray(array), impl=spec.impl)
    if isinstance(like, jax.Array):
        return jnp.asarray(array, dtype=like.dtype)
    if isinstance(like, np.ndarray):
        return array.astype(like.dtype, copy=False)
    if isinstance(like, np.generic):
        return array.astype(like.dtype)[()]
    kind = next(kind for kind, _ in PYTHON_SCALARS if isinstance(like, kind))
    return kind(array.item())


# ---------------------------------------------------------------------------------------------
# Writing, atomically.

def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """Open a new hidden temporary file beside the target; permissions follow the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_TEMP_ATTEMPTS):
        temp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory!r}")


def _fsync_directory(directory: str) -> None:
    """Make the rename durable where the platform allows opening a directory (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass            # the file is in place; some file systems cannot sync a directory
    finally:
        os.close(fd)


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Run ``write`` on a temporary file beside ``path``, sync it and rename it onto ``path``.

    The new file keeps the permission bits of the file it replaces (a ``chmod 600``
    checkpoint stays private); a new file gets them from the umask. On any exception the
    temporary file is removed and whatever was at ``path`` is untouched.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(f"path {path!r} is a directory; pass a file name in it")
    directory, name = os.path.split(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    fd, temp = _create_temp(directory, name)
    try:
        if mode is not None and hasattr(os, "fchmod"):
            os.fchmod(fd, mode)     # before any byte is written
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


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


# ---------------------------------------------------------------------------------------------
# Reading, checking everything first.

def _read_exact(f: BinaryIO, n: int, path: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f"{path!r} is truncated: it ended while reading {n} bytes")
    return data


def _read_head(f: BinaryIO, path: str, size: int) -> tuple[bytes, int]:
    """Read and check the 45-byte head (magic, version, ``D`` within the file); return it and
    ``D``."""
    if size < _MIN_SIZE:
        raise ValueError(f"{path!r} is not a coaxlike file or is truncated: {size} bytes, "
                         f"fewer than the {_MIN_SIZE} of the smallest valid file")
    head = _read_exact(f, _HEAD, path)
    magic, version = head[_DIGEST:36], head[36]
    if magic != MAGIC:
        raise ValueError(f"{path!r} is not a coaxlike file: expected magic {MAGIC!r} at "
                         f"byte 32, found {magic!r}")
    if version != VERSION:
        raise ValueError(f"{path!r} has file format version {version}; this version of "
                         f"coaxlike reads version {VERSION} only")
    (description_size,) = _LENGTH.unpack_from(head, 37)
    if description_size > size - _MIN_SIZE:
        raise ValueError(f"{path!r} is truncated or corrupted: it declares a "
                         f"{description_size}-byte description but has {size} bytes")
    return head, description_size


def read_description(path: str) -> dict[str, Any]:
    """The description document of a coaxlike file (``{"static": ..., "structure": ...,
    "leaves": [...]}``), its head checked and its fingerprint verified: what a file holds,
    read before building a skeleton to load it into. The payload is not read.

    Raises:
        ValueError: the file is not a coaxlike file, has another format version, or is
            truncated or corrupted.
        OSError: the file cannot be opened or read.
    """
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"{path!r} is not a regular file")
    with open(path, "rb") as f:
        head, description_size = _read_head(f, path, os.fstat(f.fileno()).st_size)
        if description_size > _EXPLAIN_LIMIT:
            raise ValueError(f"{path!r} declares a {description_size}-byte description, "
                             f"more than the {_EXPLAIN_LIMIT} read to learn what it holds")
        description = _read_exact(f, description_size, path)
    if hashlib.sha256(description).digest() != head[:_DIGEST]:
        raise ValueError(f"{path!r} is corrupted: its fingerprint is not that of its "
                         "description")
    try:
        document = json.loads(description.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"{path!r} is corrupted: its description is not JSON text") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path!r} is corrupted: its description is not a JSON object")
    return document


def _refuse_other_skeleton(f: BinaryIO, path: str, stored_fingerprint: bytes,
                           description_size: int, skeleton: Described) -> ValueError:
    """The error for a file whose fingerprint is not the skeleton's, naming what differs."""
    if description_size > _EXPLAIN_LIMIT:
        return ValueError(f"{path!r} was saved from a different structure than the skeleton "
                          f"(its {description_size}-byte description is not read to name the "
                          "differences)")
    description = _read_exact(f, description_size, path)
    if hashlib.sha256(description).digest() != stored_fingerprint:
        return ValueError(f"{path!r} is corrupted: its fingerprint is not that of its "
                          "description")
    try:
        lines = explain_mismatch(description.decode("utf-8"), skeleton.text)
    except UnicodeDecodeError:
        return ValueError(f"{path!r} is corrupted: its description is not UTF-8")
    return ValueError(f"{path!r} was saved from a different structure than the skeleton:\n  "
                      + "\n  ".join(lines))


def _read_leaves(f: BinaryIO, path: str, layouts: list[tuple[np.dtype, tuple[int, ...]]],
                 checksum: Any) -> list[np.ndarray]:
    """Read each leaf's bytes straight into a new array, feeding the checksum."""
    arrays = []
    for dtype, shape in layouts:
        buffer = np.empty(math.prod(shape) * dtype.itemsize, np.uint8)   # aligned, writable
        if f.readinto(memoryview(buffer)) != buffer.size:
            raise ValueError(f"{path!r} is truncated: it ended inside the payload")
        checksum.update(buffer)
        arrays.append(buffer.view(_little_endian(dtype)).reshape(shape))
    return arrays


def read_checked(path: str, skeleton: Described) -> list[np.ndarray]:
    """Read a file saved from ``skeleton``: check it, then return its leaves as host arrays.

    Checks, in the order of the "Reading" section of ``doc/serialization.rst``: a regular file
    of at least 85 bytes, magic, version, ``D`` within the file, the fingerprint against the
    skeleton's (before the description or payload is read), ``D`` and ``P`` against the file
    size and against what the skeleton needs, the description, the checksum, boolean bytes.
    Only the head, the description and the skeleton's leaves are ever read, so a file of any
    declared or real size costs at most what the skeleton itself needs.

    Returns:
        one little-endian host array per leaf, laid out as the skeleton's leaf is stored.

    Raises:
        ValueError: the file is not a regular file, is empty, truncated, corrupted, not a
            coaxlike file, of an unknown format version, or saved from another skeleton.
        OSError: the file cannot be opened or read.
    """
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"{path!r} is not a regular file")
    expected = skeleton.text.encode("utf-8")
    layouts = [_stored_layout(spec, leaf) for spec, leaf in zip(skeleton.specs, skeleton.leaves)]
    payload_size = sum(math.prod(shape) * dtype.itemsize for dtype, shape in layouts)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise ValueError(f"{path!r} is empty")
        head, description_size = _read_head(f, path, size)
        stored_fingerprint = head[:_DIGEST]
        if stored_fingerprint != hashlib.sha256(expected).digest():
            raise _refuse_other_skeleton(f, path, stored_fingerprint, description_size,
                                         skeleton)
        if description_size != len(expected):
            raise ValueError(f"{path!r} is corrupted: it declares a {description_size}-byte "
                             f"description, its fingerprint stands for {len(expected)} bytes")
        description = _read_exact(f, description_size, path)
        if description != expected:
            raise ValueError(f"{path!r} is corrupted: its fingerprint is not that of its "
                             "description")
        payload_size_bytes = _read_exact(f, _LENGTH.size, path)
        (declared,) = _LENGTH.unpack(payload_size_bytes)
        if _MIN_SIZE + description_size + declared != size:
            raise ValueError(f"{path!r} is truncated or corrupted: its header declares "
                             f"{_MIN_SIZE + description_size + declared} bytes, the file "
                             f"has {size}")
        if declared != payload_size:
            raise ValueError(f"{path!r} is corrupted: the payload holds {declared} bytes, the "
                             f"skeleton's leaves need {payload_size}")
        checksum = hashlib.sha256(head)
        checksum.update(description)
        checksum.update(payload_size_bytes)
        arrays = _read_leaves(f, path, layouts, checksum)
        stored_checksum = _read_exact(f, _DIGEST, path)
        if f.read(1):
            raise ValueError(f"{path!r} grew while it was being read")
    if checksum.digest() != stored_checksum:
        raise ValueError(f"{path!r} is corrupted: its SHA-256 checksum does not match")
    for spec, (dtype, _), array in zip(skeleton.specs, layouts, arrays):
        if dtype == np.bool_ and np.any(array.view(np.uint8) > 1):
            raise ValueError(f"{path!r} is corrupted: leaf {spec.path}: boolean bytes other "
                             "than 0 and 1")
    return arrays


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
