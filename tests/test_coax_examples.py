"""examples/coax/: every coax-style script (``import coaxlike as coax``) runs its loop for a
few steps in the default run; the slow run takes them to their own stopping criteria (a few
thousand updates each)."""
import glob
import os
import runpy
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import coaxlike

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "coax")


def run(script, *args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr


# env steps each script takes in the smoke run: enough to pass its warm-up into learning
SMOKE_STEPS = {"cartpole_dqn.py": 1_020}


class _BudgetSpent(Exception):
    pass


# coax's CartPole example uses CartPole-v0, which gymnasium flags as out of date
@pytest.mark.filterwarnings("ignore:.*environment CartPole-v0 is out of date")
@pytest.mark.parametrize("script", sorted(os.path.basename(p) for p in
                                          glob.glob(os.path.join(EXAMPLES, "*.py"))))
def test_every_example_runs_its_loop_into_learning(script, tmp_path, monkeypatch):
    """In this process (a fresh interpreter spends seconds importing JAX): the monitor every
    coax script wraps its env in stops the script after a few steps; by then the learner
    has updated and its metrics reached the monitor."""
    budget = SMOKE_STEPS.get(script, 30)
    step, record_metrics = coaxlike.wrappers.TrainMonitor.step, \
        coaxlike.wrappers.TrainMonitor.record_metrics
    recorded = []

    def step_within_budget(self, action):
        if self.T >= budget:
            raise _BudgetSpent
        return step(self, action)

    def record(self, metrics):
        recorded.extend(metrics)
        return record_metrics(self, metrics)

    monkeypatch.setattr(coaxlike.wrappers.TrainMonitor, "step", step_within_budget)
    monkeypatch.setattr(coaxlike.wrappers.TrainMonitor, "record_metrics", record)
    monkeypatch.setattr(sys, "argv", [script, str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(_BudgetSpent):
        runpy.run_path(os.path.join(EXAMPLES, script), run_name="__main__")
    assert "loss" in recorded


@pytest.mark.slow
@pytest.mark.parametrize("script", ["frozen_lake_qlearning.py"])
def test_frozen_lake_example_solves_the_lake(script, tmp_path):
    out, err = run(script, cwd=tmp_path)
    assert "solved after" in out and "reward 1.0" in out
    assert "ep: 1," in err  # TrainMonitor's episode lines reach the log


@pytest.mark.slow
def test_cartpole_dqn_example_solves_and_writes_logs_and_a_gif(tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    Image = pytest.importorskip("PIL.Image")
    out, err = run("cartpole_dqn.py", str(tmp_path), cwd=tmp_path)
    assert "greedy episode" in out
    (run_dir,) = glob.glob(str(tmp_path / "cartpole_dqn" / "*"))
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    returns = [e.value for e in acc.Scalars("episode/return")]
    assert sum(returns[-10:]) / 10 > 150 and "loss" in acc.Tags()["scalars"]
    with Image.open(tmp_path / "cartpole_dqn.gif") as gif:
        assert gif.n_frames > 1


def lake_loop_by_hand(kind, actions, episodes, lr=0.02, gamma=0.9):
    """coax's maths for its FrozenLake examples, written out in numpy (float64): a table
    q(s, a) = w[s, a] + b (the examples' linear layer over one-hot s x a), the Huber loss
    (gradient clip(q - G, -1, 1)), Adam with optax's defaults, and coax's one-step tracer
    timing: step t is handed out once step t+1 is added, or when the episode is done.
    Returns the final table and the monitor's avg_G."""
    env = gym.make("FrozenLakeNonSlippery-v0")
    w, b = np.zeros((16, 4)), 0.0
    m_w, v_w, m_b, v_b, k = np.zeros((16, 4)), np.zeros((16, 4)), 0.0, 0.0, 0
    avg_G, n_avg = 0.0, 0

    def update(s, a, r, In, s_next, a_next):
        nonlocal b, m_b, v_b, k
        q_next = w[s_next] + b
        G = r + In * (q_next[a_next] if kind == "sarsa" else q_next.max())
        g = np.clip(w[s, a] + b - G, -1.0, 1.0)
        g_w = np.zeros((16, 4))
        g_w[s, a] = g
        k += 1
        m_w[:], v_w[:] = 0.9 * m_w + 0.1 * g_w, 0.999 * v_w + 0.001 * g_w ** 2
        m_b, v_b = 0.9 * m_b + 0.1 * g, 0.999 * v_b + 0.001 * g ** 2
        c1, c2 = 1 - 0.9 ** k, 1 - 0.999 ** k
        w[:] -= lr * (m_w / c1) / (np.sqrt(v_w / c2) + 1e-8)
        b -= lr * (m_b / c1) / (np.sqrt(v_b / c2) + 1e-8)

    for _ in range(episodes):
        s, _ = env.reset()
        G, previous = 0.0, None
        for _ in range(env.spec.max_episode_steps):
            a = next(actions)
            s_next, r, terminated, truncated, _ = env.step(a)
            G += r
            r = -0.01 if s_next == s else r
            if previous is not None:
                update(*previous, gamma, s, a)
            previous = (s, a, r)
            if terminated or truncated:
                update(*previous, 0.0, s_next, a)
                n_avg = min(10, n_avg + 1)
                avg_G += (G - avg_G) / n_avg
                break
            s = s_next
    return w + b, avg_G


@pytest.mark.parametrize("kind", ["sarsa", "qlearning"])
def test_frozen_lake_loop_learns_coaxs_table(kind):
    """coax's FrozenLake loop (as in its examples, import swapped) fed one fixed action
    sequence: coaxlike's tracer, learner and monitor give coax's table, computed by hand.
    (The examples' seed-to-seed spread of solve rates is their own: see doc/migrating.rst.)"""
    import haiku as hk
    import jax
    import jax.numpy as jnp
    import optax

    episodes = 25
    sequence = np.random.default_rng(5).integers(0, 4, episodes * 20).tolist()
    expected, expected_avg_G = lake_loop_by_hand(kind, iter(sequence), episodes)

    env = coaxlike.wrappers.TrainMonitor(gym.make("FrozenLakeNonSlippery-v0"))

    def func(S, A, is_training):
        value = hk.Sequential((hk.Flatten(), hk.Linear(1, w_init=jnp.zeros), jnp.ravel))
        return value(jax.vmap(jnp.kron)(S, A))

    q = coaxlike.Q(func, env, random_seed=0)
    tracer = coaxlike.reward_tracing.NStep(n=1, gamma=0.9)
    learner = {"sarsa": coaxlike.td_learning.Sarsa,
               "qlearning": coaxlike.td_learning.QLearning}[kind](q, optimizer=optax.adam(0.02))
    actions = iter(sequence)
    for _ in range(episodes):
        s, info = env.reset()
        for _ in range(env.spec.max_episode_steps):
            a = next(actions)
            s_next, r, done, truncated, info = env.step(a)
            if s_next == s:
                r = -0.01
            tracer.add(s, a, r, done or truncated)
            while tracer:
                learner.update(tracer.pop())
            if done or truncated:
                break
            s = s_next
    table = np.stack([q(s) for s in range(16)])
    assert expected_avg_G > 0  # this sequence reaches the goal (reward 1) at least once
    np.testing.assert_allclose(table, expected, atol=2e-5)  # float32 against float64
    assert env.avg_G == pytest.approx(expected_avg_G, abs=1e-12)
