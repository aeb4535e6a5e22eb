"""Tests for coaxlike.reward_tracing: TransitionBatch and NStep (single env and vector env)."""
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coaxlike.reward_tracing import NStep, TransitionBatch

GAMMA = 0.9


def drain(tracer):
    """All ready transitions, stacked into one batch (None if there are none)."""
    batches = []
    while tracer:
        batches.append(tracer.pop())
    if not batches:
        return None
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *batches)


def run_episode(tracer, rewards, *, truncated=False, final=True, masks=None, logps=None):
    """Feed one episode with observations [t] (t = 0..T-1), actions 10 + t, rewards given.

    The episode ends at the last reward; with ``final`` the final observation [T] is passed
    as s_next (mask_next = masks[T]).
    """
    T = len(rewards)
    for t, r in enumerate(rewards):
        kw = {}
        if masks is not None:
            kw["mask"] = masks[t]
        if t == T - 1:
            kw["truncated"] = truncated
            if final:
                kw["s_next"] = np.array([float(T)])
                if masks is not None:
                    kw["mask_next"] = masks[T]
        tracer.add(np.array([float(t)]), 10 + t, r, t == T - 1,
                   0.0 if logps is None else logps[t], **kw)


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0, gamma=0.9), r"n must be an int >= 1, got 0"),
    (dict(n=1.5, gamma=0.9), r"n must be an int >= 1, got 1.5"),
    (dict(n=True, gamma=0.9), r"n must be an int >= 1, got True"),
    (dict(n=1, gamma=-0.1), r"gamma must be a number in \[0, 1\], got -0.1"),
    (dict(n=1, gamma=1.5), r"gamma must be a number in \[0, 1\], got 1.5"),
    (dict(n=1, gamma="0.9"), r"gamma must be a number in \[0, 1\], got '0.9'"),
    (dict(n=1, gamma=0.9, num_envs=0), r"num_envs must be None or an int >= 1, got 0"),
])
def test_nstep_validates_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NStep(**kwargs)


def test_add_rejects_inconsistent_arguments():
    tracer = NStep(2, GAMMA)
    with pytest.raises(ValueError, match="truncated=True requires done=True"):
        tracer.add(np.zeros(2), 0, 1.0, False, truncated=True)
    with pytest.raises(ValueError, match="needs the final observation as s_next"):
        tracer.add(np.zeros(2), 0, 1.0, True, truncated=True)
    with pytest.raises(ValueError, match="only used on the step with done=True"):
        tracer.add(np.zeros(2), 0, 1.0, False, s_next=np.zeros(2))
    with pytest.raises(IndexError, match="no transition is ready"):
        tracer.pop()


# --- single env: exact values ------------------------------------------------------------------

