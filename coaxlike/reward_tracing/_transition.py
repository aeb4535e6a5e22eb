"""TransitionBatch: the pytree of n-step transitions that tracers emit and buffers store."""
import copy as _copy
import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import as_real, check_bool

__all__ = ["TransitionBatch"]

# coax's fields first, in coax's order (positional construction as in coax), then ours
_FIELDS = ("S", "A", "logP", "Rn", "In", "S_next", "A_next", "logP_next", "W", "idx",
           "extra_info", "mask_next", "A_seq", "logP_seq", "R_seq", "gamma_seq", "valid_seq",
           "S_seq", "mask_seq")
_WINDOW = ("A_seq", "logP_seq", "R_seq", "gamma_seq", "valid_seq", "S_seq")


class TransitionBatch:
    r"""A batch of ``B`` n-step transitions; every leaf has leading batch axis ``B``.

    A mutable container registered as a JAX pytree (its fields, in the order of
    :attr:`_fields`, are its children; ``None`` fields are empty subtrees): it can be passed
    to and returned from ``jax.jit``/``jax.vmap``, mapped with ``jax.tree_util.tree_map``,
    pickled and deep-copied. Fields can be assigned as in coax (``tb.W = w``); ``copy()``
    and ``_replace(**fields)`` return new batches and leave this one unchanged. Tracers and
    host-side buffers produce numpy arrays; inside compiled code the leaves are JAX arrays.

    Why a class and not a ``NamedTuple``: coax code assigns fields and calls ``copy()``. The
    class has ``__slots__`` (a misspelt field raises ``AttributeError``) and its pytree
    flattening bypasses the constructor, so JAX rebuilds batches of tracers or ``None``
    leaves unchanged. A jitted call taking a batch costs about what it cost with a
    ``NamedTuple``; flattening and ``_replace`` cost a few µs more (Python callbacks), see
    ``python -m benchmarks.tracing``. Leaves are never copied or validated on assignment.

    For a transition starting at time :math:`t` with :math:`K \le n` steps available
    (:math:`K < n` only when the episode ended inside the window):

    .. math::

        R^{(n)}_t = \sum_{k<K} \gamma^k r_{t+k}, \qquad
        I^{(n)}_t = \begin{cases} 0 & \text{if the episode terminated within the window} \\
                                  \gamma^K & \text{otherwise (including truncation)}
                    \end{cases}

    and the n-step target is :math:`R^{(n)}_t + I^{(n)}_t\, v(s_{t+K})`, with
    :math:`v(s) = \max_a q(s, a)` (Q-learning), :math:`\mathbb{E}_{a\sim\pi} q(s, a)`
    (expected SARSA) or :math:`q(s, A_\text{next})` (SARSA). That default target reads
    ``Rn``, ``In``, ``S_next`` (and ``A_next``, ``mask_next``), never a log-propensity.

    Fields (``...`` is the shape of one raw observation leaf, ``n_actions`` the number of
    discrete actions, ``n`` the tracer's horizon):

    * ``S``: raw observations :math:`s_t` as given by the env, a pytree of ``(B, ...)``.
      Not preprocessed: learners preprocess inside their compiled functions.
    * ``A``: env actions :math:`a_t`: ``(B,)`` integers for ``Discrete`` (the values the env
      uses, i.e. including the space's ``start``), ``(B, *shape)`` float32 for ``Box``.
    * ``logP``: behaviour log-propensities :math:`\log b(a_t|s_t)`, ``(B,)`` float32;
      **NaN where not recorded** (a tracer given no ``logp``): a missing log-propensity is
      never taken as :math:`\log 1`.
    * ``Rn``: discounted n-step reward :math:`R^{(n)}_t`, ``(B,)`` float32.
    * ``In``: bootstrap factor :math:`I^{(n)}_t`, ``(B,)`` float32.
    * ``S_next``: :math:`s_{t+K}`, a pytree of ``(B, ...)``; when ``In == 0`` any valid
      observation (the tracer uses the terminal one if it was given).
    * ``A_next``: the action :math:`a_{t+K}` taken at ``S_next``, like ``A`` (what SARSA
      bootstraps from). Where no action is known there (a single env's episode ended inside
      the window and no ``a_next`` was given to the tracer, or a batch built without
      ``A_next``), it is a copy of ``A``: a valid action, not the next one.
    * ``logP_next``: :math:`\log b(a_{t+K}|s_{t+K})`, ``(B,)`` float32; NaN where
      ``A_next`` is not known or its log-propensity was not recorded.
    * ``W``: sample weights, ``(B,)`` float32: the tracer's ``w`` (default 1); importance
      weights from prioritized replay, ones from uniform replay.
    * ``idx``: buffer indices, ``(B,)`` int32; zeros when the batch did not come from a
      buffer.
    * ``extra_info``: ``None``, or coax's per-step record from
      ``NStep(..., record_extra_info=True)``: a dict of tuples of ``n + 1`` arrays ``(B,
      ...)`` under ``'states'``, ``'actions'``, ``'rewards'``, ``'dones'``, ``'log_props'``
      and ``'weights'``.
    * ``mask_next``: legal actions at ``S_next``, bool ``(B, n_actions)``, or ``None`` when
      no action masks were given.
    * ``A_seq``: actions :math:`a_t, \dots, a_{t+n-1}`, ``(B, n)`` (or ``(B, n, *shape)``
      for ``Box``); padding steps repeat the last real action.
    * ``logP_seq``: their behaviour log-propensities, ``(B, n)`` float32; NaN where not
      recorded, 0 for padding steps.
    * ``R_seq``: rewards :math:`r_t, \dots, r_{t+n-1}`, ``(B, n)`` float32; padding is 0.
    * ``gamma_seq``: per-step discount, ``(B, n)`` float32: :math:`\gamma` after a normal
      (or truncating) step, 0 after the terminating step, 0 for padding steps.
    * ``valid_seq``: ``(B, n)`` float32, 1 for real steps (the first ``K``), 0 for padding.
    * ``S_seq``: observations :math:`s_t, \dots, s_{t+n}`, a pytree of ``(B, n + 1, ...)``;
      padding repeats :math:`s_{t+K}`.
    * ``mask_seq``: legal actions at those observations, bool ``(B, n + 1, n_actions)``, or
      ``None`` when no action masks were given.

    The constructor takes coax's arguments (``S, A, logP, Rn, In, S_next, A_next=None,
    logP_next=None, W=None, idx=None, extra_info=None``) and fills what is not given: the
    window fields as for a one-step transition (see :meth:`from_one_step`; give all six
    window fields or none), ``A_next``/``logP_next`` as "not known", ``W`` ones, ``idx``
    zeros, ``logP`` NaN if ``None``. Leaves are used as given (numpy or JAX arrays).

    Examples:
        >>> import numpy as np
        >>> from coaxlike.reward_tracing import TransitionBatch
        >>> tb = TransitionBatch.from_one_step(
        ...     S=np.zeros((2, 4), np.float32), A=np.array([0, 1]), Rn=np.array([1.0, 0.5]),
        ...     In=np.array([0.5, 0.0]), S_next=np.ones((2, 4), np.float32))
        >>> tb.batch_size, tb.S_seq.shape, tb.gamma_seq.tolist(), tb.logP.tolist()
        (2, (2, 2, 4), [[0.5], [0.0]], [nan, nan])
        >>> tb.W = np.array([0.5, 2.0], np.float32)  # as coax code does
        >>> tb.copy().W.tolist(), tb._replace(W=None).W is None
        ([0.5, 2.0], True)
    """

    __slots__ = _FIELDS
    _fields = _FIELDS

    def __init__(self, S, A, logP, Rn, In, S_next, A_next=None, logP_next=None, W=None,
                 idx=None, extra_info=None, *, mask_next=None, A_seq=None, logP_seq=None,
                 R_seq=None, gamma_seq=None, valid_seq=None, S_seq=None, mask_seq=None):
        window = dict(A_seq=A_seq, logP_seq=logP_seq, R_seq=R_seq, gamma_seq=gamma_seq,
                      valid_seq=valid_seq, S_seq=S_seq)
        given = [name for name, x in window.items() if x is not None]
        if given and len(given) < len(window):
            missing = [name for name in window if name not in given]
            raise ValueError(f"give all window fields {list(window)} or none; got {given}, "
                             f"missing {missing}")
        xp = _namespace((S, A, logP, Rn, In, S_next, A_next, logP_next, W, idx, mask_next))
        A = xp.asarray(A)
        batch = A.shape[0]

        def nan_if_none(x):
            return xp.full((batch,), np.nan, xp.float32) if x is None else x

        logP = nan_if_none(logP)
        if not given:
            f32 = lambda x: xp.asarray(x, xp.float32)  # noqa: E731
            window = dict(
                A_seq=A[:, None], logP_seq=f32(logP)[:, None], R_seq=f32(Rn)[:, None],
                gamma_seq=f32(In)[:, None], valid_seq=xp.ones((batch, 1), xp.float32),
                S_seq=jax.tree_util.tree_map(lambda s, s1: xp.stack([s, s1], axis=1),
                                             S, S_next))
            if mask_next is not None and mask_seq is None:
                mask_next = xp.asarray(mask_next, bool)
                mask_seq = xp.stack([xp.ones_like(mask_next), mask_next], axis=1)
        _set_fields(self, dict(
            S=S, A=A, logP=logP, Rn=Rn, In=In, S_next=S_next,
            A_next=xp.array(A, copy=True) if A_next is None else A_next,
            logP_next=nan_if_none(logP_next),
            W=xp.ones((batch,), xp.float32) if W is None else W,
            idx=xp.zeros((batch,), xp.int32) if idx is None else idx,
            extra_info=extra_info, mask_next=mask_next, mask_seq=mask_seq, **window))

    @property
    def batch_size(self) -> int:
        """The number of transitions ``B`` (the leading dimension of ``A``)."""
        return int(self.A.shape[0])

    def _replace(self, **fields) -> "TransitionBatch":
        """A new batch with ``fields`` replaced, as ``NamedTuple._replace``: nothing is
        filled or converted (``W=None`` gives a batch without ``W``). This batch is unchanged.

        Raises:
            ValueError: for a name that is not a field.
        """
        new = _unflatten(None, _get_all(self))
        for name, value in fields.items():
            if name not in _SETTERS:
                raise ValueError(f"TransitionBatch has no field(s) "
                                 f"{sorted(set(fields) - set(_FIELDS))}; the fields are "
                                 f"{list(_FIELDS)}")
            _SETTERS[name](new, value)
        return new

    def _asdict(self) -> dict:
        """The fields as a dict, in :attr:`_fields` order (the leaves themselves, not copies)."""
        return {name: getattr(self, name) for name in _FIELDS}

    def copy(self, deep: bool = False) -> "TransitionBatch":
        """A copy, as coax's ``tb.copy()``: assigning a field of the copy leaves this batch
        unchanged; with ``deep=True`` the arrays are copied too.

        Args:
            deep: copy the leaves as well (``copy.deepcopy``).
        """
        return _copy.deepcopy(self) if deep else self._replace()

    def to_singles(self):
        """Iterate over the rows as batches of one (``batch_size == 1``), first row first.

        Yields:
            TransitionBatch: row ``i`` with every leaf sliced to ``[i:i + 1]``.
        """
        for i in range(self.batch_size):
            yield jax.tree_util.tree_map(lambda x, i=i: x[i:i + 1], self)

    @classmethod
    def from_single(cls, s, a, logp, r, done, gamma, s_next=None, a_next=None, logp_next=None,
                    w=1.0, idx=None, extra_info=None) -> "TransitionBatch":
        r"""One transition as a batch of one, with coax's arguments: ``In = gamma * (1 -
        done)`` (``done`` cuts the bootstrap, as in coax), ``logp=None`` is "not recorded".

        Args:
            s: one observation (a pytree of arrays).
            a: one action.
            logp: its log-propensity (<= 0), or ``None``.
            r: the (n-step) reward.
            done: whether the episode ended (a bool).
            gamma: the bootstrap discount, in [0, 1].
            s_next: the next observation; ``s`` if ``None`` (then ``done`` should be True).
            a_next: the action taken at ``s_next``, or ``None`` (not known).
            logp_next: its log-propensity, or ``None``.
            w: the sample weight (> 0).
            idx: an int index, or ``None`` (0).
            extra_info: kept as given, with a leading axis of one on every leaf.

        Returns:
            TransitionBatch: ``B = 1``, window length ``n = 1``.

        Raises:
            TypeError: for a non-bool ``done``, or a ``gamma`` or ``w`` that is not a number.
            ValueError: for ``gamma`` outside [0, 1], ``logp > 0`` or ``w <= 0``.
        """
        check_bool(done, "done")
        for name, x in [("logp", logp), ("logp_next", logp_next)]:
            if x is not None and np.any(np.asarray(x) > 0):
                raise ValueError(f"{name} must be a log-probability <= 0 or None, got {x!r}")
        if not 0.0 <= as_real(gamma, "gamma", "a number in [0, 1]") <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
        if not as_real(w, "w", "a number > 0") > 0:
            raise ValueError(f"w must be > 0, got {w!r}")

        def one(x, dtype=None):
            return None if x is None else jax.tree_util.tree_map(
                lambda y: np.asarray(y, dtype)[None], x)

        s_next = s if s_next is None else s_next
        return cls.from_one_step(
            one(s), one(a), one(r, np.float32), np.array([float(gamma) * (1.0 - done)]),
            one(s_next), logP=one(logp, np.float32), W=one(w, np.float32),
            idx=one(0 if idx is None else idx, np.int32), A_next=one(a_next),
            logP_next=one(logp_next, np.float32))._replace(extra_info=one(extra_info))

    def __repr__(self) -> str:
        def describe(x):
            if x is None:
                return "None"
            leaves = jax.tree_util.tree_leaves(x)
            if len(leaves) == 1 and leaves[0] is x and hasattr(x, "shape"):
                return f"{np.dtype(x.dtype).name}{list(x.shape)}"
            return f"<pytree, {len(leaves)} leaves>"

        body = ", ".join(f"{name}={describe(getattr(self, name))}" for name in _FIELDS)
        return f"TransitionBatch({body})"

    @classmethod
    def from_one_step(cls, S, A, Rn, In, S_next, *, logP=None, mask=None, mask_next=None,
                      W=None, idx=None, A_next=None, logP_next=None) -> "TransitionBatch":
        r"""Build a batch of one-step (``n = 1``) transitions, filling the derived fields.

        The window fields follow from ``n = 1``: ``A_seq = A[:, None]``, ``R_seq = Rn[:, None]``,
        ``gamma_seq = In[:, None]`` (for one step the discount after the step *is* the
        bootstrap factor), ``valid_seq`` ones, ``S_seq`` stacks ``S`` and ``S_next`` along
        axis 1. Uses ``jax.numpy`` when any input is a JAX array (so it works inside
        ``jax.jit``), numpy otherwise; ``Rn``, ``In``, ``logP``, ``logP_next``, ``W`` become
        float32 and ``idx`` int32.

        Args:
            S: observations, a pytree of ``(B, ...)``.
            A: actions, ``(B,)`` or ``(B, *shape)``.
            Rn: rewards, ``(B,)``.
            In: bootstrap factors (:math:`\gamma`, or 0 after termination), ``(B,)``.
            S_next: next observations, a pytree of ``(B, ...)``.
            logP: behaviour log-propensities ``(B,)``; NaN (not recorded) if ``None``.
            mask: legal actions at ``S``, bool ``(B, n_actions)``; all True if ``None`` while
                ``mask_next`` is given.
            mask_next: legal actions at ``S_next``, bool ``(B, n_actions)``; all True if
                ``None`` while ``mask`` is given. Both ``None``: the mask fields are ``None``.
            W: sample weights ``(B,)``; ones if ``None``.
            idx: buffer indices ``(B,)``; zeros if ``None``.
            A_next: the actions taken at ``S_next``, like ``A`` (for SARSA); if ``None``
                they are not known and ``A_next`` is a copy of ``A``.
            logP_next: their log-propensities ``(B,)``; NaN if ``None``.

        Returns:
            TransitionBatch: a batch with ``B`` rows and window length ``n = 1``.

        Examples:
            >>> import numpy as np
            >>> from coaxlike.reward_tracing import TransitionBatch
            >>> tb = TransitionBatch.from_one_step(
            ...     S=np.zeros((1, 2)), A=np.array([1]), Rn=np.array([1.0]),
            ...     In=np.array([0.9]), S_next=np.ones((1, 2)), A_next=np.array([0]))
            >>> tb.A_next.tolist(), tb.logP_next.tolist(), tb.A_seq.tolist()
            ([0], [nan], [[1]])
        """
        xp = _namespace((S, A, Rn, In, S_next, logP, mask, mask_next, W, idx, A_next,
                         logP_next))
        A = xp.asarray(A)
        batch = A.shape[0]

        def f32(x):
            return None if x is None else xp.asarray(x, xp.float32)

        mask_seq = None
        if mask is not None or mask_next is not None:
            n_actions = (mask if mask is not None else mask_next).shape[-1]
            mask, mask_next = (xp.ones((batch, n_actions), bool) if m is None
                               else xp.asarray(m, bool) for m in (mask, mask_next))
            mask_seq = xp.stack([mask, mask_next], axis=1)
        return cls(S, A, f32(logP), f32(Rn), f32(In), S_next,
                   A_next=None if A_next is None else xp.asarray(A_next, A.dtype),
                   logP_next=f32(logP_next), W=f32(W),
                   idx=None if idx is None else xp.asarray(idx, xp.int32),
                   mask_next=mask_next, mask_seq=mask_seq)


