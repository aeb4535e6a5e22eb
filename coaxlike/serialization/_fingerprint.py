"""Canonical descriptions of pytrees and their SHA-256 structural fingerprints.

A pytree's *description* is a JSON text that fixes everything the bytes of a saved file depend
on, and nothing that varies between processes (no ``id()``, no addresses, no hash order):

* ``"static"``: the caller's JSON-able hyperparameters (class name, network widths, spaces,
  ...), or ``null``;
* ``"structure"``: the containers, rendered from the treedef: dict keys, sequence lengths,
  named tuples and other registered nodes by ``module.qualname``;
* ``"leaves"``: one object per leaf in flattening order, with its key path
  (:func:`jax.tree_util.keystr`), shape and dtype, and for typed PRNG keys the name of the
  key implementation (``"impl"``).

Object keys are sorted, separators are fixed (``","`` and ``":"``) and the text is pure ASCII,
so equal skeletons give equal text in every process. The *fingerprint* is
``SHA-256(description.encode("utf-8"))``, 32 bytes.

Only shapes and dtypes enter the description, never values: a trained network and a freshly
initialised one of the same architecture share a fingerprint.
"""
import hashlib
import json
import math
import re
from typing import Any, NamedTuple

import jax
import numpy as np

__all__ = ["describe", "fingerprint"]

# Python scalars are stored as 0-d arrays of these dtypes (bool first: bool is an int).
PYTHON_SCALARS = ((bool, np.dtype(np.bool_)), (int, np.dtype(np.int64)),
                  (float, np.dtype(np.float64)), (complex, np.dtype(np.complex128)))

_MAX_REPORTED = 10          # differences listed in a mismatch message before "... and N more"
_MAX_VALUE_CHARS = 80       # a value longer than this is cut in a mismatch message
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")


class LeafSpec(NamedTuple):
    """What the description records of one leaf."""

    path: str                   # jax.tree_util.keystr of the leaf's key path
    shape: tuple[int, ...]
    dtype: str                  # numpy dtype name, or e.g. "key<fry>" for typed PRNG keys
    impl: str | None = None     # PRNG implementation name for typed keys, else None

    def to_json(self) -> dict[str, Any]:
        entry = {"path": self.path, "shape": list(self.shape), "dtype": self.dtype}
        if self.impl is not None:
            entry["impl"] = self.impl
        return entry

    def __str__(self) -> str:
        text = f"{self.shape} {self.dtype}"
        return text if self.impl is None else f"{text} ({self.impl})"


class Described(NamedTuple):
    """A pytree taken apart: its description text and what is needed to rebuild it."""

    text: str
    specs: list[LeafSpec]
    leaves: list[Any]
    treedef: Any


def is_key(leaf: Any) -> bool:
    """Whether ``leaf`` is a typed JAX PRNG key array (dtype ``key<...>``)."""
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def python_scalar_dtype(leaf: Any) -> np.dtype | None:
    """The dtype a Python scalar leaf is stored as, or None if ``leaf`` is not one."""
    for kind, dtype in PYTHON_SCALARS:
        if isinstance(leaf, kind):
            return dtype
    return None


def _storable(dtype: np.dtype) -> bool:
    """Plain numeric dtypes and the ml_dtypes ones JAX uses (bfloat16, float8, int4, ...)."""
    if dtype.kind in "biufc":
        return True
    return dtype.fields is None and getattr(dtype.type, "__module__", "").startswith("ml_dtypes")


def leaf_spec(path: str, leaf: Any) -> LeafSpec:
    """Describe one leaf; raise TypeError for anything that is not array data."""
    if is_key(leaf):
        return LeafSpec(path, tuple(leaf.shape), str(leaf.dtype), str(jax.random.key_impl(leaf)))
    if isinstance(leaf, (jax.Array, np.ndarray, np.generic)):
        shape, dtype = tuple(int(n) for n in leaf.shape), np.dtype(leaf.dtype)
    elif (dtype := python_scalar_dtype(leaf)) is not None:
        shape = ()
    else:
        raise TypeError(
            f"leaf {path}: cannot serialize a {type(leaf).__module__}.{type(leaf).__qualname__}; "
            "leaves must be JAX or NumPy arrays, NumPy scalars, typed PRNG keys or Python "
            "bool/int/float/complex")
    if not _storable(dtype):
        raise TypeError(f"leaf {path}: dtype {dtype} cannot be serialized; expected a numeric "
                        "or boolean dtype")
    return LeafSpec(path, shape, dtype.name, None)


