"""Frames stored once: lean buffers return exactly what dense storage returns.

Streams of stacked frames (coax-style tuples of frames, as FrameStacking emits) go through
the NStep tracer, single env and vector env (NEXT_STEP autoreset), with short episodes that
end by termination or truncation; the same transitions go into a lean buffer and a dense one
(``lean=False``) with the same seed, and every sampled batch must be equal field by field.
"""
import collections

import jax
import numpy as np
import pytest

from coaxlike.experience_replay import (PrioritizedReplayBuffer, PytreeReplayBuffer,
                                       SimpleReplayBuffer)
from coaxlike.experience_replay import _checks
from coaxlike.reward_tracing import NStep, TransitionBatch

FRAME = (16, 32)  # 512 bytes of uint8: the smallest frame that is pooled


class FakeStackedEnv:
    """Frames (random, sometimes repeating a recent one) stacked k at a time, coax style."""

    def __init__(self, rng, k, extra=False, stacked_array=False):
        self.rng, self.k, self.extra, self.stacked_array = rng, k, extra, stacked_array
        self.recent = collections.deque(maxlen=8)

    def _frame(self):
        if self.recent and self.rng.random() < 0.2:  # an exact repeat of a recent frame
            return self.recent[self.rng.integers(len(self.recent))].copy()
        frame = self.rng.integers(0, 256, FRAME, dtype=np.uint8)
        self.recent.append(frame)
        return frame

    def _obs(self):
        frames = tuple(f.copy() for f in self.frames)
        obs = np.stack(frames) if self.stacked_array else frames
        if self.extra:
            return {"frames": obs, "x": self.rng.normal(size=3).astype(np.float32)}
        return obs

    def reset(self):
        frame = self._frame()
        self.frames = collections.deque([frame] * self.k, maxlen=self.k)
        self.t, self.length = 0, int(self.rng.integers(1, 7))
        return self._obs()

    def step(self):
        self.frames.append(self._frame())
        self.t += 1
        ended = self.t >= self.length
        truncated = ended and self.rng.random() < 0.5
        return self._obs(), float(self.rng.normal()), ended and not truncated, truncated


def single_env_stream(seed, steps, n, k, **kwargs):
    """TransitionBatches (B = 1) from one env, as ``buffer.add(tracer.pop())`` sees them."""
    rng = np.random.default_rng(seed)
    env, tracer = FakeStackedEnv(rng, k, **kwargs), NStep(n, 0.9)
    s = env.reset()
    for _ in range(steps):
        a = int(rng.integers(3))
        s_next, r, terminated, truncated = env.step()
        logp = -abs(float(rng.normal()))
        tracer.add(s, a, r, terminated or truncated, logp, truncated=truncated,
                   s_next=s_next if truncated or (terminated and rng.random() < 0.5) else None)
        while tracer:
            yield tracer.pop()
        s = env.reset() if terminated or truncated else s_next


def vector_env_stream(seed, steps, n, k, num_envs=3):
    """TransitionBatches from a vector env in NEXT_STEP autoreset mode."""
    rng = np.random.default_rng(seed)
    envs = [FakeStackedEnv(rng, k) for _ in range(num_envs)]
    tracer = NStep(n, 0.9, num_envs=num_envs)
    obs = [env.reset() for env in envs]
    ended = [False] * num_envs
    for _ in range(steps):
        a = rng.integers(3, size=num_envs)
        s = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *obs)
        results = []
        for i, env in enumerate(envs):
            if ended[i]:  # autoreset step: the env ignores the action
                results.append((env.reset(), 0.0, False, False))
            else:
                results.append(env.step())
        done = np.array([r[2] or r[3] for r in results])
        truncated = np.array([r[3] for r in results])
        tracer.add(s, a, np.array([r[1] for r in results]), done,
                   -np.abs(rng.normal(size=num_envs)), truncated=truncated)
        while tracer:
            yield tracer.pop()
        obs, ended = [r[0] for r in results], list(done)


def assert_batches_equal(lean, dense):
    leaves_l, def_l = jax.tree_util.tree_flatten_with_path(lean)
    leaves_d, def_d = jax.tree_util.tree_flatten_with_path(dense)
    assert def_l == def_d
    for (path, x), (_, y) in zip(leaves_l, leaves_d):
        assert x.dtype == y.dtype and x.shape == y.shape, jax.tree_util.keystr(path)
        np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))


