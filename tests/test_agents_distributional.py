"""coaxlike.agents.DQN(distributional=...): the StochasticQ it builds, its checks, a short
learn through the same compiled rounds, the functional API, saving and loading (exact
continuation; a file refuses a network that does not match); slow: it solves CartPole."""
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coaxlike
from coaxlike.agents import DQN
from coaxlike.td_learning import DoubleQLearning, QLearning

SMALL = dict(hidden=(16,), learning_starts=64, buffer_size=2_000, batch_size=16, train_freq=4,
             gradient_steps=8, target_update_interval=16)


def _equal_trees(a, b):
    return all(jax.tree_util.tree_leaves(
        jax.tree_util.tree_map(lambda x, y: bool(np.array_equal(x, y)), a, b)))


@pytest.fixture(scope="module", params=["categorical", "quantile"])
def trained(request):
    """A small distributional agent of each kind after 256 env steps (shared: tests must
    not change it)."""
    return DQN("CartPole-v1", seed=0, distributional=request.param, **_size(request.param),
               **SMALL).learn(256, progress_bar=False)


def _size(kind):
    return {"num_bins": 11} if kind == "categorical" else {"num_quantiles": 8}


# --- construction ---------------------------------------------------------------------------

def test_defaults_build_a_stochastic_q_and_the_same_learners():
    c51 = DQN("CartPole-v1", distributional="categorical", n_envs=1, **SMALL)
    assert isinstance(c51.q, coaxlike.StochasticQ) and c51.q.kind == "categorical"
    assert (c51.q.value_range, c51.q.num_bins) == ((-100.0, 100.0), 51)  # +-1/(1 - 0.99)
    assert type(c51.learner) is DoubleQLearning and c51.learner.q is c51.q
    assert c51.q_targ is c51.learner.q_targ and c51.q_targ.kind == "categorical"
    assert c51.q.dist_params(np.zeros((1, 4), np.float32))["logits"].shape == (1, 2, 51)
    qr = DQN("CartPole-v1", distributional="quantile", double=False, gamma=0.9, n_envs=1,
             **SMALL)
    assert (qr.q.kind, qr.q.num_bins, qr.q.value_range) == ("quantile", 10, None)
    assert type(qr.learner) is QLearning
    plain = DQN("CartPole-v1", n_envs=1, **SMALL)
    assert type(plain.q) is coaxlike.Q and "distributional" not in plain._config


def test_settings_override_the_defaults_and_a_custom_func_is_used():
    agent = DQN("CartPole-v1", distributional="categorical", value_range=(0, 500), num_bins=5,
                gamma=1.0, n_envs=1, **SMALL)
    assert agent.q.value_range == (0.0, 500.0) and agent.q.atoms.tolist() == [
        0.0, 125.0, 250.0, 375.0, 500.0]

    def func(S, is_training):
        return {"values": jnp.reshape(hk.Linear(2 * 3)(S), (-1, 2, 3))}
    qr = DQN("CartPole-v1", func, distributional="quantile", num_quantiles=3, n_envs=1,
             **SMALL)
    assert qr.q.num_bins == 3 and qr.q.quantile_fractions.tolist() == pytest.approx(
        [1 / 6, 1 / 2, 5 / 6])


@pytest.mark.parametrize("kwargs, message", [
    ({"distributional": "c51"}, "distributional must be None, 'categorical' or 'quantile', "
                                "got 'c51'"),
    ({"value_range": (0, 1)}, "value_range is a setting of distributional='categorical'; it "
                              "must be None with distributional=None, got"),
    ({"distributional": "quantile", "value_range": (0, 1)}, "value_range is a setting"),
    ({"distributional": "quantile", "num_bins": 11}, "num_bins is a setting"),
    ({"distributional": "categorical", "num_quantiles": 11}, "num_quantiles is a setting"),
    ({"distributional": "categorical", "value_range": (1, 0)}, r"value_range must be a pair "
                                                               r"of finite floats"),
    ({"distributional": "categorical", "value_range": (0, float("nan"))}, "value_range"),
    ({"distributional": "categorical", "num_bins": 1}, r"num_bins must be an int >= 2, got 1"),
    ({"distributional": "quantile", "num_quantiles": 0}, r"num_quantiles must be an int >= 1"),
    ({"distributional": "categorical", "gamma": 1.0}, "value_range is required"),
])
def test_bad_distributional_settings_are_value_errors_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DQN("CartPole-v1", n_envs=1, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"distributional": True}, "distributional must be None, 'categorical' or 'quantile', "
                               "got bool True"),
    ({"distributional": "categorical", "value_range": 5.0}, "value_range must be a pair"),
    ({"distributional": "categorical", "value_range": (0, 1, 2)}, "value_range must be a pair"),
    ({"distributional": "categorical", "value_range": (0, "1")}, "value_range must be a pair"),
    ({"distributional": "categorical", "num_bins": 2.5}, "num_bins must be an int >= 2, got "
                                                         "float 2.5"),
])
def test_distributional_settings_of_the_wrong_type_are_type_errors_naming_them(kwargs,
                                                                               message):
    with pytest.raises(TypeError, match=message):
        DQN("CartPole-v1", n_envs=1, **kwargs)


