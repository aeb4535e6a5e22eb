"""Tests for coaxlike.serialization: round trips, fingerprints, file integrity, atomic writes."""
import hashlib
import os
import pickle
import stat
import struct
import tracemalloc
from pathlib import Path
from typing import NamedTuple

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coaxlike import serialization
from coaxlike.serialization import (
    describe, fingerprint, load, load_object, save, save_object)
from coaxlike.serialization import _file, _reading

HEAD = 45                  # fingerprint (32) + magic (4) + version (1) + description length (8)


class Pair(NamedTuple):
    first: object
    second: object


def small_tree():
    """A nested tree with every kind of leaf the format stores."""
    k1, k2 = jax.random.split(jax.random.key(7))
    return {
        "q": {"linear": {"w": jax.random.normal(k1, (3, 2)), "b": jnp.arange(2, dtype=jnp.int32)}},
        "state": {},
        "mask": jnp.array([True, False, True]),
        "half": jnp.array([0.5, -2.0], dtype=jnp.float16),
        "brain": jnp.array([1.5, 3.0], dtype=jnp.bfloat16),
        "host": np.array([[1.0, 2.0]], dtype=np.float64),
        "host_scalar": np.int16(-3),
        "hp": {"epsilon": 0.25, "steps": 12, "greedy": True, "phase": 1 + 2j},
        "key": k2,
        "keys": jax.random.split(jax.random.key(3), 4),
        "rbg": jax.random.key(5, impl="rbg"),
        "pair": Pair(jnp.zeros(()), [None, jnp.ones((1,), jnp.uint8)]),
    }


def zeros_like_tree(tree):
    """A skeleton of ``tree``: same structure, shapes, dtypes and leaf types, other values."""
    def blank(leaf):
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(jnp.zeros_like(jax.random.key_data(leaf)),
                                            impl=jax.random.key_impl(leaf))
        if isinstance(leaf, jax.Array):
            return jnp.zeros_like(leaf)
        if isinstance(leaf, np.ndarray):
            return np.zeros_like(leaf)
        if isinstance(leaf, np.generic):
            return leaf.dtype.type(0)
        return type(leaf)(0)
    return jax.tree_util.tree_map(blank, tree)


def assert_same_tree(actual, expected):
    assert jax.tree_util.tree_structure(actual) == jax.tree_util.tree_structure(expected)
    for a, e in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected)):
        assert type(a) is type(e) or (isinstance(a, jax.Array) and isinstance(e, jax.Array))
        if isinstance(e, jax.Array) and jax.dtypes.issubdtype(e.dtype, jax.dtypes.prng_key):
            assert a.dtype == e.dtype
            np.testing.assert_array_equal(jax.random.key_data(a), jax.random.key_data(e))
        elif isinstance(e, (jax.Array, np.ndarray, np.generic)):
            assert a.dtype == e.dtype and a.shape == e.shape
            np.testing.assert_array_equal(np.asarray(a), np.asarray(e))
        else:
            assert a == e


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    """The bytes of a small valid file and the skeleton it loads into."""
    tree = {"w": jnp.arange(6.0).reshape(2, 3), "n": jnp.array([1, 2], jnp.int32),
            "flag": jnp.array(True), "key": jax.random.key(1)}
    path = save(tmp_path_factory.mktemp("small") / "tree", tree, static={"n_actions": 2})
    return Path(path).read_bytes(), tree


def well_framed(skeleton, payload: bytes) -> bytes:
    """A file with ``skeleton``'s description and an arbitrary payload, framed and checksummed
    correctly: only checks of the payload itself can reject it."""
    description = describe(skeleton).encode()
    body = (hashlib.sha256(description).digest() + b"CXLK\x01"
            + struct.pack("<Q", len(description)) + description
            + struct.pack("<Q", len(payload)) + payload)
    return body + hashlib.sha256(body).digest()


# ---------------------------------------------------------------------------------------------
# Round trips.

