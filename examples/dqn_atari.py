"""DQN on Atari Pong (ALE, through ale-py) on a CPU, with a replay memory of one frame per step.

What it shows, top to bottom:

1. ``PongNoFrameskip-v4`` (registered by ``import coaxlike`` when ale-py, the ``atari``
   extra, is installed; the ROMs ship with ale-py) under gymnasium's ``AtariPreprocessing``
   (frame skip 4 with max-pooling, 84x84 grayscale, up to 30 no-op starts) and
   :class:`coaxlike.wrappers.FrameStacking` (the last 4 frames as a tuple);
2. the convolutional Q-network of the Nature DQN paper (Mnih et al., 2015) in haiku, which
   stacks the frame tuple into ``(B, 84, 84, 4)`` channels itself;
3. epsilon-greedy exploration annealed by an optax schedule, rewards clipped to their sign,
   one-step Q-learning with the Huber loss, one update every 4 env steps after a warm-up,
   a target network synced every 10k steps;
4. a replay buffer that stores each 84x84 frame once (about 7.2 kB per transition instead of
   85 kB): ``--capacity 1000000`` (the paper's) takes about 7.3 GB and is checked against the
   available memory before anything is allocated;
5. a tqdm progress bar and TensorBoard scalars (episode return, epsilon, the learner's
   metrics, env steps/s)
   written with tensorboardX under ``--logdir``.

Run: ``pip install "coaxlike[atari,demo]"`` then ``python examples/dqn_atari.py`` (learning
Pong takes millions of steps, days on a 2-core CPU; ``--steps 5000 --warmup 1000`` is a
smoke run of a minute or two). ``tensorboard --logdir runs`` shows the curves.
"""
import argparse
import time

import gymnasium
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

import coaxlike
from coaxlike.experience_replay import SimpleReplayBuffer
from coaxlike.reward_tracing import NStep
from coaxlike.td_learning import QLearning
from coaxlike.wrappers import FrameStacking, TrainMonitor


def make_env(env_id="PongNoFrameskip-v4", num_frames=4):
    """The Atari env as DQN sees it: preprocessed 84x84 grayscale frames, 4 at a time."""
    env = gymnasium.make(env_id)  # NoFrameskip: AtariPreprocessing skips frames
    env = gymnasium.wrappers.AtariPreprocessing(env)
    return FrameStacking(env, num_frames=num_frames)


def nature_dqn(num_actions):
    """The Nature-DQN network: a tuple of (B, 84, 84) uint8-valued frames -> (B, n) values."""
    def func(S, is_training):
        x = jnp.stack(S, axis=-1) / 255.0  # (B, 84, 84, k), channels last
        return hk.Sequential([
            hk.Conv2D(32, kernel_shape=8, stride=4, padding="VALID"), jax.nn.relu,
            hk.Conv2D(64, kernel_shape=4, stride=2, padding="VALID"), jax.nn.relu,
            hk.Conv2D(64, kernel_shape=3, stride=1, padding="VALID"), jax.nn.relu,
            hk.Flatten(),
            hk.Linear(512), jax.nn.relu,
            hk.Linear(num_actions),
        ])(x)
    return func


def train(env_id="PongNoFrameskip-v4", steps=10_000_000, capacity=1_000_000, warmup=50_000,
          batch_size=32, train_every=4, target_every=10_000, lr=1e-4, gamma=0.99,
          eps_decay_steps=250_000, seed=0, logdir=None, progress=True):
    """Train DQN for ``steps`` env steps (agent steps, i.e. 4 emulator frames each).

    Returns:
        dict with ``steps``, ``seconds`` (whole loop: acting, env, replay and training),
        ``steps_per_second``, ``updates``, ``first_update`` (``(T, seconds)`` at the first
        update), ``episode_returns``, ``buffer_len`` and
        ``bytes_per_transition`` (the buffer's preallocated bytes over its capacity).
    """
    env = TrainMonitor(make_env(env_id), tensorboard_dir=logdir, name="dqn_atari")
    q = coaxlike.Q(nature_dqn(env.action_space.n), env, random_seed=seed)
    q_targ = q.copy()
    pi = coaxlike.EpsilonGreedy(q, epsilon=1.0, random_seed=seed)
    epsilon = optax.linear_schedule(1.0, 0.01, eps_decay_steps)
    learner = QLearning(q, q_targ=q_targ, optimizer=optax.adam(lr, eps=1.5e-4))
    tracer = NStep(n=1, gamma=gamma)
    buffer = SimpleReplayBuffer(capacity=capacity, random_seed=seed)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, unit=" steps", desc=env_id, mininterval=1.0)

    s, _ = env.reset(seed=seed)
    episode_returns, G, updates, first_update = [], 0.0, 0, (steps, None)
    t0 = time.perf_counter()
    for T in range(1, steps + 1):
        if T % 100 == 1:  # an optax schedule costs ~0.1 ms: not every step
            pi.epsilon = epsilon(T)
        a = pi(s)
        s_next, r, terminated, truncated, _ = env.step(a)
        done = terminated or truncated
        G += r
        # clip rewards to their sign (the DQN paper's reward scale for every game)
        tracer.add(s, a, np.sign(r), done, truncated=truncated and not terminated,
                   s_next=s_next if done else None)
        while tracer:
            buffer.add(tracer.pop())
        if len(buffer) >= warmup and T % train_every == 0:
            if not updates:  # the loop's speed before training, for benchmarks.atari
                first_update = (T, time.perf_counter() - t0)
            env.record_metrics(learner.update(buffer.sample(batch_size)))
            updates += 1
        if T % target_every == 0:
            q_targ.soft_update(q, tau=1.0)
        if done:
            episode_returns.append(G)
            env.record_metrics({"EpsilonGreedy/epsilon": pi.epsilon,
                                "throughput/env_steps_per_second":
                                    T / (time.perf_counter() - t0)})
            if bar is not None:
                bar.set_postfix(ret=f"{G:.0f}", eps=f"{float(pi.epsilon):.2f}",
                                episodes=len(episode_returns))
            s, G = env.reset()[0], 0.0
        else:
            s = s_next
        if bar is not None and T % 100 == 0:
            bar.update(100)
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    env.close()
    return {"steps": steps, "seconds": seconds, "steps_per_second": steps / seconds,
            "updates": updates, "first_update": first_update,
            "episode_returns": episode_returns, "buffer_len": len(buffer),
            "bytes_per_transition": buffer.nbytes / capacity}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="PongNoFrameskip-v4")
    parser.add_argument("--steps", type=int, default=10_000_000)
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", default="runs/dqn_atari")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    out = train(args.env, steps=args.steps, capacity=args.capacity, warmup=args.warmup,
                seed=args.seed, logdir=args.logdir, progress=not args.no_progress)
    returns = out["episode_returns"]
    print(f"{out['steps']} env steps in {out['seconds']:.1f} s "
          f"({out['steps_per_second']:.0f} steps/s, acting + training), {out['updates']} "
          f"updates, {len(returns)} episodes"
          + (f", last return {returns[-1]:.0f}" if returns else ""))
    print(f"replay: {out['buffer_len']} transitions, "
          f"{out['bytes_per_transition'] / 1e3:.2f} kB per transition of capacity")


if __name__ == "__main__":
    main()
