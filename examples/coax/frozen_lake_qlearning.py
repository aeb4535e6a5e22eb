"""Tabular Q-learning on FrozenLakeNonSlippery-v0, written the way a coax user writes it.

Shows: ``import coaxlike as coax`` in place of ``import coax``; the ``FrozenLakeNonSlippery-v0``
id registered on import; a type-1 Q-function that is a table over one-hot states and actions;
a Boltzmann behaviour policy; one-step Q-learning straight from the n-step tracer; and
``TrainMonitor``'s running average return ``env.avg_G`` as the stopping criterion. It ends
by walking the greedy path and raises if the lake was not solved.
"""
import gymnasium
import haiku as hk
import jax
import jax.numpy as jnp
import optax

import coaxlike as coax

# the MDP, with a monitor that logs one line per episode
env = gymnasium.make("FrozenLakeNonSlippery-v0")
env = coax.wrappers.TrainMonitor(env, name="frozen_lake_qlearning")


def func(S, A, is_training):
    """type-1 Q-function, a table: q(s, a) = w[s, a] (S and A arrive one-hot)"""
    table = hk.Linear(1, with_bias=False, w_init=jnp.zeros)
    return table(jax.vmap(jnp.kron)(S, A))[:, 0]


q = coax.Q(func, env, random_seed=13)
pi = coax.BoltzmannPolicy(q, temperature=0.1)
tracer = coax.reward_tracing.NStep(n=1, gamma=0.9)
qlearning = coax.td_learning.QLearning(q, optimizer=optax.adam(0.05))

for episode in range(500):
    s, info = env.reset(seed=episode)
    for t in range(env.spec.max_episode_steps):
        a = pi(s)
        s_next, r, terminated, truncated, info = env.step(a)
        if s_next == s:
            r = -0.01  # bumping into the edge of the lake costs a little

        # coaxlike bootstraps a truncated episode from its final observation
        done = terminated or truncated
        tracer.add(s, a, r, done, truncated=truncated, s_next=s_next if done else None)
        while tracer:
            metrics = qlearning.update(tracer.pop())
            env.record_metrics(metrics)

        if terminated or truncated:
            break
        s = s_next

    if env.avg_G > env.spec.reward_threshold:  # smoothed over the last 10 episodes
        break

# walk the greedy path
s, info = env.reset(seed=0)
path = [s]
for t in range(env.spec.max_episode_steps):
    s, r, terminated, truncated, info = env.step(pi.mode(s))
    path.append(s)
    if terminated or truncated:
        break
print(f"solved after {env.ep} episodes ({env.T} steps), greedy path: {path}, reward {float(r):.1f}")

if r != 1.0 or env.avg_G <= env.spec.reward_threshold:
    raise RuntimeError("frozen_lake_qlearning.py did not reach env.spec.reward_threshold")
