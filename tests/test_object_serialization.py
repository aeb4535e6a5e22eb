"""Round trips of Q and policies through serialize/deserialize (issue 3)."""
import copy
import pickle

import cloudpickle
import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coaxlike
from .conftest import mlp_type1, mlp_type2, same_arrays


def bn_type2(S, is_training):
    x = hk.BatchNorm(True, True, 0.9)(S, is_training)
    return hk.nets.MLP([8, 2])(x)


@pytest.mark.parametrize("func", [mlp_type2(2), mlp_type1(), bn_type2],
                         ids=["type2", "type1", "batchnorm"])
def test_q_round_trip(tmp_path, cartpole, func):
    q = coaxlike.Q(func, cartpole, random_seed=0)
    q.params = jax.tree_util.tree_map(lambda x: x + 0.5, q.params)
    if q.function_state:
        _, q.function_state = q.function(q.params, q.function_state, None,
                                         np.ones((3, 4), np.float32), True)
    path = q.serialize(tmp_path / "q")
    assert path.endswith("q.cxl")
    q2 = coaxlike.Q.deserialize(tmp_path / "q", func, cartpole, random_seed=1)
    for a, b in zip(jax.tree_util.tree_leaves((q.params, q.function_state)),
                    jax.tree_util.tree_leaves((q2.params, q2.function_state))):
        np.testing.assert_array_equal(a, b)
    s = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    np.testing.assert_array_equal(q(s), q2(s))


@pytest.mark.parametrize("cls, hp", [(coaxlike.EpsilonGreedy, 0.3),
                                     (coaxlike.BoltzmannPolicy, 0.7)])
def test_policy_round_trip_acts_identically(tmp_path, cartpole, cls, hp):
    pi = cls(coaxlike.Q(mlp_type2(2), cartpole, random_seed=0), hp)
    s = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    [pi(s) for _ in range(3)]  # advance the key
    pi.serialize(tmp_path / "pi")
    pi2 = cls.deserialize(tmp_path / "pi", coaxlike.Q(mlp_type2(2), cartpole, random_seed=9),
                          0.5)
    assert pi2.params[pi._hp_name] == pytest.approx(hp)
    assert [pi(s, True) for _ in range(20)] == [pi2(s, True) for _ in range(20)]


def test_mismatches_are_refused_and_leave_objects_unchanged(tmp_path, cartpole):
    pi = coaxlike.EpsilonGreedy(coaxlike.Q(mlp_type2(2), cartpole, random_seed=0), 0.2)
    pi.serialize(tmp_path / "pi")
    wide = coaxlike.Q(mlp_type2(2, hidden=(32,)), cartpole, random_seed=0)
    before = wide.params
    with pytest.raises(ValueError, match=r"linear_0.*saved \(4, 16\) float32, skeleton "
                                         r"\(4, 32\) float32"):
        coaxlike.EpsilonGreedy.deserialize(tmp_path / "pi", wide, 0.2)
    assert same_arrays(wide.params, before)
    with pytest.raises(ValueError, match="type"):
        coaxlike.BoltzmannPolicy.deserialize(tmp_path / "pi", coaxlike.Q(
            mlp_type2(2), cartpole, random_seed=0))
    with pytest.raises(ValueError):
        coaxlike.Q.deserialize(tmp_path / "pi", mlp_type2(2), cartpole)
    three = gym.make("Acrobot-v1")  # 6-d observations, 3 actions
    with pytest.raises(ValueError):
        coaxlike.EpsilonGreedy.deserialize(tmp_path / "pi", coaxlike.Q(mlp_type2(3), three))
    truncated = tmp_path / "cut.cxl"
    truncated.write_bytes((tmp_path / "pi.cxl").read_bytes()[:-7])
    with pytest.raises(ValueError):
        coaxlike.EpsilonGreedy.deserialize(truncated, coaxlike.Q(mlp_type2(2), cartpole), 0.2)


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_policy_fingerprint_is_stable_across_processes(fingerprints_from_two_processes):
    first, second = (out["policy"] for out in fingerprints_from_two_processes)
    assert len(first) == 64 and first == second


# --- pickling (multiprocessing, Ray): rebuilt from the constructor's inputs ----------------

def network(S, is_training):
    """A module-level forward pass: what standard pickle needs of the user's function."""
    return hk.nets.MLP([8, 3])(jnp.reshape(S, (S.shape[0], -1)))


def network_type1(S, A, is_training):
    return hk.nets.MLP([8, 1])(jnp.concatenate([S, A], axis=-1))[:, 0]


def _discrete_env():
    """Discrete observations: the default preprocessor is a closure over the space."""
    return gym.make("FrozenLake-v1")


PICKLERS = {"pickle": lambda x: pickle.loads(pickle.dumps(x)),
            "deepcopy": copy.deepcopy,
            "cloudpickle": lambda x: cloudpickle.loads(cloudpickle.dumps(x))}


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
@pytest.mark.parametrize("round_trip", PICKLERS.values(), ids=PICKLERS.keys())
def test_q_and_policies_pickle_and_act_identically(round_trip):
    env = gym.make("CartPole-v1")
    env.action_space = gym.spaces.Discrete(3, start=-1)
    s = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    q = coaxlike.Q(network, env, random_seed=0)
    q.params = jax.tree_util.tree_map(lambda x: x + 0.25, q.params)
    pi, pb = coaxlike.EpsilonGreedy(q, 0.3, random_seed=4), coaxlike.BoltzmannPolicy(q, 0.7)
    [(pi(s), pb(s)) for _ in range(3)]   # advance the keys
    q2, pi2, pb2 = round_trip((q, pi, pb))
    assert pi2.q is q2 and pb2.q is q2 and q2 is not q   # sharing survives
    np.testing.assert_array_equal(q2(s), q(s))
    assert repr(pi2) == repr(pi) and pb2.temperature == 0.7
    assert [pi2(s, True) for _ in range(20)] == [pi(s, True) for _ in range(20)]
    assert [pb2(s) for _ in range(20)] == [pb(s) for _ in range(20)]
    assert pi2.mode(s) == pi.mode(s)
    # the copies are independent: an update of one is not seen by the other
    q2.params = jax.tree_util.tree_map(jnp.zeros_like, q2.params)
    assert not np.array_equal(q2(s), q(s))
    # type-1, Discrete observations (a one-hot closure) and a vector env
    env1 = _discrete_env()
    q1 = coaxlike.Q(network_type1, env1, random_seed=1)
    np.testing.assert_array_equal(round_trip(q1)(5), q1(5))
    vec = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    pv = coaxlike.EpsilonGreedy(coaxlike.Q(network, FakeVec(vec)), 0.5)
    S = np.stack([s, -s])
    np.testing.assert_array_equal(round_trip(pv)(S), pv(S))


class FakeVec:
    """A vector env's spaces with three actions (network outputs three values)."""

    def __init__(self, vec):
        self.single_observation_space = vec.single_observation_space
        self.single_action_space = gym.spaces.Discrete(3)


def test_pickle_refuses_an_unpicklable_function_by_naming_it(cartpole):
    q = coaxlike.Q(mlp_type2(2), cartpole, random_seed=0)   # a closure: not picklable
    with pytest.raises((pickle.PicklingError, AttributeError), match="mlp_type2"):
        pickle.dumps(q)
    assert pickle.loads(cloudpickle.dumps(q)).params.keys() == q.params.keys()