def test_a_custom_func_of_the_wrong_kind_is_refused():
    def plain(S, is_training):
        return hk.Linear(2)(S)
    with pytest.raises(TypeError, match="func must return a dict"):
        DQN("CartPole-v1", plain, distributional="categorical", n_envs=1)

    def values(S, is_training):
        return {"values": jnp.reshape(hk.Linear(2 * 51)(S), (-1, 2, 51))}
    with pytest.raises(TypeError, match="must return {'logits': ...}"):
        DQN("CartPole-v1", values, distributional="categorical", n_envs=1)


# --- learning and acting --------------------------------------------------------------------

def test_a_short_learn_runs_whole_compiled_rounds_and_changes_the_distributions(trained):
    fresh = DQN("CartPole-v1", seed=0, distributional=trained.q.kind, **_size(trained.q.kind),
                **SMALL)
    # 16 env steps a round, 8 updates from the round ending at step 64 on: 13 rounds
    assert (trained.num_timesteps, trained.num_updates) == (256, 104)
    assert not _equal_trees(trained.params.q, fresh.params.q)
    assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(trained.params))


def test_predict_and_predict_func_act_on_the_means(trained):
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32) * 0.1
    out, ps = jax.jit(trained.predict_func, static_argnums=4)(
        trained.params, trained.policy_state, obs, jax.random.key(1), True)
    means = trained.q(obs)  # identity transform: network space is value space
    np.testing.assert_allclose(out.q_values, means, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out.actions, np.argmax(means, axis=1))
    actions, _ = trained.predict(obs)
    np.testing.assert_array_equal(actions, np.argmax(means, axis=1))
    single, _ = trained.predict(obs[0])
    assert single == int(np.argmax(means[0]))


def test_functional_api_builds_and_updates_distributional_params(trained):
    params = trained.init_params(jax.random.key(3))
    assert (jax.tree_util.tree_structure(params)
            == jax.tree_util.tree_structure(trained.params))
    opt_state = trained.init_optimizer(params)
    batch = trained.buffer.sample(16)
    new, new_opt, metrics = jax.jit(trained.update_func)(params, opt_state, batch)
    assert int(new_opt.updates) == 1 and np.isfinite(float(metrics["loss"]))
    assert not _equal_trees(new.q, params.q)
    assert _equal_trees(new.q_targ, params.q_targ)  # the target moves after update 8


# --- saving -------------------------------------------------------------------------------------

def test_save_load_round_trip_continues_exactly(tmp_path, trained):
    kind = trained.q.kind
    kwargs = dict(seed=0, distributional=kind, **_size(kind), **SMALL)
    first = DQN("CartPole-v1", **kwargs).learn(128, progress_bar=False)
    path = first.save(tmp_path / kind, include_buffer=True)
    second = DQN.load(path, env=first.env)
    assert second.q.kind == kind and second.q.num_bins == first.q.num_bins
    assert second.q.value_range == first.q.value_range
    assert _equal_trees(second.params, first.params)
    second.learn(128, progress_bar=False)
    # trained = 256 steps straight, from the same seed and settings
    assert _equal_trees(second.params, trained.params)
    assert second.num_updates == trained.num_updates


def test_a_file_refuses_a_network_that_does_not_match(tmp_path):
    def func(S, is_training):
        return {"logits": jnp.reshape(hk.Linear(2 * 5)(S), (-1, 2, 5))}
    agent = DQN("CartPole-v1", func, distributional="categorical", num_bins=5, n_envs=1,
                **SMALL)
    path = agent.save(tmp_path / "c51")

    def other(S, is_training):  # the same support, another architecture
        return {"logits": jnp.reshape(hk.nets.MLP([3, 2 * 5])(S), (-1, 2, 5))}
    with pytest.raises(ValueError, match="does not match|differ"):
        DQN.load(path, func=other)
    loaded = DQN.load(path, func=func)
    assert _equal_trees(loaded.params, agent.params) and loaded.q.atoms.tolist() == [
        -100.0, -50.0, 0.0, 50.0, 100.0]


# --- slow: it learns ----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind", ["categorical", "quantile"])
def test_distributional_defaults_solve_cartpole(kind):
    from coaxlike.agents import evaluate_policy
    scores = []

    def callback(agent, info):
        if agent.num_timesteps % 10_000 < 256:
            scores.append(evaluate_policy(agent, "CartPole-v1", 10, seed=1))
            return scores[-1] < 475.0
        return None
    DQN("CartPole-v1", distributional=kind, seed=0).learn(100_000, progress_bar=False,
                                                        callback=callback)
    assert max(scores) >= 475.0