@pytest.mark.parametrize("final", [False, True])
def test_n1_terminated(final):
    tracer = NStep(1, GAMMA)
    run_episode(tracer, [1.0, 2.0, 3.0], final=final)
    tb = drain(tracer)
    np.testing.assert_array_equal(tb.S[:, 0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(tb.A, [10, 11, 12])
    np.testing.assert_allclose(tb.Rn, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(tb.In, [GAMMA, GAMMA, 0.0])
    # the terminal S_next is the final observation if given, else the last one (unused)
    np.testing.assert_array_equal(tb.S_next[:, 0], [1.0, 2.0, 3.0 if final else 2.0])
    np.testing.assert_allclose(tb.gamma_seq, [[GAMMA], [GAMMA], [0.0]])
    np.testing.assert_array_equal(tb.valid_seq, np.ones((3, 1)))


def test_n1_truncated_bootstraps_from_final_observation():
    tracer = NStep(1, GAMMA)
    run_episode(tracer, [1.0, 2.0], truncated=True)
    tb = drain(tracer)
    np.testing.assert_allclose(tb.In, [GAMMA, GAMMA])
    np.testing.assert_array_equal(tb.S_next[:, 0], [1.0, 2.0])
    np.testing.assert_allclose(tb.gamma_seq, [[GAMMA], [GAMMA]])


def test_n3_becomes_ready_once_s_t_plus_n_is_known():
    tracer = NStep(3, GAMMA)
    for t in range(3):
        tracer.add(np.array([float(t)]), 0, 1.0, False)
        assert len(tracer) == 0
    tracer.add(np.array([3.0]), 0, 1.0, False)
    assert len(tracer) == 1
    tb = tracer.pop()
    assert tb.batch_size == 1
    np.testing.assert_array_equal(tb.S_next, [[3.0]])
    assert not tracer


@pytest.mark.parametrize("truncated", [False, True])
def test_n3_returns_and_bootstrap_factors(truncated):
    rewards = [1.0, 2.0, 3.0, 4.0, 5.0]
    tracer = NStep(3, GAMMA)
    run_episode(tracer, rewards, truncated=truncated)
    tb = drain(tracer)
    g = GAMMA
    np.testing.assert_array_equal(tb.S[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(tb.Rn, [1 + 2 * g + 3 * g**2, 2 + 3 * g + 4 * g**2,
                                       3 + 4 * g + 5 * g**2, 4 + 5 * g, 5.0], rtol=1e-6)
    expected_in = [g**3, g**3, g**3, g**2, g] if truncated else [g**3, g**3, 0, 0, 0]
    np.testing.assert_allclose(tb.In, expected_in, rtol=1e-6)
    np.testing.assert_array_equal(tb.S_next[:, 0], [3, 4, 5, 5, 5])


@pytest.mark.parametrize("truncated", [False, True])
def test_n3_window_fields_and_padding(truncated):
    tracer = NStep(3, GAMMA)
    logps = [-0.1, -0.2, -0.3, -0.4]
    run_episode(tracer, [1.0, 2.0, 3.0, 4.0], truncated=truncated, logps=logps)
    tb = drain(tracer)
    g, last = GAMMA, (GAMMA if truncated else 0.0)
    # t = 2: two real steps (2, 3), one padding step
    np.testing.assert_array_equal(tb.A_seq[2], [12, 13, 13])
    np.testing.assert_allclose(tb.R_seq[2], [3.0, 4.0, 0.0])
    np.testing.assert_allclose(tb.logP_seq[2], [-0.3, -0.4, 0.0])
    np.testing.assert_allclose(tb.gamma_seq[2], [g, last, 0.0])
    np.testing.assert_array_equal(tb.valid_seq[2], [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(tb.S_seq[2, :, 0], [2, 3, 4, 4])
    # t = 0: a full window
    np.testing.assert_array_equal(tb.A_seq[0], [10, 11, 12])
    np.testing.assert_allclose(tb.gamma_seq[0], [g, g, g])
    np.testing.assert_array_equal(tb.S_seq[0, :, 0], [0, 1, 2, 3])
    # t = 3: the last step alone
    np.testing.assert_allclose(tb.gamma_seq[3], [last, 0.0, 0.0])
    np.testing.assert_array_equal(tb.S_seq[3, :, 0], [3, 4, 4, 4])
    np.testing.assert_allclose(tb.logP, logps)
    # consistency: Rn is the discounted sum of the window rewards
    discount = np.cumprod(np.concatenate([np.ones((4, 1)), tb.gamma_seq[:, :-1]], 1), axis=1)
    np.testing.assert_allclose(tb.Rn, (discount * tb.R_seq).sum(1), rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), gamma=st.floats(0.0, 1.0),
       episodes=st.lists(st.tuples(st.lists(st.floats(-5, 5), min_size=1, max_size=6),
                                   st.booleans()), min_size=1, max_size=3))
def test_nstep_matches_definition(n, gamma, episodes):
    tracer = NStep(n, gamma)
    for rewards, truncated in episodes:
        run_episode(tracer, rewards, truncated=truncated)
    tb = drain(tracer)
    expected_rn, expected_in, expected_k = [], [], []
    for rewards, truncated in episodes:
        T = len(rewards)
        for t in range(T):
            K = min(n, T - t)
            expected_rn.append(sum(gamma**k * rewards[t + k] for k in range(K)))
            expected_in.append(0.0 if not truncated and t + K == T else gamma**K)
            expected_k.append(K)
    np.testing.assert_allclose(tb.Rn, expected_rn, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tb.In, expected_in, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(tb.valid_seq.sum(1), expected_k)
    K = np.array(expected_k)
    np.testing.assert_array_equal(tb.S_seq[np.arange(len(K)), K], tb.S_next)
    # gamma_seq reproduces Rn, and In wherever the window did not terminate
    discount = np.cumprod(np.concatenate([np.ones((len(K), 1)), tb.gamma_seq], 1), axis=1)
    np.testing.assert_allclose(tb.Rn, (discount[:, :-1] * tb.R_seq).sum(1), rtol=1e-5, atol=1e-5)
    alive = tb.In > 0
    np.testing.assert_allclose(discount[np.arange(len(K)), K][alive], tb.In[alive], rtol=1e-5)


def test_dtypes_and_defaults():
    tracer = NStep(2, GAMMA)
    run_episode(tracer, [1.0, 2.0])
    tb = drain(tracer)
    for name in ["logP", "Rn", "In", "logP_seq", "R_seq", "gamma_seq", "valid_seq", "W"]:
        assert getattr(tb, name).dtype == np.float32, name
    assert tb.idx.dtype == np.int32 and tb.A.dtype == np.int64
    np.testing.assert_array_equal(tb.W, [1.0, 1.0])
    np.testing.assert_array_equal(tb.idx, [0, 0])
    assert tb.mask_next is None and tb.mask_seq is None


def test_episodes_do_not_mix():
    tracer = NStep(3, GAMMA)
    run_episode(tracer, [1.0, 1.0])
    run_episode(tracer, [5.0, 5.0, 5.0, 5.0])
    tb = drain(tracer)
    np.testing.assert_allclose(tb.Rn[:2], [1 + GAMMA, 1.0], rtol=1e-6)
    np.testing.assert_allclose(tb.Rn[2], 5 * (1 + GAMMA + GAMMA**2), rtol=1e-6)
    assert tb.batch_size == 6


def test_masks_are_recorded():
    n_actions = 3
    masks = [np.array([t % 2 == 0, True, t == 2]) for t in range(4)]
    tracer = NStep(2, GAMMA)
    run_episode(tracer, [1.0, 1.0, 1.0], truncated=True, masks=masks)
    tb = drain(tracer)
    assert tb.mask_next.dtype == bool and tb.mask_next.shape == (3, n_actions)
    np.testing.assert_array_equal(tb.mask_next, [masks[2], masks[3], masks[3]])
    np.testing.assert_array_equal(tb.mask_seq[1], [masks[1], masks[2], masks[3]])
    np.testing.assert_array_equal(tb.mask_seq[2], [masks[2], masks[3], masks[3]])


def test_mask_setting_is_fixed_by_first_add():
    tracer = NStep(1, GAMMA)
    tracer.add(np.zeros(1), 0, 1.0, False, mask=np.array([True, False]))
    tracer.add(np.zeros(1), 0, 1.0, False)  # no mask: all actions legal
    np.testing.assert_array_equal(tracer.pop().mask_next, [[True, True]])
    with pytest.raises(ValueError, match=r"mask must have shape \(2,\)"):
        tracer.add(np.zeros(1), 0, 1.0, False, mask=np.array([True, False, True]))
    tracer = NStep(1, GAMMA)
    tracer.add(np.zeros(1), 0, 1.0, False)
    with pytest.raises(ValueError, match="masks are off"):
        tracer.add(np.zeros(1), 0, 1.0, False, mask=np.array([True, False]))
    tracer.reset()
    tracer.add(np.zeros(1), 0, 1.0, False, mask=np.array([True, False]))  # fresh setting
    assert len(tracer) == 0


def test_box_actions_and_dict_observations():
    tracer = NStep(2, GAMMA)
    for t in range(3):
        s = {"pos": np.full(2, t, np.float32), "id": np.int64(t)}
        tracer.add(s, np.array([0.5, -t], np.float64), 1.0, t == 2)
    tb = drain(tracer)
    assert tb.A.dtype == np.float32 and tb.A.shape == (3, 2)
    assert tb.A_seq.shape == (3, 2, 2)
    assert tb.S["pos"].shape == (3, 2) and tb.S_seq["pos"].shape == (3, 3, 2)
    np.testing.assert_array_equal(tb.S_seq["id"][0], [0, 1, 2])


def test_reset_clears_pending_steps():
    tracer = NStep(2, GAMMA)
    for t in range(3):
        tracer.add(np.zeros(1), 0, 1.0, False)
    assert len(tracer) == 1
    tracer.reset()
    assert len(tracer) == 0
    tracer.add(np.zeros(1), 0, 1.0, True)
    assert len(tracer) == 1


# --- TransitionBatch helpers -------------------------------------------------------------------

def test_from_one_step_fills_defaults_with_numpy_and_inside_jit():
    S, S_next = np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)
    A, Rn, In = np.array([1, 2]), np.array([1.0, 2.0]), np.array([GAMMA, 0.0])
    tb = TransitionBatch.from_one_step(S, A, Rn, In, S_next, mask_next=np.array([[1, 0]] * 2))
    assert isinstance(tb.W, np.ndarray)
    np.testing.assert_array_equal(tb.mask_seq[:, 0], np.ones((2, 2), bool))
    np.testing.assert_array_equal(tb.mask_seq[:, 1], [[True, False]] * 2)

    @jax.jit
    def build(S, A, Rn, In, S_next):
        return TransitionBatch.from_one_step(S, A, Rn, In, S_next, logP=jnp.zeros(2))

    tb_jit = build(S, A, Rn, In, S_next)
    for name, x in tb_jit._asdict().items():
        if x is not None:
            np.testing.assert_allclose(x, getattr(tb, name), err_msg=name)
    assert tb_jit.S_seq.shape == (2, 2, 3) and tb_jit.idx.dtype == jnp.int32


def test_tracer_output_matches_from_one_step_for_n1():
    tracer = NStep(1, GAMMA)
    run_episode(tracer, [1.0, 2.0], logps=[-0.5, -0.25])
    tb = drain(tracer)
    expected = TransitionBatch.from_one_step(tb.S, tb.A, tb.Rn, tb.In, tb.S_next, logP=tb.logP)
    jax.tree_util.tree_map(np.testing.assert_array_equal, tb, expected)


# --- vector env ----------------------------------------------------------------------------------

class CountEnv(gym.Env):
    """Deterministic: obs = [env_id, episode, t]; reward r_t = t + 1; terminates after
    ``length`` steps if ``terminate``, else runs until a TimeLimit truncates it."""

    def __init__(self, env_id, length, terminate):
        self.env_id, self.length, self.terminate = env_id, length, terminate
        self.observation_space = gym.spaces.Box(0, 100, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.episode = -1

    def _obs(self):
        return np.array([self.env_id, self.episode, self.t], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(self.t), self.terminate and self.t == self.length, False, {}


def run_vector(envs, tracer, num_steps, masks=False, seed=0):
    """Drive a vector env with random actions; return transitions and the final observations."""
    obs, _ = envs.reset(seed=seed)
    rng = np.random.default_rng(seed)
    finals, batches = [], []
    for _ in range(num_steps):
        a = rng.integers(0, 2, size=envs.num_envs)
        obs_next, r, term, trunc, _ = envs.step(a)
        kw = {"mask": obs[:, -1:] >= np.array([0, 2])} if masks else {}
        tracer.add(obs, a, r, term | trunc, -0.5 * np.ones(envs.num_envs),
                   truncated=trunc & ~term, **kw)
        finals.extend(obs_next[term | trunc])
        while tracer:
            batches.append(tracer.pop())
        obs = obs_next
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *batches), np.array(finals)


def test_vector_env_exact_values():
    envs = gym.vector.SyncVectorEnv([
        lambda: CountEnv(0, 2, terminate=True),
        lambda: gym.wrappers.TimeLimit(CountEnv(1, 10, terminate=False), max_episode_steps=3),
    ])
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    tracer = NStep(2, 0.5, num_envs=2)
    tb, _ = run_vector(envs, tracer, num_steps=7)
    got = {tuple(s): (float(rn), float(i), tuple(sn))
           for s, rn, i, sn in zip(tb.S.astype(int), tb.Rn, tb.In, tb.S_next.astype(int))}
    expected = {
        # env 0 terminates after 2 steps (rewards 1, 2): steps 1-2, reset 3, steps 4-5, reset 6
        (0, 0, 0): (1 + 0.5 * 2, 0.0, (0, 0, 2)),
        (0, 0, 1): (2.0, 0.0, (0, 0, 2)),
        (0, 1, 0): (1 + 0.5 * 2, 0.0, (0, 1, 2)),
        (0, 1, 1): (2.0, 0.0, (0, 1, 2)),
        # env 1 is truncated after 3 steps (rewards 1, 2, 3): steps 1-3, reset 4, steps 5-7
        # (truncated again at 7; its final observation would come with step 8)
        (1, 0, 0): (1 + 0.5 * 2, 0.25, (1, 0, 2)),
        (1, 0, 1): (2 + 0.5 * 3, 0.25, (1, 0, 3)),
        (1, 0, 2): (3.0, 0.5, (1, 0, 3)),
        (1, 1, 0): (1 + 0.5 * 2, 0.25, (1, 1, 2)),
    }
    assert got == expected
    assert tb.batch_size == len(expected)  # no transition from a reset step
    np.testing.assert_allclose(tb.logP, -0.5)


def test_vector_env_masks_at_final_observation():
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.wrappers.TimeLimit(CountEnv(0, 10, terminate=False), max_episode_steps=2)])
    tracer = NStep(1, 0.5, num_envs=1)
    tb, _ = run_vector(envs, tracer, num_steps=5, masks=True)
    # mask at obs [.., t] is [True, t >= 2]; the truncating step's S_next is the final t = 2,
    # whose mask arrives with the reset step
    np.testing.assert_array_equal(tb.S_next[:, -1], [1, 2, 1])
    np.testing.assert_array_equal(tb.mask_next, [[True, False], [True, True], [True, False]])
    np.testing.assert_array_equal(tb.mask_seq[:, 0], [[True, False]] * 3)
    np.testing.assert_array_equal(tb.mask_seq[1, 1], [True, True])


def test_vector_env_cartpole_truncation():
    n, gamma = 3, GAMMA
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make("CartPole-v1", max_episode_steps=5) for _ in range(3)])
    tracer = NStep(n, gamma, num_envs=3)
    tb, finals = run_vector(envs, tracer, num_steps=40)
    envs.close()
    K = tb.valid_seq.sum(1).astype(int)
    # CartPole cannot fall within 5 steps: every episode is truncated and bootstraps
    np.testing.assert_allclose(tb.In, gamma ** K, rtol=1e-6)
    np.testing.assert_allclose(tb.Rn, (1 - gamma ** K) / (1 - gamma), rtol=1e-6)
    np.testing.assert_array_equal(tb.S_seq[:, 0], tb.S)
    np.testing.assert_array_equal(tb.S_seq[np.arange(len(K)), K], tb.S_next)
    # windows cut short end at a recorded final observation; no reset step starts a window
    short = {tuple(x) for x in tb.S_next[K < n]}
    assert short and short <= {tuple(x) for x in finals}
    assert not {tuple(x) for x in tb.S} & {tuple(x) for x in finals}
    # each env completes 40 // 6 = 6 episodes of 5 transitions; 4 steps into the 7th, one
    # transition (s_0 -> s_3) is ready per env
    assert tb.batch_size == 3 * (6 * 5 + 1)


def test_vector_env_validates_shapes():
    tracer = NStep(2, GAMMA, num_envs=2)
    with pytest.raises(ValueError, match=r"r must have leading axis num_envs=2, got shape \(3,\)"):
        tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(3), np.zeros(2, bool))
    with pytest.raises(ValueError,
                       match=r"logp must have leading axis num_envs=2, got shape \(3,\)"):
        tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(2), np.zeros(2, bool), np.zeros(3))
    with pytest.raises(ValueError, match="s must have leading axis num_envs=2"):
        tracer.add(np.zeros((3, 4)), np.zeros(2, int), np.zeros(2), np.zeros(2, bool))
    with pytest.raises(ValueError, match="s_next and mask_next are for a single env"):
        tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(2), np.ones(2, bool),
                   s_next=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="truncated=True requires done=True"):
        tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(2), np.array([True, False]),
                   truncated=np.array([False, True]))
