"""Greedy evaluation of an agent: episodes run side by side in a vector env."""
import gymnasium as gym
import numpy as np

from .._checks import check_int

__all__ = ["evaluate_policy"]


def make_eval_env(env, n_episodes):
    """A vector env for evaluation: an id becomes ``n_episodes`` sync copies."""
    if isinstance(env, str):
        return gym.make_vec(env, num_envs=n_episodes, vectorization_mode="sync")
    if hasattr(env, "num_envs") and hasattr(env, "single_action_space"):
        return env
    if hasattr(env, "step") and hasattr(env, "action_space"):
        return gym.vector.SyncVectorEnv([lambda: env])
    raise TypeError("eval_env must be a gymnasium env id, env or vector env, got "
                    f"{type(env).__name__}")


def evaluate_policy(agent, env, n_eval_episodes=10, *, deterministic=True, seed=None,
                    return_episode_returns=False):
    """Mean return of ``n_eval_episodes`` episodes of ``agent.predict``.

    The episodes run side by side in the sub-envs of a vector env (an env id becomes
    ``n_eval_episodes`` copies, so all run at once with one batched call per step); each
    sub-env contributes its first episodes after ``reset(seed=seed)`` until
    ``n_eval_episodes`` have finished, taken in the order they were assigned (so the result
    does not depend on which episodes happen to end first).

    Args:
        agent: anything with ``predict(obs_batch, deterministic) -> (actions, _)``, e.g. a
            :class:`~coaxlike.agents.DQN`.
        env: a gymnasium env id, env or vector env.
        n_eval_episodes: an int >= 1.
        deterministic: greedy actions (default) or sampled from the agent's policy.
        seed: passed to the first ``reset``.
        return_episode_returns: also return the list of episode returns.

    Returns:
        the mean return (float), or ``(mean, returns)``.

    Examples:
        >>> import numpy as np
        >>> from coaxlike.agents import evaluate_policy
        >>> class AlwaysLeft:  # any object with predict(); e.g. a trained DQN
        ...     def predict(self, obs, deterministic=True):
        ...         return np.zeros(len(obs), np.int64), None
        >>> mean, returns = evaluate_policy(AlwaysLeft(), "CartPole-v1", n_eval_episodes=3,
        ...                                 seed=0, return_episode_returns=True)
        >>> len(returns), 0 < mean < 20
        (3, True)
    """
    check_int(n_eval_episodes, "n_eval_episodes", 1)
    envs = make_eval_env(env, n_eval_episodes)
    try:
        k = envs.num_envs
        # sub-env i runs episodes i, i + k, i + 2k, ...: the first n_eval_episodes are kept
        wanted = np.array([len(range(i, n_eval_episodes, k)) for i in range(k)])
        obs, _ = envs.reset(seed=seed)
        returns = [[] for _ in range(k)]
        running = np.zeros(k)
        resetting = np.zeros(k, bool)
        done_count = np.zeros(k, np.int64)
        while (done_count < wanted).any():
            actions, _ = agent.predict(obs, deterministic=deterministic)
            obs, r, terminated, truncated, _ = envs.step(actions)
            live = ~resetting
            running += np.where(live, r, 0.0)
            ended = (terminated | truncated) & live
            for i in np.flatnonzero(ended):
                if done_count[i] < wanted[i]:
                    returns[i].append(float(running[i]))
                done_count[i] += 1
                running[i] = 0.0
            resetting = ended
    finally:
        if envs is not env:
            envs.close()
    flat = [r for per_env in returns for r in per_env]
    mean = float(np.mean(flat))
    return (mean, flat) if return_episode_returns else mean