def feed_and_compare(stream, cls, capacity, sample_every=7, **kwargs):
    lean = cls(capacity, random_seed=11, **kwargs)
    dense = cls(capacity, random_seed=11, lean=False, **kwargs)
    count = 0
    for i, tb in enumerate(stream):
        lean.add(tb)
        dense.add(tb)
        count += tb.batch_size
        assert len(lean) == len(dense) == min(count, capacity)
        if i % sample_every == 0:
            a, b = lean.sample(min(5, len(lean))), dense.sample(min(5, len(dense)))
            assert_batches_equal(a, b)
            if cls is PrioritizedReplayBuffer:
                td = np.random.default_rng(i).normal(size=len(a.idx))
                lean.update(a.idx, td)
                dense.update(b.idx, td)
    assert lean._storage._pools, "the frames were not pooled"
    return lean, dense


@pytest.mark.parametrize("cls", [SimpleReplayBuffer, PrioritizedReplayBuffer])
@pytest.mark.parametrize("n, k", [(1, 4), (3, 2), (2, 1)])
def test_lean_equals_dense_single_env(cls, n, k):
    lean, dense = feed_and_compare(single_env_stream(n * 10 + k, 600, n, k), cls, 150)
    # at most one new frame per step plus one per episode (mean length 3.5), where dense
    # storage writes (n + 3) k frames per step
    assert lean._storage._pools[0].count <= 600 * (1 + 1 / 3)


@pytest.mark.parametrize("n", [1, 3])
def test_lean_equals_dense_vector_env(n):
    feed_and_compare(vector_env_stream(n, 300, n, 4), SimpleReplayBuffer, 200)


def test_lean_equals_dense_dict_and_stacked_array_observations():
    feed_and_compare(single_env_stream(5, 300, 2, 3, extra=True), PrioritizedReplayBuffer, 64)
    feed_and_compare(single_env_stream(6, 300, 1, 4, stacked_array=True),
                     SimpleReplayBuffer, 64)


def test_frames_are_stored_once_per_step():
    buffer = SimpleReplayBuffer(1000, random_seed=0)
    for tb in single_env_stream(0, 300, 1, 4):
        buffer.add(tb)
    pool = buffer._storage._pools[0]
    # distinct frames: at most one per step and one per reset (repeats are shared)
    assert pool.count <= 300 + 300 // 1
    frames = np.unique(pool.frames[:pool.count].reshape(pool.count, -1), axis=0)
    assert len(frames) == pool.count  # never two copies of one frame


def test_small_observations_stay_dense():
    buffer = SimpleReplayBuffer(10)
    buffer.add(TransitionBatch.from_one_step(np.zeros((2, 4)), np.array([0, 1]), np.ones(2),
                                             np.ones(2), np.ones((2, 4))))
    assert not buffer._storage._pools


def test_unrelated_transitions_overflow_the_frame_ring_and_evict_the_oldest():
    rng = np.random.default_rng(0)

    def batch(i):
        frames = rng.integers(0, 256, (2, 1, *FRAME), dtype=np.uint8)  # S and S_next: new
        return TransitionBatch.from_one_step(frames[0], np.array([i]), np.array([float(i)]),
                                             np.ones(1), frames[1])

    lean = PrioritizedReplayBuffer(10, random_seed=0, frame_capacity=12)
    dense = PrioritizedReplayBuffer(10, random_seed=0, lean=False)
    batches = [batch(i) for i in range(9)]
    lean.add(batches[0])
    dense.add(batches[0])
    with pytest.warns(RuntimeWarning, match="frame ring"):
        for tb in batches[1:]:
            lean.add(tb)
            dense.add(tb)
    # 12 frames hold the 6 newest transitions; the older ones were dropped, priority 0
    assert len(lean) == 6 and len(dense) == 9
    np.testing.assert_array_equal(lean.priorities(np.arange(3)), 0.0)
    for _ in range(20):
        tb = lean.sample(6)
        assert set(tb.A.tolist()) <= set(range(3, 9))
        rows = dense._storage.gather(tb.idx, tb.W)
        assert_batches_equal(tb, rows)
    lean.update(np.array([0, 4]), np.array([5.0, 5.0]))  # slot 0 was dropped: skipped
    assert lean.priorities(np.array([0]))[0] == 0.0 and lean.priorities(np.array([4]))[0] > 5


