"""NStep: turn a stream of (s, a, r, done) into n-step transitions, for one env or a vector env."""
import numbers

import jax
import numpy as np

from .._checks import as_real, check_bool, check_int
from . import _inputs as inputs
from ._errors import EpisodeDoneError, InsufficientCacheError
from ._ring import Ring, emit_full, emit_rows
from ._transition import TransitionBatch

__all__ = ["NStep"]

# Full windows (the common rows) are emitted in one pass per pop() or flush(), not one per
# add(): the ring holds up to _DEFER_STEPS steps beyond a window, fewer for observations
# so large that the ring would pass _DEFER_BYTES (none with record_extra_info)
_DEFER_STEPS, _DEFER_BYTES = 256, 8 << 20


class NStep:
    r"""n-step reward tracer: records steps and emits :class:`TransitionBatch` rows.

    For each recorded step :math:`t` the tracer emits one transition once
    :math:`s_{t+n}` is known, or once the episode has ended, with

    .. math::

        R^{(n)}_t = \sum_{k<K} \gamma^k r_{t+k}, \qquad
        I^{(n)}_t = 0 \text{ if the episode terminated within the window, else } \gamma^K,

    where :math:`K = \min(n, T - t)` for an episode ending after step :math:`T - 1`. A
    *truncated* episode (time limit) keeps :math:`\gamma^K` and bootstraps from the final
    observation; only a *terminated* one cuts the return. ``A_next`` is the action taken at
    ``S_next`` (for SARSA). See :class:`TransitionBatch` for every emitted field, including
    the window fields used for off-policy corrections.

    **Single env** (``num_envs=None``, the default): pass one unbatched step per
    :meth:`add`; each :meth:`pop` returns one transition (``B = 1``), as in coax::

        tracer.add(s, a, r, done, logp, truncated=truncated, s_next=s_next)
        while tracer:
            buffer.add(tracer.pop())

    On the step that ends an episode pass the final observation as ``s_next=`` (required
    for a truncation, which bootstraps from it), its legal actions as ``mask_next=``, and,
    for SARSA on truncated episodes, the action the policy picks there as ``a_next=`` (with
    ``logp_next=``). As in coax, the first :meth:`add` of the next episode raises
    :class:`EpisodeDoneError` while transitions of the ended one are still unpopped.

    **Vector env** (``num_envs=k``, explicit rather than guessed from shapes): every
    argument carries a leading axis of size ``k``, as returned by a gymnasium >= 1.0 vector
    env in its default ``NEXT_STEP`` autoreset mode. When sub-env ``i`` ends at one
    :meth:`add`, the observation ``s[i]`` of the *next* :meth:`add` is taken as its final
    observation (``mask[i]`` as the legal actions there, ``a[i]`` and ``logp[i]`` as
    ``A_next`` and ``logP_next``), and that reset step's reward is ignored, as the env
    ignores the step. Sub-envs keep independent windows. Each :meth:`pop` returns *all*
    ready transitions at once (``B >= 1``). Vector envs in ``SAME_STEP`` (or ``DISABLED``)
    autoreset mode are not supported: the tracer cannot see the final observation there, and
    ``Q(func, env)`` refuses such an env up front.

    **Log-propensities**: pass the behaviour policy's ``logp`` (e.g. from
    ``pi(s, return_logp=True)``) if off-policy corrections will be used; without it
    ``logP`` and ``logP_seq`` are NaN (not recorded), never 0 (probability 1).

    **Validation**: every argument of an :meth:`add` is checked before anything is
    recorded, so a call that raises leaves the tracer exactly as it was. Later observations,
    actions and masks must have the shapes (and action kind) of the first ones after
    construction or :meth:`reset`; observation values are cast to the first one's dtypes.

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
        record_extra_info: also emit coax's ``extra_info`` dict (see :class:`TransitionBatch`).
        record_window: emit the window fields ``A_seq``, ``logP_seq``, ``R_seq``,
            ``gamma_seq``, ``valid_seq``, ``S_seq`` and ``mask_seq`` that off-policy
            corrections read; ``False`` leaves them ``None`` and saves their cost per step
            (every other field is the same), for a consumer that never reads them, such as
            a learner without a target policy (:class:`~coaxlike.agents.DQN` traces so);
            keyword only.
        num_envs: ``None`` for a single env, or the number of sub-environments of a vector
            env (an int >= 1); keyword only.

    Raises:
        TypeError: if an argument is of the wrong kind (``n=1.5``, ``gamma="0.9"``, a
            non-bool flag).
        ValueError: if an argument is out of range.

    Examples:
        >>> import numpy as np
        >>> from coaxlike.reward_tracing import NStep
        >>> tracer = NStep(n=2, gamma=0.5)
        >>> for t in range(3):
        ...     tracer.add(np.array([t]), a=t, r=1.0, done=(t == 2))
        >>> len(tracer), bool(tracer)  # three steps not yet popped, all ready
        (3, True)
        >>> tb = tracer.pop()
        >>> tb.S.tolist(), float(tb.Rn[0]), float(tb.In[0]), tb.S_next.tolist(), tb.A_next
        ([[0]], 1.5, 0.25, [[2]], array([2]))
        >>> tracer.flush().Rn.tolist()  # all the rest
        [1.5, 1.0]
    """

    def __init__(self, n: int, gamma: float, record_extra_info: bool = False, *,
                 num_envs: int | None = None, record_window: bool = True):
        n = check_int(n, "n")
        gamma = as_real(gamma, "gamma", "a number in [0, 1]")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}")
        record_extra_info = check_bool(record_extra_info, "record_extra_info")
        record_window = check_bool(record_window, "record_window")
        if num_envs is not None and (isinstance(num_envs, (bool, np.bool_))
                                     or not isinstance(num_envs, numbers.Integral)):
            raise TypeError(f"num_envs must be None or an int >= 1, got "
                            f"{type(num_envs).__name__} {num_envs!r}")
        if num_envs is not None and num_envs < 1:
            raise ValueError(f"num_envs must be None or an int >= 1, got {num_envs!r}")
        self.n = int(n)
        self.gamma = float(gamma)
        self.record_extra_info = bool(record_extra_info)
        self.record_window = bool(record_window)
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
        self._pending = np.zeros(k, np.int8)         # per sub-env: ended last step, awaiting s_T
        self._ring = None                            # Ring, allocated by the first add()
        self._defer = 0                              # steps the ring holds beyond n + 1
        self._ready = []                             # chunks, oldest first: TransitionBatch,
        self._span = None                            # and last, maybe, the open span: a list
        self._num_ready = 0                          # of (t, sub-envs) whose full windows
        #                                              are not emitted yet
        self._masked = None                          # decided by the first add()
        self._n_actions = None

    def __len__(self) -> int:
        """The number of recorded steps whose transitions have not been popped yet (ready
        or not), as coax: ``len(tracer) == i`` after ``i`` steps of a fresh episode. For a
        vector env, summed over sub-envs. Use ``bool(tracer)`` to ask whether one is ready."""
        return int((self._t - self._start).sum()) + self._num_ready

    def __bool__(self) -> bool:
        """Whether a transition is ready to :meth:`pop`."""
        return self._num_ready > 0

    def add(self, s, a, r, done, logp=None, w=1.0, *, truncated=False, mask=None,
            s_next=None, mask_next=None, a_next=None, logp_next=None) -> None:
        r"""Record one step (single env) or one step of every sub-env (vector env).

        Shapes below are for a single env; for a vector env every argument gets a leading
        axis ``num_envs`` (``s`` on every leaf; ``logp``, ``w`` and ``truncated`` may be
        scalars). Nothing is recorded unless every argument is valid.

        Args:
            s: the observation :math:`s_t` at which ``a`` was taken, a pytree of arrays.
            a: the env action :math:`a_t` (an int for ``Discrete``, an array for ``Box``).
            r: the reward :math:`r_t`, finite.
            done: whether the episode ended at this step (terminated or truncated).
            logp: the behaviour log-propensity :math:`\log b(a_t|s_t) \le 0`; ``None``
                (the default) records NaN, "not recorded".
            w: the sample weight of this step (> 0), emitted as ``W``.
            truncated: whether the episode ended only by truncation (bootstraps).
            mask: legal actions at ``s``, bool ``(n_actions,)``.
            s_next: single env only: the final observation, required when ``truncated``;
                optional when terminated (``s`` is used as the unused ``S_next`` otherwise).
            mask_next: single env only: legal actions at ``s_next``.
            a_next: single env only: the action the policy picks at ``s_next`` (SARSA's
                ``A_next`` for the windows that end there); without it ``A_next`` is not
                known for them (a copy of ``A``).
            logp_next: single env only: its log-propensity, with ``a_next``.

        Raises:
            TypeError: an argument of the wrong kind (named in the message): a string or
                other non-number for ``r``, ``logp`` or ``w``, non-numeric observations or
                actions, a float action where the first was an integer, a non-bool flag.
            ValueError: on an invalid or inconsistent argument (named in the message):
                ``truncated`` without ``done``, a truncation without ``s_next``, ``s_next``
                before the episode ended, a batched ``done`` without ``num_envs=``, shapes
                or structures unlike the first step's, wrong leading axes for a vector env,
                a mask when masks were off, non-finite ``r``, ``logp > 0``.
            EpisodeDoneError: single env: the previous :meth:`add` ended the episode and
                some of its transitions have not been popped (pop them or :meth:`flush`).
        """
        if self.num_envs is None:
            step, final = self._check_single(s, a, r, done, logp, w, truncated, mask, s_next,
                                             mask_next, a_next, logp_next)
        else:
            for name, x in [("s_next", s_next), ("mask_next", mask_next), ("a_next", a_next),
                            ("logp_next", logp_next)]:
                if x is not None:
                    raise ValueError(f"{name} is for a single env; a vector env gives the "
                                     "final observation as s (and its action as a) at the "
                                     "next add()")
            step, final = self._check_vector(s, a, r, done, logp, w, truncated, mask), None
        # everything is valid: record
        if self._masked is None:
            self._masked = step.mask is not None
            self._n_actions = None if step.mask is None else step.mask.shape[-1]
        if self._ring is None:
            self._defer = 0 if self.record_extra_info else min(
                _DEFER_STEPS, _DEFER_BYTES // max(1, Ring.step_bytes(step)))
            self._ring = Ring.allocate(self.n + 1 + self._defer, step)
        self._step(step)
        if final is not None:
            self._step(final)

    def pop(self) -> TransitionBatch:
        """Take ready transitions: one (``B = 1``) for a single env, all for a vector env.

        Returns:
            TransitionBatch: numpy leaves with leading axis ``B``.

        Raises:
            InsufficientCacheError: (an ``IndexError``) if no transition is ready (check
                ``bool(tracer)`` first).
        """
        if not self._num_ready:
            raise InsufficientCacheError("no transition is ready; check `while tracer:` "
                                         "before pop()")
        if self.num_envs is None:
            chunk = self._ready[0] = self._emitted(self._ready[0])
            if chunk.batch_size == 1:
                self._ready.pop(0)
            else:
                self._ready[0] = jax.tree_util.tree_map(lambda x: x[1:], chunk)
                chunk = jax.tree_util.tree_map(lambda x: x[:1], chunk)
            self._num_ready -= 1
            return chunk
        return self.flush()

    def flush(self) -> TransitionBatch:
        """Take all ready transitions at once, oldest first (sub-envs in order per step).

        Returns:
            TransitionBatch: numpy leaves with leading axis ``B = bool(tracer)``'s count.

        Raises:
            InsufficientCacheError: (an ``IndexError``) if no transition is ready.
        """
        if not self._num_ready:
            raise InsufficientCacheError("no transition is ready to flush; add more steps "
                                         "(a transition is ready n steps later or when its "
                                         "episode ends)")
        chunks, self._ready, self._num_ready = self._ready, [], 0
        chunks = [self._emitted(chunk) for chunk in chunks]
        if len(chunks) == 1:
            return chunks[0]
        return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *chunks)

    def _emitted(self, chunk):
        """A chunk of ``_ready`` as a TransitionBatch: a deferred span is emitted in one
        pass (its rows in the order of the per-step emission); closes the open span."""
        if isinstance(chunk, TransitionBatch):
            return chunk
        if chunk is self._span:
            self._span = None
        if len(chunk) == 1:  # popped after every add (coax's loop)
            (t, env), = chunk
            times = np.full(len(env), t)
        else:
            times = np.repeat([t for t, _ in chunk], [len(env) for _, env in chunk])
            env = np.concatenate([env for _, env in chunk])
        return emit_full(self._ring, times, env, self.n, self.gamma, self._discounts,
                         self._gamma_powers, self.record_window)

    # --- validation (nothing recorded) ---------------------------------------------------

    def _refs(self):
        ring = self._ring
        if ring is None:
            return None, None
        return (ring.treedef, [x.shape[2:] for x in ring.s]), (ring.a.shape[2:], ring.a.dtype)

    def _check_mask(self, name, mask, lead, first=None):
        """The mask to record for this step (``None`` when masks are off).

        The first :meth:`add` switches masks on by ``mask=``; ``first`` is the mask already
        checked for ``s`` at this call (for ``mask_next``).
        """
        if self._masked is not None:
            masked, n_actions = self._masked, self._n_actions
        elif name == "mask":
            masked, n_actions = mask is not None, None
        else:
            masked, n_actions = first is not None, None if first is None else first.shape[-1]
        if mask is None:
            return np.ones(((lead or (1,))[0], n_actions), bool) if masked else None
        if not masked:
            raise ValueError(f"{name}= needs masks switched on by mask= at the first add() "
                             "after construction or reset(); masks are off")
        return inputs.mask_array(name, mask, lead, n_actions)

    def _check_single(self, s, a, r, done, logp, w, truncated, mask, s_next, mask_next,
                      a_next, logp_next):
        if not isinstance(done, (bool, np.bool_)) and np.ndim(done) > 0:
            raise ValueError(f"done has shape {np.shape(done)}, but this NStep traces a single "
                             f"env (num_envs=None); for a vector env of k sub-envs construct "
                             f"NStep(n, gamma, num_envs=k)")
        done, truncated = inputs.flag("done", done, ()), inputs.flag("truncated", truncated, ())
        if truncated and not done:
            raise ValueError("truncated=True requires done=True (done means the episode ended)")
        if not done:
            for name, x in [("s_next", s_next), ("mask_next", mask_next), ("a_next", a_next),
                            ("logp_next", logp_next)]:
                if x is not None:
                    raise ValueError(f"{name} is only used on the step with done=True, got "
                                     f"done={done!r}")
        if truncated and s_next is None:
            raise ValueError("truncated=True needs the final observation as s_next= "
                             "(the truncated return bootstraps from it)")
        if logp_next is not None and a_next is None:
            raise ValueError("logp_next= needs a_next=")
        if self._pending_episode():
            raise EpisodeDoneError("the previous add() ended the episode and its transitions "
                                   "are not all popped: pop() them (or flush()) first")
        obs_ref, a_ref = self._refs()
        s_leaves, treedef = inputs.observation("s", s, (), obs_ref)
        obs_ref = obs_ref or inputs.shapes_of(s_leaves, treedef)
        a = inputs.action("a", a, (), a_ref)
        a_ref = a_ref or (a.shape[1:], a.dtype)
        step = inputs.Step(
            s_leaves, treedef, a, self._reward(r, ()), self._logp("logp", logp, ()),
            self._weight(w, ()), self._check_mask("mask", mask, ()), np.array([done]),
            np.array([truncated]))
        if not done:
            return step, None
        # the final observation, recorded as the (reset) step after the last one
        if s_next is None:
            final_leaves, mask_final = step.s, self._check_mask("mask_next", None, (), step.mask)
        else:
            final_leaves, _ = inputs.observation("s_next", s_next, (), obs_ref)
            mask_final = self._check_mask("mask_next", mask_next, (), step.mask)
        if a_next is not None:
            a_next = inputs.action("a_next", a_next, (), a_ref)
        return step, inputs.Step(final_leaves, treedef, a_next, None,
                                 self._logp("logp_next", logp_next, ()), None, mask_final,
                                 None, None)

    def _check_vector(self, s, a, r, done, logp, w, truncated, mask):
        k = (self.num_envs,)
        obs_ref, a_ref = self._refs()
        s_leaves, treedef = inputs.observation("s", s, k, obs_ref)
        if np.ndim(done) == 0:
            raise ValueError(f"done must be bools of shape {k} (one per sub-env), got {done!r}")
        done = inputs.flag("done", done, k)
        truncated = inputs.flag("truncated", truncated, k)  # a scalar stays a Python bool
        if truncated is not False and np.count_nonzero(truncated & ~done):
            raise ValueError("truncated=True requires done=True (done means the episode ended)")
        return inputs.Step(s_leaves, treedef, inputs.action("a", a, k, a_ref),
                           self._reward(r, k), self._logp("logp", logp, k),
                           self._weight(w, k), self._check_mask("mask", mask, k), done,
                           truncated)

    @staticmethod
    def _reward(r, lead):
        return inputs.reals("r", r, lead, default=0.0, allow_scalar=False, rule="finite")

    @staticmethod
    def _logp(name, logp, lead):
        return inputs.reals(name, logp, lead, default=np.nan, allow_scalar=True, rule="logp")

    @staticmethod
    def _weight(w, lead):
        return inputs.reals("w", w, lead, default=1.0, allow_scalar=True, rule="positive")

    def _pending_episode(self):
        """Single env: the last add() ended the episode and not all of it was popped."""
        return self._t > 0 and self._start[0] == self._t and self._num_ready > 0

    # --- recording ---------------------------------------------------------------------
    #
    # Every add() is one time step t for all sub-envs at once. The last steps live in a ring
    # of preallocated (size, num_envs, ...) arrays at slot t % size, size = n + 1 + _defer;
    # sub-env i's window is the steps start[i] .. t, never longer than n + 1. Full windows
    # of a step without episode ends are not emitted at once: (t, sub-envs) joins the open
    # span (the last chunk of _ready), emitted in one pass by pop()/flush(), before the rows
    # of an episode end (emitted at once) or before the ring would overwrite a step its
    # first window needs (t - first time of the span > _defer): the ring never overwrites
    # a step that is still needed. A single env is a vector env of one
    # whose final observation arrives at the same add(): it is recorded as the next step.

    def _step(self, step):
        """Record time step t of every sub-env and emit the transitions it completes.

        ``step.done is None`` marks a single env's final-observation step; otherwise a
        sub-env whose episode ended at the previous step takes ``s`` as its final
        observation and ``a``, ``logp`` as the action there, and ignores ``r``.
        """
        n, t = self.n, self._t
        if self._span is not None and t - self._span[0][0] > self._defer:
            # writing step t would overwrite a step of the span's first windows
            self._ready[-1] = self._emitted(self._span)
        self._ring.write(t % self._ring.size, step)
        pending = self._pending != 0
        waiting = np.count_nonzero(pending) > 0  # (count_nonzero: the cheapest test here)
        if waiting:  # a sub-env ending its episode emits its whole window
            full = ~pending & (t - self._start >= n)
            counts = np.where(pending, t - self._start, full)
        else:  # the common case: each sub-env emits at most one row, its full window
            full = counts = t - self._start >= n
        emits = np.count_nonzero(counts) > 0
        if emits and self._defer and not waiting:  # full windows: emitted later
            env = np.flatnonzero(counts)
            if self._span is None:
                self._span = []
                self._ready.append(self._span)
            self._span.append((t, env))
            self._num_ready += len(env)
        elif emits:
            batch = emit_rows(self._ring, counts, pending, self._pending, self._start, t, n,
                              self.gamma, self._discounts, self._gamma_powers, step.done,
                              self.record_extra_info, self.record_window)
            if self._span is not None:  # emitted now: only the open span is kept in the ring
                self._ready[-1] = self._emitted(self._span)
            self._ready.append(batch)
            self._num_ready += batch.batch_size
        self._start = np.where(pending, t + 1, self._start + full) if waiting else \
            self._start + full
        if step.done is None:
            self._pending[:] = 0
        elif np.count_nonzero(step.done):  # 1: truncated, 2: terminated, 0: still running (or reset)
            ended = np.where(step.truncated, 1, 2)
            self._pending = np.where(~pending & step.done, ended, 0).astype(np.int8)
        elif waiting:  # nothing ended at this step: nothing awaits a final observation
            self._pending = np.zeros_like(self._pending)
        self._t = t + 1
