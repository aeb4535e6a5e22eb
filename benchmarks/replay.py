"""Replay memory and speed: bytes per Atari transition, CartPole add/sample against a floor.

    python -m benchmarks.replay                         # CartPole speed + Atari memory at 100k
    python -m benchmarks.replay --capacity 1000000      # the issue's figure (~7.5 GB free)
    python -m benchmarks.replay --only speed --quick
    python -m benchmarks.run --only replay,atari [--quick]

Memory (``--only memory``, measured first): a stream of 4x84x84 ``uint8`` frame stacks
(FrameStacking's tuple of frames, random frames, episodes of 1000 steps) goes through
``NStep(n=1)`` into a
``SimpleReplayBuffer(capacity)``. The figure is the process's resident memory after
``--adds`` transitions minus before the buffer was built, with every page of the
preallocated arrays touched first (so: preallocated bytes + whatever else the process
holds), divided by the capacity; beside it the buffer's own ``nbytes / capacity``, the dense
layout's bytes per transition (``lean=False``, measured at a small capacity) and the floor of
one 84x84 frame per step (7056 bytes).

Speed (``--only speed``): CartPole-sized transitions (4 float32 observations, ``n = 3``), a
full buffer of 50k; ``buffer.sample(64)`` and ``buffer.add(tracer.pop())`` (B = 4) against a
hand-written floor: one preallocated numpy array per field, ``rng.integers`` and one
``take`` per field, no checks (what the buffer did before frames were pooled). ABBA blocks,
median ratio.
"""
import argparse
import gc
import time

import numpy as np

from coaxlike.experience_replay import SimpleReplayBuffer
from coaxlike.reward_tracing import NStep, TransitionBatch

from . import _timing

FRAME = (84, 84)


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def atari_stream(num, k=4, episode=1000, seed=0):
    """``num`` transitions (B = 1) of k-frame tuples from random 84x84 frames, via NStep."""
    rng = np.random.default_rng(seed)
    tracer, emitted, t = NStep(1, 0.99), 0, 0
    frames = [rng.integers(0, 256, FRAME, dtype=np.uint8)] * k
    while emitted < num:
        s = tuple(frames)
        frames = frames[1:] + [rng.integers(0, 256, FRAME, dtype=np.uint8)]
        t += 1
        done = t % episode == 0
        tracer.add(s, int(rng.integers(6)), 1.0, done)
        if done:
            frames = [rng.integers(0, 256, FRAME, dtype=np.uint8)] * k
        while tracer and emitted < num:
            emitted += 1
            yield tracer.pop()


def memory(capacity, adds):
    dense = SimpleReplayBuffer(1000, lean=False)
    for tb in atari_stream(1):
        dense.add(tb)
    dense_per = dense.nbytes / dense.capacity
    gc.collect()
    before = rss_bytes()
    buffer = SimpleReplayBuffer(capacity, random_seed=0)
    stream = atari_stream(adds)
    buffer.add(next(stream))
    storage = buffer._storage
    for x in [*storage._dense.values(), *storage._frame_idx, storage._keys,
              *(p.frames for p in storage._pools)]:
        x[...] = 0  # touch every page: the whole preallocation is resident from here on
    t0 = time.perf_counter()
    for tb in stream:
        buffer.add(tb)
    seconds = time.perf_counter() - t0
    gc.collect()
    held = rss_bytes() - before
    return {"capacity": capacity, "adds": adds, "len": len(buffer),
            "bytes_per_transition": held / capacity,
            "nbytes_per_transition": buffer.nbytes / capacity,
            "dense_bytes_per_transition": dense_per, "floor_bytes_per_transition": 7056,
            "stream_and_add_us": seconds / (adds - 1) * 1e6,
            "evicted_early": storage.evicted_early}