def test_a_capacity_that_does_not_fit_fails_on_allocation(monkeypatch):
    monkeypatch.setattr(_checks, "available_memory", lambda: 10 ** 5)
    buffer = SimpleReplayBuffer(1000)
    tb = next(single_env_stream(0, 10, 1, 4))
    with pytest.raises(MemoryError, match=r"capacity=1000 needs .* GiB .* only 0.00 GiB"):
        buffer.add(tb)
    assert len(buffer) == 0 and buffer.nbytes == 0
    monkeypatch.undo()
    buffer.add(tb)  # the failed allocation left the buffer usable
    assert len(buffer) == 1


# --- the in-graph buffer ---------------------------------------------------------------------

def feed_pytree_and_compare(stream, capacity, sample_every=7, **kwargs):
    """Lean and dense PytreeReplayBuffers fed the same batches (jitted add) and sampled with
    the same keys: equal sizes and equal batches, field by field."""
    batches = list(stream)
    lean, dense = PytreeReplayBuffer(capacity, **kwargs), PytreeReplayBuffer(capacity,
                                                                             lean=False)
    state_l, state_d = lean.init(batches[0]), dense.init(batches[0])
    assert state_l.frames is not None and state_d.frames is None
    add_l, add_d = jax.jit(lean.add), jax.jit(dense.add)
    sample = jax.jit(PytreeReplayBuffer.sample, static_argnums=2)
    key = jax.random.key(0)
    for i, tb in enumerate(batches):
        state_l, state_d = add_l(state_l, tb), add_d(state_d, tb)
        assert int(state_l.size) == int(state_d.size)
        if i % sample_every == 0:
            key, k = jax.random.split(key)
            assert_batches_equal(*(jax.tree_util.tree_map(np.asarray, sample(s, k, 5))
                                   for s in (state_l, state_d)))
    return state_l, state_d


@pytest.mark.slow  # compiles the lean add for each batch size: tens of seconds
@pytest.mark.parametrize("n, k", [(1, 4), (3, 2)])
def test_pytree_lean_equals_dense_single_env(n, k):
    state, _ = feed_pytree_and_compare(single_env_stream(n * 10 + k, 400, n, k), 150)
    # about one new frame per step plus one per episode (mean length 3.5)
    assert int(state.frames.count[0]) <= 400 * (1 + 1 / 3)


@pytest.mark.slow  # compiles the lean add for each batch size: tens of seconds
def test_pytree_lean_equals_dense_vector_env():
    state, _ = feed_pytree_and_compare(vector_env_stream(3, 150, 3, 4), 100)
    assert int(state.frames.count[0]) <= 3 * 150 * (1 + 1 / 3)


@pytest.mark.slow  # compiles the lean add: seconds
def test_pytree_frame_ring_overflow_drops_the_oldest_rows():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (9, 2, 1, *FRAME), dtype=np.uint8)  # unrelated transitions
    batches = [TransitionBatch.from_one_step(f[0], np.array([i]), np.array([float(i)]),
                                             np.ones(1), f[1]) for i, f in enumerate(frames)]
    lean = PytreeReplayBuffer(10, frame_capacity=12)
    state = lean.init(batches[0])
    add = jax.jit(lean.add)
    for tb in batches:
        state = add(state, tb)
    # 12 frames hold the 6 newest transitions (S_seq, S_next, S: 2 distinct frames each)
    assert int(state.size) == 6
    tb = jax.tree_util.tree_map(np.asarray, lean.sample(state, jax.random.key(1), 50))
    assert set(tb.A.tolist()) == set(range(3, 9))
    np.testing.assert_array_equal(tb.S, frames[tb.A, 0, 0])
    np.testing.assert_array_equal(tb.S_next, frames[tb.A, 1, 0])


def test_pytree_layout_pools_frames_and_keeps_small_leaves_dense():
    tb = next(single_env_stream(0, 5, 3, 2, extra=True))
    state = PytreeReplayBuffer(20).init(tb)
    assert [f.shape for f in state.frames.frames] == [(20 + 256, *FRAME)]
    assert state.storage.S["frames"][0].times.shape == (20,)
    assert state.storage.S_seq["frames"][1].times.shape == (20, 4)
    assert state.storage.S["x"].shape == (20, 3)  # 12 bytes a row: dense
    assert PytreeReplayBuffer(20, lean=False).init(tb).frames is None
    with pytest.raises(ValueError, match="window must be an int >= 1, got 0"):
        PytreeReplayBuffer(20, window=0)
    with pytest.raises(ValueError, match="frame_capacity must be an int >= 1"):
        PytreeReplayBuffer(20, frame_capacity=0)
