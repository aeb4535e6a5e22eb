"""The shared machinery of value-based policies: pure functions and the thin stateful shell.

A value-based policy turns the type-2 values ``q(s, .)`` of a :class:`~coaxlike.Q` into
logits with a pure *logits builder* (see :mod:`coaxlike.distributions`) and acts through a
:class:`distrax.Categorical` over those logits. Its one hyperparameter (epsilon,
temperature) is an array leaf of ``params``, so changing it never recompiles anything.
"""
import functools
import math

import distrax
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_seed
from .._deferred import Deferred, deferred_attribute
from .._seeding import fold_in_seed, prng_impl
from .._q import Q
from .._stochastic_q import StochasticQ
from .._tree_check import check_same_tree
from . import _rounds
from ._inputs import check_action, check_mask, raise_nonfinite
from ._pure import (_TIE_BREAK, _greedy_step, _log_proba, _log_proba_index, _logits, _mode,
                    _mode_index, _mode_step, _on_raw, _sample, _sample_index, _sample_step)

__all__ = []  # private module

_TIE_STREAM = 0x7469  # folded into the policy's key for mode()'s tie-breaks ("ti")


def _values_type2(q):
    """The forward pass a policy acts on, ``(params, state, rng, S, is_training) -> ((B, n),
    state)``: a Q's network output (transformed values, as in coax), a StochasticQ's
    network-space mean."""
    return q.function_type2 if isinstance(q, Q) else q._mean_type2


# --- the shell ------------------------------------------------------------------------------

