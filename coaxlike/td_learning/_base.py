"""The thin stateful shell of TD learners: argument checks and :class:`TDLearner`.

The maths lives in :mod:`coaxlike.td_learning._targets` (targets) and
:mod:`coaxlike.td_learning._update` (learner state, loss, gradients, optimizer step); a
learner object validates its arguments, builds the jitted functions once, keeps the
optimizer state and a PRNG key, and writes new parameters back through ``q.params = ...``.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_unit
from .._tree_check import check_same_tree
from .._stochastic_q import StochasticQ
from ._arguments import _check_optimizer, _check_pi_targ, _check_q, _check_q_targ, _name
from ._distributional_update import distributional_learner
from ._metrics import Metrics, _packing_metrics
from ._update import (LearnerState, _Spec, grads_and_metrics, huber_loss, td_error_func,
                      update_func)

__all__ = ["TDLearner"]


def _with_key(fn, uses_rng=True):
    """Jit ``fn(*args, rng)`` as ``(*args, key) -> (out, next_key)``, splitting inside (or,
    when no forward pass draws random numbers, passing ``rng=None`` and the key through)."""
    def wrapped(*args):
        if not uses_rng:
            return fn(*args[:-1], None), args[-1]
        key, subkey = jax.random.split(args[-1])
        return fn(*args[:-1], subkey), key
    return jax.jit(wrapped)


# --- the shell ------------------------------------------------------------------------------

class TDLearner:
    r"""Abstract base of the TD learners; use :class:`~coaxlike.td_learning.QLearning`,
    :class:`~coaxlike.td_learning.DoubleQLearning`, :class:`~coaxlike.td_learning.ExpectedSarsa`
    or :class:`~coaxlike.td_learning.SoftQLearning`.

    Subclasses set ``_value_fn`` (a pure one-example state value ``(q_t, q_t_selector,
    probs_t, mask_t, hyperparams) -> scalar``), ``_needs_selector`` (online values at the next
    state are needed), ``_needs_probs`` (target-policy probabilities are needed even for
    one-step targets), ``_pi_targ_required`` and, for extra array hyperparameters,
    ``_hp_checks`` (``{name: check(value, name) -> float}``, passed to ``__init__`` through
    ``_hyperparams``).

    **Targets.** Without ``pi_targ``, or for windows of one step (``A_seq.shape[1] == 1``):
    :math:`G = R^{(n)} + I^{(n)} v(s_{t+K})`. With ``pi_targ`` and longer windows: the
    Retrace(:math:`\lambda`) target of :func:`~coaxlike.td_learning.retrace_target` with the
    learner's own state value :math:`v` and traces
    :math:`c_j = \lambda \min(1, \pi_\text{targ}(a_j|s_j) / \exp(\text{logP}_j))`.
    The loss is ``loss_function(G, q(s_t, a_t), W)``; its gradient step replaces
    ``q.params`` (the compiled step keeps their structure, shapes and dtypes, so the write
    skips the setter's checks).

    **Metrics.** :meth:`update` returns a read-only mapping with keys ``'loss',
    'td_error_mean', 'td_error_abs_mean', 'td_error_abs_max', 'grad_norm'``. The call does
    not wait for the device; the first read of a value does (the five values travel as one
    array, which keeps a small update's per-call cost down).

    Attributes:
        q: the online :class:`~coaxlike.Q` (shared, not copied); :meth:`update` replaces
            its ``params`` and ``function_state``.
        q_targ: the target network or ``None``; read at every update (e.g. after
            ``q_targ.soft_update(q, tau)``), never written by :meth:`update`.
        pi_targ: the target policy or ``None``; read at every update (e.g. after
            ``pi_targ.epsilon = x``), never written.
        update_func: pure ``(learner_state, transition_batch, rng) -> (learner_state,
            metrics)``, for training loops compiled whole (``jax.lax.scan``);
            :meth:`~coaxlike.td_learning.TDLearner.init_func` builds a fresh
            ``learner_state`` in-graph, :func:`~coaxlike.td_learning.sync_target` moves its
            target network. Jitted per call, donate the state,
            ``jax.jit(learner.update_func, donate_argnums=0)``: a jitted function copies
            every output it returns unchanged (the target network, the hyperparameters),
            which donation avoids (batch 32: 1.20x -> 0.96x a hand-written optax update).
            Donate only a state you own (from ``init_func`` or a previous call), never
            ``learner.learner_state``, whose arrays are ``q``'s own.
        grads_and_metrics: pure ``(learner_state, transition_batch, rng) -> (grads,
            function_state, metrics)``.
        td_error_func: pure ``(learner_state, transition_batch, rng) -> td_error (B,)``.
        optimizer: the optax ``GradientTransformation``.
        loss_function: ``(y_true, y_pred, w) -> scalar``.
    """

    _value_fn = None
    _distributional = None  # the next-action rule on a StochasticQ, None: not supported
    _needs_selector = False
    _needs_probs = False
    _pi_targ_required = False
    _hp_checks = {"lambda_": check_unit}  # name -> check(value, name) -> float

    def __init__(self, q, pi_targ=None, q_targ=None, optimizer=None, loss_function=None,
                 policy_regularizer=None, *, lambda_=1.0, random_seed=None,
                 _hyperparams=None):
        if type(self) is TDLearner:
            raise TypeError("TDLearner is abstract; use QLearning, DoubleQLearning, "
                            "ExpectedSarsa or SoftQLearning")
        _check_q(q)
        _check_q_targ(q_targ, q)
        _check_pi_targ(pi_targ, q, self._pi_targ_required)
        if policy_regularizer is not None:
            raise NotImplementedError("policy_regularizer is not supported yet; pass None, got "
                                      f"{type(policy_regularizer).__name__}")
        if loss_function is not None and not callable(loss_function):
            raise TypeError("loss_function must be callable (y_true, y_pred, w) -> scalar or "
                            f"None, got {type(loss_function).__name__}")
        self.q, self.q_targ, self.pi_targ = q, q_targ, pi_targ
        self.optimizer, self._optimizer_name = _check_optimizer(optimizer)
        self.loss_function = huber_loss if loss_function is None else loss_function
        values = {"lambda_": lambda_, **(_hyperparams or {})}
        self._hyperparams = {name: jnp.float32(check(values[name], name))
                             for name, check in self._hp_checks.items()}
        self._opt_state = self.optimizer.init(q.params)
        if random_seed is None:
            random_seed = q.random_seed  # always set: Q draws one when given None
        self.random_seed = int(random_seed)
        self._key = jax.random.fold_in(jax.random.key(self.random_seed), 7)

        if pi_targ is None:
            pi_source = None
        elif pi_targ.q is q:
            pi_source = "online"
        elif q_targ is not None and pi_targ.q is q_targ:
            pi_source = "target"
        else:
            pi_source = "own"
        self._pi_source = pi_source
        uses_rng = q.uses_rng or (pi_targ is not None and pi_targ.q.uses_rng)
        if isinstance(q, StochasticQ):  # distributional learning: _distributional_update.py
            spec, pure = distributional_learner(self, q, pi_targ, pi_source, loss_function,
                                                uses_rng)
        else:
            spec = _Spec(
                function_type1=q.function_type1, function_type2=q.function_type2,
                modeltype=q.modeltype, preprocess=q.observation_preprocessor,
                action_preprocessor=q.action_preprocessor, action_start=q.action_start,
                n_actions=q.n_actions, value_fn=type(self)._value_fn,
                needs_selector=self._needs_selector, needs_probs=self._needs_probs,
                pi_logits=None if pi_targ is None else pi_targ.logits_func,
                pi_hp_name=None if pi_targ is None else pi_targ._hp_name,
                pi_source=pi_source, loss_function=self.loss_function,
                optimizer=self.optimizer, uses_rng=uses_rng, transform=q._transform,
                inverse=q._inverse)
            pure = (grads_and_metrics, update_func, td_error_func)
        self.grads_and_metrics, self.update_func, self.td_error_func = (
            functools.partial(f, spec) for f in pure)
        self._update_jit = _with_key(_packing_metrics(self.update_func), spec.uses_rng)
        self._td_error_jit = _with_key(self.td_error_func, spec.uses_rng)

    # --- state -----------------------------------------------------------------------------

    @property
    def lambda_(self):
        """The Retrace trace parameter (float); the setter validates ``0 <= lambda_ <= 1``."""
        return float(self._hyperparams["lambda_"])

    @lambda_.setter
    def lambda_(self, value):
        self._set_hyperparam("lambda_", value)

    def _set_hyperparam(self, name, value):
        self._hyperparams[name] = jnp.float32(self._hp_checks[name](value, name))

    @property
    def optimizer_state(self):
        """The optax state; the setter checks structure, shapes and dtypes."""
        return self._opt_state

    @optimizer_state.setter
    def optimizer_state(self, new_state):
        check_same_tree(new_state, self._opt_state, "optimizer_state")
        self._opt_state = new_state

    @property
    def learner_state(self):
        """The current :class:`LearnerState`, assembled from ``q``, ``q_targ``, ``pi_targ``
        and the optimizer state.

        The setter writes ``params``, ``function_state`` (to ``q``), the target fields (to
        ``q_targ``), ``opt_state`` and ``hyperparams`` back through validating setters, e.g.
        after a training loop compiled around ``update_func``. ``pi_targ`` is not written.
        """
        targ = self.q_targ
        return LearnerState(
            params=self.q.params, function_state=self.q.function_state,
            opt_state=self._opt_state,
            target_params=None if targ is None else targ.params,
            target_function_state=None if targ is None else targ.function_state,
            pi_targ=self._pi_targ_leaves(), hyperparams=dict(self._hyperparams))

    def _pi_targ_leaves(self):
        """The ``pi_targ`` field of a :class:`LearnerState`, from the current ``pi_targ``."""
        if self.pi_targ is None:
            return None
        hp = self.pi_targ._hp_name
        pi = {hp: self.pi_targ.params[hp]}
        if self._pi_source == "own":
            pi.update(q=self.pi_targ.q.params, function_state=self.pi_targ.q.function_state)
        return pi

    def init_func(self, params, function_state=None, target_params=None,
                  target_function_state=None):
        """A fresh :class:`LearnerState` for given network parameters; jit- and vmap-able.

        Builds the state that ``update_func`` takes, e.g. one per seed inside a
        compiled training loop, without touching ``q``, ``q_targ`` or the learner: the
        optimizer state is ``optimizer.init(params)``; ``pi_targ`` and ``hyperparams`` are
        the current values of ``pi_targ`` and of the learner's hyperparameters (constants
        when traced: change them in the returned state with ``_replace``). The result has
        the tree structure of :attr:`~coaxlike.td_learning.TDLearner.learner_state`.

        Args:
            params: the online parameters, with the structure, leaf shapes and dtypes of
                ``q.params`` (e.g. from the haiku ``init`` of ``q``'s function).
            function_state: its function state, like ``q.function_state``; may be omitted
                (``None``) when ``q`` has none (no leaves).
            target_params: the target network's initial parameters; default ``params``
                (a hard copy). Only for a learner with ``q_targ``.
            target_function_state: its function state; default ``function_state``. Only
                for a learner with ``q_targ``.

        Returns:
            a :class:`LearnerState`; ``target_params`` and ``target_function_state`` are
            ``None`` without ``q_targ``.

        Raises:
            TypeError: a tree structure differs from ``q``'s, or ``function_state`` is
                omitted although ``q`` has one.
            ValueError: a leaf shape or dtype differs, or target fields are passed to a
                learner without ``q_targ``.

        Examples:
            >>> import gymnasium as gym, haiku as hk, jax
            >>> import coaxlike
            >>> from coaxlike.td_learning import QLearning
            >>> env = gym.make("CartPole-v1")
            >>> func = lambda S, is_training: hk.Linear(2)(S)
            >>> q = coaxlike.Q(func, env, random_seed=0)
            >>> learner = QLearning(q, q_targ=q.copy())
            >>> init = hk.transform_with_state(func).init
            >>> def fresh(key):  # a new network and learner state, in-graph
            ...     params, state = init(key, jax.numpy.zeros((1, 4)), True)
            ...     return learner.init_func(params, state)
            >>> ls = jax.jit(fresh)(jax.random.key(1))
            >>> ls.target_params["linear"]["w"].shape
            (4, 2)
            >>> (jax.tree_util.tree_structure(ls)
            ...  == jax.tree_util.tree_structure(learner.learner_state))
            True
        """
        if function_state is None:
            if jax.tree_util.tree_leaves(self.q.function_state):
                raise TypeError("function_state is required: q has a function state (e.g. "
                                "batch-norm statistics); pass the one initialised with params")
            function_state = self.q.function_state
        check_same_tree(params, self.q.params, "params")
        check_same_tree(function_state, self.q.function_state, "function_state")
        if self.q_targ is None:
            if target_params is not None or target_function_state is not None:
                raise ValueError("target_params and target_function_state must be None for a "
                                 "learner without q_targ, got "
                                 f"{type(target_params).__name__} and "
                                 f"{type(target_function_state).__name__}")
        else:
            target_params = params if target_params is None else target_params
            target_function_state = (function_state if target_function_state is None
                                     else target_function_state)
            check_same_tree(target_params, self.q_targ.params, "target_params")
            check_same_tree(target_function_state, self.q_targ.function_state,
                            "target_function_state")
        return LearnerState(
            params=params, function_state=function_state,
            opt_state=self.optimizer.init(params), target_params=target_params,
            target_function_state=target_function_state, pi_targ=self._pi_targ_leaves(),
            hyperparams=dict(self._hyperparams))

    @learner_state.setter
    def learner_state(self, ls):
        check_same_tree(ls, self.learner_state, "learner_state")
        self.q.params, self.q.function_state = ls.params, ls.function_state
        if self.q_targ is not None:
            self.q_targ.params = ls.target_params
            self.q_targ.function_state = ls.target_function_state
        hyperparams = {name: jnp.float32(self._hp_checks[name](ls.hyperparams[name],
                                                               f"hyperparams[{name!r}]"))
                       for name in self._hyperparams}
        self._opt_state, self._hyperparams = ls.opt_state, hyperparams

    # --- training --------------------------------------------------------------------------

    def update(self, transition_batch):
        """One gradient step on a batch of transitions.

        Args:
            transition_batch: a :class:`~coaxlike.reward_tracing.TransitionBatch` (numpy or
                JAX leaves, leading batch axis ``B``).

        Returns:
            :class:`Metrics`, a read-only mapping to numpy float32 scalars: ``loss``,
            ``td_error_mean``, ``td_error_abs_mean``, ``td_error_abs_max``, ``grad_norm`` (the
            gradients' global norm). Not synchronised until a value is read.
        """
        ((params, state, opt_state), packed), self._key = self._update_jit(
            self.learner_state, self._needed(transition_batch), self._key)
        # written past the validating setters: the compiled update returns these trees with
        # the structure, shapes and dtypes it was given (checking them costs µs per step)
        self.q._params, self.q._function_state, self._opt_state = params, state, opt_state
        return Metrics(packed)

    def td_error(self, transition_batch):
        """TD errors :math:`G - q(s_t, a_t)` with the current parameters, e.g. for
        prioritized replay.

        Args:
            transition_batch: a :class:`~coaxlike.reward_tracing.TransitionBatch`.

        Returns:
            numpy float32 array ``(B,)``.
        """
        td, self._key = self._td_error_jit(self.learner_state, self._needed(transition_batch),
                                           self._key)
        return np.asarray(td)

    def _needed(self, tb):
        """Without a target policy the window fields are not read: do not transfer them."""
        if self.pi_targ is not None:
            return tb
        return tb._replace(logP=None, A_seq=None, logP_seq=None, R_seq=None, gamma_seq=None,
                           valid_seq=None, S_seq=None, mask_seq=None, idx=None)

    # --- serialization ---------------------------------------------------------------------

    def _serial_static(self):
        return {"class": type(self).__name__, "q": self.q._serial_static(),
                "q_targ": self.q_targ is not None,
                "pi_targ": None if self.pi_targ is None else self.pi_targ._hp_name,
                "pi_targ_source": self._pi_source,
                "loss_function": _name(self.loss_function),
                "optimizer": self._optimizer_name}

    def _serial_tree(self):
        ls = self.learner_state
        return {"params": ls.params, "function_state": ls.function_state,
                "target_params": ls.target_params,
                "target_function_state": ls.target_function_state,
                "opt_state": ls.opt_state, "hyperparams": ls.hyperparams, "key": self._key}

    def _serial_restore(self, tree):
        check_same_tree(tree, self._serial_tree(), "tree")
        self.learner_state = self.learner_state._replace(
            params=tree["params"], function_state=tree["function_state"],
            target_params=tree["target_params"],
            target_function_state=tree["target_function_state"],
            opt_state=tree["opt_state"], hyperparams=tree["hyperparams"])
        self._key = tree["key"]

    def serialize(self, path):
        """Save the learner's state to ``path`` with :func:`coaxlike.serialization.save_object`.

        Args:
            path: file path.
        """
        from ..serialization import save_object
        return save_object(path, self)

    @classmethod
    def deserialize(cls, path, *args, **kwargs):
        """Build ``cls(*args, **kwargs)`` and load its state from ``path`` with
        :func:`coaxlike.serialization.load_object`.

        Args:
            path: file path written by :meth:`serialize`.
            *args: the constructor's positional arguments (the same ``q``, ``q_targ``, ...
                structure as when saved).
            **kwargs: the constructor's keyword arguments.

        Returns:
            the restored learner.
        """
        from ..serialization import load_object
        obj = cls(*args, **kwargs)
        load_object(path, obj)
        return obj

    def __repr__(self):
        extra = ", ".join(f"{k}={float(v)!r}" for k, v in self._hyperparams.items())
        return (f"{type(self).__name__}(q={self.q!r}, q_targ={self.q_targ is not None}, "
                f"pi_targ={self.pi_targ!r}, {extra})")