def test_round_trip_restores_values_dtypes_and_leaf_types(tmp_path):
    tree = small_tree()
    path = save(tmp_path / "tree", tree, static={"name": "test"})
    loaded = load(path, zeros_like_tree(tree), static={"name": "test"})
    assert_same_tree(loaded, tree)
    assert isinstance(loaded["host"], np.ndarray) and loaded["host"].flags.writeable
    assert type(loaded["host_scalar"]) is np.int16
    assert type(loaded["hp"]["steps"]) is int and type(loaded["hp"]["greedy"]) is bool
    assert str(jax.random.key_impl(loaded["rbg"])) == "rbg"


def test_loaded_key_draws_the_same_numbers(tmp_path):
    key = jax.random.key(123)
    path = save(tmp_path / "key", {"key": key})
    loaded = load(path, {"key": jax.random.key(0)})["key"]
    np.testing.assert_array_equal(jax.random.uniform(loaded, (5,)), jax.random.uniform(key, (5,)))


@pytest.mark.parametrize("tree", [{}, None, [], {"state": {}}], ids=repr)
def test_round_trip_of_trees_without_leaves(tmp_path, tree):
    path = save(tmp_path / "empty", tree)
    assert load(path, tree) == tree


def test_types_come_from_the_skeleton_not_the_file(tmp_path):
    path = save(tmp_path / "x", {"w": jnp.arange(3.0)})
    loaded = load(path, {"w": np.zeros(3, np.float32)})
    assert isinstance(loaded["w"], np.ndarray)
    np.testing.assert_array_equal(loaded["w"], [0.0, 1.0, 2.0])


# ---------------------------------------------------------------------------------------------
# Descriptions and fingerprints.

def test_describe_is_the_documented_canonical_json():
    tree = {"b": jnp.zeros((2,), jnp.int32), "a": {"k": jax.random.key(0)}, "c": 1.5}
    expected = (
        '{"leaves":['
        '{"dtype":"key<fry>","impl":"threefry2x32","path":"[\'a\'][\'k\']","shape":[]},'
        '{"dtype":"int32","path":"[\'b\']","shape":[2]},'
        '{"dtype":"float64","path":"[\'c\']","shape":[]}],'
        '"static":{"depth":[1,2],"name":"Q"},'
        '"structure":"{\'a\': {\'k\': *}, \'b\': *, \'c\': *}"}')
    assert describe(tree, static={"name": "Q", "depth": (1, 2)}) == expected
    assert fingerprint(tree, {"name": "Q", "depth": [1, 2]}) == \
        hashlib.sha256(expected.encode()).digest()


def test_fingerprint_ignores_values_insertion_order_and_array_library():
    a = {"x": jnp.zeros((2, 3)), "y": 0.0}
    b = {"y": 5.0, "x": np.ones((2, 3), np.float32)}
    assert fingerprint(a, {"p": 1, "q": 2}) == fingerprint(b, {"q": 2, "p": 1})


def test_fingerprint_is_identical_across_processes(fingerprints_from_two_processes):
    first, second = (out["tree"] for out in fingerprints_from_two_processes)
    assert first == second and len(bytes.fromhex(first)) == 32


BASE = {"q": {"w": jnp.zeros((4, 3)), "b": jnp.zeros(3)}}


@pytest.mark.parametrize("other, static", [
    ({"q": {"w": jnp.zeros((4, 5)), "b": jnp.zeros(3)}}, None),                # width
    ({"q": {"w": jnp.zeros((4, 3)), "b": jnp.zeros(3), "c": jnp.zeros(3)}}, None),  # extra key
    ({"q": {"w": jnp.zeros((4, 3)), "b": jnp.zeros(3)}, "h": {}}, None),       # extra empty node
    ({"q": {"w": jnp.zeros((4, 3), jnp.float16), "b": jnp.zeros(3)}}, None),   # dtype
    ({"q": {"w": jnp.zeros((4, 3)), "b": jnp.zeros(3)}}, {"class": "a.Q"}),    # static
    ({"q": {"w": jnp.zeros((4, 3)), "bias": jnp.zeros(3)}}, None),             # leaf name
    ({"q": [jnp.zeros((4, 3)), jnp.zeros(3)]}, None),                          # container type
], ids=["width", "depth", "empty-node", "dtype", "static", "name", "container"])
def test_fingerprint_changes_with_the_skeleton(other, static):
    assert fingerprint(other, static) != fingerprint(BASE)