def canonical_static(value: Any, where: str = "static") -> Any:
    """Check that ``value`` is JSON-able and return it with tuples turned into lists.

    Raises:
        TypeError: a dict key is not a ``str``, or a value is not ``str``, ``int``, ``float``,
            ``bool``, ``None``, ``list``, ``tuple`` or ``dict``.
        ValueError: a float is NaN or infinite (JSON has no spelling for them).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be finite to be JSON-able, got {value!r}")
        return value
    if isinstance(value, (list, tuple)):
        return [canonical_static(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} keys must be str, got {key!r}")
            out[key] = canonical_static(v, f"{where}[{key!r}]")
        return out
    raise TypeError(f"{where} must be str, int, float, bool, None, list or dict, "
                    f"got {type(value).__module__}.{type(value).__qualname__}")


def _qualified_name(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _render_aux(aux: Any, node: str) -> str:
    """Stable text for a custom node's auxiliary data (e.g. dataclass static fields)."""
    if aux is None or isinstance(aux, (bool, int, float, str, bytes)):
        return repr(aux)
    if isinstance(aux, (tuple, list)):
        return "(" + ", ".join(_render_aux(a, node) for a in aux) + ")"
    if isinstance(aux, (set, frozenset)):
        return "{" + ", ".join(sorted(_render_aux(a, node) for a in aux)) + "}"
    if isinstance(aux, dict):
        items = sorted(f"{_render_aux(k, node)}: {_render_aux(v, node)}" for k, v in aux.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(aux, type) or (callable(aux) and hasattr(aux, "__qualname__")):
        return _qualified_name(aux)
    text = repr(aux)
    if _ADDRESS.search(text):
        raise TypeError(f"pytree node {node}: its auxiliary data {text} has no stable text "
                        "form (its repr shows a memory address); give it a deterministic "
                        "__repr__ to serialize it")
    return text


def render_structure(treedef: Any) -> str:
    """The containers of a treedef as text: ``{'a': *, 'b': [*, None]}``, stable per process."""
    if treedef.num_nodes == 1 and treedef.num_leaves == 1:
        return "*"
    node_type, aux = treedef.node_data()
    children = [render_structure(child) for child in treedef.children()]
    if node_type is type(None):
        return "None"
    if node_type is dict:
        return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(aux, children)) + "}"
    if node_type is list:
        return "[" + ", ".join(children) + "]"
    if node_type is tuple:
        return "(" + ", ".join(children) + ("," if len(children) == 1 else "") + ")"
    name = _qualified_name(node_type)
    fields = getattr(node_type, "_fields", None)
    if aux is None and isinstance(fields, tuple) and len(fields) == len(children):
        return f"{name}(" + ", ".join(f"{f}={c}" for f, c in zip(fields, children)) + ")"
    return f"{name}[{_render_aux(aux, name)}](" + ", ".join(children) + ")"


def described(tree: Any, static: dict[str, Any] | None = None) -> Described:
    """Take ``tree`` apart and build its canonical description (see the module docstring)."""
    if static is not None and not isinstance(static, dict):
        raise TypeError(f"static must be a dict or None, got {type(static).__qualname__}")
    paths_and_leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    specs = [leaf_spec(jax.tree_util.keystr(path), leaf) for path, leaf in paths_and_leaves]
    document = {"static": canonical_static(static), "structure": render_structure(treedef),
                "leaves": [spec.to_json() for spec in specs]}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
    return Described(text, specs, [leaf for _, leaf in paths_and_leaves], treedef)


def describe(tree: Any, static: dict[str, Any] | None = None) -> str:
    """The canonical description of a pytree skeleton: the text that :func:`fingerprint` hashes.

    The text is compact JSON with sorted keys, ``{"leaves": [...], "static": ...,
    "structure": ...}``; each leaf is ``{"dtype", "path", "shape"}`` plus ``"impl"`` for typed
    PRNG keys. Values of leaves never enter it, only their shapes and dtypes. Python ``bool``,
    ``int``, ``float`` and ``complex`` leaves are described as 0-d ``bool``, ``int64``,
    ``float64`` and ``complex128``.

    Args:
        tree: a pytree whose leaves are JAX or NumPy arrays, NumPy scalars, typed PRNG keys
            (:func:`jax.random.key`) or Python scalars.
        static: JSON-able static hyperparameters (nested dicts with ``str`` keys, lists, ``str``,
            ``int``, finite ``float``, ``bool``, ``None``), or ``None``. Tuples count as lists.

    Returns:
        The description, a pure-ASCII JSON string, identical in every process for equal
        skeletons.

    Raises:
        TypeError: a leaf is not array data, a custom pytree node has auxiliary data without a
            stable text form, or ``static`` is not JSON-able.
        ValueError: ``static`` holds a NaN or infinite float.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.serialization import describe
        >>> print(describe({"w": jnp.zeros((2, 3))}, static={"n_actions": 3}))
        {"leaves":[{"dtype":"float32","path":"['w']","shape":[2,3]}],"static":{"n_actions":3},"structure":"{'w': *}"}
    """
    return described(tree, static).text


