"""TransitionBatch: the pytree of n-step transitions that tracers emit and buffers store."""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["TransitionBatch"]


class TransitionBatch(NamedTuple):
    r"""A batch of ``B`` n-step transitions; every leaf has leading batch axis ``B``.

    A ``NamedTuple``, hence a pytree: ``jax.tree_util.tree_map`` reaches every array, and a
    batch can be passed to or returned from ``jax.jit``. Tracers and host-side buffers produce
    numpy arrays; inside compiled code the leaves are JAX arrays. Fields that are ``None``
    (only ``mask_next`` and ``mask_seq`` may be) are empty subtrees.

    For a transition starting at time :math:`t` with :math:`K \le n` steps available
    (:math:`K < n` only when the episode ended inside the window):

    .. math::

        R^{(n)}_t = \sum_{k<K} \gamma^k r_{t+k}, \qquad
        I^{(n)}_t = \begin{cases} 0 & \text{if the episode terminated within the window} \\
                                  \gamma^K & \text{otherwise (including truncation)}
                    \end{cases}

    and the n-step target is :math:`R^{(n)}_t + I^{(n)}_t \max_a q(s_{t+K}, a)`.

    Fields (``...`` is the shape of one raw observation leaf, ``n_actions`` the number of
    discrete actions, ``n`` the tracer's horizon):

    * ``S``: raw observations :math:`s_t` as given by the env, a pytree of ``(B, ...)``.
      Not preprocessed: learners preprocess inside their compiled functions.
    * ``A``: env actions :math:`a_t`: ``(B,)`` integers for ``Discrete`` (the values the env
      uses, i.e. including the space's ``start``), ``(B, *shape)`` float32 for ``Box``.
    * ``logP``: behaviour log-propensities :math:`\log b(a_t|s_t)`, ``(B,)`` float32.
    * ``Rn``: discounted n-step reward :math:`R^{(n)}_t`, ``(B,)`` float32.
    * ``In``: bootstrap factor :math:`I^{(n)}_t`, ``(B,)`` float32.
    * ``S_next``: :math:`s_{t+K}`, a pytree of ``(B, ...)``; when ``In == 0`` any valid
      observation (the tracer uses the terminal one if it was given).
    * ``mask_next``: legal actions at ``S_next``, bool ``(B, n_actions)``, or ``None`` when
      no action masks were given.
    * ``A_seq``: actions :math:`a_t, \dots, a_{t+n-1}`, ``(B, n)`` (or ``(B, n, *shape)``
      for ``Box``); padding steps repeat the last real action.
    * ``logP_seq``: their behaviour log-propensities, ``(B, n)`` float32; padding is 0.
    * ``R_seq``: rewards :math:`r_t, \dots, r_{t+n-1}`, ``(B, n)`` float32; padding is 0.
    * ``gamma_seq``: per-step discount, ``(B, n)`` float32: :math:`\gamma` after a normal
      (or truncating) step, 0 after the terminating step, 0 for padding steps.
    * ``valid_seq``: ``(B, n)`` float32, 1 for real steps (the first ``K``), 0 for padding.
    * ``S_seq``: observations :math:`s_t, \dots, s_{t+n}`, a pytree of ``(B, n + 1, ...)``;
      padding repeats :math:`s_{t+K}`.
    * ``mask_seq``: legal actions at those observations, bool ``(B, n + 1, n_actions)``, or
      ``None`` when no action masks were given.
    * ``W``: importance weights, ``(B,)`` float32; ones except from prioritized replay.
    * ``idx``: buffer indices, ``(B,)`` int32; zeros when the batch did not come from a
      buffer.

    All fields are required; :meth:`from_one_step` fills the window fields, ``W`` and
    ``idx`` from a one-step transition, which is the convenient way to build a batch by hand.

    Examples:
        >>> import numpy as np
        >>> from coaxlike.reward_tracing import TransitionBatch
        >>> tb = TransitionBatch.from_one_step(
        ...     S=np.zeros((2, 4), np.float32), A=np.array([0, 1]), Rn=np.array([1.0, 0.5]),
        ...     In=np.array([0.5, 0.0]), S_next=np.ones((2, 4), np.float32))
        >>> tb.batch_size, tb.S_seq.shape, tb.gamma_seq.tolist()
        (2, (2, 2, 4), [[0.5], [0.0]])
    """

    S: Any
    A: Any
    logP: Any
    Rn: Any
    In: Any
    S_next: Any
    mask_next: Any
    A_seq: Any
    logP_seq: Any
    R_seq: Any
    gamma_seq: Any
    valid_seq: Any
    S_seq: Any
    mask_seq: Any
    W: Any
    idx: Any

    @property
    def batch_size(self) -> int:
        """The number of transitions ``B`` (the leading dimension of ``A``)."""
        return int(self.A.shape[0])

    @classmethod
    def from_one_step(cls, S, A, Rn, In, S_next, *, logP=None, mask=None, mask_next=None,
                      W=None, idx=None) -> "TransitionBatch":
        r"""Build a batch of one-step (``n = 1``) transitions, filling the derived fields.

        The window fields follow from ``n = 1``: ``A_seq = A[:, None]``, ``R_seq = Rn[:, None]``,
        ``gamma_seq = In[:, None]`` (for one step the discount after the step *is* the
        bootstrap factor), ``valid_seq`` ones, ``S_seq`` stacks ``S`` and ``S_next`` along
        axis 1. Uses ``jax.numpy`` when any input is a JAX array (so it works inside
        ``jax.jit``), numpy otherwise.

        Args:
            S: observations, a pytree of ``(B, ...)``.
            A: actions, ``(B,)`` or ``(B, *shape)``.
            Rn: rewards, ``(B,)``.
            In: bootstrap factors (:math:`\gamma`, or 0 after termination), ``(B,)``.
            S_next: next observations, a pytree of ``(B, ...)``.
            logP: behaviour log-propensities ``(B,)``; zeros if ``None``.
            mask: legal actions at ``S``, bool ``(B, n_actions)``; all True if ``None`` while
                ``mask_next`` is given.
            mask_next: legal actions at ``S_next``, bool ``(B, n_actions)``; all True if
                ``None`` while ``mask`` is given. Both ``None``: the mask fields are ``None``.
            W: importance weights ``(B,)``; ones if ``None``.
            idx: buffer indices ``(B,)``; zeros if ``None``.

        Returns:
            TransitionBatch: a batch with ``B`` rows and window length ``n = 1``.
        """
        leaves = jax.tree_util.tree_leaves((S, A, Rn, In, S_next, logP, mask, mask_next, W, idx))
        xp = jnp if any(isinstance(x, jax.Array) for x in leaves) else np
        A = xp.asarray(A)
        batch = A.shape[0]

        def f32(x, fill):
            return xp.full((batch,), fill, xp.float32) if x is None else xp.asarray(x, xp.float32)

        Rn, In, logP, W = f32(Rn, 0.0), f32(In, 0.0), f32(logP, 0.0), f32(W, 1.0)
        idx = xp.zeros((batch,), xp.int32) if idx is None else xp.asarray(idx, xp.int32)
        if mask is None and mask_next is None:
            mask_seq = None
        else:
            n_actions = (mask if mask is not None else mask_next).shape[-1]
            mask, mask_next = (xp.ones((batch, n_actions), bool) if m is None
                               else xp.asarray(m, bool) for m in (mask, mask_next))
            mask_seq = xp.stack([mask, mask_next], axis=1)
        return cls(
            S=S, A=A, logP=logP, Rn=Rn, In=In, S_next=S_next, mask_next=mask_next,
            A_seq=A[:, None], logP_seq=logP[:, None], R_seq=Rn[:, None], gamma_seq=In[:, None],
            valid_seq=xp.ones((batch, 1), xp.float32),
            S_seq=jax.tree_util.tree_map(lambda s, s1: xp.stack([s, s1], axis=1), S, S_next),
            mask_seq=mask_seq, W=W, idx=idx)

