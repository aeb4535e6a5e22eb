"""coaxlike.agents.DQN: construction checks, the functional API, learning rounds, logging,
saving and loading (exact continuation), non-finite detection; slow: the defaults solve."""
import csv
import math
import os
import pathlib

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import coaxlike
from coaxlike.agents import DQN, DQNOptState, DQNParams, PolicyState, evaluate_policy
from coaxlike.reward_tracing import TransitionBatch

from ._stats import count_compiles

FROZEN_LAKE_STEPS = 100_000  # seeds 0 and 2 solve at 5k and 15k in benchmarks/agents.py
SMALL = dict(hidden=(16,), learning_starts=64, buffer_size=2_000, batch_size=16, train_freq=4,
             gradient_steps=8, target_update_interval=16)


def _equal_trees(a, b):
    return all(jax.tree_util.tree_leaves(
        jax.tree_util.tree_map(lambda x, y: bool(np.array_equal(x, y)), a, b)))


@pytest.fixture(scope="module")
def trained():
    """A small agent after 512 env steps (shared: tests must not change it)."""
    return DQN("CartPole-v1", seed=0, **SMALL).learn(512, progress_bar=False)


@pytest.fixture(scope="module")
def fresh():
    """A small untrained agent whose epsilon goes from 1 to 0 over 100 env steps (shared:
    tests use only its pure functions and save it)."""
    return DQN("CartPole-v1", seed=0, exploration=optax.linear_schedule(1.0, 0.0, 100),
               **SMALL)


# --- bad input ------------------------------------------------------------------------------

def test_non_discrete_action_space_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"Discrete action space, got Box"):
        DQN("Pendulum-v1")


@pytest.mark.parametrize("name, value", [
    ("hidden", ()), ("hidden", (0,)), ("buffer_size", 0), ("learning_starts", -1),
    ("batch_size", 0), ("gamma", 1.5), ("gamma", math.nan),
    ("train_freq", 0), ("gradient_steps", 0), ("gradient_steps", -2),
    ("target_update_interval", 0), ("tau", 0.0), ("tau", 2.0), ("max_grad_norm", -1.0), ("adam_eps", 0.0),
    ("n_step", 0), ("n_envs", 0), ("seed", -1),
    ("learning_rate", 0.0), ("learning_rate", -1e-3), ("exploration", 1.5),
    ("learning_rate", lambda step: -1.0), ("exploration", lambda step: 2.0),
    ("distributional", "c51"), ("num_bins", 1),
])
def test_bad_hyperparameter_is_a_value_error_naming_it(name, value):
    kwargs = {"distributional": "categorical"} if name == "num_bins" else {}
    with pytest.raises(ValueError, match=rf"^{name}"):
        DQN("CartPole-v1", **kwargs, **{name: value})


@pytest.mark.parametrize("name, value", [
    ("hidden", 64), ("hidden", (64, "64")), ("buffer_size", 1e4), ("learning_starts", "0"),
    ("batch_size", 1.5), ("gamma", "0.99"), ("train_freq", True), ("tau", [0.5]),
    ("max_grad_norm", "10"), ("n_step", 3.0), ("double", "yes"), ("prioritized", 1),
    ("n_envs", 2.0), ("seed", "0"), ("learning_rate", "1e-3"), ("exploration", b"0.1"),
    ("distributional", 51), ("value_range", 10.0), ("value_range", ("-10", 10)),
])
def test_a_hyperparameter_of_the_wrong_type_is_a_type_error_naming_it(name, value):
    """The rule of the whole API: the wrong type -> TypeError, a bad value -> ValueError;
    the message names the argument and shows what was given."""
    kwargs = {"distributional": "categorical"} if name == "value_range" else {}
    with pytest.raises(TypeError, match=rf"^{name}(\[\d\])? must be .*got .*{value!r}"
                       if not isinstance(value, tuple) else rf"^{name}(\[\d\])? must be"):
        DQN("CartPole-v1", **kwargs, **{name: value})


def test_batch_size_above_buffer_size_is_refused():
    with pytest.raises(ValueError, match="batch_size must be at most buffer_size=8"):
        DQN("CartPole-v1", buffer_size=8, batch_size=16)