def test_fingerprint_distinguishes_key_implementations_and_static_values():
    assert fingerprint(jax.random.key(0)) != fingerprint(jax.random.key(0, impl="rbg"))
    assert fingerprint({}, {"class": "a.Q"}) != fingerprint({}, {"class": "a.V"})
    assert fingerprint({}, {"n": 1}) != fingerprint({}, {"n": 1.0})
    assert fingerprint({}, {"n": 1}) != fingerprint({}, {"n": True})
    assert fingerprint((1,)) != fingerprint([1])


@pytest.mark.parametrize("leaf", ["text", object(), np.array(["a"]), np.array([None])],
                         ids=["str", "object", "unicode-array", "object-array"])
def test_non_array_leaves_are_rejected(leaf):
    with pytest.raises(TypeError, match=r"leaf \['x'\]"):
        fingerprint({"x": leaf})


@pytest.mark.parametrize("static, error", [
    ({"n": {1, 2}}, TypeError), ({1: "a"}, TypeError), ({"n": float("nan")}, ValueError),
    ({"n": np.int64(3)}, TypeError), ([1, 2], TypeError)])
def test_static_must_be_a_json_able_dict(static, error):
    with pytest.raises(error, match="static"):
        describe({}, static)


def test_python_int_too_large_for_int64_is_rejected_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"leaf \['n'\].*int64"):
        save(tmp_path / "big", {"n": 2**70})
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Mismatches.

def test_shape_mismatch_names_the_leaf_and_both_shapes(tmp_path):
    saved = {"q": {"linear": {"w": jnp.zeros((4, 64)), "b": jnp.zeros(64)}}}
    path = save(tmp_path / "q", saved)
    skeleton = {"q": {"linear": {"w": jnp.zeros((4, 32)), "b": jnp.zeros(64)}}}
    with pytest.raises(ValueError) as info:
        load(path, skeleton)
    message = str(info.value)
    assert "leaf ['q']['linear']['w']: saved (4, 64) float32, skeleton (4, 32) float32" in message
    assert "['b']" not in message


def test_static_mismatch_names_the_entry_and_both_values(tmp_path):
    path = save(tmp_path / "q", {"w": jnp.zeros(2)}, static={"n_actions": 2, "net": {"h": [8]}})
    with pytest.raises(ValueError) as info:
        load(path, {"w": jnp.zeros(2)}, static={"n_actions": 3, "net": {"h": [8]}})
    assert "static['n_actions']: saved 2, skeleton 3" in str(info.value)
    assert "net" not in str(info.value)


def test_missing_and_extra_leaves_are_named(tmp_path):
    path = save(tmp_path / "q", {"a": jnp.zeros(2), "b": jnp.zeros(3, jnp.int32)})
    with pytest.raises(ValueError) as info:
        load(path, {"a": jnp.zeros(2), "c": jnp.zeros(())})
    assert "leaf ['b']: saved (3,) int32, skeleton (missing)" in str(info.value)
    assert "leaf ['c']: saved (missing), skeleton () float32" in str(info.value)


def test_structure_only_mismatch_is_named(tmp_path):
    path = save(tmp_path / "q", {"a": jnp.zeros(2), "state": {}})
    with pytest.raises(ValueError, match="tree structure: saved"):
        load(path, {"a": jnp.zeros(2), "state": []})


# ---------------------------------------------------------------------------------------------
# Damaged and foreign files.

def test_every_truncation_is_rejected(tmp_path, small_file):
    data, skeleton = small_file
    path = tmp_path / "cut.cxl"
    for end in range(len(data)):
        path.write_bytes(data[:end])
        with pytest.raises(ValueError):
            load(path, skeleton, static={"n_actions": 2})


def test_every_flipped_bit_is_rejected(tmp_path, small_file):
    data, skeleton = small_file
    path = tmp_path / "flip.cxl"
    for position in range(len(data)):
        for bit in (0, 7):
            damaged = bytearray(data)
            damaged[position] ^= 1 << bit
            path.write_bytes(bytes(damaged))
            with pytest.raises(ValueError):
                load(path, skeleton, static={"n_actions": 2})


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(data=st.data())
def test_any_single_flipped_byte_is_rejected(tmp_path_factory, small_file, data):
    raw, skeleton = small_file
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="mask")
    damaged = bytearray(raw)
    damaged[position] ^= mask
    path = tmp_path_factory.mktemp("flip") / "f.cxl"
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError):
        load(path, skeleton, static={"n_actions": 2})


