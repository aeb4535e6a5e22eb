"""Reward tracing on the host: NStep per env step, and what TransitionBatch costs as a pytree.

Rows:

* ``NStep single env``: ``tracer.add(s, a, r, done, logp)`` then ``while tracer: pop()`` per
  step (CartPole-shaped observations, n = 3, episodes of 200 steps), against a hand-written
  floor: a ``collections.deque`` n-step tracer in plain Python/numpy that emits ``S, A, Rn,
  In, S_next, A_next`` and validates nothing (no window fields, masks, truncation or checks);
* ``NStep vector env k=8``: the same per vector step with ``num_envs=8``, against the floor
  run for each of the 8 sub-envs (what one writes by hand without a vectorised tracer);
* ``TransitionBatch jit call`` / ``tree_map`` / ``flatten``: a jitted function taking a
  batch of 32 rows, ``jax.tree_util.tree_map`` and ``tree_flatten`` over it, against a
  ``NamedTuple`` with the same fields (what ``TransitionBatch`` was before it became a
  mutable class with coax's attributes).

    python -m benchmarks.tracing [--sync] [--quick] [--json PATH] [--filter TEXT]
"""
from collections import deque

from . import _timing

TITLE = "Reward tracing: NStep per step, TransitionBatch as a pytree"


class DequeFloor:
    """A minimal n-step tracer by hand: one env, no validation, one-step view only."""

    def __init__(self, n, gamma):
        self.n, self.gamma = n, gamma
        self.steps, self.done, self.out = deque(), False, []

    def add(self, s, a, r, done):
        import numpy as np
        self.steps.append((s, a, r))
        self.done = done
        while self.steps and (self.done or len(self.steps) > self.n):
            s0, a0, _ = self.steps[0]
            window = list(self.steps)[:self.n]
            rn = sum(self.gamma ** k * x[2] for k, x in enumerate(window))
            if len(self.steps) > self.n:
                s1, a1, _ = self.steps[self.n]
                i_n = self.gamma ** self.n
            else:
                s1, a1, i_n = s0, a0, 0.0
            self.out.append({"S": np.asarray(s0)[None], "A": np.array([a0]),
                             "Rn": np.array([rn], np.float32),
                             "In": np.array([i_n], np.float32),
                             "S_next": np.asarray(s1)[None], "A_next": np.array([a1])})
            self.steps.popleft()
        out, self.out = self.out, []
        return out


def _tracer_rows(quick, only):
    import numpy as np

    from coaxlike.reward_tracing import NStep

    n, gamma, k, length = 3, 0.99, 8, 200
    obs = np.random.default_rng(0).normal(size=(1024, 4)).astype(np.float32)
    blocks, calls = (4, 50) if quick else (20, 400)
    rows = []
    if only in f"NStep single env n={n}: add + pop":
        tracer, floor, t = NStep(n, gamma), DequeFloor(n, gamma), [0, 0]

        def ours():
            i = t[0] = t[0] + 1
            tracer.add(obs[i % 1024], i % 2, 1.0, i % length == 0, -0.69)
            while tracer:
                tracer.pop()

        def hand():
            i = t[1] = t[1] + 1
            floor.add(obs[i % 1024], i % 2, 1.0, i % length == 0)

        rows.append({"name": f"NStep single env n={n}: add + pop",
                     **_timing.compare(ours, hand, blocks=blocks, calls=calls), "target": None})
    name = f"NStep vector env k={k} n={n}: add + pop"
    if only in name:
        tracer, floors, t = NStep(n, gamma, num_envs=k), [DequeFloor(n, gamma)
                                                          for _ in range(k)], [0, 0]
        a, r, logp = np.zeros(k, np.int64), np.ones(k), np.full(k, -0.69)

        def ours_vec():
            i = t[0] = t[0] + 1
            done = (np.arange(k) * 25 + i) % length == 0
            tracer.add(obs[(i % 128) * k:(i % 128) * k + k], a, r, done, logp)
            if tracer:
                tracer.pop()

        def hand_vec():
            i = t[1] = t[1] + 1
            s = obs[(i % 128) * k:(i % 128) * k + k]
            for j, f in enumerate(floors):
                f.add(s[j], 0, 1.0, (j * 25 + i) % length == 0)

        rows.append({"name": name, **_timing.compare(ours_vec, hand_vec, blocks=blocks,
                                                     calls=max(calls // 2, 2)),
                     "target": None})
    return rows


def _pytree_rows(quick, only):
    from typing import Any, NamedTuple

    import jax
    import numpy as np

    from coaxlike.reward_tracing import TransitionBatch

    Plain = NamedTuple("Plain", [(f, Any) for f in TransitionBatch._fields])
    B = 32
    tb = TransitionBatch.from_one_step(
        S=np.zeros((B, 4), np.float32), A=np.zeros(B, np.int64), Rn=np.ones(B), In=np.ones(B),
        S_next=np.zeros((B, 4), np.float32), A_next=np.zeros(B, np.int64))
    plain = Plain(**tb._asdict())

    @jax.jit
    def f(batch):
        return batch.Rn.sum() + batch.S.sum() + batch.In[0] * batch.A_next[0]

    f(tb).block_until_ready()
    f(plain).block_until_ready()
    blocks, calls = (4, 100) if quick else (20, 1000)
    cases = [
        ("TransitionBatch jit call f(tb) -> float", lambda x: float(f(x))),
        ("TransitionBatch tree_map(identity)", lambda x: jax.tree_util.tree_map(lambda y: y, x)),
        ("TransitionBatch tree_flatten + unflatten",
         lambda x: jax.tree_util.tree_unflatten(*reversed(jax.tree_util.tree_flatten(x)))),
        ("TransitionBatch _replace(W=...)", lambda x: x._replace(W=x.Rn)),
    ]
    rows = []
    for name, call in cases:
        if only in name:
            rows.append({"name": name + " (floor: NamedTuple)",
                         **_timing.compare(lambda: call(tb), lambda: call(plain),
                                           blocks=blocks, calls=calls), "target": None})
    return rows


def rows(quick=False, only=""):
    """All rows (JAX is imported here, after the dispatch mode is set)."""
    return _tracer_rows(quick, only) + _pytree_rows(quick, only)


def main(argv=None):
    return _timing.main("tracing", TITLE, rows, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
