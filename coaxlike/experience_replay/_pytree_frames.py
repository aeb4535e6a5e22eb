"""Frames stored once inside compiled code: the in-graph counterpart of FramePool.

Pure functions over JAX arrays. A pooled observation leaf of the storage is a
:class:`FrameIndex` (the int32 *times* of its frames, with the pool number and frame
shape as static data); the frames live in :class:`FramePools`, one ring of frames per frame
shape and dtype. Inserting a frame looks for an equal one among the last ``window`` frames of
its pool: a fingerprint (a weighted sum of the frame's bytes, wrapping uint32 arithmetic)
picks the newest candidate and a byte-for-byte comparison confirms it, so sharing is
verified, never assumed; otherwise the frame is written at time ``count`` (slot
``count % frame_capacity``).
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..typing import Array

__all__ = []  # private module


@jax.tree_util.register_pytree_node_class
class FrameIndex:
    """Stands in the storage for a pooled observation leaf: ``times`` ``(capacity, *lead)``
    int32 (``lead`` is ``()`` for ``S``/``S_next`` and ``(n + 1,)`` for ``S_seq``); static:
    the pool number, the frame shape and the frame dtype."""

    def __init__(self, times, pool: int, frame_shape: tuple, dtype: str):
        self.times, self.pool = times, pool
        self.frame_shape, self.dtype = tuple(frame_shape), dtype

    @property
    def shape(self):
        """The shape of the dense leaf it stands for (for row checks)."""
        return (*self.times.shape, *self.frame_shape)

    def tree_flatten(self):
        return (self.times,), (self.pool, self.frame_shape, self.dtype)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0], *aux)


class FramePools(NamedTuple):
    """The frame rings of a lean in-graph buffer (one entry per pool).

    Attributes:
        frames: per pool ``(frame_capacity, *frame_shape)`` frames.
        fingerprints: per pool ``(frame_capacity,)`` uint32 fingerprints of the stored frames.
        count: per pool, int32 scalar: the time of the next frame written.
        keys: ``(capacity, pools)`` int32: per row and pool, the time of its oldest frame; a
            row is valid while every key is at least ``count - frame_capacity``.
    """

    frames: tuple
    fingerprints: tuple
    count: tuple
    keys: Array


def is_index(x) -> bool:
    return isinstance(x, FrameIndex)


def _bytes(frames: Array) -> Array:
    """``(m, nbytes)`` uint8 view of ``(m, *frame_shape)`` frames."""
    if frames.dtype == jnp.bool_:
        frames = frames.astype(jnp.uint8)
    if frames.dtype.itemsize > 1:
        frames = jax.lax.bitcast_convert_type(frames, jnp.uint8)
    return frames.reshape(frames.shape[0], -1)


def _fingerprints(frames: Array) -> Array:
    """``(m,)`` uint32 fingerprints: a weighted sum of each frame's bytes (mod 2**32)."""
    data = _bytes(frames)
    weights = np.random.default_rng(0x5EED).integers(1, 2 ** 32, data.shape[1],
                                                     dtype=np.uint32) | np.uint32(1)
    return (data.astype(jnp.uint32) * jnp.asarray(weights)[None]).sum(axis=1, dtype=jnp.uint32)


def insert(frames: Array, fingerprints: Array, count: Array, new: Array, window: int):
    """Insert ``new`` ``(m, *frame_shape)`` frames in order; return the updated ring and the
    ``(m,)`` int32 time of each (an equal frame among the last ``window`` is reused).

    Returns:
        ``(frames, fingerprints, count, times)``.
    """
    capacity = frames.shape[0]
    back = jnp.arange(window, dtype=jnp.int32)

    def step(carry, x):
        frames, fps, count = carry
        frame, fp = x
        slots = (count - 1 - back) % capacity          # newest first
        match = (back < jnp.minimum(count, window)) & (fps[slots] == fp)
        j = jnp.argmax(match)
        same = match[j] & jnp.all(_bytes(frames[slots[j]][None]) == _bytes(frame[None]))
        # an equal frame is rewritten onto itself: one in-place write either way
        slot = jnp.where(same, slots[j], count % capacity)
        frames = jax.lax.dynamic_update_index_in_dim(frames, frame, slot, 0)
        fps = fps.at[slot].set(fp)
        time = jnp.where(same, count - 1 - j, count)
        return (frames, fps, count + jnp.where(same, 0, 1)), time

    (frames, fingerprints, count), times = jax.lax.scan(
        step, (frames, fingerprints, count), (new, _fingerprints(new)))
    return frames, fingerprints, count, times


def gather(frames: Array, times: Array) -> Array:
    """The frames at ``times`` (any shape): ``(*times.shape, *frame_shape)``."""
    return frames[times % frames.shape[0]]


def valid_size(keys: Array, count: tuple, frame_capacity: int, position: Array,
               size: Array) -> Array:
    """The number of newest rows whose frames are all still in their rings.

    Rows older than the newest row with an overwritten frame are dropped too, so the valid
    rows stay the ``size`` slots before ``position`` (as in the host buffers).
    """
    capacity = keys.shape[0]
    oldest = jnp.stack(count) - frame_capacity                      # (pools,)
    ring = jnp.arange(capacity, dtype=jnp.int32)                     # 0: the oldest row
    slots = (position - size + ring) % capacity
    lost = (ring < size) & jnp.any(keys[slots] < oldest[None], axis=1)
    last_lost = jnp.max(jnp.where(lost, ring, -1))
    return size - (last_lost + 1)