def test_the_valid_file_itself_loads(tmp_path, small_file):
    data, skeleton = small_file
    (tmp_path / "ok.cxl").write_bytes(data)
    assert_same_tree(load(tmp_path / "ok", skeleton, static={"n_actions": 2}), skeleton)


@pytest.mark.parametrize("content, match", [
    (b"", "empty"),
    (b"CXLK", "not a coaxlike file"),
    (b"\x00" * 200, "not a coaxlike file"),
    (b"\x93NUMPY" + b"\x00" * 200, "not a coaxlike file"),
], ids=["empty", "magic-only", "zeros", "npy"])
def test_foreign_files_are_rejected(tmp_path, content, match):
    (tmp_path / "x.cxl").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load(tmp_path / "x", {"w": jnp.zeros(2)})


def test_wrong_magic_and_unknown_version_are_named(tmp_path, small_file):
    data, skeleton = small_file
    path = tmp_path / "v.cxl"
    path.write_bytes(data[:32] + b"NOPE" + data[36:])
    with pytest.raises(ValueError, match="magic"):
        load(path, skeleton, static={"n_actions": 2})
    path.write_bytes(data[:36] + bytes([2]) + data[37:])
    with pytest.raises(ValueError, match="format version 2.*reads version 1"):
        load(path, skeleton, static={"n_actions": 2})


def test_huge_declared_length_is_rejected_without_allocating(tmp_path, small_file):
    data, skeleton = small_file
    path = tmp_path / "huge.cxl"
    path.write_bytes(data[:37] + struct.pack("<Q", 2**64 - 1) + data[HEAD:])
    with pytest.raises(ValueError, match="declares"):
        load(path, skeleton, static={"n_actions": 2})


def test_a_huge_sparse_file_is_refused_before_its_payload_is_read(tmp_path, small_file):
    """A 1 GiB file (4 KiB on disk) whose head is a valid file's and whose declared payload
    fills it: refused from the head and the skeleton, without reading or hashing the payload."""
    data, skeleton = small_file
    (description_size,) = struct.unpack_from("<Q", data, 37)
    size = 1 << 30
    path = tmp_path / "sparse.cxl"
    path.write_bytes(data[:HEAD + description_size]
                     + struct.pack("<Q", size - 85 - description_size))
    os.truncate(path, size)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"payload holds \d+ bytes, the skeleton's "
                                             r"leaves need 41"):
            load(path, skeleton, static={"n_actions": 2})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes allocated to refuse the file"


def test_another_skeleton_is_refused_without_reading_the_payload(tmp_path, monkeypatch):
    path = save(tmp_path / "q", {"w": jnp.zeros(1000)})
    reads = []
    monkeypatch.setattr(_reading, "_read_leaves", lambda *args: reads.append(args))
    with pytest.raises(ValueError, match=r"leaf \['w'\]: saved \(1000,\) float32"):
        load(path, {"w": jnp.zeros(999)})
    assert reads == []


def _file_with_description(description: bytes) -> bytes:
    """A file whose fingerprint is that of ``description`` and whose payload is empty."""
    body = (hashlib.sha256(description).digest() + b"CXLK\x01"
            + struct.pack("<Q", len(description)) + description + struct.pack("<Q", 0))
    return body + hashlib.sha256(body).digest()


@pytest.mark.parametrize("depth", [990, 5000, 100_000])
def test_a_deeply_nested_description_is_refused_with_a_value_error(tmp_path, depth):
    nested = b'{"leaves":[],"static":' + b'{"a":' * depth + b"1" + b"}" * depth \
        + b',"structure":"*"}'
    (tmp_path / "deep.cxl").write_bytes(_file_with_description(nested))
    with pytest.raises(ValueError, match="saved from a different structure"):
        load(tmp_path / "deep", {"w": jnp.zeros(2)})
    (tmp_path / "deep.cxl").write_bytes(_file_with_description(b"[" * depth + b"]" * depth))
    with pytest.raises(ValueError, match="not one this version of coaxlike can read"):
        load(tmp_path / "deep", {"w": jnp.zeros(2)})


