"""Train DQN on CartPole-v1, evaluate greedily and with a Boltzmann policy, save and reload.

What it shows, top to bottom:

1. a type-2 Q-function and a target network (``q.copy()``, ``q_targ.soft_update``);
2. exploration with ``EpsilonGreedy`` whose epsilon follows an optax schedule (no
   recompilation: epsilon is an array leaf of ``pi.params``);
3. n-step tracing (``NStep``) into a replay buffer, recording each action's exact
   log-propensity;
4. ``DoubleQLearning`` updates;
5. evaluation every ``eval_every`` env steps with the greedy ``pi.mode`` on a separate env,
   stopping when the 10-episode mean return reaches 475;
6. evaluation of the *same* Q-function with a ``BoltzmannPolicy`` (no retraining);
7. ``pi.serialize`` / ``EpsilonGreedy.deserialize`` and a check that the reloaded policy acts
   the same (the file, ``dqn_policy.cxl`` by default, is kept);
8. a learning-curve PNG: training episodes and greedy evaluations on one axis of env steps,
   with the solve threshold.

Run: ``python examples/dqn_cartpole.py`` (about a minute on a 2-core CPU; ``--help`` for
options).
"""
import argparse
import os
import time

import gymnasium as gym
import haiku as hk
import jax
import numpy as np
import optax

import coaxlike
from coaxlike.experience_replay import SimpleReplayBuffer
from coaxlike.reward_tracing import NStep
from coaxlike.td_learning import DoubleQLearning

SOLVED = 475.0


def make_q(env, seed, hidden=(64, 64)):
    """Type-2 Q-function: (B, 4) observations -> (B, 2) values."""
    def func(S, is_training):
        return hk.nets.MLP([*hidden, 2])(S)
    return coaxlike.Q(func, env, random_seed=seed)


def make_envs(num_envs):
    """A gymnasium vector env of CartPoles (default next-step autoreset)."""
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * num_envs)


def evaluate(policy_fn, envs, seed=10_000):
    """Mean return of one episode per sub-env of ``envs`` under ``policy_fn(S) -> A``."""
    S, _ = envs.reset(seed=seed)
    returns = np.zeros(envs.num_envs)
    running = np.ones(envs.num_envs, bool)
    while running.any():
        S, R, terminated, truncated, _ = envs.step(policy_fn(S))
        returns += R * running
        running &= ~(terminated | truncated)
    return float(returns.mean())


def train(seed=0, max_steps=100_000, eval_every=5_000, num_envs=4, n_step=3, gamma=0.99,
          lr=1e-3, batch_size=64, warmup=1_000, updates_per_iteration=2, target_every=500,
          eps_decay_steps=10_000, hidden=(64, 64), progress=None, breakdown=False):
    """Train DQN until the greedy 10-episode mean return reaches 475 (or ``max_steps``).

    Each iteration steps ``num_envs`` CartPoles at once (one batched ``pi(S)`` call), traces
    n-step transitions and does ``updates_per_iteration`` gradient steps. ``eval_every``,
    ``target_every`` and ``eps_decay_steps`` count env steps (all sub-envs together).

    With ``breakdown=True`` the loop also times its parts (``act``, ``env``, ``trace+add``
    for the tracer and ``buffer.add``, ``sample``, ``update``, ``target``) and waits for
    each update to finish so that its time is not attributed to the next call; that wait
    costs a little throughput.

    Returns:
        dict with ``solved`` (bool), ``steps`` (env steps), ``seconds`` (wall time of the
        training loop including compilation, excluding evaluation), ``curve`` (list of
        ``(steps, eval_return)``), ``episode_returns`` and ``episode_steps`` (the env step
        at which each training episode ended), ``breakdown`` (seconds per part, or
        ``None``) and the trained ``q``, ``pi`` and the evaluation ``eval_envs`` (10
        CartPoles).
    """
    clock = _Clock(enabled=breakdown)
    t0 = time.perf_counter()
    envs, eval_envs = make_envs(num_envs), make_envs(10)
    q = make_q(envs, seed, hidden)
    q_targ = q.copy()
    pi = coaxlike.EpsilonGreedy(q, epsilon=1.0)
    # evaluation gets its own policy on the same Q-function, so that evaluating does not
    # consume the behaviour policy's random stream (training is the same whatever eval_every)
    pi_eval = coaxlike.EpsilonGreedy(q, epsilon=0.0, random_seed=seed + 1)
    schedule = optax.linear_schedule(1.0, 0.01, eps_decay_steps)
    learner = DoubleQLearning(q, q_targ=q_targ, optimizer=optax.adam(lr))
    tracer = NStep(n=n_step, gamma=gamma, num_envs=num_envs)
    buffer = SimpleReplayBuffer(capacity=50_000, random_seed=seed)

    curve, episode_returns, episode_steps, solved = [], [], [], False
    train_seconds, step, iteration = 0.0, 0, 0
    S, _ = envs.reset(seed=seed)
    returns = np.zeros(num_envs)
    while step < max_steps:
        clock.start()
        if iteration % 10 == 0:  # an optax schedule costs ~0.1 ms a call: not every step
            pi.epsilon = schedule(step)
        A, logP = pi(S, return_logp=True)
        clock.lap("act")
        S_next, R, terminated, truncated, _ = envs.step(A)
        done = terminated | truncated
        clock.lap("env")
        # the vector env ignores A on the step after an episode ended (autoreset); so does
        # the tracer, which also takes S_next there as the final observation to bootstrap from
        tracer.add(S, A, R, done, logP, truncated=truncated & ~terminated)
        while tracer:
            buffer.add(tracer.pop())
        clock.lap("trace+add")
        if len(buffer) >= warmup:
            for _ in range(updates_per_iteration):
                batch = buffer.sample(batch_size)
                clock.lap("sample")
                metrics = learner.update(batch)
                clock.lap("update", wait_for=metrics)
        step_before, step, iteration = step, step + num_envs, iteration + 1
        if step // target_every > step_before // target_every:
            q_targ.soft_update(q, tau=1.0)
            clock.lap("target", wait_for=q_targ.params)
        returns += R
        for i in np.flatnonzero(done):
            episode_returns.append(returns[i])
            episode_steps.append(step)
            returns[i] = 0.0
            if progress is not None:
                progress(step, episode_returns[-1], pi.epsilon,
                         step / (train_seconds + time.perf_counter() - t0))
        S = S_next
        if step // eval_every > step_before // eval_every:
            train_seconds += time.perf_counter() - t0
            score = evaluate(pi_eval.mode, eval_envs)
            curve.append((step, score))
            t0 = time.perf_counter()
            if score >= SOLVED:
                solved = True
                break
    train_seconds += time.perf_counter() - t0
    envs.close()
    return {"solved": solved, "steps": step, "seconds": train_seconds, "curve": curve,
            "episode_returns": episode_returns, "episode_steps": episode_steps,
            "breakdown": clock.totals if breakdown else None,
            "q": q, "pi": pi, "eval_envs": eval_envs}


