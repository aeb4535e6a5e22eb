"""The host loop of :meth:`DQN.learn`: collect with the policy, trace, replay, train rounds."""
import collections
import dataclasses
import time
from typing import Any

import jax
import numpy as np

from ..policies import ValuePolicy
from ..policies import _rounds
from . import _build, _config, _functional
from ._evaluation import evaluate_policy, make_eval_env
from ._logging import Logger

__all__ = []  # private module


@dataclasses.dataclass
class LoopState:
    """What the collection loop carries between rounds and between :meth:`learn` calls."""

    obs: Any  # the envs' current observations, or None before the first reset
    returns: np.ndarray  # running return per sub-env
    lengths: np.ndarray  # running length per sub-env
    resetting: np.ndarray  # bool: the sub-env's next step is the autoreset step
    recent: collections.deque  # the last n + 1 steps given to the tracer (for saving)
    episodes: int = 0
    last_returns: collections.deque = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=100))

    @classmethod
    def fresh(cls, agent):
        k, n = agent._config["n_envs"], agent._config["n_step"]
        return cls(obs=None, returns=np.zeros(k), lengths=np.zeros(k, np.int64),
                   resetting=np.zeros(k, bool), recent=collections.deque(maxlen=n + 1))


def _collect(agent, loop, steps, envs, monitor=None, round_start=0):
    """``steps`` vector steps of ``envs`` (the agent's, or a monitor over them) with
    ``agent.policy``, inside the training round that began at env step ``round_start``;
    returns the finished episodes' returns. While the agent waits for its first reward
    (``agent.exploration_start is None``), the first reward other than 0 sets it to
    ``round_start``.

    Per step, the host work that does not feed the next action (tracing, the episode
    counters) runs *after* the next action's compiled draw is dispatched, so that it
    overlaps the draw (JAX dispatches asynchronously on CPU); the transitions go to the
    buffer in one add when the call ends. The results are those of the plain loop (act,
    step, trace, add, per step): the same draws under the same keys, the same rows in the
    same order, in the buffer before anything samples from it. The keys and noise of the
    call's draws are drawn in one compiled call (a round, see ``policies/_rounds.py``), the
    draws that ``steps`` calls of the policy would make."""
    pi, tracer = agent.policy, agent.tracer
    finished, n_envs = [], agent._config["n_envs"]
    # a policy class that overrides __call__ is called as it asks (no overlap, no round)
    rnd, start, finish = None, None, None
    if type(pi).__call__ is ValuePolicy.__call__ and _rounds.usable(pi):
        # always as long as a full round: one compilation (a shorter call uses a prefix)
        rnd = _rounds.Round(pi, loop.obs, agent._config["train_freq"])
        start, finish = rnd.start, rnd.finish
    elif type(pi).__call__ is ValuePolicy.__call__:
        start, finish = (lambda S, i: pi._start_sample(S)), pi._finish_sample
    pending, resetting = None, bool(loop.resetting.any())
    try:
        for step in range(steps):
            S = loop.obs
            try:
                if start is None:
                    A, logP = pi(S, return_logp=True)
                else:
                    A, logP = finish(pending if pending is not None else start(S, step), True)
                    pending = None
            except ValueError as error:
                if "finite" in str(error):
                    raise FloatingPointError(
                        f"non-finite Q-values while acting at env step "
                        f"{agent.num_timesteps}: {error}; the agent keeps its current "
                        "parameters") from error
                raise
            if monitor is not None:  # its episode scalars at the agent's env-step count
                monitor.T = agent.num_timesteps
            S_next, R, terminated, truncated, _ = envs.step(A)
            if agent._exploration_start is None and np.count_nonzero(R):
                agent._exploration_start = round_start
            if start is not None and step + 1 < steps:  # the next action, in flight
                try:
                    pending = start(S_next, step + 1)
                except Exception:  # raised again in its place: at the next step's action
                    pending = None
            done = terminated | truncated
            trunc_only = truncated & ~terminated
            tracer.add(S, A, R, done, logP, truncated=trunc_only)
            loop.recent.append((S, A, np.asarray(R, np.float64), done, logP, trunc_only))
            if resetting:  # a sub-env's autoreset step counts for nothing
                live = ~loop.resetting
                loop.returns += np.where(live, R, 0.0)
                loop.lengths += live
                ended = done & live
            else:  # the common case, without the masking
                loop.returns += R
                loop.lengths += 1
                ended = done
            resetting = np.count_nonzero(ended) > 0
            if resetting:
                for i in np.flatnonzero(ended):
                    finished.append(float(loop.returns[i]))
                    loop.last_returns.append(float(loop.returns[i]))
                    loop.returns[i], loop.lengths[i] = 0.0, 0
                    loop.episodes += 1
            loop.resetting = ended
            loop.obs = S_next
            agent.num_timesteps += n_envs
    finally:  # what was traced reaches the buffer, whatever stopped the loop
        if rnd is not None:  # the policy's key after the draws made
            rnd.end()
        if tracer:
            agent.buffer.add(_build.strip_window(tracer.flush()))
    return finished