def test_file_saved_with_another_static_is_rejected(tmp_path):
    path = save(tmp_path / "q", {"w": jnp.zeros(2)}, static={"class": "coaxlike.Q"})
    with pytest.raises(ValueError, match=r"static\['class'\]: saved 'coaxlike.Q', skeleton 'x.V'"):
        load(path, {"w": jnp.zeros(2)}, static={"class": "x.V"})


class _Trap:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_loading_never_executes_a_pickle(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Trap(str(marker)))
    path = tmp_path / "evil.cxl"
    path.write_bytes(payload)
    with pytest.raises(ValueError):
        load(path, {"w": jnp.zeros(2)})
    # The pickle inside well-formed framing, checksum and all, is still only bytes.
    path.write_bytes(well_framed({"w": jnp.zeros(2)}, payload))
    with pytest.raises(ValueError, match="payload"):
        load(path, {"w": jnp.zeros(2)})
    assert not marker.exists()


def test_boolean_bytes_other_than_zero_and_one_are_rejected(tmp_path):
    skeleton = {"m": jnp.zeros(2, bool)}
    (tmp_path / "b.cxl").write_bytes(well_framed(skeleton, b"\x01\x00"))
    np.testing.assert_array_equal(load(tmp_path / "b", skeleton)["m"], [True, False])
    (tmp_path / "b.cxl").write_bytes(well_framed(skeleton, b"\x01\x02"))
    with pytest.raises(ValueError, match="boolean"):
        load(tmp_path / "b", skeleton)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_a_named_pipe_is_rejected_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.cxl")
    with pytest.raises(ValueError, match="not a regular file"):
        load(tmp_path / "pipe", {})


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing", {})


# ---------------------------------------------------------------------------------------------
# Atomic writes.

class Boom(Exception):
    pass


def _fail_after(n, real):
    calls = []

    def fake(*args, **kwargs):
        calls.append(args)
        if len(calls) > n:
            raise Boom("simulated failure")
        return real(*args, **kwargs)
    return fake


@pytest.mark.parametrize("target, after", [
    ("fsync", 0), ("replace", 0), ("leaf_bytes", 1)])
def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch,
                                                                   target, after):
    old = {"a": jnp.ones(3), "b": jnp.full(4, 2.0)}
    path = save(tmp_path / "model", old)
    if target == "leaf_bytes":
        monkeypatch.setattr(_file, "_leaf_bytes", _fail_after(after, _file._leaf_bytes))
    else:
        monkeypatch.setattr(os, target, _fail_after(after, getattr(os, target)))
    with pytest.raises(Boom):
        save(tmp_path / "model", {"a": jnp.zeros(3), "b": jnp.zeros(4)})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.cxl"]
    assert_same_tree(load(path, old), old)


def test_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", _fail_after(0, os.fsync))
    with pytest.raises(Boom):
        save(tmp_path / "model", {"a": jnp.ones(3)})
    assert os.listdir(tmp_path) == []


def test_save_overwrites_and_respects_the_umask(tmp_path):
    save(tmp_path / "m", {"a": jnp.zeros(2)})
    save(tmp_path / "m", {"a": jnp.ones(2)})
    assert os.listdir(tmp_path) == ["m.cxl"]
    np.testing.assert_array_equal(load(tmp_path / "m", {"a": jnp.zeros(2)})["a"], [1.0, 1.0])
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "m.cxl").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_saving_over_a_file_keeps_its_permissions(tmp_path, mode):
    path = save(tmp_path / "m", {"a": jnp.zeros(2)})
    os.chmod(path, mode)
    save(tmp_path / "m", {"a": jnp.ones(2)})
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    np.testing.assert_array_equal(load(path, {"a": jnp.zeros(2)})["a"], [1.0, 1.0])


# ---------------------------------------------------------------------------------------------
# File names.

