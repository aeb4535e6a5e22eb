"""A policy call's host-side inputs, checked: the action mask and the action; and the error
for Q-values that are not finite."""
import numpy as np

from .._spaces import batch_size, refuse_tracers

__all__ = []  # private module

_NONFINITE = ("the Q-values of the allowed actions must be finite, got NaN or inf for "
              "{where} (or logits overflowing to inf); check the network (the pure "
              "functions return NaN logits and log-propensities here)")


def check_mask(q, action_mask, S):
    """``action_mask`` checked against ``q``'s actions and the observation(s) ``S`` and
    returned as a bool array (``None`` stays ``None``): ``TypeError`` for a dtype that is not
    bool or integer, ``ValueError`` for other values, shapes or an all-False row."""
    if action_mask is None:
        return None
    m = np.asarray(refuse_tracers(action_mask, "action_mask"))
    n = q.n_actions
    if m.dtype != bool:
        if m.dtype.kind not in "iu":
            raise TypeError(f"action_mask must be a bool array (True = allowed), got "
                            f"dtype {m.dtype}: {m!r}")
        if not np.isin(m, (0, 1)).all():
            raise ValueError(f"action_mask must be a bool array (True = allowed), got "
                             f"{m.dtype} values {m!r}")
        m = m.astype(bool)
    ndim = 2 if q.batched else 1
    if m.ndim != ndim or m.shape[-1] != n:
        want = f"(batch, {n})" if q.batched else f"({n},)"
        raise ValueError(f"action_mask must have shape {want}, got {m.shape}")
    if q.batched and m.shape[0] != batch_size(S):  # (1, n) is not broadcast either
        raise ValueError(f"action_mask must have one row per observation, shape "
                         f"({batch_size(S)}, {n}) for this batch of s, got {m.shape}")
    # one observation: a list scan, not m.any(); a numpy reduction here measured ~5 µs
    # per call under JAX's async CPU dispatch (the call itself costs ~55 µs)
    if not (m.any(axis=-1).all() if q.batched else True in m.tolist()):
        rows = np.flatnonzero(~m.reshape(-1, n).any(axis=-1)).tolist()
        raise ValueError("action_mask must allow at least one action, got an all-False "
                         f"mask (rows {rows})" if q.batched else
                         "action_mask must allow at least one action, got all False")
    return m


def check_action(q, a, S):
    """``a`` checked as (a batch of) integer actions of ``q`` for the observation(s) ``S``:
    ``TypeError`` for a non-integer dtype, ``ValueError`` for actions out of range or of the
    wrong shape."""
    A = np.asarray(refuse_tracers(a, "a"))
    low = q.action_start
    want = "(batch,) array of" if q.batched else "an"
    if A.dtype.kind not in "iu":
        raise TypeError(f"a must be {want} integer action(s) in [{low}, "
                        f"{low + q.n_actions}), got dtype {A.dtype}: {a!r}")
    if A.ndim != int(q.batched) or np.any(A < low) \
            or np.any(A >= low + q.n_actions):
        raise ValueError(f"a must be {want} integer action(s) in [{low}, "
                         f"{low + q.n_actions}), got {a!r}")
    if q.batched and A.shape[0] != batch_size(S):
        raise ValueError(f"a must have one action per observation, shape "
                         f"({batch_size(S)},) for this batch of s, got {A.shape}")
    return A


def raise_nonfinite(bad_rows=None):
    """Raise the ``ValueError`` for non-finite Q-values of allowed actions (naming the rows
    of a batch when ``bad_rows`` marks them)."""
    where = ("this observation" if bad_rows is None
             else f"rows {np.flatnonzero(bad_rows).tolist()}")
    raise ValueError(_NONFINITE.format(where=where))