def _train(agent):
    """One round of ``gradient_steps`` updates as one compiled call; returns the losses."""
    c = agent._config
    G, B = c["gradient_steps"], c["batch_size"]
    if len(agent.buffer) >= G * B:  # one gather for the round
        batch = agent.buffer.sample(G * B)
        batches = jax.tree_util.tree_map(lambda x: x.reshape(G, B, *x.shape[1:]), batch)
    else:  # early on the buffer refuses G * B rows (it checks against its size)
        batches = jax.tree_util.tree_map(lambda *x: np.stack(x),
                                         *[agent.buffer.sample(B) for _ in range(G)])
        batch = batches._replace(idx=batches.idx.reshape(-1))
    learner = agent.learner
    opt_state = _functional.DQNOptState(learner.optimizer_state, agent._updates_device)
    params, opt_state, key, metrics, finite = agent._train_jit(agent.params, opt_state,
                                                               batches, learner._key)
    if not bool(finite):
        raise FloatingPointError(
            f"a non-finite loss or parameter appeared in the training round after update "
            f"{agent.num_updates} (env step {agent.num_timesteps}); training stopped and the "
            "agent keeps the parameters from before that round. Lower learning_rate, clip "
            "gradients with max_grad_norm, or check the rewards and observations.")
    # the compiled round returns the trees it was given, same structure, shapes and dtypes:
    # written back past the validating setters (as the learner's own update does)
    q, q_targ = agent.q, agent.q_targ
    q._params, q._function_state = params.q, params.function_state
    q_targ._params, q_targ._function_state = params.q_targ, params.target_function_state
    learner._opt_state, learner._key = opt_state.optimizer, key
    agent._updates_device = opt_state.updates
    agent.num_updates += G
    if c["prioritized"]:
        agent.buffer.update(batch.idx, np.asarray(metrics["td_error"]).reshape(-1))
    return metrics["loss"]


def _exploration_step(agent, step):
    """The exploration schedule's step at env step ``step``: it counts from
    ``agent.exploration_start``, and stays at 0 while that is None (no reward yet)."""
    start = agent._exploration_start
    return 0 if start is None else step - start


def learn(agent, total_timesteps, *, callback, progress_bar, eval_env, eval_freq,
          n_eval_episodes, log_dir, log_interval):
    total = _config.positive_int(total_timesteps, "total_timesteps")
    eval_freq = _config.positive_int(eval_freq, "eval_freq")
    n_eval_episodes = _config.positive_int(n_eval_episodes, "n_eval_episodes")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable (agent, info) -> bool or None, got "
                        f"{type(callback).__name__}")
    eval_envs = None if eval_env is None else make_eval_env(eval_env, n_eval_episodes)
    c, loop = agent._config, agent._loop
    if loop.obs is None:
        loop.obs, _ = agent.env.reset(seed=c["seed"])
    start, end = agent.num_timesteps, agent.num_timesteps + total
    logger = Logger(agent, loop, progress_bar, log_dir, start, end, log_interval)
    k, per_round, hp_set = c["n_envs"], c["train_freq"], None
    try:
        while agent.num_timesteps < end:
            # rounds are counted from the agent's first step, whatever the learn() calls:
            # a call that ends inside a round leaves the rest of it to the next call
            done_in_round = (agent.num_timesteps // k) % per_round
            round_start = agent.num_timesteps - done_in_round * k
            if agent._schedule_jit is not None:  # the schedule's value at the round's start
                hp = float(agent._schedule_jit(_exploration_step(agent, round_start)))
                if hp != hp_set:  # a schedule that has ended costs no more device writes
                    agent.policy._set_hp(hp)
                    hp_set = hp
            before = agent.num_timesteps
            steps = min(per_round - done_in_round, -(-(end - agent.num_timesteps) // k))
            finished = _collect(agent, loop, steps, logger.env, logger.monitor, round_start)
            loss = None
            if ((agent.num_timesteps // k) % per_round == 0
                    and agent.num_timesteps >= c["learning_starts"]
                    and len(agent.buffer) >= c["batch_size"]):
                loss = _train(agent)
            info = {"num_timesteps": agent.num_timesteps, "num_updates": agent.num_updates,
                    "episode_returns": finished, "loss": loss,
                    "epsilon": float(agent.policy._hp)}
            if eval_envs is not None and agent.num_timesteps // eval_freq > before // eval_freq:
                info["eval_return"] = evaluate_policy(agent, eval_envs, n_eval_episodes,
                                                      seed=c["seed"] + 10_000)
            logger.log(agent, loop, info)
            if callback is not None and callback(agent, info) is False:
                break
    finally:
        logger.close()
        if eval_envs is not None and eval_envs is not eval_env:
            eval_envs.close()
    return agent