@pytest.mark.parametrize("ending", [os.sep, os.sep + os.sep])
def test_a_directory_path_is_refused_before_anything_is_written(tmp_path, ending):
    runs = tmp_path / "runs"
    runs.mkdir()
    for suffix in (".cxl", None):
        with pytest.raises(ValueError, match="path must name a file, got .*names a directory"):
            save(str(runs) + ending, {"a": 1.0}, suffix=suffix)
        with pytest.raises(ValueError, match="path must name a file"):
            load(str(runs) + ending, {"a": 1.0}, suffix=suffix)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        save(runs, {"a": 1.0}, suffix=None)
    assert os.listdir(runs) == [] and os.listdir(tmp_path) == ["runs"]


@pytest.mark.parametrize("given, suffix, written", [
    ("model", ".cxl", "model.cxl"),
    ("model.cxl", ".cxl", "model.cxl"),
    ("model", None, "model"),
    ("model", "", "model"),
    ("model.cxl", None, "model.cxl"),
    ("model", ".bin", "model.bin"),
])
def test_suffix_is_appended_once_or_not_at_all(tmp_path, given, suffix, written):
    returned = save(tmp_path / given, {"a": 1.0}, suffix=suffix)
    assert os.listdir(tmp_path) == [written] and returned == str(tmp_path / written)
    assert load(tmp_path / given, {"a": 0.0}, suffix=suffix) == {"a": 1.0}


def test_suffix_must_be_a_string():
    with pytest.raises(TypeError, match="suffix"):
        save("model", {}, suffix=1)


# ---------------------------------------------------------------------------------------------
# Objects.

class Learner:
    """A minimal object implementing the serialization protocol."""

    def __init__(self, width, static_extra=None):
        self.width = width
        self.static_extra = static_extra or {}
        self.params = {"w": jnp.zeros((2, width))}
        self.key = jax.random.key(0)
        self.restored = 0

    def _serial_static(self):
        return {"width": self.width, **self.static_extra}

    def _serial_tree(self):
        return {"params": self.params, "key": self.key}

    def _serial_restore(self, tree):
        self.params, self.key = tree["params"], tree["key"]
        self.restored += 1


class OtherLearner(Learner):
    pass


def test_object_round_trip(tmp_path):
    trained = Learner(3)
    trained.params = {"w": jnp.arange(6.0).reshape(2, 3)}
    trained.key = jax.random.key(9)
    path = save_object(tmp_path / "learner", trained)
    fresh = Learner(3)
    assert load_object(path, fresh) is None
    assert fresh.restored == 1
    assert_same_tree(fresh._serial_tree(), trained._serial_tree())


@pytest.mark.parametrize("make, match", [
    (lambda: OtherLearner(3), r"static\['type'\]: saved '.*\.Learner', skeleton '.*OtherLearner'"),
    (lambda: Learner(4), r"static\['width'\]: saved 3, skeleton 4"),
    (lambda: Learner(3, {"gamma": 0.9}), r"static\['gamma'\]: saved \(missing\), skeleton 0.9"),
])
def test_object_mismatch_is_explained_and_nothing_is_restored(tmp_path, make, match):
    path = save_object(tmp_path / "learner", Learner(3))
    other = make()
    with pytest.raises(ValueError, match=match):
        load_object(path, other)
    assert other.restored == 0


def test_damaged_object_file_restores_nothing(tmp_path):
    path = Path(save_object(tmp_path / "learner", Learner(3)))
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF
    path.write_bytes(bytes(data))
    fresh = Learner(3)
    with pytest.raises(ValueError, match="checksum"):
        load_object(path, fresh)
    assert fresh.restored == 0


def test_object_fingerprint_includes_the_qualified_class_name(tmp_path):
    path = save_object(tmp_path / "learner", Learner(3))
    static = {"type": f"{__name__}.Learner", "width": 3}
    assert isinstance(load(path, Learner(3)._serial_tree(), static=static), dict)


def test_objects_without_the_protocol_or_with_reserved_keys_are_rejected(tmp_path):
    with pytest.raises(TypeError, match="_serial_static"):
        save_object(tmp_path / "x", object())
    with pytest.raises(ValueError, match="'type'"):
        save_object(tmp_path / "x", Learner(3, {"type": "mine"}))
    assert os.listdir(tmp_path) == []


def test_public_api():
    assert sorted(serialization.__all__) == sorted(
        ["save", "load", "fingerprint", "describe", "save_object", "load_object"])
    for name in serialization.__all__:
        assert getattr(serialization, name).__doc__