def test_bad_learn_arguments(trained):
    for kwargs, name in [({"total_timesteps": 0}, "total_timesteps"),
                         ({"total_timesteps": 16, "eval_freq": 0}, "eval_freq"),
                         ({"total_timesteps": 16, "n_eval_episodes": 0}, "n_eval_episodes")]:
        with pytest.raises(ValueError, match=rf"^{name}"):
            trained.learn(**kwargs)
    with pytest.raises(TypeError, match=r"^total_timesteps must be an int >= 1, got float"):
        trained.learn(1e3)
    with pytest.raises(TypeError, match="include_buffer must be a bool, got int 1"):
        trained.save("never-written", include_buffer=1)
    assert trained.num_timesteps == 512  # nothing happened


# --- learning rounds ------------------------------------------------------------------------

def test_learn_counts_steps_and_updates_in_whole_rounds(trained):
    # rounds of train_freq=4 vector steps of 4 envs; 8 updates per round once 64 steps are in
    assert trained.num_timesteps == 512
    assert trained.num_updates == 8 * ((512 - 64) // 16 + 1)  # the round ending at 64 trains
    assert len(trained.buffer) > 0


def test_callback_stops_training_and_logs_go_to_tensorboard_csv_and_plain_lines(
        tmp_path, capsys):
    agent = DQN("CartPole-v1", seed=1, **SMALL)
    seen = []

    def callback(agent, info):
        seen.append(info)
        return False if agent.num_timesteps >= 192 else None

    agent.learn(10_000, callback=callback, log_dir=str(tmp_path), eval_env="CartPole-v1",
                eval_freq=128, n_eval_episodes=2, log_interval=0.0)
    assert agent.num_timesteps == 192 and [i["num_timesteps"] for i in seen][-1] == 192
    # rounds of 16 env steps; the rounds ending at 64, 80, ..., 192 train 8 updates each
    assert seen[-1]["num_updates"] == 72 and seen[-1]["loss"].shape == (8,)
    assert seen[0]["loss"] is None  # before learning_starts
    assert 0.0 <= seen[-1]["epsilon"] <= 1.0
    assert [i["num_timesteps"] for i in seen if "eval_return" in i] == [128]
    out = capsys.readouterr().out  # not a terminal: plain lines
    assert "DQN | steps" in out and "eval" in out
    (run,) = os.listdir(tmp_path)  # one run directory <start time>, as TrainMonitor makes
    with open(tmp_path / run / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and {"num_timesteps", "loss", "epsilon", "eval_return"} <= set(rows[0])
    assert [float(r["eval_return"]) for r in rows if r["eval_return"] != "nan"] == [
        seen[7]["eval_return"]]
    # TensorBoard through VectorTrainMonitor: its episode scalars, the agent's training ones
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    events = accumulator.EventAccumulator(str(tmp_path / run), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"episode/return", "episode/steps", "train/loss", "rollout/exploration_rate",
            "time/fps", "eval/mean_reward"} <= tags
    finished = [g for info in seen for g in info["episode_returns"]]
    assert [e.value for e in events.Scalars("episode/return")] == finished
    assert [e.value for e in events.Scalars("episode/steps")] == finished  # CartPole: r = 1
    losses = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert losses[-1][0] <= 192 and all(np.isfinite(v) for _, v in losses)
    assert [(e.step, e.value) for e in events.Scalars("eval/mean_reward")] == [
        (128, pytest.approx(seen[7]["eval_return"]))]
    # a second learn() goes on with the episodes in progress: their lengths stay exact
    seen.clear()
    agent.learn(320, log_dir=str(tmp_path / "more"), progress_bar=False,
                callback=lambda agent, info: seen.append(info))
    (run,) = os.listdir(tmp_path / "more")
    events = accumulator.EventAccumulator(str(tmp_path / "more" / run))
    events.Reload()
    finished = [g for info in seen for g in info["episode_returns"]]
    assert finished and [e.value for e in events.Scalars("episode/return")] == finished
    assert [e.value for e in events.Scalars("episode/steps")] == finished
    assert min(e.step for e in events.Scalars("episode/steps")) > 192


def test_target_network_moves_inside_the_round_where_the_interval_falls(trained):
    # 3 updates per round of 1 env step: update u stands for env step u / 3;
    # target_update_interval=2 env steps -> syncs after updates 6, 12, ...
    static = trained._static._replace(env_steps_num=1, target_den=3 * 2, tau=0.5)
    taus = [float(coaxlike.agents._functional.target_tau(static, jnp.int32(u)))
            for u in range(1, 13)]
    assert taus == [0, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0.5]


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_train_func_is_a_scan_of_update_func(trained):
    agent = trained
    G, B = 4, 16
    batches = jax.tree_util.tree_map(lambda *x: np.stack(x),
                                     *[agent.buffer.sample(B) for _ in range(G)])
    params, opt_state, key = agent.params, agent.opt_state, jax.random.key(0)
    p1, o1, _, metrics, finite = jax.jit(agent.train_func)(params, opt_state, batches, key)
    p2, o2 = params, opt_state
    k = key  # the scan splits its key once per update
    update = jax.jit(agent.update_func)
    for g in range(G):
        k, rng = jax.random.split(k)
        _, rng_up = jax.random.split(rng)
        p2, o2, m = update(p2, o2, jax.tree_util.tree_map(lambda x: x[g], batches), rng_up)
    assert bool(finite) and metrics["loss"].shape == (G,)
    assert _equal_trees(p1, p2) and _equal_trees(o1, o2)
    assert int(o1.updates) == int(opt_state.updates) + G


def test_rounds_compile_once_across_rounds_and_schedule_values():
    # epsilon moves every round and the buffer passes the round's G * B rows (the one-gather
    # path) on the way: after the first round, nothing compiles again
    agent = DQN("CartPole-v1", seed=1, exploration=optax.linear_schedule(1.0, 0.05, 300),
                **SMALL)
    agent.learn(96, progress_bar=False)  # first rounds: compiles the round and the acting
    epsilon = float(agent.policy._hp)
    with count_compiles() as n:
        agent.learn(256, progress_bar=False)
    assert n[0] == 0, f"{n[0]} compilations in 64 later rounds"
    assert agent._train_jit._cache_size() == 1
    assert float(agent.policy._hp) != epsilon and len(agent.buffer) >= 8 * 16


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_agent_round_and_unguarded_train_func_equal_the_guarded_train_func(trained):
    # the shell's round skips the per-update guard (it checks the round's result once):
    # on valid batches it gives exactly the parameters of the public, guarded train_func
    agent = trained
    G, B = 8, 16
    batch = agent.buffer.sample(G * B)
    batches = jax.tree_util.tree_map(lambda x: x.reshape(G, B, *x.shape[1:]), batch)
    params, opt_state, key = agent.params, agent.opt_state, jax.random.key(5)
    p1, o1, k1, m1, finite = agent._train_jit(params, opt_state, batches, key)
    p2, o2, k2, m2, _ = jax.jit(agent.train_func)(params, opt_state, batches, key)
    p3, o3, _, m3, _ = jax.jit(agent.train_func, static_argnames="guarded")(
        params, opt_state, batches, key, guarded=False)
    assert _equal_trees(p3, p2) and _equal_trees(o3, o2) and "skipped" not in m3
    assert bool(finite) and set(m1) == {"loss"}
    assert _equal_trees(p1, p2) and _equal_trees(o1, o2)
    np.testing.assert_array_equal(jax.random.key_data(k1), jax.random.key_data(k2))
    np.testing.assert_array_equal(np.asarray(m1["loss"]), np.asarray(m2["loss"]))
    assert not _equal_trees(p1.q, params.q)


# --- the functional API ---------------------------------------------------------------------

def test_functional_api_shapes_schedule_and_greedy_evaluation(fresh):
    agent = fresh
    params = agent.init_params(jax.random.key(3))
    assert isinstance(params, DQNParams) and _equal_trees(params.q, params.q_targ)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(agent.params)
    ps = agent.init_policy()
    assert isinstance(ps, PolicyState) and int(ps.step) == 0
    opt_state = agent.init_optimizer(params)
    assert isinstance(opt_state, DQNOptState) and int(opt_state.updates) == 0
    predict = jax.jit(agent.predict_func, static_argnames="evaluation")
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    out, ps = predict(params, PolicyState(jnp.int32(50)), obs, jax.random.key(0))
    assert out.actions.shape == (5,) and out.q_values.shape == (5, 2)
    assert float(out.epsilon) == pytest.approx(0.5) and int(ps.step) == 55
    # the log-propensity is exact: epsilon-greedy over two actions
    greedy = np.argmax(np.asarray(out.q_values), axis=1)
    want = np.where(np.asarray(out.actions) == greedy, np.log(0.75), np.log(0.25))
    np.testing.assert_allclose(np.asarray(out.logp), want, rtol=1e-6)
    ev, ps2 = predict(params, ps, obs, jax.random.key(0), evaluation=True)
    np.testing.assert_array_equal(np.asarray(ev.actions), greedy)
    assert int(ps2.step) == 55 and float(ev.epsilon) == 0.0
    np.testing.assert_array_equal(np.asarray(ev.logp), np.zeros(5))


def test_predict_func_evaluation_without_key_takes_the_first_maximum(fresh):
    """``key=None`` when evaluating: the first greedy action (a deterministic policy, log-
    propensity 0), no random draw in the program; ``-1 + start`` and NaN where a Q-value is
    not finite; ``None`` is refused where a draw is needed."""
    agent = fresh
    params = agent.init_params(jax.random.key(3))
    ps = agent.init_policy()
    obs = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    for predict in (agent.predict_func, jax.jit(agent.predict_func,
                                                static_argnames="evaluation")):
        out, ps2 = predict(params, ps, obs, None, evaluation=True)
        want = np.argmax(np.asarray(out.q_values), axis=1)
        np.testing.assert_array_equal(np.asarray(out.actions), want)
        np.testing.assert_array_equal(np.asarray(out.logp), np.zeros(6, np.float32))
        assert float(out.epsilon) == 0.0 and int(ps2.step) == 0
        # ties go to the first maximum: equal output weights give equal Q-values
        last = max(params.q)  # the output layer, "mlp/~/linear_<k>"
        tied = params._replace(q={**params.q, last: jax.tree_util.tree_map(
            jnp.zeros_like, params.q[last])})
        out, _ = predict(tied, ps, obs, None, evaluation=True)
        np.testing.assert_array_equal(np.asarray(out.actions), np.zeros(6))
        nan_obs = obs.copy()
        nan_obs[2, 0] = np.nan
        out, _ = predict(params, ps, nan_obs, None, evaluation=True)
        assert int(out.actions[2]) == -1 and np.isnan(float(out.logp[2]))
        np.testing.assert_array_equal(np.asarray(out.actions)[[0, 1, 3, 4, 5]],
                                      want[[0, 1, 3, 4, 5]])
    with pytest.raises(ValueError, match="key must be a JAX PRNG key"):
        agent.predict_func(params, ps, obs, None)
    assert "jax.random" not in str(jax.make_jaxpr(
        lambda p, o: agent.predict_func(p, ps, o, None, evaluation=True))(params, obs))


def test_update_func_changes_params_and_counts(fresh):
    agent = fresh
    params = agent.init_params(jax.random.key(0))
    opt_state = agent.init_optimizer(params)
    batch = TransitionBatch.from_one_step(
        S=np.zeros((8, 4), np.float32), A=np.zeros(8, np.int64), Rn=np.ones(8, np.float32),
        In=np.full(8, 0.99, np.float32), S_next=np.zeros((8, 4), np.float32))
    new, opt_state, metrics = jax.jit(agent.update_func)(params, opt_state, batch)
    assert int(opt_state.updates) == 1 and np.isfinite(float(metrics["loss"]))
    assert not _equal_trees(new.q, params.q) and _equal_trees(new.q_targ, params.q_targ)


# --- the shell ------------------------------------------------------------------------------

def test_predict_single_and_batch(trained):
    env = gym.make("CartPole-v1")
    s, _ = env.reset(seed=0)
    a, state = trained.predict(s)
    assert state is None and isinstance(a, int) and a in (0, 1)
    S = np.stack([s, s, s])
    A, _ = trained.predict(S)
    assert A.shape == (3,) and (A == a).all()
    A, _ = trained.predict(S, deterministic=False)
    assert A.shape == (3,)
    a, _ = trained.predict(s, action_mask=np.array([False, True]))
    assert a == 1


def test_policy_is_swappable_without_retraining():
    agent = DQN("CartPole-v1", seed=0, **SMALL).learn(128, progress_bar=False)
    params = agent.params
    s = np.zeros(4, np.float32)
    greedy, _ = agent.predict(s)
    agent.policy = coaxlike.BoltzmannPolicy(agent.q, temperature=0.1)
    assert agent.exploration is None and _equal_trees(agent.params, params)
    assert agent.predict(s)[0] == greedy
    agent.learn(64, progress_bar=False)
    assert agent.policy.temperature == pytest.approx(0.1)  # the schedule no longer applies
    with pytest.raises(ValueError, match="agent's own Q-function"):
        agent.policy = coaxlike.EpsilonGreedy(agent.q.copy())
    with pytest.raises(TypeError, match="policy must be"):
        agent.policy = "greedy"


def test_evaluate_policy_counts_exactly_n_episodes():
    class Constant:
        def predict(self, obs, deterministic=True):
            return np.zeros(len(obs), np.int64), None

    mean, returns = evaluate_policy(Constant(), "CartPole-v1", n_eval_episodes=3, seed=0,
                                    return_episode_returns=True)
    assert len(returns) == 3 and mean == pytest.approx(np.mean(returns))
    envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    _, returns = evaluate_policy(Constant(), envs, n_eval_episodes=5, seed=0,
                                 return_episode_returns=True)
    assert len(returns) == 5 and all(5 <= r <= 20 for r in returns)



class _PlainCall(coaxlike.EpsilonGreedy):
    """Overrides __call__ (with the same behaviour): the agent then acts through it, one
    call per step, without a round of draws or overlapping the next draw with its
    bookkeeping."""

    def __call__(self, s, return_logp=False, action_mask=None):
        return super().__call__(s, return_logp=return_logp, action_mask=action_mask)


class _PlainBoltzmann(coaxlike.BoltzmannPolicy):
    def __call__(self, s, return_logp=False, action_mask=None):
        return super().__call__(s, return_logp=return_logp, action_mask=action_mask)


@pytest.mark.parametrize("kind", ["epsilon", "boltzmann"])
def test_overlapped_collection_equals_the_plain_loop(kind):
    """learn() draws a round's keys and noise in one call, dispatches the next action before
    tracing the current step and adds each call's transitions in one go: parameters,
    buffer, keys and counters are those of the plain act-step-trace-add loop, bit for bit
    (3 sub-envs, 3-step tracing, episode ends; a single env with Boltzmann exploration)."""
    if kind == "epsilon":
        kwargs = dict(n_envs=3, n_step=3, exploration=optax.linear_schedule(1.0, 0.1, 300))
        policies = (None, lambda q: _PlainCall(q, 1.0))
    else:
        kwargs = dict(n_envs=1, n_step=2)
        policies = (lambda q: coaxlike.BoltzmannPolicy(q, 0.5),
                    lambda q: _PlainBoltzmann(q, 0.5))
    agents = [DQN("CartPole-v1", seed=7, policy=policy, **kwargs, **SMALL)
              for policy in policies]
    for agent in agents:
        agent.learn(200, progress_bar=False)
        agent.learn(301, progress_bar=False)  # ends inside a round
    fast, plain = agents
    assert type(fast.policy).__call__ is coaxlike.policies.ValuePolicy.__call__
    assert type(plain.policy).__call__ is not coaxlike.policies.ValuePolicy.__call__
    assert fast._loop.episodes > 10
    assert _equal_trees(fast.params, plain.params)
    assert _equal_trees(fast.learner.optimizer_state, plain.learner.optimizer_state)
    assert len(fast.buffer) == len(plain.buffer)
    assert _equal_trees(fast.buffer.sample(len(fast.buffer)),
                        plain.buffer.sample(len(fast.buffer)))
    np.testing.assert_array_equal(jax.random.key_data(fast.policy._key),
                                  jax.random.key_data(plain.policy._key))
    assert (fast.num_timesteps, fast.num_updates, list(fast._loop.last_returns)) == (
        plain.num_timesteps, plain.num_updates, list(plain._loop.last_returns))

# --- non-finite values ----------------------------------------------------------------------

def test_non_finite_values_stop_learning_with_the_last_finite_parameters():
    # a learning rate of 1e30 sends the parameters to ~1e30 in the first round: the next
    # forward passes overflow (non-finite Q-values when acting, or a non-finite loss)
    agent = DQN("CartPole-v1", seed=0, learning_rate=1e30, max_grad_norm=None,
                **{**SMALL, "learning_starts": 16})
    snapshots = []
    with pytest.raises(FloatingPointError, match="non-finite"):
        agent.learn(1_000, progress_bar=False,
                    callback=lambda agent, info: snapshots.append(agent.params))
    assert snapshots and _equal_trees(agent.params, snapshots[-1])
    assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(agent.params))


# --- saving and loading ---------------------------------------------------------------------

def _continued(tmp_path, steps, include_buffer=True, **kwargs):
    first = DQN("CartPole-v1", **kwargs).learn(steps, progress_bar=False)
    path = first.save(tmp_path / "agent", include_buffer=include_buffer)
    second = DQN.load(path, env=first.env)
    return first, second.learn(steps, progress_bar=False)


def test_save_load_continues_exactly_even_inside_a_round(tmp_path):
    kwargs = dict(seed=3, **SMALL)
    _, continued = _continued(tmp_path, 808, **kwargs)  # 808 = 50.5 rounds of 16 env steps
    straight = DQN("CartPole-v1", **kwargs).learn(1_616, progress_bar=False)
    assert _equal_trees(continued.params, straight.params)
    assert _equal_trees(continued.learner.optimizer_state, straight.learner.optimizer_state)
    assert (continued.num_timesteps, continued.num_updates) == (1_616, straight.num_updates)


def test_prioritized_save_load_continues_exactly(tmp_path):
    """The prioritized buffer's whole state travels: rows, priorities, the priority given to
    new transitions (the largest seen so far) and the sampler's generator."""
    kwargs = dict(seed=5, prioritized=True, **SMALL)
    first, continued = _continued(tmp_path, 400, **kwargs)
    straight = DQN("CartPole-v1", **kwargs).learn(800, progress_bar=False)
    assert _equal_trees(continued.params, straight.params)
    assert continued.buffer._max_base == straight.buffer._max_base
    np.testing.assert_array_equal(continued.buffer._base, straight.buffer._base)


def test_load_refuses_what_does_not_match(tmp_path, fresh):
    path = fresh.save(tmp_path / "a")
    with pytest.raises(ValueError, match="exploration is required"):
        DQN.load(path)  # saved with a custom exploration schedule
    with pytest.raises(ValueError, match="func must be None"):
        DQN.load(path, func=lambda S, is_training: S)
    loaded = DQN.load(path, exploration=optax.linear_schedule(1.0, 0.0, 100))
    assert _equal_trees(loaded.params, fresh.params) and loaded.num_timesteps == 0
    default = DQN("CartPole-v1", seed=0, **SMALL).save(tmp_path / "b")
    with pytest.raises(ValueError, match="exploration must be None"):
        DQN.load(default, exploration=0.1)
    with pytest.raises(ValueError, match="not a coaxlike file"):
        bad = tmp_path / "c.cxl"
        bad.write_bytes(b"x" * 100)
        DQN.load(bad)


def test_load_says_what_a_file_it_cannot_load_is(tmp_path, fresh):
    """A file that is not a DQN agent of this coaxlike's layout is refused with what it is:
    another object, a plain pytree, an agent of an older layout, another format version."""
    q_path = coaxlike.serialization.save_object(tmp_path / "q", fresh.q)
    with pytest.raises(ValueError, match=r"not a saved DQN agent: it holds a coaxlike\.\S*Q, "
                                         r"expected a coaxlike\.agents\.DQN"):
        DQN.load(q_path)
    tree_path = coaxlike.serialization.save(tmp_path / "tree", {"w": np.zeros(2)})
    with pytest.raises(ValueError, match="it holds a pytree saved with coaxlike.serialization"):
        DQN.load(tree_path)
    # an agent saved before the policy and adam_eps were part of the file
    old_static = {"type": "coaxlike.agents.DQN", "include_buffer": False, "learner": {},
                  "config": {k: v for k, v in fresh._config.items() if k != "adam_eps"}}
    old = coaxlike.serialization.save(tmp_path / "old", {"w": np.zeros(2)}, static=old_static)
    with pytest.raises(ValueError, match=r"DQN agent saved in another layout than this "
                                         r"coaxlike reads.*lack policy, config\['adam_eps'\]"):
        DQN.load(old)
    data = bytearray(pathlib.Path(fresh.save(tmp_path / "v2")).read_bytes())
    data[36] = 2                                   # the format version byte
    (tmp_path / "v2.cxl").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="has file format version 2; this version of coaxlike "
                                         "reads version 1 only"):
        DQN.load(tmp_path / "v2.cxl", exploration=0.1)


