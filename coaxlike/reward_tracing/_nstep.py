"""NStep: turn a stream of (s, a, r, done) into n-step transitions, for one env or a vector env."""
import collections
import numbers
from typing import Any, NamedTuple

import jax
import numpy as np

from ._transition import TransitionBatch, stack_rows

__all__ = ["NStep"]


class _Step(NamedTuple):
    """One recorded step of one (sub-)environment; leaves without a batch axis."""

    s: Any
    a: np.ndarray
    r: float
    logp: float
    mask: Any  # bool (n_actions,) or None


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
        self.reset()

    def reset(self) -> None:
        """Forget all recorded steps, ready transitions and the action-mask setting."""
        k = 1 if self.num_envs is None else self.num_envs
        self._windows = [[] for _ in range(k)]   # per sub-env: steps not yet emitted as start
        self._pending = [None] * k               # per sub-env: None, or `terminated` awaiting s_T
        self._ready = collections.deque()        # unbatched TransitionBatch rows
        self._masked = None                      # decided by the first add()
        self._n_actions = None

    def __len__(self) -> int:
        """The number of transitions ready to :meth:`pop`."""
        return len(self._ready)

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
        if not self._ready:
            raise IndexError("no transition is ready; check `while tracer:` before pop()")
        if self.num_envs is None:
            return stack_rows([self._ready.popleft()])
        rows = list(self._ready)
        self._ready.clear()
        return stack_rows(rows)

    # --- internals ---------------------------------------------------------------------

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
        s = jax.tree_util.tree_map(np.array, s)
        self._windows[0].append(_Step(s, _as_action(a), float(r), float(logp), mask))
        if not done:
            self._emit_if_full(0)
        elif s_next is None:  # terminated: S_next is never bootstrapped from
            self._flush(0, s, mask, terminated=True)
        else:
            mask_next = self._check_mask(mask_next, ())
            self._flush(0, jax.tree_util.tree_map(np.array, s_next), mask_next, not truncated)

    def _add_vector(self, s, a, r, done, logp, truncated, mask):
        k = self.num_envs
        a, r, done = _as_action(a), np.asarray(r, np.float64), np.asarray(done, bool)
        logp = np.broadcast_to(np.asarray(logp, np.float64), (k,))
        truncated = np.broadcast_to(np.asarray(truncated, bool), (k,))
        for name, x in [("a", a), ("r", r), ("done", done)]:
            if x.shape[:1] != (k,) or (name != "a" and x.ndim != 1):
                raise ValueError(f"{name} must have leading axis num_envs={k}, got shape {x.shape}")
        for x in jax.tree_util.tree_leaves(s):
            if np.shape(x)[:1] != (k,):
                raise ValueError(f"s must have leading axis num_envs={k} on every leaf, "
                                 f"got a leaf of shape {np.shape(x)}")
        if np.any(truncated & ~done):
            raise ValueError("truncated=True requires done=True (done means the episode ended)")
        mask = self._check_mask(mask, (k,))
        for i in range(k):
            s_i = jax.tree_util.tree_map(lambda x: np.array(x[i]), s)
            mask_i = None if mask is None else mask[i]
            if self._pending[i] is not None:  # s_i is the final observation; a reset step
                self._flush(i, s_i, mask_i, terminated=self._pending[i])
                self._pending[i] = None
                continue
            self._windows[i].append(_Step(s_i, a[i], float(r[i]), float(logp[i]), mask_i))
            self._emit_if_full(i)
            if done[i]:
                self._pending[i] = not truncated[i]

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

    def _emit_if_full(self, i):
        window = self._windows[i]
        if len(window) > self.n:  # s_{t+n} is known for the oldest step
            self._ready.append(_transition(window, 0, None, None, False, self.n, self.gamma))
            window.pop(0)

    def _flush(self, i, s_last, mask_last, terminated):
        window = self._windows[i]
        for j in range(len(window)):
            self._ready.append(
                _transition(window, j, s_last, mask_last, terminated, self.n, self.gamma))
        window.clear()


def _as_action(a):
    """Actions as arrays: integers keep their dtype, floats become float32."""
    a = np.array(a)
    return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a


def _transition(steps, j, s_last, mask_last, terminated, n, gamma) -> TransitionBatch:
    """The unbatched transition starting at ``steps[j]``.

    ``s_last``/``mask_last`` are the observation and mask after ``steps[-1]`` (only read when
    the window reaches past the last step); ``terminated`` says ``steps[-1]`` terminated.
    """
    num_steps = len(steps)
    K = min(n, num_steps - j)
    real = steps[j:j + K]
    if j + K < num_steps:
        s_end, mask_end = steps[j + K].s, steps[j + K].mask
    else:
        s_end, mask_end = s_last, mask_last
    ends_here = terminated and j + K == num_steps
    pad = n - K
    r_seq = np.array([x.r for x in real] + [0.0] * pad, np.float64)
    gamma_seq = np.array([gamma] * K + [0.0] * pad, np.float32)
    if ends_here:
        gamma_seq[K - 1] = 0.0
    obs = [x.s for x in real] + [s_end] * (pad + 1)
    masks = None if real[0].mask is None else [x.mask for x in real] + [mask_end] * (pad + 1)
    return TransitionBatch(
        S=real[0].s, A=real[0].a, logP=np.float32(real[0].logp),
        Rn=np.float32(np.sum(gamma ** np.arange(n) * r_seq)),
        In=np.float32(0.0 if ends_here else gamma ** K),
        S_next=s_end, mask_next=mask_end,
        A_seq=np.stack([x.a for x in real] + [real[-1].a] * pad),
        logP_seq=np.array([x.logp for x in real] + [0.0] * pad, np.float32),
        R_seq=r_seq.astype(np.float32), gamma_seq=gamma_seq,
        valid_seq=np.array([1.0] * K + [0.0] * pad, np.float32),
        S_seq=stack_rows(obs),
        mask_seq=None if masks is None else np.stack(masks),
        W=np.float32(1.0), idx=np.int32(0))