def _namespace(trees):
    """``jax.numpy`` when any leaf is a JAX array (e.g. a tracer), numpy otherwise."""
    return jnp if any(isinstance(x, jax.Array) for x in jax.tree_util.tree_leaves(trees)) else np


def _set_fields(tb, fields):
    for name, value in fields.items():
        _SETTERS[name](tb, value)
    return tb


def _make(fields):
    """A batch from all fields, as given (no filling): for tracers and buffers."""
    return _set_fields(object.__new__(TransitionBatch), fields)


_KEYS = tuple(jax.tree_util.GetAttrKey(name) for name in _FIELDS)
_get_all = operator.attrgetter(*_FIELDS)  # all fields as a tuple, in order
_SETTERS = {name: TransitionBatch.__dict__[name].__set__ for name in _FIELDS}  # slot setters
_SET_ALL = tuple(_SETTERS.values())


def _flatten_with_keys(tb):
    return tuple(zip(_KEYS, _get_all(tb))), None


def _flatten(tb):
    return _get_all(tb), None


def _unflatten(_, children):
    # not through __init__: children may be tracers, None or JAX's placeholder objects
    tb = object.__new__(TransitionBatch)
    for set_field, child in zip(_SET_ALL, children):
        set_field(tb, child)
    return tb


jax.tree_util.register_pytree_with_keys(TransitionBatch, _flatten_with_keys, _unflatten,
                                        _flatten)
