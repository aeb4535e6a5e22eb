"""DQN on CartPole, written the way a coax user writes it, with TensorBoard logs and a GIF.

Shows: ``import coaxlike as coax`` in place of ``import coax``; ``TrainMonitor`` with
``tensorboard_dir`` (episode returns, lengths and the learner's metrics, written with
tensorboardX); an epsilon-greedy policy whose epsilon follows a
``coax.utils.StepwiseLinearFunction`` of the global step ``env.T``; a replay buffer; Q-learning
against a target network refreshed with ``env.period``; and ``coax.utils.generate_gif`` of
one greedy episode at the end. Stops when ``env.avg_G`` (returns smoothed over 10 episodes)
passes the env's reward threshold (195 on CartPole-v0) and raises if it never does.

Run: ``python examples/coax/cartpole_dqn.py [output_dir]`` (default: ``./data``; the GIF
needs the ``gif`` extra).
"""
import os
import sys

import gymnasium
import haiku as hk
import jax
import optax

import coaxlike as coax

name = "cartpole_dqn"
out = sys.argv[1] if len(sys.argv) > 1 else "./data"

env = gymnasium.make("CartPole-v0", render_mode="rgb_array")
env = coax.wrappers.TrainMonitor(env, name=name, tensorboard_dir=os.path.join(out, name))


def func(S, is_training):
    """type-2 Q-function: s -> (q(s, left), q(s, right))"""
    return hk.nets.MLP([64, 64, env.action_space.n], activation=jax.nn.relu)(S)


q = coax.Q(func, env, random_seed=7)
q_targ = q.copy()
pi = coax.EpsilonGreedy(q, epsilon=1.0)
epsilon = coax.utils.StepwiseLinearFunction((0, 1.0), (5_000, 0.1), (10_000, 0.01))

tracer = coax.reward_tracing.NStep(n=1, gamma=0.99)
buffer = coax.experience_replay.SimpleReplayBuffer(capacity=20_000, random_seed=7)
qlearning = coax.td_learning.QLearning(q, q_targ=q_targ, optimizer=optax.adam(1e-3))

for episode in range(1_000):
    s, info = env.reset(seed=episode)

    for t in range(env.spec.max_episode_steps):
        pi.epsilon = epsilon(env.T)
        a = pi(s)
        s_next, r, terminated, truncated, info = env.step(a)

        # coaxlike bootstraps a truncated episode from its final observation
        done = terminated or truncated
        tracer.add(s, a, r, done, truncated=truncated, s_next=s_next if done else None)
        while tracer:
            buffer.add(tracer.pop())

        if len(buffer) >= 1_000:  # warm-up
            metrics = qlearning.update(buffer.sample(64))
            env.record_metrics(metrics)
            env.record_metrics({"EpsilonGreedy/epsilon": pi.epsilon})

        if env.period("sync_target", T_period=500):
            q_targ.soft_update(q, tau=1.0)

        if terminated or truncated:
            break
        s = s_next

    if env.avg_G > env.spec.reward_threshold:
        break

print(f"avg_G {env.avg_G:.1f} after {env.ep} episodes, {env.T} steps")
if env.avg_G <= env.spec.reward_threshold:
    raise RuntimeError(f"{name} did not reach env.spec.reward_threshold")

# one greedy episode as an animated GIF (the monitor skips it: it is not training)
steps = coax.utils.generate_gif(env, os.path.join(out, f"{name}.gif"), policy=pi.mode,
                                duration=25)
print(f"greedy episode: {steps} steps, GIF in {out}")
env.close()  # writes the last episode's line and closes the TensorBoard writer