def fingerprint(tree: Any, static: dict[str, Any] | None = None) -> bytes:
    """The 32-byte SHA-256 structural fingerprint of a pytree skeleton and its static description.

    ``fingerprint(tree, static) == hashlib.sha256(describe(tree, static).encode()).digest()``:
    it changes with any key path, shape, dtype, PRNG implementation, container type or static
    value, and with nothing else (not with the leaves' values, not between processes).

    Args:
        tree: a pytree of arrays, typed PRNG keys or Python scalars (see :func:`describe`).
        static: JSON-able static hyperparameters, or ``None``.

    Returns:
        32 bytes.

    Raises:
        TypeError: see :func:`describe`.
        ValueError: see :func:`describe`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.serialization import fingerprint
        >>> a = fingerprint({"w": jnp.zeros((2, 3))})
        >>> len(a), a == fingerprint({"w": jnp.ones((2, 3))}), a == fingerprint({"w": jnp.zeros(6)})
        (32, True, False)
    """
    return hashlib.sha256(describe(tree, static).encode("utf-8")).digest()


# ---------------------------------------------------------------------------------------------
# Explaining why two descriptions differ.

def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS - 3] + "..."


_MISSING = object()


def _static_differences(saved: Any, skeleton: Any, where: str) -> list[str]:
    if isinstance(saved, dict) and isinstance(skeleton, dict):
        lines = []
        for key in sorted(saved.keys() | skeleton.keys()):
            lines += _static_differences(saved.get(key, _MISSING), skeleton.get(key, _MISSING),
                                         f"{where}[{key!r}]")
        return lines
    if isinstance(saved, list) and isinstance(skeleton, list) and len(saved) == len(skeleton):
        return [line for i, (a, b) in enumerate(zip(saved, skeleton))
                for line in _static_differences(a, b, f"{where}[{i}]")]
    if saved == skeleton and type(saved) is type(skeleton):
        return []
    shown = ["(missing)" if v is _MISSING else _short(v) for v in (saved, skeleton)]
    return [f"{where}: saved {shown[0]}, skeleton {shown[1]}"]


def _parse_leaf(entry: Any) -> LeafSpec:
    if not isinstance(entry, dict):
        raise ValueError("leaf entry is not an object")
    shape, impl = entry.get("shape"), entry.get("impl")
    if not isinstance(shape, list) or not all(isinstance(n, int) for n in shape):
        raise ValueError("leaf shape is not a list of ints")
    return LeafSpec(str(entry.get("path")), tuple(shape), str(entry.get("dtype")),
                    None if impl is None else str(impl))


def _parse(text: str) -> tuple[Any, str, list[LeafSpec]]:
    document = json.loads(text)
    if not isinstance(document, dict) or not isinstance(document.get("leaves"), list):
        raise ValueError("not a description")
    leaves = [_parse_leaf(entry) for entry in document["leaves"]]
    return document.get("static"), str(document.get("structure")), leaves


def explain_mismatch(saved_text: str, skeleton_text: str) -> list[str]:
    """Lines naming what differs between two descriptions: static values, then leaves.

    A leaf line reads ``leaf ['q']['w']: saved (4, 64) float32, skeleton (4, 32) float32``; a
    static line ``static['n_actions']: saved 2, skeleton 3``. The container structure is named
    only when neither static values nor leaves explain the difference.
    """
    unreadable = ["the saved description is not one this version of coaxlike can read"]
    try:
        saved_static, saved_structure, saved_leaves = _parse(saved_text)
    except (ValueError, RecursionError):    # JSONDecodeError is a ValueError; RecursionError:
        return unreadable                   # a crafted text nested ~1000 levels deep
    skeleton_static, skeleton_structure, skeleton_leaves = _parse(skeleton_text)
    try:
        lines = _static_differences(saved_static, skeleton_static, "static")
    except RecursionError:                  # nested just below the parser's limit
        return unreadable
    saved_by_path = {spec.path: spec for spec in saved_leaves}
    skeleton_by_path = {spec.path: spec for spec in skeleton_leaves}
    for path in [*saved_by_path, *(p for p in skeleton_by_path if p not in saved_by_path)]:
        a, b = saved_by_path.get(path), skeleton_by_path.get(path)
        if a != b:
            lines.append(f"leaf {path}: saved {a or '(missing)'}, skeleton {b or '(missing)'}")
    if not lines and saved_structure != skeleton_structure:
        lines.append(f"tree structure: saved {_short(saved_structure)}, "
                     f"skeleton {_short(skeleton_structure)}")
    if not lines:
        lines.append("the descriptions differ in leaf order")
    if len(lines) > _MAX_REPORTED:
        lines = lines[:_MAX_REPORTED] + [f"... and {len(lines) - _MAX_REPORTED} more"]
    return lines