class _Floor:
    """Hand-written dense storage: preallocated arrays, integer draws and one take each."""

    def __init__(self, capacity, example, seed):
        import jax
        leaves, self.treedef = jax.tree_util.tree_flatten(example._replace(W=None, idx=None))
        self.leaves = [np.zeros((capacity, *x.shape[1:]), x.dtype) for x in leaves]
        self.capacity, self.size, self.position = capacity, 0, 0
        self.rng = np.random.default_rng(seed)

    def add(self, batch):
        import jax
        leaves = jax.tree_util.tree_leaves(batch._replace(W=None, idx=None))
        idx = (self.position + np.arange(len(batch.A))) % self.capacity
        for store, x in zip(self.leaves, leaves):
            store[idx] = x
        self.position = (self.position + len(idx)) % self.capacity
        self.size = min(self.size + len(idx), self.capacity)

    def sample(self, batch_size):
        idx = self.rng.integers(0, self.size, size=batch_size)
        rows = self.treedef.unflatten([x.take(idx, axis=0) for x in self.leaves])
        return rows._replace(W=np.ones(batch_size, np.float32), idx=idx.astype(np.int32))


def cartpole_batches(num, num_envs=4, seed=0):
    rng = np.random.default_rng(seed)
    tracer, out = NStep(3, 0.99, num_envs=num_envs), []
    while len(out) < num:
        tracer.add(rng.normal(size=(num_envs, 4)).astype(np.float32),
                   rng.integers(2, size=num_envs), np.ones(num_envs),
                   rng.random(num_envs) < 0.05, -np.abs(rng.normal(size=num_envs)))
        while tracer:
            out.append(tracer.pop())
    return out


def speed(quick):
    batches = [tb for tb in cartpole_batches(2000) if tb.batch_size == 4]
    assert isinstance(batches[0], TransitionBatch)
    ours, floor = SimpleReplayBuffer(50_000, random_seed=0), _Floor(50_000, batches[0], 0)
    for _ in range(50_000 // (4 * len(batches)) + 1):
        for tb in batches:
            ours.add(tb)
            floor.add(tb)
    blocks, calls = (4, 200) if quick else (20, 1000)
    rows = [dict(name="CartPole sample(64), 50k stored",
                 **_timing.compare(lambda: ours.sample(64), lambda: floor.sample(64),
                                   blocks=blocks, calls=calls))]
    it_ours, it_floor = iter(batches * 1000), iter(batches * 1000)
    rows.append(dict(name="CartPole add(B=4 n-step rows)",
                     **_timing.compare(lambda: ours.add(next(it_ours)),
                                       lambda: floor.add(next(it_floor)),
                                       blocks=blocks, calls=calls // 4)))
    return rows


def format_table(result):
    """The figures as printed lines (memory first, then the speed rows)."""
    lines = []
    m = result.get("memory")
    if m:
        lines.append(f"Atari 4x84x84 uint8, capacity {m['capacity']}, after {m['adds']} adds: "
                     f"{m['bytes_per_transition']:.0f} bytes/transition measured (RSS), "
                     f"{m['nbytes_per_transition']:.0f} preallocated; floor (one 84x84 frame "
                     f"per step) {m['floor_bytes_per_transition']}, ratio "
                     f"{m['bytes_per_transition'] / m['floor_bytes_per_transition']:.3f}; dense "
                     f"{m['dense_bytes_per_transition']:.0f}; {m['stream_and_add_us']:.0f} us "
                     f"per step (tracer + add)")
    for row in result.get("speed", []):
        lines.append(f"{row['name']:36s} ours {row['us']:8.1f} us  dense floor "
                     f"{row['floor_us']:8.1f} us  ratio {row['ratio']:.2f} (IQR "
                     f"{row['ratio_iqr'][0]:.2f}-{row['ratio_iqr'][1]:.2f})")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["memory", "speed"], default=None)
    p.add_argument("--capacity", type=int, default=None,
                   help="memory test capacity (default 100000; --quick: 20000)")
    p.add_argument("--adds", type=int, default=100_000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default=None, help="write results here ('-': stdout only)")
    args = p.parse_args(argv)
    result = {"benchmark": "replay", "quick": args.quick, "environment": _timing.environment()}
    if args.only in (None, "memory"):
        capacity = args.capacity or (20_000 if args.quick else 100_000)
        adds = min(args.adds, 5_000, capacity) if args.quick else min(args.adds, capacity)
        result["memory"] = memory(capacity, adds)
    if args.only in (None, "speed"):
        result["speed"] = speed(args.quick)
    _timing.emit(result, args, None, format_table)
    return result


if __name__ == "__main__":
    main()
