"""The tracer's storage (the last steps of every sub-env) and the row builders."""
from typing import Any, NamedTuple

import jax
import numpy as np

from ._transition import _make

__all__ = []  # private module


class Ring(NamedTuple):
    """The last ``size`` steps of every sub-env, at slot ``t % size``: ``(size, k, ...)``.

    ``size`` is at least ``n + 1`` (a window and the observation after it); a tracer that
    defers the emission of full windows (see :func:`emit_full`) holds more steps, so that
    the rows of the steps it has not emitted yet are still there when it emits them."""

    s: list          # the leaves of the observations
    treedef: Any     # the observations' tree structure
    a: np.ndarray    # actions
    known: np.ndarray  # bool: an action was recorded at this step (False: a single env's s_T)
    r: np.ndarray    # float64 rewards
    logp: np.ndarray  # float32 log-propensities (NaN: not recorded)
    w: np.ndarray    # float32 sample weights
    mask: Any        # bool (size, k, n_actions), or None

    @classmethod
    def allocate(cls, size, step):
        """Zero storage shaped like one validated step (``inputs.Step``, leading axis k)."""
        def zeros(x, dtype=None):
            return np.zeros((size, *x.shape), dtype or x.dtype)

        k = len(step.a)
        return cls(s=[zeros(x) for x in step.s], treedef=step.treedef, a=zeros(step.a),
                   known=np.zeros((size, k), bool), r=np.zeros((size, k)),
                   logp=np.zeros((size, k), np.float32), w=np.ones((size, k), np.float32),
                   mask=None if step.mask is None else zeros(step.mask, bool))

    @staticmethod
    def step_bytes(step):
        """The bytes one validated step takes in the ring (all sub-envs)."""
        k = len(step.a)
        return (sum(x.nbytes for x in step.s) + step.a.nbytes + k * (1 + 8 + 4 + 4)
                + (0 if step.mask is None else step.mask.size))

    @property
    def size(self):
        return len(self.known)

    def write(self, slot, step):
        """Store a validated step at ``slot`` (fields that are ``None`` are left alone)."""
        for x, y in zip(self.s, step.s):
            x[slot] = y
        if step.mask is not None:
            self.mask[slot] = step.mask
        self.known[slot] = step.a is not None
        if step.a is not None:
            self.a[slot] = step.a
        self.logp[slot] = step.logp
        if step.r is not None:
            self.r[slot], self.w[slot] = step.r, step.w


def emit_full(ring, times, env, n, gamma, discounts, gamma_powers, window=True):
    """The TransitionBatch of full windows (``K = n`` steps, no episode end inside): row
    ``j`` is sub-env ``env[j]``'s window that ends at time ``times[j]`` (its steps
    ``times[j] - n .. times[j] - 1``, bootstrapping from the observation at ``times[j]``),
    rows in the order given. The common case of :func:`emit_rows`, for the rows of one
    time step or, in one pass, for those of many (a tracer that deferred them)."""
    slots = (times[:, None] + np.arange(-n, 1)) % ring.size  # times t - n .. t, per row
    return _rows(ring, env, slots[:, 0], slots[:, n], slots[:, :n], slots, True,
                 np.full(len(env), gamma_powers[n]), None, None, ring.a[slots[:, n], env],
                 ring.logp[slots[:, n], env], np.float32(gamma), discounts, window)


def emit_rows(ring, counts, pending, ended_by, start, t, n, gamma, discounts, gamma_powers,
              done_now, extra_info, window=True):
    """The TransitionBatch of ``counts[i]`` rows of sub-env ``i``, oldest first, sub-envs in
    order, at time ``t`` (the step just written). ``pending[i]``: sub-env ``i`` ended its
    episode at ``t - 1`` (``ended_by[i] == 2``: by termination) and ``t`` holds its final
    observation; ``start[i]`` is its first step not yet emitted. ``window=False`` leaves
    the window fields ``None`` (not even computed, unless ``extra_info`` needs them)."""
    if not pending.any() and not extra_info:  # the common case: full windows ending at t
        env = np.flatnonzero(counts)
        return emit_full(ring, np.full(len(env), t), env, n, gamma, discounts, gamma_powers,
                         window)
    gamma, size = np.float32(gamma), ring.size
    if pending.any():
        env = np.repeat(np.arange(len(counts)), counts)
        first = np.cumsum(counts) - counts
        t0 = np.repeat(start, counts) + np.arange(len(env)) - np.repeat(first, counts)
        # a window cut by the end of an episode reaches the final observation at time t
        K = np.where(pending[env], t - t0, n)
        ends_here = ended_by[env] == 2
        steps = np.arange(n)
        valid = steps < K[:, None]
        real = (t0[:, None] + np.minimum(steps, K[:, None] - 1)) % size  # pads repeat
        seq = (t0[:, None] + np.minimum(np.arange(n + 1), K[:, None])) % size
        now, end = t0 % size, (t0 + K) % size
        In = np.where(ends_here, np.float32(0.0), gamma_powers[K])
        gamma_seq = np.where(steps < (K - ends_here)[:, None], gamma, np.float32(0.0))
        valid_seq = valid.astype(np.float32)
        # a single env's final observation has no action unless a_next= was given
        known = ring.known[end, env]
        A_next = np.where(_expand(known, ring.a[now, env]), ring.a[end, env], ring.a[now, env])
        logP_next = np.where(known, ring.logp[end, env], np.float32(np.nan))
    else:  # full windows s_{t-n} .. s_t, the same slots for every row (with extra_info)
        env = np.flatnonzero(counts)
        slots = (t - n + np.arange(n + 1)) % size  # the slots of times t - n .. t
        now, end, real, seq, valid = slots[0], slots[n], slots[None, :n], slots[None], True
        K = None  # n for every row
        In = np.full(len(env), gamma_powers[n])
        gamma_seq = valid_seq = None  # below, if wanted
        A_next, logP_next = ring.a[end, env], ring.logp[end, env]  # step t has an action
    fields = _rows(ring, env, now, end, real, seq, valid, In, gamma_seq, valid_seq, A_next,
                   logP_next, gamma, discounts, window or extra_info, build=False)
    if extra_info:
        fields["extra_info"] = _extra_info(ring, fields, env, end, fields.pop("_col"), real,
                                           K, pending, done_now, n)
    fields.pop("_col", None)
    if not window:
        for name in ("A_seq", "logP_seq", "R_seq", "gamma_seq", "valid_seq", "S_seq",
                     "mask_seq"):
            fields[name] = None
    return _make(fields)