class _Clock:
    """Accumulates wall time per part of the loop (a no-op unless enabled)."""

    def __init__(self, enabled):
        self.enabled, self.totals, self._t = enabled, {}, 0.0

    def start(self):
        if self.enabled:
            self._t = time.perf_counter()

    def lap(self, name, wait_for=None):
        if self.enabled:
            if wait_for is not None:
                jax.block_until_ready(wait_for)
            now = time.perf_counter()
            self.totals[name] = self.totals.get(name, 0.0) + now - self._t
            self._t = now


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=100_000)
    parser.add_argument("--plot", default="dqn_cartpole.png", help="learning-curve PNG path")
    parser.add_argument("--save", default="dqn_policy.cxl", help="where to save the policy")
    args = parser.parse_args()

    from tqdm import tqdm
    bar = tqdm(unit=" episodes", desc="DQN CartPole-v1")

    def progress(step, ret, epsilon, steps_per_second):
        bar.update(1)
        bar.set_postfix(steps=step, ret=f"{ret:.0f}", eps=f"{epsilon:.3f}",
                        sps=f"{steps_per_second:.0f}")

    out = train(seed=args.seed, max_steps=args.max_steps, progress=progress)
    bar.close()
    q, pi, eval_envs = out["q"], out["pi"], out["eval_envs"]
    print(f"solved={out['solved']} after {out['steps']} env steps, "
          f"{out['seconds']:.1f} s of training (compilation included, evaluation excluded)")
    for steps, score in out["curve"]:
        print(f"  eval @ {steps:6d} steps: greedy mean return {score:.1f}")

    greedy = evaluate(pi.mode, eval_envs, seed=20_000)
    boltzmann = coaxlike.BoltzmannPolicy(q, temperature=0.02)  # same Q, no retraining
    soft = evaluate(boltzmann, eval_envs, seed=20_000)
    print(f"greedy (pi.mode) mean return: {greedy:.1f}")
    print(f"BoltzmannPolicy(T=0.02) on the same Q, mean return: {soft:.1f}")

    pi.epsilon = 0.05
    path, same = save_and_reload(pi, args.save, eval_envs)
    print(f"saved to {path} ({os.path.getsize(path)} bytes); reloaded policy acts the same: "
          f"{same}")
    if not same:
        raise SystemExit("reloaded policy differs")
    plot(out, args.seed).savefig(args.plot, dpi=100)
    print(f"learning curve written to {args.plot}")
    eval_envs.close()


def save_and_reload(pi, path, envs):
    """Save ``pi`` to ``path`` (kept), load it into a policy on a fresh Q-function and
    compare 100 batched draws; return ``(path written, whether they all agree)``."""
    path = pi.serialize(path)
    reloaded = coaxlike.EpsilonGreedy.deserialize(path, make_q(envs, seed=123))
    S, _ = envs.reset(seed=1)
    same = all(np.array_equal(a, b) for _ in range(100)
               for a, b in zip(pi(S, return_logp=True), reloaded(S, return_logp=True)))
    return path, same


def plot(out, seed):
    """The learning curve of a ``train`` result: training episodes and greedy evaluations
    on one axis of env steps, the solve threshold, a title; returns the figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(out["episode_steps"], out["episode_returns"], lw=0.7, color="C0", alpha=0.7,
            label="training episode (epsilon-greedy), at the step it ended")
    xs, ys = zip(*out["curve"]) if out["curve"] else ((), ())
    ax.plot(xs, ys, "o-", color="C1", label="greedy evaluation (mean of 10 episodes)")
    ax.axhline(SOLVED, ls="--", lw=1, color="C2", label=f"solved: {SOLVED:.0f}")
    ax.set_xlabel("env steps (all sub-envs together)")
    ax.set_ylabel("return")
    ax.set_xlim(0, out["steps"])
    ax.set_ylim(0, 520)
    outcome = (f"solved after {out['steps']:,} env steps" if out["solved"]
               else f"not solved in {out['steps']:,} env steps")
    ax.set_title(f"DQN on CartPole-v1, seed {seed}: {outcome}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