@pytest.mark.parametrize("make, exploration, want", [
    (lambda q: coaxlike.BoltzmannPolicy(q, temperature=0.25), None, None),
    (lambda q: coaxlike.BoltzmannPolicy(q, temperature=0.25), 0.5, 0.5),
    (lambda q: coaxlike.EpsilonGreedy(q, epsilon=0.3), None, None),
])
def test_a_policy_swapped_in_after_construction_is_restored_by_load(tmp_path, make,
                                                                    exploration, want):
    def swapped():
        agent = DQN("CartPole-v1", seed=2, **SMALL).learn(96, progress_bar=False)
        agent.policy = make(agent.q)
        if exploration is not None:
            agent.exploration = exploration
        return agent.learn(32, progress_bar=False)  # the swapped policy acts

    agent = swapped()
    path = agent.save(tmp_path / "swapped", include_buffer=True)
    loaded = DQN.load(path, env=agent.env)  # the env goes on from where it was
    assert type(loaded.policy) is type(agent.policy) and loaded.policy.q is loaded.q
    assert float(loaded.policy._hp) == float(agent.policy._hp)
    assert _equal_trees(jax.random.key_data(loaded.policy._key),
                        jax.random.key_data(agent.policy._key))
    assert (loaded.exploration is None) == (want is None)
    if want is not None:
        assert float(loaded.exploration(10**6)) == want
    # training goes on as if never saved: the same actions drawn, the same parameters
    straight = swapped().learn(64, progress_bar=False)
    loaded.learn(64, progress_bar=False)
    assert _equal_trees(loaded.params, straight.params)


