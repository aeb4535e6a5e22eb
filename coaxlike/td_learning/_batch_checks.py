"""Which batch fields a learner reads, and the host-side diagnosis of a refused batch.

The compiled step checks a batch cheaply in-graph (ranges that a NaN would not reveal, and a
finite loss, gradients and updates); only when that check fails does the shell come here,
on the host, to name the first bad field for the error message.
"""
import jax
import numpy as np

from ._update import _reads_next_action

__all__ = []  # private module

_ONE_STEP = ("S", "A", "Rn", "In", "S_next", "mask_next", "W")
_WINDOW = ("A_seq", "logP_seq", "R_seq", "gamma_seq", "valid_seq", "S_seq", "mask_seq")


def _needed_fields(spec, window):
    """The names of the fields the learner's target and loss read from a batch (``window``:
    the batch has windows longer than one step, which Retrace reads)."""
    names = _ONE_STEP + (("A_next",) if _reads_next_action(spec) else ())
    if window:
        names += _WINDOW
    return names


def _first(bad, x):
    """``(row, value)`` of the first flagged element of ``x`` (``bad`` has ``x``'s shape)."""
    index = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
    label = f"row {index[0]}" + (f", index {tuple(int(i) for i in index[1:])}"
                                 if len(index) > 1 else "")
    return label, str(x[index])  # numpy's str: float32 1.9 prints as 1.9


def _problems(spec, tb):
    """Yield ``(field, requirement, bad mask, values)`` for every check, in message order."""
    lo, hi = spec.action_start, spec.action_start + spec.n_actions - 1
    actions = f"actions in [{lo}, {hi}] (the action space)"
    window = getattr(spec, "correction", None) == "retrace" and np.shape(tb.A_seq)[1] > 1
    for name in ("A",) + (("A_next",) if _reads_next_action(spec) else ()) \
            + (("A_seq",) if window else ()):
        x = np.asarray(getattr(tb, name))
        yield name, actions, (x < lo) | (x > hi), x
    for name, need in (("Rn", "finite"), ("In", "in [0, 1] (gamma^K, or 0 after termination)"),
                       ("W", "finite and >= 0")):
        if getattr(tb, name) is None:  # td_error does not read W
            continue
        x = np.asarray(getattr(tb, name))
        bad = ~np.isfinite(x)
        if name == "In":
            bad |= (x < 0) | (x > 1)
        elif name == "W":
            bad |= x < 0
        yield name, need, bad, x
    fields = ("S", "S_next") + (("logP_seq", "R_seq", "gamma_seq", "valid_seq", "S_seq")
                                if window else ())
    for name in fields:
        leaves = jax.tree_util.tree_leaves(getattr(tb, name))
        for leaf in map(np.asarray, leaves):
            if not np.issubdtype(leaf.dtype, np.inexact):
                continue
            if name == "logP_seq":
                valid = np.asarray(tb.valid_seq) > 0
                valid[:, 0] = False  # the first step's log-propensity is never used
                yield (name, "recorded (not NaN) for the steps Retrace reads: "
                       "off_policy_correction='retrace' needs the behaviour policy's "
                       "log-propensities; record them (e.g. a, logp = pi(s, "
                       "return_logp=True); tracer.add(s, a, r, done, logp)) or use "
                       "off_policy_correction=None", np.isnan(leaf) & valid, leaf)
                continue
            bad = ~np.isfinite(leaf)
            if name in ("gamma_seq", "valid_seq"):
                bad |= (leaf < 0) | (leaf > 1)
            yield name, "finite" if name not in ("gamma_seq", "valid_seq") else \
                "in [0, 1]", bad, leaf


def _raise_for_batch(spec, tb, what):
    """Raise the error for a batch the compiled ``what`` (``'update'`` or ``'td_error'``)
    refused."""
    kept = ("the update was refused and q, the optimizer state and the key are unchanged"
            if what == "update" else "the key is unchanged")
    for name, need, bad, x in _problems(spec, tb):
        if np.any(bad):
            where, value = _first(bad, x)
            raise ValueError(f"transition_batch.{name} must be {need}, got {value} at "
                             f"{where}; {kept}")
    raise FloatingPointError(
        f"{what} produced a non-finite loss, gradient or TD error from a valid batch "
        f"(e.g. the network or optimizer diverged); {kept}")
