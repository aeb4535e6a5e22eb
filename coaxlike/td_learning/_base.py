"""The thin stateful shell of TD learners: :class:`TDLearner`.

The maths lives in :mod:`coaxlike.td_learning._targets` (targets) and
:mod:`coaxlike.td_learning._update` (learner state, loss, gradients, optimizer step); the
compiled functions are built in :mod:`coaxlike.td_learning._compiled`. A learner object
validates its arguments, builds the jitted functions once, keeps the optimizer state and a
PRNG key, and writes new parameters back through ``q.params = ...``.
"""
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_seed, check_unit
from .._deferred import Deferred, deferred_attribute, resolve, stored
from .._seeding import fold_in_seed, prng_impl
from .._tree_check import check_same_tree, fresh_containers
from ..value_losses import huber
from . import _learner_files
from ._arguments import (_check_correction, _check_loss_function, _check_optimizer,
                         _check_pi_targ, _check_policy_regularizer, _check_q, _check_q_targ,
                         _check_init_args, _pi_targ_used)
from ._batch_checks import _needed_fields, _raise_for_batch
from ._compiled import compile_learner, pi_targ_leaves
from ._metrics import Metrics
from ._update import LearnerState

__all__ = ["TDLearner"]


# --- the shell ------------------------------------------------------------------------------

def _initial_opt_state(optimizer, params):
    return optimizer.init(resolve(params))


