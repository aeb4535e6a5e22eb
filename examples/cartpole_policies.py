"""Wrap a Q-function and act in CartPole-v1 with two exploration policies.

Shows the core API: ``Q(func, env)``, ``EpsilonGreedy`` and ``BoltzmannPolicy`` sharing one
Q-function, ``pi(s, return_logp=True)`` returning the exact log-propensity of each action,
``pi.mode(s)`` and ``pi.dist_params(s)``. The network is untrained, so returns are low; the
point is what each call returns.

Run: ``python examples/cartpole_policies.py``
"""
import gymnasium as gym
import haiku as hk
import numpy as np

import coaxlike

env = gym.make("CartPole-v1")


def func(S, is_training):
    """Type-2 Q-function: observations (B, 4) -> values (B, 2)."""
    return hk.nets.MLP([64, 64, env.action_space.n])(S)


q = coaxlike.Q(func, env, random_seed=0)
policies = {
    "EpsilonGreedy(0.1)": coaxlike.EpsilonGreedy(q, epsilon=0.1),
    "BoltzmannPolicy(0.5)": coaxlike.BoltzmannPolicy(q, temperature=0.5),
}

for name, pi in policies.items():
    s, _ = env.reset(seed=0)
    print(f"\n{name}: q(s) = {np.round(q(s), 4)}, dist_params = "
          f"{np.round(pi.dist_params(s)['logits'], 4)}, mode = {pi.mode(s)}")
    for episode in range(3):
        s, _ = env.reset(seed=episode)
        ret, done, steps = 0.0, False, []
        while not done:
            a, logp = pi(s, return_logp=True)
            steps.append((a, logp))
            s, r, terminated, truncated, _ = env.step(a)
            ret += r
            done = terminated or truncated
        first = ", ".join(f"a={a} p={np.exp(lp):.3f}" for a, lp in steps[:4])
        print(f"  episode {episode}: return {ret:5.1f}; first actions: {first}")
env.close()
