"""The metrics a learner's update returns: one packed device array, read lazily."""
import collections.abc

import jax.numpy as jnp
import numpy as np

__all__ = ["Metrics"]


class Metrics(collections.abc.Mapping):
    """The metrics of one :meth:`TDLearner.update`: a read-only mapping name -> float32.

    Holds one array of all values (numpy from :meth:`TDLearner.update`, which has read it to
    check the step; a device array is converted on the first read).

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import Metrics
        >>> m = Metrics(jnp.array([0.5, 0.1, 0.2, 0.3, 1.5]))
        >>> sorted(m), float(m["loss"])
        (['grad_norm', 'loss', 'td_error_abs_max', 'td_error_abs_mean', 'td_error_mean'], 0.5)
    """

    NAMES = ("loss", "td_error_mean", "td_error_abs_mean", "td_error_abs_max", "grad_norm")

    def __init__(self, packed):
        self._packed, self._values = packed, None

    def __getitem__(self, name):
        if self._values is None:
            self._values = dict(zip(self.NAMES, np.asarray(self._packed)))
        return self._values[name]

    def __iter__(self):
        return iter(self.NAMES)

    def __len__(self):
        return len(self.NAMES)

    def block_until_ready(self):
        """Wait for the update that produced these metrics; returns ``self``."""
        if hasattr(self._packed, "block_until_ready"):
            self._packed.block_until_ready()
        return self

    def __repr__(self):
        return f"Metrics({dict(self)})"


def _packing_metrics(step, with_td):
    """The shell's compiled function over ``step(learner_state, transition_batch, rng) ->
    (new_learner_state, metrics, td_error, ok)``: returns only what an update changes,
    ``(params, function_state, opt_state)``, the metrics packed into one array in
    ``Metrics.NAMES`` order followed by ``1 - ok`` (the shell reads it to refuse the step),
    and, ``with_td``, the TD errors. A jitted function copies every output, so returning the
    unchanged target network and hyperparameters would cost a copy kernel each per call."""
    def packed(learner_state, transition_batch, rng):
        new, metrics, td, ok = step(learner_state, transition_batch, rng)
        flat = jnp.stack([metrics[name] for name in Metrics.NAMES]
                         + [(~ok).astype(jnp.float32)])
        out = ((new.params, new.function_state, new.opt_state), flat)
        return out + (td,) if with_td else out
    return packed