class TDLearner:
    r"""Abstract base of the TD learners; use :class:`~coaxlike.td_learning.QLearning`,
    :class:`~coaxlike.td_learning.DoubleQLearning`, :class:`~coaxlike.td_learning.Sarsa`,
    :class:`~coaxlike.td_learning.ExpectedSarsa` or
    :class:`~coaxlike.td_learning.SoftQLearning`.

    Subclasses set ``_value_fn`` (a pure one-example state value ``(q_t, q_t_selector,
    probs_t, mask_t, hyperparams) -> scalar``), ``_needs_selector`` (online values at the next
    state are needed), ``_needs_probs`` (target-policy probabilities are needed even for
    one-step targets), ``_next_action`` (the target policy is the recorded ``A_next``),
    ``_pi_targ_required``, ``_box_needs_pi_targ`` (coax asks for ``pi_targ`` on non-Discrete
    actions: its ``TypeError`` comes before coaxlike's ``NotImplementedError``) and, for extra
    array hyperparameters, ``_hp_checks`` (``{name:
    check(value, name) -> float}``, passed to ``__init__`` through ``_hyperparams``).

    **Targets.** By default, as coax: :math:`G = R^{(n)} + I^{(n)} v(s_{t+K})` from ``Rn``,
    ``In`` and ``S_next`` whatever the window length, with the learner's state value
    :math:`v`. With ``off_policy_correction="retrace"`` (opt-in, needs ``pi_targ`` and
    recorded behaviour log-propensities) and windows longer than one step: the
    Retrace(:math:`\lambda`) target of :func:`~coaxlike.td_learning.retrace_target` with the
    learner's own :math:`v` and traces
    :math:`c_j = \lambda \min(1, \pi_\text{targ}(a_j|s_j) / \exp(\text{logP}_j))`.
    The loss is ``loss_function(G, q(s_t, a_t), W)`` (importance weights ``W`` used as
    given, not clipped); its gradient step replaces ``q.params``.

    **Bad batches.** An update is applied only if the batch is valid and the step is finite:
    ``In`` (and, for Retrace, ``gamma_seq``) in :math:`[0, 1]`, actions in the action space,
    ``W >= 0``, and a finite loss and gradient norm (so a NaN or inf in
    ``S``, ``Rn``, ``In``, ``S_next``, ``W`` ... is caught). Otherwise :meth:`update` raises
    ``ValueError`` naming the field (``FloatingPointError`` when every field is valid but the
    step is not finite) and leaves ``q.params``, ``q.function_state``, the optimizer state
    and the key exactly as they were; the pure ``update_func`` returns the state unchanged
    with ``metrics['skipped'] == 1``.

    **Metrics.** :meth:`update` returns a read-only mapping with keys ``'loss',
    'td_error_mean', 'td_error_abs_mean', 'td_error_abs_max', 'grad_norm'`` (the values
    travel from the device as one array, read once per update to check the step).

    Attributes:
        q: the online :class:`~coaxlike.Q` (shared, not copied); :meth:`update` replaces
            its ``params`` and ``function_state``.
        q_targ: the target network or ``None``; read at every update (e.g. after
            ``q_targ.soft_update(q, tau)``), never written by :meth:`update`.
        pi_targ: the target policy or ``None``; read at every update (e.g. after
            ``pi_targ.epsilon = x``), never written. ``None`` when a given ``pi_targ`` is
            ignored (Q-learning without ``off_policy_correction``, with a warning).
        off_policy_correction: ``None`` or ``"retrace"``.
        update_func: pure ``(learner_state, transition_batch, rng) -> (learner_state,
            metrics)``, for training loops compiled whole (``jax.lax.scan``);
            :meth:`~coaxlike.td_learning.TDLearner.init_func` builds a fresh
            ``learner_state`` in-graph, :func:`~coaxlike.td_learning.sync_target` moves its
            target network. ``metrics`` adds ``'skipped'`` (float32, 1 when the batch was
            refused and the state returned unchanged). Jitted per call, donate the state,
            ``jax.jit(learner.update_func, donate_argnums=0)``: a jitted function copies
            every output it returns unchanged (the target network, the hyperparameters),
            which donation avoids (batch 32: 1.20x -> 0.96x a hand-written optax update).
            Donate only a state you own (from ``init_func`` or a previous call), never
            ``learner.learner_state``, whose arrays are ``q``'s own.
        grads_and_metrics: pure ``(learner_state, transition_batch, rng) -> (grads,
            function_state, metrics)``.
        td_error_func: pure ``(learner_state, transition_batch, rng) -> td_error (B,)``.
        optimizer: the optax ``GradientTransformation``.
        loss_function: ``(y_true, y_pred, w) -> scalar``, e.g. from
            :mod:`coaxlike.value_losses`.
    """

    _value_fn = None
    _distributional = None  # the next-action rule on a StochasticQ, None: not supported
    _needs_selector = False
    _needs_probs = False
    _next_action = False
    _pi_targ_required = False
    _box_needs_pi_targ = False
    _hp_checks = {"lambda_": check_unit}  # name -> check(value, name) -> float
    _opt_state = deferred_attribute()
    _key = deferred_attribute()

    def __init__(self, q, pi_targ=None, q_targ=None, optimizer=None, loss_function=None,
                 policy_regularizer=None, *, off_policy_correction=None, lambda_=1.0,
                 random_seed=None, _hyperparams=None):
        cls = type(self).__name__
        if type(self) is TDLearner:
            raise TypeError("TDLearner is abstract; use QLearning, DoubleQLearning, Sarsa, "
                            "ExpectedSarsa or SoftQLearning")
        _check_q(q, cls, pi_targ, self._box_needs_pi_targ)
        _check_q_targ(q_targ, q)
        _check_pi_targ(pi_targ, q, self._pi_targ_required)
        self.off_policy_correction = _check_correction(off_policy_correction, pi_targ)
        _check_policy_regularizer(policy_regularizer)
        _check_loss_function(loss_function)
        own_init = type(self).__init__ is not TDLearner.__init__  # one more frame to the user
        pi_targ, pi_source = _pi_targ_used(pi_targ, q, q_targ, self._needs_probs,
                                           self.off_policy_correction, cls, 3 + own_init)
        self.q, self.q_targ, self.pi_targ, self._pi_source = q, q_targ, pi_targ, pi_source
        self.optimizer, self._optimizer_name = _check_optimizer(optimizer)
        self.loss_function = huber if loss_function is None else loss_function
        values = {"lambda_": lambda_, **(_hyperparams or {})}
        self._hyperparams = {name: jnp.asarray(np.float32(check(values[name], name)))
                             for name, check in self._hp_checks.items()}
        random_seed = check_seed(random_seed)
        self.random_seed = q.random_seed if random_seed is None else random_seed
        # on parameters not made yet (a new Q), the optimizer state is made with them, on
        # first use (the functional API never needs it); the key is made on first use, in one
        # compiled call (once per process), not three eager ones
        params = stored(q, "_params")
        self._opt_state = (Deferred(_initial_opt_state, self.optimizer, params)
                           if isinstance(params, Deferred) else self.optimizer.init(q.params))
        self._key = Deferred(fold_in_seed, self.random_seed, 7, prng_impl())
        compiled = compile_learner(self, q, pi_targ, pi_source, loss_function)
        self._spec, self._drop = compiled.spec, {}
        self._retrace = self.off_policy_correction == "retrace"
        self.grads_and_metrics = compiled.grads_and_metrics
        self.update_func = compiled.update_func
        self.td_error_func = compiled.td_error_func
        self._step_func = compiled.step_func
        self._update_jit, self._update_td_jit = compiled.update_jit, compiled.update_td_jit
        self._td_error_jit = compiled.td_error_jit

    # --- state -----------------------------------------------------------------------------

    @property
    def lambda_(self):
        """The Retrace trace parameter (float), used with ``off_policy_correction="retrace"``;
        the setter validates ``0 <= lambda_ <= 1``."""
        if "lambda_" not in self._hyperparams:
            raise AttributeError(f"{type(self).__name__} has no lambda_ (no Retrace traces)")
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
        ls = self._live_state()  # new containers: editing them in place changes nothing
        return ls._replace(**{name: fresh_containers(getattr(ls, name)) for name in (
            "params", "function_state", "target_params", "target_function_state")})

    def _live_state(self):
        """The :class:`LearnerState` over the live trees of ``q`` and ``q_targ``, for the
        compiled calls, which never change their inputs (no copies per update)."""
        targ = self.q_targ
        return LearnerState(
            params=self.q._params, function_state=self.q._function_state,
            opt_state=self._opt_state,
            target_params=None if targ is None else targ._params,
            target_function_state=None if targ is None else targ._function_state,
            pi_targ=self._pi_targ_leaves(), hyperparams=dict(self._hyperparams))

    def _pi_targ_leaves(self):
        return pi_targ_leaves(self.pi_targ, self._pi_source)

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
        function_state, target_params, target_function_state = _check_init_args(
            self.q, self.q_targ, params, function_state, target_params, target_function_state)
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

    def update(self, transition_batch, return_td_error=False):
        """One gradient step on a batch of transitions.

        Args:
            transition_batch: a :class:`~coaxlike.reward_tracing.TransitionBatch` (numpy or
                JAX leaves, leading batch axis ``B``).
            return_td_error: also return the TD errors of the batch (e.g. to set new
                priorities in a prioritized replay buffer), as coax does.

        Returns:
            :class:`Metrics`, a read-only mapping to numpy float32 scalars: ``loss``,
            ``td_error_mean``, ``td_error_abs_mean``, ``td_error_abs_max``, ``grad_norm`` (the
            gradients' global norm); with ``return_td_error=True`` the pair ``(metrics,
            td_error)``, ``td_error`` a numpy float32 ``(B,)`` array of :math:`G - q(s_t,
            a_t)` before the step (coax returns the negative loss gradient instead, which
            differs for the Huber loss; see 'Migrating from coax').

        Raises:
            ValueError: a field of the batch is out of range or not finite (the message names
                it); nothing is changed.
            FloatingPointError: the batch is valid but the loss or a gradient is not
                finite; nothing is changed.

        Examples:
            >>> import gymnasium as gym, haiku as hk, numpy as np
            >>> import coaxlike
            >>> from coaxlike.reward_tracing import TransitionBatch
            >>> from coaxlike.td_learning import QLearning
            >>> env = gym.make("CartPole-v1")
            >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
            >>> learner = QLearning(q, q_targ=q.copy())
            >>> tb = TransitionBatch.from_one_step(
            ...     S=np.zeros((2, 4), np.float32), A=np.array([0, 1]), Rn=np.ones(2),
            ...     In=np.full(2, 0.9), S_next=np.ones((2, 4), np.float32))
            >>> metrics, td_error = learner.update(tb, return_td_error=True)  # as coax
            >>> td_error.shape
            (2,)
            >>> learner.update(tb._replace(Rn=np.array([1.0, np.nan], np.float32)))
            Traceback (most recent call last):
            ...
            ValueError: transition_batch.Rn must be finite, got nan at row 1; the update was refused and q, the optimizer state and the key are unchanged
        """
        tb = self._needed(transition_batch)
        jitted = self._update_td_jit if return_td_error else self._update_jit
        out, key = jitted(self._live_state(), tb, self._key)
        (params, state, opt_state), packed = out[:2]
        packed = np.asarray(packed)  # waits for the step: its last value says if it is valid
        if packed[-1]:
            _raise_for_batch(self._spec, tb, "update")
        # written past the validating setters: the compiled update returns these trees with
        # the structure, shapes and dtypes it was given (checking them costs µs per step)
        self.q._params, self.q._function_state, self._opt_state = params, state, opt_state
        self._key = key
        metrics = Metrics(packed[:-1])
        return (metrics, np.asarray(out[2])) if return_td_error else metrics

    def td_error(self, transition_batch):
        """TD errors :math:`G - q(s_t, a_t)` with the current parameters, e.g. for
        prioritized replay.

        Args:
            transition_batch: a :class:`~coaxlike.reward_tracing.TransitionBatch`.

        Returns:
            numpy float32 array ``(B,)``.

        Raises:
            ValueError: a field of the batch is out of range or not finite (the key is
                unchanged).
            FloatingPointError: the batch is valid but a TD error is not finite.
        """
        tb = self._needed(transition_batch)._replace(W=None)  # not read: not checked
        (td, ok), key = self._td_error_jit(self._live_state(), tb, self._key)
        if not ok:
            _raise_for_batch(self._spec, tb, "td_error")
        self._key = key
        return np.asarray(td)

    def _needed(self, tb):
        """The batch with the fields this learner's target does not read set to ``None``
        (they are then neither transferred nor checked). Runs before every update: cached."""
        window = self._retrace and tb.A_seq.shape[1] > 1
        key = (window, type(tb))
        if key not in self._drop:
            keep = _needed_fields(self._spec, window)
            self._drop[key] = {name: None for name in tb._fields if name not in keep}
        return tb._replace(**self._drop[key])

    # --- serialization ---------------------------------------------------------------------

    def _serial_static(self):
        return _learner_files.serial_static(self)

    def _serial_tree(self):
        return _learner_files.serial_tree(self)

    def _serial_restore(self, tree):
        _learner_files.serial_restore(self, tree)

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
