"""examples/dqn_ingraph.py: the in-graph DQN compiles once, runs, and (slow) solves CartPole."""
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import dqn_ingraph  # noqa: E402

TINY = dqn_ingraph.Config(num_envs=4, n_step=3, batch_size=8, buffer_capacity=512,
                          warmup_steps=40, target_period=10, epsilon_decay_steps=400,
                          eval_every=200, eval_episodes=3, max_env_steps=600, hidden=(8,))


def test_oldest_transitions_n_step_returns_by_hand():
    """Window of n = 3 steps for three envs: no end, termination at step 2, truncation at 1."""
    gamma = 0.5
    R = jnp.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [4.0, 4.0, 4.0]])  # (n, N)
    terminated = jnp.array([[False, False, False], [False, True, False],
                            [False, False, False]])
    done = terminated | jnp.array([[False, False, True], [False, False, False],
                                   [False, False, False]])
    S_next = jnp.arange(3 * 3 * 4, dtype=jnp.float32).reshape(3, 3, 4)
    window = dqn_ingraph.Window(
        S=jnp.zeros((3, 3, 4)), A=jnp.array([[0, 1, 1]] * 3), logP=jnp.full((3, 3), -0.5),
        R=R, terminated=terminated, done=done, S_next=S_next)
    for fn in (dqn_ingraph.oldest_transitions, jax.jit(dqn_ingraph.oldest_transitions,
                                                         static_argnums=1)):
        tb = fn(window, gamma)
        np.testing.assert_allclose(tb.Rn, [1 + 0.5 * 2 + 0.25 * 4, 1 + 0.5 * 2, 1.0])
        np.testing.assert_allclose(tb.In, [0.125, 0.0, 0.5])  # gamma^K, 0, gamma^1
        np.testing.assert_array_equal(tb.S_next, [S_next[2, 0], S_next[1, 1], S_next[0, 2]])
        np.testing.assert_array_equal(tb.A, [0, 1, 1])
        np.testing.assert_allclose(tb.logP, [-0.5] * 3)
        assert tb.S_seq.shape == (3, 2, 4) and tb.gamma_seq.shape == (3, 1)


def test_push_drops_the_oldest_step():
    window = dqn_ingraph.Window(*(jnp.arange(3)[:, None] * jnp.ones((3, 2)),) * 7)
    new = dqn_ingraph.Window(*(jnp.full(2, 9.0),) * 7)
    pushed = dqn_ingraph.push(window, new)
    np.testing.assert_array_equal(pushed.R, [[1, 1], [2, 2], [9, 9]])


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_tiny_run_compiles_once_and_returns_finite_shaped_results(monkeypatch):
    traces = []
    original_push = dqn_ingraph.push

    def counting_push(window, new):  # called once per trace of the scan body
        traces.append(1)
        return original_push(window, new)

    monkeypatch.setattr(dqn_ingraph, "push", counting_push)
    functions = dqn_ingraph.make_functions(TINY)
    train = jax.jit(jax.vmap(functions.train, axis_name=dqn_ingraph.SEEDS))
    outs = [jax.block_until_ready(train(dqn_ingraph.seed_keys(TINY, seeds)))
            for seeds in ([0, 1], [2, 3])]
    assert len(traces) == 1, "the scan body was traced more than once"
    assert train._cache_size() == 1, "new seeds recompiled the run"

    out = outs[0]
    max_evals = TINY.max_env_steps // TINY.eval_every
    assert out["eval_returns"].shape == (2, max_evals)
    assert out["solved"].shape == out["env_steps"].shape == (2,)
    returns = np.asarray(out["eval_returns"])
    assert np.all(np.isfinite(returns) | np.asarray(out["solved"])[:, None])
    assert np.all((returns[np.isfinite(returns)] >= 1) & (returns[np.isfinite(returns)] <= 500))
    np.testing.assert_array_equal(out["env_steps"], [TINY.max_env_steps] * 2)  # can't solve
    # updates: updates_per_step per vector step from the warm-up's last one on
    steps = TINY.max_env_steps // TINY.num_envs
    learning_steps = steps - TINY.warmup_steps // TINY.num_envs + 1
    np.testing.assert_array_equal(out["updates"],
                                  [learning_steps * TINY.updates_per_step] * 2)
    params = out["params"]
    for leaf in jax.tree_util.tree_leaves(params):
        assert leaf.shape[0] == 2 and bool(jnp.all(jnp.isfinite(leaf)))
    leaves0 = jax.tree_util.tree_leaves(params.q)
    assert not np.allclose(leaves0[0][0], leaves0[0][1]), "seeds share initial parameters"
    assert not np.allclose(leaves0[0][0],
                           jax.tree_util.tree_leaves(outs[1]["params"].q)[0][0])

    # the trained parameters go back into the agent's shell through validating setters
    agent = functions.agent
    agent.params = jax.tree_util.tree_map(lambda x: x[0], params)
    obs = np.zeros(4, np.float32)
    assert agent.predict(obs)[0] in (0, 1)


def test_a_seed_starts_from_the_parameters_of_the_agent_built_with_it():
    """run() passes a single seed's agent's params into the compiled run instead of
    initialising the network there: they are what init() makes from the seed's key."""
    functions = dqn_ingraph.make_functions(TINY, seed=3)
    agent = functions.agent
    key = dqn_ingraph.seed_keys(TINY, [3])[0]
    made, given = jax.jit(functions.init)(key), jax.jit(functions.init)(key, agent.params)
    made, given = (carry._replace(key=jax.random.key_data(carry.key)) for carry in (made, given))
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-7),
                           made, given)
    other = dqn_ingraph.make_agent(TINY, seed=4).params.q
    assert not np.allclose(jax.tree_util.tree_leaves(other)[1],
                           jax.tree_util.tree_leaves(agent.params.q)[1])


def test_config_rejects_eval_every_not_a_multiple_of_num_envs():
    with pytest.raises(ValueError, match="eval_every must be a multiple of num_envs"):
        dqn_ingraph.Config(num_envs=16, eval_every=5000)


@pytest.mark.slow
def test_ingraph_dqn_solves_cartpole_for_a_fixed_seed():
    """The default hyperparameters solve seed 0 (greedy 10-episode mean >= 475)."""
    config = dqn_ingraph.Config(max_env_steps=150_000)
    out = dqn_ingraph.run(config, [0])
    assert bool(out["solved"][0]), out["eval_returns"][0]
    assert out["env_steps"][0] <= 150_000