class ValuePolicy:
    """Abstract base of the value-based policies; use :class:`~coaxlike.EpsilonGreedy` or
    :class:`~coaxlike.BoltzmannPolicy`.

    Subclasses set ``_hp_name`` (the key of the hyperparameter in ``params``), ``_builder``
    (a pure logits builder ``(q_values, hp, action_mask) -> logits``) and ``_check_hp``
    (validates a hyperparameter value and returns it as a float), and nothing else.

    Attributes:
        q: the shared :class:`~coaxlike.Q`; updates to it are seen on the next call.
        sample_func: pure ``(params, state, rng, S, action_mask=None) -> (A, logP)`` over a
            preprocessed batch ``S``; ``A`` ``(B,)`` env actions, ``logP`` ``(B,)``.
        mode_func: pure ``(params, state, rng, S, action_mask=None) -> A``, greedy with
            random tie-breaking.
        logits_func: pure ``(params, state, rng, S, action_mask=None) -> logits (B, n)``.
        log_proba_func: pure ``(params, state, rng, S, A, action_mask=None) -> logP (B,)``.

    The pure functions take ``params`` laid out as :attr:`params`; :meth:`params_func`
    builds that layout from Q-function parameters and a hyperparameter value in-graph.
    """

    _hp_name = None
    _builder = None
    _seed_salt = 0
    _key = deferred_attribute()
    # built from q by _build(): not pickled, rebuilt on unpickling
    _DERIVED = ("logits_func", "sample_func", "mode_func", "log_proba_func", "_sample_jit",
                "_mode_jit", "_greedy_jit", "_logits_jit", "_log_proba_jit", "_round_jit",
                "_noise_jit")

    def __init__(self, q, hyperparameter, *, random_seed=None):
        if type(self) is ValuePolicy:
            raise TypeError("ValuePolicy is abstract; use EpsilonGreedy or BoltzmannPolicy")
        if not isinstance(q, (Q, StochasticQ)):
            raise TypeError(f"q must be a coaxlike.Q or coaxlike.StochasticQ, got {type(q).__name__}")
        if not isinstance(q.action_space, gym.spaces.Discrete):
            raise TypeError(f"{type(self).__name__} needs a Discrete action space, got "
                            f"{q.action_space!r}")
        self.q = q
        self._hp = jnp.asarray(np.float32(self._check_hp(hyperparameter)))
        random_seed = check_seed(random_seed)  # None: q's (always set: Q draws one)
        self.random_seed = q.random_seed if random_seed is None else random_seed
        # made on first use (the functional API never needs it), in one compiled call
        self._key = Deferred(fold_in_seed, self.random_seed, self._seed_salt, prng_impl())
        self._ties = 0  # tie-breaks drawn by mode() under the current key (see _break_ties)
        self._build()

    def _build(self):
        """Bind the pure functions to ``q`` and build the compiled programs."""
        q, builder = self.q, type(self)._builder
        start, prep, batched = q.action_start, q.observation_preprocessor, q.batched
        values = _values_type2(q)
        self.logits_func = functools.partial(_logits, values, builder, self._hp_name)
        sample_index = functools.partial(_sample_index, self.logits_func)
        mode_index = functools.partial(_mode_index, values)
        log_proba_index = functools.partial(_log_proba_index, self.logits_func)
        self.sample_func = functools.partial(_sample, sample_index, start)
        self.mode_func = functools.partial(_mode, mode_index, start)
        self.log_proba_func = functools.partial(_log_proba, log_proba_index, start)
        self._sample_jit = _on_raw(functools.partial(_sample_step, self.logits_func),
                                   prep, batched, draws=True, start=start)
        self._mode_jit = _on_raw(functools.partial(_mode_step, values),
                                 prep, batched, draws=True, start=start)
        self._greedy_jit = _on_raw(functools.partial(_greedy_step, values),
                                   prep, batched, draws=False, start=start)
        self._logits_jit = _on_raw(self.logits_func, prep, batched, draws=False)
        self._log_proba_jit = _on_raw(log_proba_index, prep, batched, draws=False)
        # a round of draws (see _rounds.py): its keys and noise in one call, then the draws
        self._round_jit = jax.jit(_rounds.round_noise, static_argnums=(1, 2, 3))
        self._noise_jit = _on_raw(functools.partial(_rounds.noise_step, self.logits_func),
                                  prep, batched, draws=False, start=start)

    # --- pickling: the compiled programs are rebuilt, not pickled --------------------------

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in self._DERIVED}

    def __setstate__(self, state):
        self.__dict__.setdefault("_ties", 0)  # pickled before tie-breaks had their own stream
        self.__dict__.update(state)
        self._build()

    # --- params ----------------------------------------------------------------------------

    @property
    def params(self):
        """``{hyperparameter_name: float32 scalar, 'q': q.params}``, a new dict on every read.

        Editing the returned dict changes nothing: assign a whole tree to ``params`` instead.
        The setter checks tree structure, leaf shapes and dtypes and the hyperparameter's
        range before changing anything; it sets ``q.params`` too (the Q-function is shared).
        """
        return {self._hp_name: self._hp, "q": self.q.params}

    def _current_params(self):
        # the hot path: the live trees, not the copies that q.params hands out
        return {self._hp_name: self._hp, "q": self.q._params}

    @params.setter
    def params(self, new_params):
        check_same_tree(new_params, self.params, "params")
        hp = jnp.float32(self._check_hp(new_params[self._hp_name]))
        self.q.params = new_params["q"]
        self._hp = hp

    def params_func(self, q_params, hyperparameter):
        """Pure: the ``params`` of this policy for given Q-function parameters and
        hyperparameter, e.g. inside a compiled training loop; jit- and vmap-able.

        Touches nothing: use it to feed :attr:`sample_func` (and the other pure functions)
        with the parameters of a learner state and a scheduled hyperparameter.

        Args:
            q_params: parameters with the structure of ``q.params`` (not checked here).
            hyperparameter: the policy's hyperparameter (``epsilon`` or ``temperature``), a
                Python number (range-checked eagerly, like the setter) or a 0-d array
                (may be traced, e.g. the value of an optax schedule).

        Returns:
            ``{hyperparameter_name: float32 0-d array, 'q': q_params}``, the layout of
            :attr:`params`.

        Raises:
            TypeError: a hyperparameter that is not a real number or not 0-d.
            ValueError: a Python or NumPy number outside its range (JAX arrays, traced or not, are not range-checked).

        Examples:
            >>> import gymnasium as gym, haiku as hk, jax, jax.numpy as jnp
            >>> import coaxlike
            >>> env = gym.make("CartPole-v1")
            >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
            >>> pi = coaxlike.EpsilonGreedy(q, epsilon=0.1)
            >>> params = pi.params_func(q.params, jnp.float32(0.3))
            >>> params["epsilon"]
            Array(0.3, dtype=float32)
            >>> A, logP = jax.jit(pi.sample_func)(params, q.function_state,
            ...                                   jax.random.key(0), jnp.zeros((5, 4)))
            >>> A.shape, logP.shape
            ((5,), (5,))
        """
        if not isinstance(hyperparameter, jax.Array):   # tracers are jax.Arrays too
            self._check_hp(hyperparameter)
        elif jnp.ndim(hyperparameter) != 0:
            raise TypeError(f"{self._hp_name} must be a 0-d array, got shape "
                            f"{jnp.shape(hyperparameter)}")
        return {self._hp_name: jnp.asarray(hyperparameter, jnp.float32), "q": q_params}

    def _set_hp(self, value):
        self._hp = jnp.float32(self._check_hp(value))

    # --- host-side calls -------------------------------------------------------------------

    def _draw(self, jitted, s, action_mask, key=None):
        """Run a compiled draw under ``key`` (default: the policy's key); return
        ``(out, next_key)``. The caller stores the key only once ``out`` has passed its
        checks, so a call that raises leaves the key as it was."""
        S = self.q._check_s(s)
        mask = check_mask(self.q, action_mask, S)
        return jitted(self._current_params(), self.q._function_state, self._eval_key(),
                      self._key if key is None else key, S, mask)

    def _evaluate(self, jitted, S, action_mask, *extra):
        """Run a compiled evaluation on a checked observation ``S``."""
        mask = check_mask(self.q, action_mask, S)
        return jitted(self._current_params(), self.q._function_state, self._eval_key(), S,
                      mask, *extra)

    def _eval_key(self):
        # a deterministic network needs no key: passing None keeps a key buffer (and its
        # per-call conversion) out of the dispatch
        return self.q._key if self.q.uses_rng else None

    def _actions(self, index):
        """Env action(s) from the index of one observation, or from a batch of env actions
        (``start`` added in-graph; rows below ``start`` are marked)."""
        if self.q.batched:
            A = np.asarray(index)
            if self._any_marked(A):
                raise_nonfinite(A < self.q.action_start)
            return A
        index = int(index)
        if index < 0:
            raise_nonfinite()
        return index + self.q.action_start

    def _any_marked(self, A):
        """Whether a batch of env actions from the compiled call has marked rows (below
        ``start``). ``A.min()``: the cheapest whole-batch test measured; under JAX's default
        (async) CPU dispatch host work between two calls costs more than its own run time."""
        return A.size and A.min() < self.q.action_start

    # --- acting ----------------------------------------------------------------------------

    def __call__(self, s, return_logp=False, action_mask=None):
        """Sample an action from the policy.

        Args:
            s: one raw observation (a batch ``(B, ...)`` with a vector env).
            return_logp: also return the exact log-propensity ``log pi(a|s)``.
            action_mask: optional bool ``(n,)`` (``(B, n)`` batched); True = allowed.

        Returns:
            ``a`` (an int, or a read-only ``(B,)`` int32 array), or ``(a, logp)`` with
            ``return_logp=True`` (a float, or a read-only ``(B,)`` array). Batched results
            are numpy views of the device result: ``.copy()`` them to write into them.

        Raises:
            ValueError: bad observation or mask, or non-finite Q-values.
        """
        return self._finish_sample(self._start_sample(s, action_mask), return_logp)

    def _start_sample(self, s, action_mask=None):
        """The first half of ``__call__``: check the input and dispatch the compiled draw
        under the policy's key; returns the pending device result and changes nothing.

        Under JAX's default (asynchronous) CPU dispatch the draw runs while the caller does
        host work; :meth:`_finish_sample` waits for it. A collection loop that dispatches
        the next action before its bookkeeping of the current step hides the draw's run
        time (what :meth:`DQN.learn <coaxlike.agents.DQN.learn>` does).
        """
        return self._draw(self._sample_jit, s, action_mask)

    def _finish_sample(self, pending, return_logp):
        """The second half of ``__call__``: wait for a draw from :meth:`_start_sample`,
        check it and only then move the policy's key on (to the draw's next key)."""
        (index, logp), key = pending
        a = self._actions(index)
        self._key = key
        if not return_logp:
            return a
        return a, (np.asarray(logp) if self.q.batched else float(logp))

    def mode(self, s, action_mask=None):
        """The greedy action ``argmax_a q(s, a)`` among allowed actions, ties broken
        uniformly at random (reproducible under the seed).

        The forward pass runs under the Q-function's evaluation key, as ``q(s)`` does. Ties
        are broken with a stream of their own (the policy's key folded with the number of
        tie-breaks drawn under it), so greedy evaluation never changes the actions
        ``__call__`` samples: a training run is the same with or without evaluations in
        between. ``dist_params``, ``dist`` and ``log_proba`` likewise leave the key alone.

        Args:
            s: one raw observation (a batch with a vector env).
            action_mask: optional bool mask, as in ``__call__``.

        Returns:
            an int (or a read-only ``(B,)`` int32 array) in ``[start, start + n)``.
        """
        q = self.q  # the hot path of greedy evaluation: few Python calls, no reductions
        S = q._check_s(s)
        index = self._greedy_jit(q._params, q._function_state, self._eval_key(), S,
                                 check_mask(self.q, action_mask, S))
        if q.batched:
            A = np.asarray(index)
            if self._any_marked(A):  # a tie, or non-finite values
                return self._break_ties(s, action_mask)
            return A
        index = int(index)
        if index == _TIE_BREAK:
            return self._break_ties(s, action_mask)
        return index + q.action_start

    def _break_ties(self, s, action_mask):
        key = jax.random.fold_in(jax.random.fold_in(self._key, _TIE_STREAM), self._ties)
        index, _ = self._draw(self._mode_jit, s, action_mask, key)
        a = self._actions(index)
        self._ties += 1  # only once the draw passed its checks
        return a

    def mean(self, s, action_mask=None):
        """For a Discrete action space, the mean is the mode: same as :meth:`mode`."""
        return self.mode(s, action_mask)

    def dist_params(self, s, action_mask=None):
        """The distribution's parameters ``{'logits': (n,) or (B, n) numpy array}``.

        Masked actions (and, for epsilon-greedy with epsilon 0, non-greedy ones) have logit
        ``-inf``. Raises ``ValueError`` for non-finite allowed Q-values.
        """
        logits = np.asarray(self._evaluate(self._logits_jit, self.q._check_s(s), action_mask))
        if self.q.batched:
            bad = np.isnan(logits).any(axis=-1)
            if bad.any():
                raise_nonfinite(bad)
        elif any(map(math.isnan, logits.tolist())):  # no numpy reduction (see _actions)
            raise_nonfinite()
        return {"logits": logits}

    def dist(self, s, action_mask=None):
        """The action distribution at ``s`` as a :class:`distrax.Categorical` over indices
        ``[0, n)`` (add ``q.action_start`` for env actions)."""
        return distrax.Categorical(logits=jnp.asarray(self.dist_params(s, action_mask)["logits"]))

    def log_proba(self, s, a, action_mask=None):
        """Exact log-propensity ``log pi(a|s)`` (``-inf`` for impossible actions).

        Args:
            s: one raw observation (a batch with a vector env).
            a: an action (a ``(B,)`` array batched) in ``[start, start + n)``.
            action_mask: optional bool mask.

        Returns:
            a float (or ``(B,)`` array).
        """
        S = self.q._check_s(s)
        A = check_action(self.q, a, S) - self.q.action_start
        logp = self._evaluate(self._log_proba_jit, S, action_mask, A)
        if not self.q.batched:
            logp = float(logp)
            if math.isnan(logp):
                raise_nonfinite()
            return logp
        logp = np.asarray(logp)
        if np.isnan(logp).any():
            raise_nonfinite(np.isnan(logp))
        return logp

    # --- serialization ---------------------------------------------------------------------

    def serialize(self, path, *, suffix=".cxl"):
        """Save the policy (hyperparameter, the Q-function's params and state, the PRNG key).

        Returns:
            the path written (``suffix`` appended unless present).
        """
        from ..serialization import save_object
        return save_object(path, self, suffix=suffix)

    @classmethod
    def deserialize(cls, path, *args, suffix=".cxl", **kwargs):
        """Build ``cls(*args, **kwargs)`` (e.g. ``EpsilonGreedy.deserialize(path, q)``),
        verify the file against it and load into it, including into the shared ``q``.

        Raises:
            ValueError: damaged or foreign file, or another skeleton (names what differs).
        """
        from ..serialization import load_object
        obj = cls(*args, **kwargs)
        load_object(path, obj, suffix=suffix)
        return obj

    def _serial_static(self):
        return {"hyperparameter": self._hp_name, "q": self.q._serial_static()}

    def _serial_tree(self):
        return {"params": self._current_params(), "function_state": self.q._function_state,
                "key": self._key}

    def _serial_restore(self, tree):
        check_same_tree(tree, self._serial_tree(), "tree")
        hp = jnp.float32(self._check_hp(tree["params"][self._hp_name]))
        self.q._serial_restore({"params": tree["params"]["q"],
                                "function_state": tree["function_state"]})
        self._hp, self._key = hp, tree["key"]

    def _hp_value(self):
        """The hyperparameter as the shortest Python float that rounds to the stored float32
        (0.05, not 0.05000000074505806)."""
        return float(str(np.float32(self._hp)))

    def __repr__(self):
        return f"{type(self).__name__}({self._hp_name}={self._hp_value()!r}, q={self.q!r})"