def test_load_asks_for_a_policy_it_cannot_rebuild(tmp_path):
    class MyGreedy(coaxlike.EpsilonGreedy):
        pass

    agent = DQN("CartPole-v1", seed=0, **SMALL)
    agent.policy = MyGreedy(agent.q, 0.2)
    path = agent.save(tmp_path / "mine")
    with pytest.raises(ValueError, match="policy is required.*MyGreedy"):
        DQN.load(path)
    loaded = DQN.load(path, policy=lambda q: MyGreedy(q, 0.9))
    assert type(loaded.policy) is MyGreedy and loaded.policy.epsilon == pytest.approx(0.2)
    with pytest.raises(ValueError, match="does not match|differ"):
        DQN.load(path, policy=lambda q: coaxlike.BoltzmannPolicy(q, 0.1))


# --- slow: the defaults learn -----------------------------------------------------------------

@pytest.mark.slow
def test_save_load_50k_then_50k_is_learn_100k(tmp_path):
    _, continued = _continued(tmp_path, 50_000, seed=0)
    straight = DQN("CartPole-v1", seed=0).learn(100_000, progress_bar=False)
    assert _equal_trees(continued.params, straight.params)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_defaults_solve_cartpole_and_the_returned_agent_plays_at_that_level(seed):
    # the criterion: every one of seeds 0-9, the agent learn(100_000) returns
    agent = DQN("CartPole-v1", seed=seed).learn(100_000, progress_bar=False)
    assert evaluate_policy(agent, "CartPole-v1", 10, seed=123 + seed) >= 475


@pytest.mark.slow
def test_defaults_solve_acrobot():
    agent = DQN("Acrobot-v1", seed=0).learn(100_000, progress_bar=False)
    assert evaluate_policy(agent, "Acrobot-v1", 10, seed=123) >= -100


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 2])  # 2: never reached the goal before the clock waited
def test_defaults_find_the_shortest_path_on_frozen_lake_8x8(seed):
    def make(n):
        return gym.make_vec("FrozenLake-v1", num_envs=n, vectorization_mode="sync",
                            map_name="8x8", is_slippery=False)

    agent = DQN(make(4), seed=seed).learn(FROZEN_LAKE_STEPS, progress_bar=False)
    env = gym.make("FrozenLake-v1", map_name="8x8", is_slippery=False)
    s, _ = env.reset(seed=0)
    for t in range(1, 15):  # 14 steps from the top-left to the bottom-right corner
        s, r, terminated, truncated, _ = env.step(agent.predict(s)[0])
        if terminated or truncated:
            break
    assert (r, t) == (1.0, 14)
