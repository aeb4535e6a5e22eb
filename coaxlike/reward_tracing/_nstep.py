"""NStep: turn a stream of (s, a, r, done) into n-step transitions, for one env or a vector env."""
import numbers
from typing import Any, NamedTuple

import jax
import numpy as np

from ._transition import TransitionBatch

__all__ = ["NStep"]


class NStep:
    r"""n-step reward tracer: records steps and emits :class:`TransitionBatch` rows.

    For each recorded step :math:`t` the tracer emits one transition once
    :math:`s_{t+n}` is known, or once the episode has ended, with

    .. math::

        R^{(n)}_t = \sum_{k<K} \gamma^k r_{t+k}, \qquad
        I^{(n)}_t = 0 \text{ if the episode terminated within the window, else } \gamma^K,

    where :math:`K = \min(n, T - t)` for an episode ending after step :math:`T - 1`. A
    *truncated* episode (time limit) keeps :math:`\gamma^K` and bootstraps from the final
    observation; only a *terminated* one cuts the return. See :class:`TransitionBatch` for
    every emitted field, including the window fields used for off-policy corrections.

    **Single env** (``num_envs=None``, the default): pass one unbatched step per
    :meth:`add`; each :meth:`pop` returns one transition (``B = 1``), as in coax::

        tracer.add(s, a, r, done, logp, truncated=truncated, s_next=s_next)
        while tracer:
            buffer.add(tracer.pop())

    On the step that ends an episode by truncation, pass the final observation as
    ``s_next=`` (and its legal actions as ``mask_next=``).

    **Vector env** (``num_envs=k``, explicit rather than guessed from shapes): every
    argument carries a leading axis of size ``k``, as returned by a gymnasium >= 1.0 vector
    env in its default ``NEXT_STEP`` autoreset mode. When sub-env ``i`` ends at one
    :meth:`add`, the observation ``s[i]`` of the *next* :meth:`add` is taken as its final
    observation (``mask[i]`` as the legal actions there), and that reset step's action and
    reward are ignored, as the env ignores them. Sub-envs keep independent windows. Each
    :meth:`pop` returns *all* ready transitions at once (``B >= 1``). Vector envs in
    ``SAME_STEP`` autoreset mode are not supported: the tracer cannot see the final
    observation there.

    **Storage**: the last ``n + 1`` steps are kept in arrays preallocated by the first
    :meth:`add` after construction or :meth:`reset`, so later steps must have the same
    observation structure and shapes; their values are cast to the first step's dtypes.

    **Action masks**: fixed by the first :meth:`add` after construction or :meth:`reset`. If
    it passes ``mask=``, masks are recorded (a later :meth:`add` without ``mask=`` counts as
    all actions legal) and ``mask_next``/``mask_seq`` are bool arrays; otherwise they are
    ``None`` and passing a mask later raises ``ValueError``.

    **done and truncated**: ``done`` says the episode ended at this step (terminated or
    truncated), ``truncated`` that it ended *only* by truncation. With gymnasium's pair pass
    ``done=terminated or truncated, truncated=truncated and not terminated`` (a step that is
    both ends by termination).

    Args:
        n: the horizon, an int >= 1.
        gamma: the discount factor, in [0, 1].
        num_envs: ``None`` for a single env, or the number of sub-environments of a vector
            env (an int >= 1).

    Raises:
        ValueError: if an argument is out of range.

    Examples:
        >>> import numpy as np
        >>> from coaxlike.reward_tracing import NStep
        >>> tracer = NStep(n=2, gamma=0.5)
        >>> for t in range(3):
        ...     tracer.add(np.array([t]), a=0, r=1.0, done=(t == 2))
        >>> tb = tracer.pop()
        >>> tb.S.tolist(), float(tb.Rn[0]), float(tb.In[0]), tb.S_next.tolist()
        ([[0]], 1.5, 0.25, [[2]])
        >>> [float(tracer.pop().Rn[0]) for _ in range(len(tracer))]
        [1.5, 1.0]
    """

    def __init__(self, n: int, gamma: float, num_envs: int | None = None):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        if (isinstance(gamma, bool) or not isinstance(gamma, numbers.Real)
                or not 0.0 <= float(gamma) <= 1.0):
            raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}")
        if num_envs is not None and (isinstance(num_envs, bool)
                                     or not isinstance(num_envs, numbers.Integral) or num_envs < 1):
            raise ValueError(f"num_envs must be None or an int >= 1, got {num_envs!r}")
        self.n = int(n)
        self.gamma = float(gamma)
        self.num_envs = None if num_envs is None else int(num_envs)
        # exactly the float64 values the per-row definition computes, cast once
        self._discounts = self.gamma ** np.arange(self.n)
        self._gamma_powers = np.array([self.gamma ** k for k in range(self.n + 1)], np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget all recorded steps, ready transitions and the action-mask setting."""
        k = 1 if self.num_envs is None else self.num_envs
        self._t = 0                                  # time of the next add (one per env step)
        self._start = np.zeros(k, np.int64)          # per sub-env: first step not yet emitted
        self._pending = np.full(k, _NONE, np.int8)   # per sub-env: ended last step, awaiting s_T
        self._ring = None                            # _Ring, allocated by the first add()
        self._ready = []                             # TransitionBatch chunks, oldest first
        self._num_ready = 0
        self._masked = None                          # decided by the first add()
        self._n_actions = None

    def __len__(self) -> int:
        """The number of transitions ready to :meth:`pop`."""
        return self._num_ready

    def add(self, s, a, r, done, logp=0.0, *, truncated=False, mask=None, s_next=None,
            mask_next=None) -> None:
        """Record one step (single env) or one step of every sub-env (vector env).

        Shapes below are for a single env; for a vector env every argument gets a leading
        axis ``num_envs`` (``s`` on every leaf; ``logp`` and ``truncated`` may be scalars).

        Args:
            s: the observation :math:`s_t` at which ``a`` was taken, a pytree of arrays.
            a: the env action :math:`a_t` (an int for ``Discrete``, an array for ``Box``).
            r: the reward :math:`r_t`.
            done: whether the episode ended at this step (terminated or truncated).
            logp: the behaviour log-propensity :math:`\\log b(a_t|s_t)`.
            truncated: whether the episode ended only by truncation (bootstraps).
            mask: legal actions at ``s``, bool ``(n_actions,)``.
            s_next: single env only: the final observation, required when ``truncated``;
                optional when terminated (``s`` is used as the unused ``S_next`` otherwise).
            mask_next: single env only: legal actions at ``s_next``.

        Raises:
            ValueError: on inconsistent arguments (``truncated`` without ``done``, a
                truncation without ``s_next``, ``s_next`` before the episode ended, wrong
                leading axes for a vector env, a mask when masks were off).
        """
        if self.num_envs is None:
            self._add_single(s, a, r, done, logp, truncated, mask, s_next, mask_next)
        else:
            if s_next is not None or mask_next is not None:
                raise ValueError("s_next and mask_next are for a single env; a vector env "
                                 "gives the final observation as s at the next add()")
            self._add_vector(s, a, r, done, logp, truncated, mask)

    def pop(self) -> TransitionBatch:
        """Take ready transitions: one (``B = 1``) for a single env, all for a vector env.

        Returns:
            TransitionBatch: numpy leaves with leading axis ``B``.

        Raises:
            IndexError: if no transition is ready (check ``bool(tracer)`` first).
        """
        if not self._num_ready:
            raise IndexError("no transition is ready; check `while tracer:` before pop()")
        if self.num_envs is None:
            chunk = self._ready[0]
            if chunk.batch_size == 1:
                self._ready.pop(0)
            else:
                self._ready[0] = jax.tree_util.tree_map(lambda x: x[1:], chunk)
                chunk = jax.tree_util.tree_map(lambda x: x[:1], chunk)
            self._num_ready -= 1
            return chunk
        chunks, self._ready, self._num_ready = self._ready, [], 0
        if len(chunks) == 1:
            return chunks[0]
        return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *chunks)

    # --- internals ---------------------------------------------------------------------
    #
    # Every add() is one time step t for all sub-envs at once. The last n + 1 steps live in
    # a ring of preallocated (n + 1, num_envs, ...) arrays at slot t % (n + 1); sub-env i's
    # window is the steps start[i] .. t, never longer than n + 1, so the ring never
    # overwrites a step that is still needed. A single env is a vector env of one whose
    # final observation arrives at the same add(): it is recorded as the next time step.

    def _add_single(self, s, a, r, done, logp, truncated, mask, s_next, mask_next):
        done, truncated = bool(done), bool(truncated)
        if truncated and not done:
            raise ValueError("truncated=True requires done=True (done means the episode ended)")
        if not done and (s_next is not None or mask_next is not None):
            raise ValueError("s_next and mask_next are only used on the step with done=True, "
                             f"got done={done!r}")
        if truncated and s_next is None:
            raise ValueError("truncated=True needs the final observation as s_next= "
                             "(the truncated return bootstraps from it)")
        mask = self._check_mask(mask, ())
        if mask_next is not None and not self._masked:
            raise ValueError("mask_next= needs masks switched on by mask= at the first add()")

        def batch(x):
            return None if x is None else jax.tree_util.tree_map(lambda y: np.asarray(y)[None], x)

        s, mask = batch(s), batch(mask)
        self._step(s, _as_action(a)[None], np.array([r], np.float64),
                   np.array([logp], np.float64), mask, np.array([done]), np.array([truncated]))
        if done:  # record the final observation as the (reset) step after the last one
            if s_next is not None:
                s, mask = batch(s_next), batch(self._check_mask(mask_next, ()))
            self._step(s, None, None, None, mask, None, None)

    def _add_vector(self, s, a, r, done, logp, truncated, mask):
        k = self.num_envs
        a, r, done = _as_action(a), np.asarray(r, np.float64), np.asarray(done, bool)
        logp, truncated = np.asarray(logp, np.float64), np.asarray(truncated, bool)
        logp = np.full(k, logp) if logp.ndim == 0 else logp
        truncated = np.full(k, truncated) if truncated.ndim == 0 else truncated
        for name, x in [("a", a), ("r", r), ("done", done), ("logp", logp),
                        ("truncated", truncated)]:
            if x.shape[:1] != (k,) or (name != "a" and x.ndim != 1):
                raise ValueError(f"{name} must have leading axis num_envs={k}, got shape {x.shape}")
        for x in jax.tree_util.tree_leaves(s):
            if np.shape(x)[:1] != (k,):
                raise ValueError(f"s must have leading axis num_envs={k} on every leaf, "
                                 f"got a leaf of shape {np.shape(x)}")
        if np.any(truncated & ~done):
            raise ValueError("truncated=True requires done=True (done means the episode ended)")
        self._step(s, a, r, logp, self._check_mask(mask, (k,)), done, truncated)

    def _step(self, s, a, r, logp, mask, done, truncated):
        """Record time step t of every sub-env and emit the transitions it completes.

        ``a is None`` marks a reset step of every sub-env (single env: the final observation
        given as ``s_next``); otherwise a sub-env whose episode ended at the previous step
        takes ``s`` as its final observation and ignores ``a``, ``r`` and ``logp``.
        """
        n, t = self.n, self._t
        s_leaves, treedef = jax.tree_util.tree_flatten(s)
        if self._ring is None:
            self._ring = _Ring.allocate(n + 1, s_leaves, treedef, a, mask)
        ring, slot = self._ring, t % (n + 1)
        if treedef != ring.treedef:
            raise ValueError(f"s must have the structure {ring.treedef} of the first "
                             f"observation, got {treedef}")
        for x, y in zip(ring.s, s_leaves):
            x[slot] = y
        if mask is not None:
            ring.mask[slot] = mask
        if a is not None:
            ring.a[slot], ring.r[slot], ring.logp[slot] = a, r, logp
        pending = self._pending != _NONE
        # a sub-env ending its episode emits its whole window, the others at most one row
        full = ~pending & (t - self._start >= n)
        counts = np.where(pending, t - self._start, full)
        if counts.any():
            self._emit(counts, pending)
        self._start = np.where(pending, t + 1, self._start + full)
        if a is None:
            self._pending[:] = _NONE
        else:
            ended = np.where(truncated, _TRUNCATED, _TERMINATED)
            self._pending = np.where(~pending & done, ended, _NONE).astype(np.int8)
        self._t = t + 1

    def _check_mask(self, mask, lead):
        """Fix or enforce the mask setting; return a bool mask of shape lead + (n_actions,)."""
        if self._masked is None:
            self._masked = mask is not None
            if self._masked:
                self._n_actions = np.shape(mask)[-1]
        if mask is None:
            return np.ones(lead + (self._n_actions,), bool) if self._masked else None
        if not self._masked:
            raise ValueError("mask= was not given at the first add() after construction or "
                             "reset(), so masks are off; pass mask= from the first step")
        mask = np.asarray(mask, bool)
        if mask.shape != lead + (self._n_actions,):
            raise ValueError(f"mask must have shape {lead + (self._n_actions,)}, got {mask.shape}")
        return mask

    def _emit(self, counts, pending):
        """Emit ``counts[i]`` rows of sub-env ``i``, oldest first, sub-envs in order."""
        n, t, ring = self.n, self._t, self._ring
        gamma = np.float32(self.gamma)
        if pending.any():
            env = np.repeat(np.arange(len(counts)), counts)
            first = np.cumsum(counts) - counts
            t0 = np.repeat(self._start, counts) + np.arange(len(env)) - np.repeat(first, counts)
            # a window cut by the end of an episode reaches the final observation at time t
            K = np.where(pending[env], t - t0, n)
            ends_here = (self._pending == _TERMINATED)[env]
            steps = np.arange(n)
            valid = steps < K[:, None]
            real = (t0[:, None] + np.minimum(steps, K[:, None] - 1)) % (n + 1)  # pads repeat
            seq = (t0[:, None] + np.minimum(np.arange(n + 1), K[:, None])) % (n + 1)
            now, end = t0 % (n + 1), (t0 + K) % (n + 1)
            In = np.where(ends_here, np.float32(0.0), self._gamma_powers[K])
            gamma_seq = np.where(steps < (K - ends_here)[:, None], gamma, np.float32(0.0))
            valid_seq = valid.astype(np.float32)
        else:  # the common case: full windows s_{t-n} .. s_t, the same slots for every row
            env = np.flatnonzero(counts)
            slots = (t + 1 + np.arange(n + 1)) % (n + 1)  # the slots of times t - n .. t
            now, end, real, seq, valid = slots[0], slots[n], slots[None, :n], slots[None], True
            In = np.full(len(env), self._gamma_powers[n])
            gamma_seq = np.full((len(env), n), gamma)
            valid_seq = np.ones((len(env), n), np.float32)
        # ring slots per row: now = t0, end = t0 + K, real = the n steps of the window
        # (padding repeats the last real one), seq = the n + 1 observations (padding repeats
        # the one at end); the sub-env index col broadcasts against real and seq
        col = env[:, None]
        r_seq = np.where(valid, ring.r[real, col], 0.0)
        s, s_next, s_seq = ([x[i, j] for x in ring.s] for i, j in [(now, env), (end, env),
                                                                    (seq, col)])
        self._ready.append(TransitionBatch(
            S=ring.treedef.unflatten(s), A=ring.a[now, env],
            logP=ring.logp[now, env].astype(np.float32),
            Rn=np.sum(self._discounts * r_seq, axis=1).astype(np.float32), In=In,
            S_next=ring.treedef.unflatten(s_next),
            mask_next=None if ring.mask is None else ring.mask[end, env],
            A_seq=ring.a[real, col],
            logP_seq=np.where(valid, ring.logp[real, col], 0.0).astype(np.float32),
            R_seq=r_seq.astype(np.float32), gamma_seq=gamma_seq, valid_seq=valid_seq,
            S_seq=ring.treedef.unflatten(s_seq),
            mask_seq=None if ring.mask is None else ring.mask[seq, col],
            W=np.ones(len(env), np.float32), idx=np.zeros(len(env), np.int32)))
        self._num_ready += len(env)


# the values of NStep._pending
_NONE, _TRUNCATED, _TERMINATED = 0, 1, 2


class _Ring(NamedTuple):
    """The last ``size`` steps of every sub-env, at slot ``t % size``: ``(size, k, ...)``."""

    s: list          # the leaves of the observations
    treedef: Any     # the observations' tree structure
    a: np.ndarray    # actions
    r: np.ndarray    # float64 rewards
    logp: np.ndarray  # float64 log-propensities
    mask: Any        # bool (size, k, n_actions), or None

    @classmethod
    def allocate(cls, size, s_leaves, treedef, a, mask):
        def zeros(x, dtype=None):
            x = np.asarray(x)
            return np.zeros((size, *x.shape), dtype or x.dtype)

        k = len(a)
        return cls(s=[zeros(x) for x in s_leaves], treedef=treedef, a=zeros(a),
                   r=np.zeros((size, k)), logp=np.zeros((size, k)),
                   mask=None if mask is None else zeros(mask, bool))


def _as_action(a):
    """Actions as arrays: integers keep their dtype, floats become float32."""
    a = np.array(a)
    return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a
