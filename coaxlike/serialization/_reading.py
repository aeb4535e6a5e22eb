"""Reading a coaxlike file, checking everything first.

Reading trusts nothing in the file until it is checked: the fingerprint is compared with the
skeleton's right after the 45-byte head, declared lengths are compared with the real file size
and with what the skeleton needs before anything of that length is read, only the bytes the
skeleton needs are read, and the checksum is verified before any array is returned.
"""
import hashlib
import json
import math
import os
import stat
from typing import Any, BinaryIO

import numpy as np

from coaxlike.serialization._fingerprint import Described, explain_mismatch
from coaxlike.serialization._layout import (_DIGEST, _EXPLAIN_LIMIT, _HEAD, _LENGTH, _MIN_SIZE,
                                            MAGIC, VERSION, _little_endian, _stored_layout)

__all__ = []  # private module


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
