"""DQN: an agent composed of Q, a value policy, NStep, a replay buffer and a TD learner."""
import math

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..policies import EpsilonGreedy
from ..policies._base import _values_type2
from ..reward_tracing import NStep
from . import (_api, _build, _config, _distributional, _exploration, _functional, _learn,
               _persist)
from ._functional import DQNOptState, DQNParams, PolicyState

__all__ = ["DQN"]



def default_learning_rate():
    """The default learning rate: a schedule over gradient updates (see :class:`DQN`)."""
    return optax.cosine_decay_schedule(1e-3, 50_000, alpha=0.01)


class DQN:
    r"""Deep Q-learning in three lines, built from the library's parts.

    ``DQN("CartPole-v1").learn(100_000)`` trains; :meth:`predict` acts; :meth:`save` /
    :meth:`load` keep everything in one fingerprinted file. Under the hood the agent is
    composition: a :class:`~coaxlike.Q` (``agent.q``) and its target copy, a value policy
    (``agent.policy``, :class:`~coaxlike.EpsilonGreedy` by default, swappable), an
    :class:`~coaxlike.reward_tracing.NStep` tracer (``agent.tracer``), a replay buffer
    (``agent.buffer``) and a :class:`~coaxlike.td_learning.DoubleQLearning` (or
    :class:`~coaxlike.td_learning.QLearning`) learner (``agent.learner``).

    **Distributional.** ``distributional="categorical"`` makes ``agent.q`` a categorical
    (C51) :class:`~coaxlike.StochasticQ` over ``num_bins`` atoms spanning ``value_range``,
    ``"quantile"`` a quantile (QR-DQN) one with ``num_quantiles`` quantiles; the same
    learner then learns distributions (projected cross-entropy or quantile Huber loss, see
    :doc:`concepts`), the policies act on the means, and training rounds, :meth:`predict`,
    the functional API and :meth:`save` / :meth:`load` work unchanged (``q_values`` are the
    means). A custom ``func`` returns ``{'logits': (B, n, num_bins)}`` (categorical) or
    ``{'values': (B, n, num_quantiles)}`` (quantile).

    **Training rounds.** Every round steps the ``n_envs`` environments ``train_freq`` times
    (acting with ``agent.policy``, tracing n-step transitions into the buffer), then runs
    ``gradient_steps`` updates as *one* compiled call: the batches are sampled on the host,
    moved to the device together and consumed by a ``jax.lax.scan`` over the learner's pure
    ``update_func``. The target network moves inside that scan, after the update at which
    an env-step multiple of ``target_update_interval`` falls (update :math:`u` of the run
    stands for env step :math:`u \cdot \text{train\_freq} \cdot \text{n\_envs} /
    \text{gradient\_steps}`): ``q_targ <- tau q + (1 - tau) q_targ``. While collecting,
    the next action's compiled draw is dispatched before the current step is traced (the
    tracing overlaps the draw), and the round's transitions reach the buffer in one add
    before the round trains: the same draws, rows and order as acting, tracing and adding
    step by step.

    **Building is cheap.** The network's parameters, the optimizer state and the keys are
    made when first needed (by :meth:`learn`, :meth:`predict`, :attr:`params`, :meth:`save`),
    each by one compiled program: an agent built only for its pure functions
    (:meth:`init_params`, :meth:`predict_func`, :meth:`train_func`, ...) compiles nothing
    it does not use (0.12 s for ``DQN("CartPole-v1")`` in a fresh process, against 1.18 s
    when everything was made at once).

    **Schedules count from the agent's birth, not per** :meth:`learn` **call**: epsilon
    follows ``exploration`` over env steps, the learning rate (an optax schedule) over
    gradient updates, so ``learn(50_000); learn(50_000)`` is ``learn(100_000)``.

    **Exploration waits for the first reward** (``explore_until_reward=True``): until an
    env returns a reward other than 0, every Q-value is a fit of zero rewards and the greedy
    action says nothing, so the exploration schedule holds at its start value (epsilon 1:
    uniform actions); from then on it counts env steps from the start of the training round
    in which that reward arrived (:attr:`exploration_start`). A sparse-reward task such as
    FrozenLake 8x8 keeps exploring until it first reaches the goal instead of settling on
    an arbitrary greedy walk; a task that rewards its first step (CartPole, Acrobot,
    LunarLander) runs exactly as with the schedule counted from birth.

    **Defaults** (what ``benchmarks/agents.py`` measures): 4 envs side by side, a 128x128
    ReLU MLP, Adam (epsilon 1.5e-4, for any ``learning_rate``) with the learning rate
    following a cosine from 1e-3 down to 1e-5 over the first 50,000 updates (then
    constant), global-norm clipping at 10, Huber loss, batch 128, discount 0.99, 3-step
    double Q-learning, a 100,000-transition buffer, epsilon from 1 to 0.05 over 10,000 env
    steps; rounds of 256 env steps (64 vector steps) and 128 updates, the target network
    moved a little after every update (``target_update_interval=1``, ``tau=0.005``: a
    Polyak average). Adam's larger epsilon makes the steps shrink with the TD errors once
    the agent is good, the learning rate decays, and the averaged target and the larger
    batch damp the late drift that hard target copies and batch 64 showed (a CartPole
    agent at 500 sliding back to 150-400 in its last 20,000 env steps): together they keep
    the agent that a 100,000-step :meth:`learn` returns at the level it reached (see
    :doc:`performance`).

    Args:
        env: a gymnasium env id (made with ``gym.make_vec(env, n_envs)``), a gymnasium env
            or a vector env in the default ``NEXT_STEP`` autoreset mode. Discrete actions.
        func: a haiku forward pass ``func(S, is_training) -> (B, n_actions)``; ``None``:
            a ReLU MLP with layer sizes ``hidden``.
        hidden: hidden layer sizes of the default MLP.
        learning_rate: a float > 0 or an optax schedule over gradient updates.
        buffer_size: replay capacity (transitions).
        learning_starts: env steps before the first update.
        batch_size: transitions per gradient step.
        gamma: discount factor in ``[0, 1]``.
        train_freq: vector-env steps per training round (``n_envs`` env steps each).
        gradient_steps: gradient updates per round; ``-1``: one per env step collected.
        target_update_interval: env steps between target-network moves.
        tau: weight of each move, in ``(0, 1]`` (1: hard copy).
        max_grad_norm: global gradient-norm clip (``None``: no clipping).
        adam_eps: the epsilon of Adam's denominator, > 0 (optax's default is 1e-8; the
            larger default, as in Rainbow, lets the steps shrink with the TD errors).
        exploration: the policy's hyperparameter over env steps: a float or a schedule
            (e.g. ``optax.linear_schedule(1.0, 0.05, 10_000)``, the default for the default
            policy); ``None`` with a custom ``policy`` keeps its own value.
        policy: a factory ``q -> ValuePolicy``, e.g. ``lambda q: BoltzmannPolicy(q, 0.1)``;
            default :class:`~coaxlike.EpsilonGreedy`.
        n_step: the n of n-step returns.
        double: double Q-learning (else Q-learning).
        prioritized: proportional prioritized replay (alpha 0.6, beta 0.4).
        distributional: ``None`` (a :class:`~coaxlike.Q`), ``"categorical"`` or
            ``"quantile"`` (a :class:`~coaxlike.StochasticQ`).
        value_range: categorical only: ``(v_min, v_max)`` of the atoms; default
            :math:`\pm 1/(1 - \gamma)`, every discounted return of rewards in
            :math:`[-1, 1]` (``(-100, 100)`` for ``gamma=0.99``); required if ``gamma=1``.
        num_bins: categorical only: atoms, an int >= 2 (default 51).
        num_quantiles: quantile only: quantiles, an int >= 1 (default 10: solved
            CartPole-v1 on 5/5 seeds where 51 solved 4/5; see :doc:`performance`).
        explore_until_reward: hold the exploration schedule at its start value until a
            reward other than 0 arrives (see above); ``False``: count from birth.
        n_envs: environments stepped side by side when ``env`` is an id (default 4).
        seed: seeds the network, policy, learner, buffer and the first env reset.

    Attributes:
        q, q_targ, policy, learner, buffer, tracer, env: the parts (see above).
        num_timesteps: env steps taken in :meth:`learn` so far (all sub-envs).
        num_updates: gradient updates so far.

    Raises:
        TypeError: the action space is not Discrete, ``env``/``func``/``policy`` is of the
            wrong kind, or a hyperparameter of the wrong type (``"0.99"``, ``1.5`` for an int).
        ValueError: a hyperparameter out of range, or a distributional setting without its
            ``distributional`` kind (the message names it).

    Examples:
        >>> from coaxlike.agents import DQN
        >>> agent = DQN("CartPole-v1", seed=0)
        >>> agent = agent.learn(1_024, progress_bar=False)  # 4 rounds of 256 env steps
        >>> agent.num_timesteps, agent.num_updates          # learning starts at 1,000
        (1024, 128)
        >>> action, _ = agent.predict(agent.env.observation_space.sample()[0])
        >>> action in (0, 1)
        True
    """

    def __init__(self, env, func=None, *, hidden=(128, 128), learning_rate=None,
                 buffer_size=100_000, learning_starts=1_000, batch_size=128, gamma=0.99,
                 train_freq=64, gradient_steps=128, target_update_interval=1, tau=0.005,
                 max_grad_norm=10.0, adam_eps=1.5e-4, exploration=None, policy=None,
                 n_step=3, double=True, prioritized=False, distributional=None,
                 value_range=None, num_bins=None, num_quantiles=None, explore_until_reward=True,
                 n_envs=None, seed=0):
        envs, env_id = _build.make_env(env, n_envs)
        action_space = _build.check_action_space(envs)
        if func is not None and not callable(func):
            raise TypeError(f"func must be a haiku function func(S, is_training) or None, "
                            f"got {type(func).__name__}")
        if policy is not None and not callable(policy):
            raise TypeError(f"policy must be a factory q -> ValuePolicy or None, got "
                            f"{type(policy).__name__}")
        c = _config.agent_config(
            envs.num_envs, env_id, hidden=hidden, buffer_size=buffer_size,
            learning_starts=learning_starts, batch_size=batch_size, gamma=gamma,
            train_freq=train_freq, gradient_steps=gradient_steps,
            target_update_interval=target_update_interval, tau=tau,
            max_grad_norm=max_grad_norm, adam_eps=adam_eps, n_step=n_step,
            double=double, prioritized=prioritized,
            explore_until_reward=explore_until_reward, seed=seed)
        c.update(_distributional.check(distributional, value_range, num_bins, num_quantiles,
                                       c["gamma"]))
        if learning_rate is None:
            learning_rate = default_learning_rate()
            c["learning_rate"] = "default"
        else:
            learning_rate = _config.number_or_schedule(learning_rate, "learning_rate", 0.0,
                                                       math.inf, low_open=True)
            c["learning_rate"] = "custom" if callable(learning_rate) else learning_rate
        if policy is None and exploration is not None:  # epsilon: checked before building
            _config.number_or_schedule(exploration, "exploration", 0.0, 1.0)
        c["func"] = None if func is None else "custom"
        self._config = c
        self.env = envs
        self.gamma = c["gamma"]

        func = func or _build.mlp(c["hidden"], int(action_space.n),
                                  *_distributional.num_outputs(c))
        self.q = _distributional.make_q(func, envs, c)
        self._init_net = hk.transform_with_state(func).init
        self.learner = _build.make_learner(self.q, c["double"], _build.make_optimizer(
            learning_rate, c["max_grad_norm"], c["adam_eps"]))
        self.q_targ = self.learner.q_targ
        pi = EpsilonGreedy(self.q, 1.0) if policy is None else policy(self.q)
        if exploration is None and policy is None:
            exploration = _exploration.DEFAULT_SCHEDULE
        self._set_policy(pi, exploration)
        # the learner reads no window fields: the tracer does not build them
        self.tracer = NStep(c["n_step"], c["gamma"], num_envs=c["n_envs"], record_window=False)
        self.buffer = _build.make_buffer(c["prioritized"], c["buffer_size"], c["seed"])
        _build.allocate(self.buffer, _build.template_rows(
            self.q.observation_space, c["n_step"], c["gamma"], action_space))
        self._train_jit = jax.jit(self._train_round)
        self.num_timesteps = 0
        # the env step the exploration schedule counts from; None: no reward seen yet
        self._exploration_start = None if c["explore_until_reward"] else 0
        self.num_updates = 0
        self._updates_device = jnp.zeros((), jnp.int32)  # num_updates, kept on the device
        self._loop = _learn.LoopState.fresh(self)

    # --- the parts --------------------------------------------------------------------------

    @property
    def policy(self):
        """The exploration policy (a :class:`~coaxlike.policies.ValuePolicy` over
        ``agent.q``). Setting another one, e.g. ``agent.policy = BoltzmannPolicy(agent.q,
        0.1)``, changes exploration without retraining; the new policy keeps its own
        hyperparameter (``exploration`` becomes ``None``) until :attr:`exploration` is set.
        :meth:`save` records the policy the agent has, and :meth:`load` rebuilds it.
        """
        return self._policy

    @policy.setter
    def policy(self, pi):
        self._set_policy(pi, None)

    @property
    def exploration(self):
        """The schedule (``env step -> hyperparameter``, its env steps counted from
        :attr:`exploration_start`) applied to ``policy`` in :meth:`learn` and
        :meth:`predict_func`, or ``None`` (keep the policy's value)."""
        return self._exploration

    @exploration.setter
    def exploration(self, schedule):
        self._set_policy(self._policy, schedule)

    def _set_policy(self, pi, exploration):
        exploration, self._exploration_tag = _exploration.check(pi, self.q, exploration)
        self._policy, self._exploration = pi, exploration
        self._schedule_jit = None if exploration is None else jax.jit(exploration)
        self._static = _functional._Static(
            q_function=_values_type2(self.q), preprocess=self.q.observation_preprocessor,
            pi=pi, schedule=exploration or (lambda step, hp=pi._hp: hp),
            update=self.learner.update_func, step=self.learner._step_func,
            td_error=self.learner.td_error_func,
            hyperparams=dict(self.learner._hyperparams), uses_rng=self.q.uses_rng,
            action_start=self.q.action_start,
            env_steps_num=self._config["train_freq"] * self._config["n_envs"],
            target_den=self._config["gradient_steps"] * self._config["target_update_interval"],
            tau=self._config["tau"])

    # --- the functional API (baselax's shape): pure functions, written in _api.py ---------

    init_params = _api.init_params
    init_policy = _api.init_policy
    init_optimizer = _api.init_optimizer
    predict_func = _api.predict_func
    update_func = _api.update_func
    train_func = _api.train_func

    @property
    def params(self):
        """The shell's current :class:`~coaxlike.agents.DQNParams` (from ``q`` and
        ``q_targ``); the setter writes them back through the validating setters."""
        return DQNParams(self.q.params, self.q.function_state, self.q_targ.params,
                         self.q_targ.function_state)

    @params.setter
    def params(self, params):
        ls = self.learner.learner_state
        self.learner.learner_state = ls._replace(
            params=params.q, function_state=params.function_state,
            target_params=params.q_targ, target_function_state=params.target_function_state)

    @property
    def opt_state(self):
        """The shell's current :class:`~coaxlike.agents.DQNOptState`."""
        return DQNOptState(self.learner.optimizer_state, jnp.int32(self.num_updates))

    @property
    def policy_state(self):
        """The shell's current :class:`~coaxlike.agents.PolicyState`: its step is the env
        steps the exploration schedule has counted (``num_timesteps -
        exploration_start``; 0 while the agent waits for a reward)."""
        return PolicyState(jnp.int32(_learn._exploration_step(self, self.num_timesteps)))

    @property
    def exploration_start(self):
        """The env step from which :attr:`exploration` counts: 0, or with
        ``explore_until_reward`` the first env step of the training round in which a reward
        other than 0 first arrived; ``None`` while none has (the schedule holds at its
        start value).

        Examples:
            >>> from coaxlike.agents import DQN
            >>> DQN("CartPole-v1", seed=0).learn(256, progress_bar=False).exploration_start
            0
        """
        return self._exploration_start

    def _train_round(self, params, opt_state, batches, key):
        prioritized = self._config["prioritized"]
        return _functional.train(self._static, params, opt_state, batches, key,
                                 with_td_error=prioritized, guarded=False,
                                 keep=("loss", "td_error") if prioritized else ("loss",))

    # --- SB3-style shell --------------------------------------------------------------------

    def learn(self, total_timesteps, *, callback=None, progress_bar=True, eval_env=None,
              eval_freq=10_000, n_eval_episodes=10, log_dir=None, log_interval=2.0):
        """Train for ``total_timesteps`` more env steps (whole rounds); returns ``self``.

        Args:
            total_timesteps: env steps to add (all sub-envs together), an int >= 1; the run
                stops at the first multiple of ``n_envs`` at or past it, possibly inside a
                round, which the next call completes (so ``learn(a); learn(b)`` is
                ``learn(a + b)``).
            callback: ``callback(agent, info) -> bool | None`` after every round, with
                ``info`` a dict (``num_timesteps``, ``num_updates``, ``loss``, ``epsilon``,
                ``episode_returns`` finished in the round, ``eval_return`` when evaluated);
                returning ``False`` stops training.
            progress_bar: a tqdm bar on a terminal, plain lines every ``log_interval``
                seconds otherwise; ``False``: silent.
            eval_env: an env id, env or vector env for greedy evaluation every ``eval_freq``
                env steps (``n_eval_episodes`` episodes; see :func:`evaluate_policy`).
            eval_freq: env steps between evaluations.
            n_eval_episodes: episodes per evaluation.
            log_dir: a directory; the call writes into a run directory ``log_dir/<start
                time>`` (``%Y%m%d_%H%M%S``): TensorBoard events from a
                :class:`~coaxlike.wrappers.VectorTrainMonitor` that the envs are stepped
                through (``episode/return``, ``episode/steps``, ... at the agent's env-step
                count) and, with its writer, ``train/loss``, ``rollout/ep_rew_mean``,
                ``rollout/exploration_rate``, ``time/fps``, ``eval/mean_reward``; the same
                rows in ``progress.csv``.
            log_interval: seconds between plain progress lines.

        Returns:
            the agent.

        Raises:
            TypeError, ValueError: an argument of the wrong type / out of range.
            FloatingPointError: a loss, parameter or Q-value became NaN or infinite; the
                agent keeps the parameters of the last finite round.
        """
        return _learn.learn(self, total_timesteps, callback=callback,
                            progress_bar=progress_bar, eval_env=eval_env,
                            eval_freq=eval_freq, n_eval_episodes=n_eval_episodes,
                            log_dir=log_dir, log_interval=log_interval)

    def predict(self, observation, deterministic=True, action_mask=None):
        """Actions for one observation or a batch (SB3's signature and return value).

        Args:
            observation: one raw observation, or a batch ``(B, ...)``.
            deterministic: greedy (ties at random) if True, else sampled from ``policy``.
            action_mask: optional bool mask ``(n,)`` (``(B, n)`` for a batch).

        Returns:
            ``(action, None)``: an int for one observation, an int array ``(B,)`` for a batch.
        """
        single = _is_single(observation, self.q.observation_space)
        S, mask = observation, action_mask
        if single:
            S = jax.tree_util.tree_map(lambda x: np.expand_dims(np.asarray(x), 0), observation)
            mask = None if action_mask is None else np.asarray(action_mask)[None]
        A = (self._policy.mode(S, action_mask=mask) if deterministic
             else self._policy(S, action_mask=mask))
        return (int(A[0]) if single else np.asarray(A)), None

    # --- saving ------------------------------------------------------------------------------

    def save(self, path, *, include_buffer=False):
        """Save the agent to one fingerprinted file (``.cxl`` appended unless present).

        The file holds the hyperparameters (static, fingerprinted), the online and target
        networks, the optimizer state, the counters (schedule positions), the PRNG keys,
        the policy (its class, hyperparameter and exploration schedule: the default, a
        constant, none or a custom one, which :meth:`load` asks for again) and the envs'
        last observations; with
        ``include_buffer=True`` also the replay buffer, its sampler state and the tracer's
        pending steps, so that training continues exactly as if never interrupted (given
        the same env object in the same state).

        Returns:
            the path written.
        """
        return _persist.save(self, path, include_buffer)

    @classmethod
    def load(cls, path, env=None, *, func=None, learning_rate=None, exploration=None,
             policy=None):
        """Build an agent from a file written by :meth:`save`.

        Args:
            path: the file.
            env: the env (id, env or vector env); default: ``gym.make_vec`` of the saved id.
            func, learning_rate: required when the agent was built with a custom one (a
                function cannot be stored); else must be ``None``.
            exploration: required when the saved agent's exploration was a custom schedule;
                else must be ``None``.
            policy: a factory ``q -> ValuePolicy``, required when the saved agent's policy
                is not one of the library's (:class:`~coaxlike.EpsilonGreedy`,
                :class:`~coaxlike.BoltzmannPolicy`); those are rebuilt from the file as the
                agent had them when saved (a policy swapped in after construction
                included), with their hyperparameter, key and exploration schedule, and
                the schedule's clock (:attr:`exploration_start`). A file saved before
                ``explore_until_reward`` existed loads with it ``False``, the clock it had.

        Examples:
            >>> import os, tempfile
            >>> import coaxlike
            >>> from coaxlike.agents import DQN
            >>> agent = DQN("CartPole-v1", hidden=(8,), seed=0)
            >>> agent.policy = coaxlike.BoltzmannPolicy(agent.q, temperature=0.1)
            >>> path = agent.save(os.path.join(tempfile.mkdtemp(), "agent"))
            >>> loaded = DQN.load(path)
            >>> type(loaded.policy).__name__, loaded.policy.temperature, loaded.exploration
            ('BoltzmannPolicy', 0.1, None)

        Raises:
            ValueError: damaged or foreign file (says what it holds: another object, a plain
                pytree, an agent of an older layout, another format version), or a file that
                does not match (names what differs).
        """
        return _persist.load(cls, path, env, func=func, learning_rate=learning_rate,
                             exploration=exploration, policy=policy)

    def __repr__(self):
        c = self._config
        return (f"DQN(env={c['env_id'] or type(self.env).__name__}, n_envs={c['n_envs']}, "
                f"num_timesteps={self.num_timesteps}, num_updates={self.num_updates})")


def _is_single(observation, space):
    leaves = jax.tree_util.tree_leaves(observation)
    spaces = jax.tree_util.tree_leaves(_build.example_obs(space, 1))
    return np.ndim(leaves[0]) == np.ndim(spaces[0]) - 1