def _rows(ring, env, now, end, real, seq, valid, In, gamma_seq, valid_seq, A_next, logP_next,
          gamma, discounts, window, build=True):
    """The fields of the rows of sub-envs ``env`` from ring slots: ``now`` = t0, ``end`` =
    t0 + K, ``real`` = the n steps of the window (padding repeats the last real one),
    ``seq`` = the n + 1 observations (padding repeats the one at ``end``); ``valid`` marks
    the real steps (``True``: all). Returns the TransitionBatch, or (``build=False``) its
    fields with the sub-env column under ``'_col'``."""
    col = env[:, None]  # broadcasts against real and seq
    r_seq = ring.r[real, col]
    if valid is not True:  # padding: reward 0
        r_seq = np.where(valid, r_seq, 0.0)
    s, s_next = ([x[i, j] for x in ring.s] for i, j in [(now, env), (end, env)])
    fields = dict(
        S=ring.treedef.unflatten(s), A=ring.a[now, env], logP=ring.logp[now, env],
        Rn=(discounts * r_seq).sum(axis=1).astype(np.float32), In=In,
        S_next=ring.treedef.unflatten(s_next), A_next=A_next, logP_next=logP_next,
        W=ring.w[now, env], idx=np.zeros(len(env), np.int32),
        extra_info=None, mask_next=None if ring.mask is None else ring.mask[end, env],
        A_seq=None, logP_seq=None, R_seq=None, gamma_seq=None, valid_seq=None, S_seq=None,
        mask_seq=None)
    if window:
        logP_seq = ring.logp[real, col]
        if valid is not True:  # padding: log-propensity 0
            logP_seq = np.where(valid, logP_seq, np.float32(0.0))
        if gamma_seq is None:  # full windows
            n = r_seq.shape[1]
            gamma_seq = np.full((len(env), n), gamma)
            valid_seq = np.ones((len(env), n), np.float32)
        fields.update(
            A_seq=ring.a[real, col], logP_seq=logP_seq, R_seq=r_seq.astype(np.float32),
            gamma_seq=gamma_seq, valid_seq=valid_seq,
            S_seq=ring.treedef.unflatten([x[seq, col] for x in ring.s]),
            mask_seq=None if ring.mask is None else ring.mask[seq, col])
    if not build:
        fields["_col"] = col
        return fields
    return _make(fields)


def _extra_info(ring, f, env, end, col, real, K, pending, done_now, n):
    """coax's per-step record: tuples of ``n + 1`` arrays ``(B, ...)`` for steps t .. t + n.

    Steps past the end of the episode repeat the last observation, action and weight, with
    reward and log-propensity 0 and ``done`` True; ``dones[i]`` says whether the episode
    had ended by step ``t + i`` (inclusive).
    """
    K = np.full(len(env), n) if K is None else K
    full = K == n  # windows with step t + n recorded (or the final observation there)
    ended = pending[env]
    a_last = np.where(_expand(full & ~ended, f["A"]), f["A_next"], f["A_seq"][:, -1])
    r_last = np.where(full & ~ended, ring.r[end, env], 0.0).astype(np.float32)
    logp_last = np.where(full & ~ended, ring.logp[end, env], np.float32(0.0))
    w_seq = ring.w[real, col]
    w_last = np.where(full & ~ended, ring.w[end, env], w_seq[:, -1])
    steps = np.arange(n + 1)
    last_real = np.where(ended, K - 1, n + 1)  # index of the episode's last step, if inside
    if done_now is None:
        done_last = np.zeros(len(env), bool)
    else:
        done_last = done_now[env] & ~ended
    dones = (steps[None, :] >= last_real[:, None]) | ((steps == n)[None, :] & done_last[:, None])
    return {
        "states": tuple(_column(f["S_seq"], i) for i in range(n + 1)),
        "actions": tuple(f["A_seq"][:, i] for i in range(n)) + (a_last,),
        "rewards": tuple(f["R_seq"][:, i] for i in range(n)) + (r_last,),
        "dones": tuple(dones[:, i] for i in range(n + 1)),
        "log_props": tuple(f["logP_seq"][:, i] for i in range(n)) + (logp_last,),
        "weights": tuple(w_seq[:, i] for i in range(n)) + (w_last,),
    }


def _expand(flag, like):
    return flag.reshape(flag.shape + (1,) * (like.ndim - 1))


def _column(tree, i):
    return jax.tree_util.tree_map(lambda x: x[:, i], tree)
