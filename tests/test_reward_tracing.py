"""Tests for coaxlike.reward_tracing: TransitionBatch and NStep (single env and vector env)."""
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coaxlike.reward_tracing import EpisodeDoneError, InsufficientCacheError, NStep, TransitionBatch

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
                   -0.5 if logps is None else logps[t], **kw)


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n=0, gamma=0.9), ValueError, r"n must be an int >= 1, got 0"),
    (dict(n=1.5, gamma=0.9), TypeError, r"n must be an int >= 1, got float 1.5"),
    (dict(n=True, gamma=0.9), TypeError, r"n must be an int >= 1, got bool True"),
    (dict(n=1, gamma=-0.1), ValueError, r"gamma must be a number in \[0, 1\], got -0.1"),
    (dict(n=1, gamma=1.5), ValueError, r"gamma must be a number in \[0, 1\], got 1.5"),
    (dict(n=1, gamma="0.9"), TypeError, r"gamma must be a number in \[0, 1\], got str '0.9'"),
    (dict(n=1, gamma=0.9, num_envs=0), ValueError, r"num_envs must be None or an int >= 1, got 0"),
    (dict(n=1, gamma=0.9, num_envs=2.0), TypeError,
     r"num_envs must be None or an int >= 1, got float 2.0"),
])
def test_nstep_validates_arguments(kwargs, error, match):
    # the wrong kind of value: TypeError; the right kind out of range: ValueError
    with pytest.raises(error, match=match):
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
        assert not tracer and len(tracer) == t + 1
    tracer.add(np.array([3.0]), 0, 1.0, False)
    assert tracer and len(tracer) == 4
    tb = tracer.pop()
    assert tb.batch_size == 1
    np.testing.assert_array_equal(tb.S_next, [[3.0]])
    assert not tracer and len(tracer) == 3


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
    batches = []
    for rewards, truncated in episodes:
        run_episode(tracer, rewards, truncated=truncated)
        batches.append(drain(tracer))
    tb = jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *batches)
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
    # float32 holds In relatively only down to its smallest normal; below (gamma**K of a
    # tiny gamma), its subnormals are spaced smallest_subnormal apart
    f32 = np.finfo(np.float32)
    normal, subnormal = alive & (tb.In >= f32.tiny), alive & (tb.In < f32.tiny)
    reproduced = discount[np.arange(len(K)), K]
    np.testing.assert_allclose(reproduced[normal], tb.In[normal], rtol=1e-5)
    np.testing.assert_allclose(reproduced[subnormal], tb.In[subnormal], rtol=0,
                               atol=float(f32.smallest_subnormal))


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
    first = drain(tracer)
    run_episode(tracer, [5.0, 5.0, 5.0, 5.0])
    tb = jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), first, drain(tracer))
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
    assert not tracer and len(tracer) == 1


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
    assert tracer and len(tracer) == 3
    tracer.reset()
    assert not tracer and len(tracer) == 0
    tracer.add(np.zeros(1), 0, 1.0, True)
    assert tracer and len(tracer) == 1


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
        return TransitionBatch.from_one_step(S, A, Rn, In, S_next)

    tb_jit = build(S, A, Rn, In, S_next)
    for name, x in tb_jit._asdict().items():
        if x is not None and name not in ("mask_next", "mask_seq"):
            np.testing.assert_allclose(x, getattr(tb, name), err_msg=name)
    assert tb_jit.S_seq.shape == (2, 2, 3) and tb_jit.idx.dtype == jnp.int32


def test_tracer_output_matches_from_one_step_for_n1():
    tracer = NStep(1, GAMMA)
    run_episode(tracer, [1.0, 2.0], logps=[-0.5, -0.25])
    tb = drain(tracer)
    expected = TransitionBatch.from_one_step(tb.S, tb.A, tb.Rn, tb.In, tb.S_next, logP=tb.logP,
                                             A_next=tb.A_next, logP_next=tb.logP_next)
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



WINDOW_FIELDS = ("A_seq", "logP_seq", "R_seq", "gamma_seq", "valid_seq", "S_seq", "mask_seq")


@pytest.mark.parametrize("masks, extra_info", [(False, False), (True, False), (False, True)])
def test_record_window_false_leaves_only_the_window_fields_out(masks, extra_info):
    """Terminations, truncations and full windows over 4 sub-envs: every other field (and
    extra_info) equals the full tracer's, bit for bit."""
    def make():
        return gym.vector.SyncVectorEnv(
            [lambda: CountEnv(0, 2, terminate=True), lambda: CountEnv(1, 5, terminate=True),
             lambda: gym.wrappers.TimeLimit(CountEnv(2, 99, terminate=False), 3),
             lambda: gym.wrappers.TimeLimit(CountEnv(3, 99, terminate=False), 7)])
    out = {}
    for window in (True, False):
        tracer = NStep(3, 0.9, extra_info, num_envs=4, record_window=window)
        out[window], _ = run_vector(make(), tracer, num_steps=30, masks=masks)
    assert out[True].A_seq is not None and out[True].batch_size > 30
    assert_same_but_window(out[False], out[True])


def assert_same_but_window(lean, full):
    for name in full._fields:
        if name in WINDOW_FIELDS:
            assert getattr(lean, name) is None, name
        else:
            jax.tree_util.tree_map(np.testing.assert_array_equal, getattr(lean, name),
                                   getattr(full, name))


def test_record_window_false_single_env_and_bad_value():
    out = {}
    for window in (True, False):
        tracer = NStep(2, 0.5, record_window=window)
        run_episode(tracer, [1.0, 2.0, 3.0], truncated=True)
        out[window] = tracer.flush()
    assert out[True].batch_size == 3 and out[True].valid_seq.sum() == 2 + 2 + 1
    assert_same_but_window(out[False], out[True])
    with pytest.raises(TypeError, match="record_window must be a bool, got str 'no'"):
        NStep(2, 0.5, record_window="no")

def test_vector_env_validates_shapes():
    tracer = NStep(2, GAMMA, num_envs=2)
    with pytest.raises(ValueError, match=r"r must have leading axis num_envs=2, got shape \(3,\)"):
        tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(3), np.zeros(2, bool))
    with pytest.raises(ValueError,
                       match=r"logp must have leading axis num_envs=2, got shape \(3,\)"):
        tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(2), np.zeros(2, bool), np.zeros(3))
    with pytest.raises(ValueError, match="s must have leading axis num_envs=2"):
        tracer.add(np.zeros((3, 4)), np.zeros(2, int), np.zeros(2), np.zeros(2, bool))
    with pytest.raises(ValueError, match="s_next is for a single env"):
        tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(2), np.ones(2, bool),
                   s_next=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="truncated=True requires done=True"):
        tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(2), np.array([True, False]),
                   truncated=np.array([False, True]))


# --- A_next, logP_next and missing log-propensities ------------------------------------------

def test_a_next_single_env_is_the_action_at_s_next():
    tracer = NStep(2, GAMMA)
    run_episode(tracer, [1.0] * 5, logps=[-0.1, -0.2, -0.3, -0.4, -0.5], truncated=True)
    tb = drain(tracer)
    # actions are 10 + t; windows ending inside the episode know the action at S_next
    np.testing.assert_array_equal(tb.A_next[:3], [12, 13, 14])
    np.testing.assert_allclose(tb.logP_next[:3], [-0.3, -0.4, -0.5], rtol=1e-6)
    # the last two windows end at the final observation: no action known there -> copy of A
    np.testing.assert_array_equal(tb.A_next[3:], tb.A[3:])
    assert np.isnan(tb.logP_next[3:]).all()
    assert tb.A_next.dtype == tb.A.dtype


def test_a_next_single_env_given_at_truncation():
    tracer = NStep(2, GAMMA)
    tracer.add(np.zeros(1), 10, 1.0, False, -0.1)
    tracer.add(np.ones(1), 11, 1.0, True, -0.2, truncated=True, s_next=np.full(1, 2.0),
               a_next=7, logp_next=-0.7)
    tb = tracer.flush()
    np.testing.assert_array_equal(tb.A_next, [7, 7])
    np.testing.assert_allclose(tb.logP_next, [-0.7, -0.7], rtol=1e-6)
    np.testing.assert_allclose(tb.In, [GAMMA**2, GAMMA], rtol=1e-6)


def test_a_next_box_actions():
    tracer = NStep(1, GAMMA)
    for t in range(3):
        tracer.add(np.zeros(2), np.array([t, -t], np.float64), 1.0, t == 2)
    tb = tracer.flush()
    np.testing.assert_array_equal(tb.A_next, [[1, -1], [2, -2], [2, -2]])
    assert tb.A_next.dtype == np.float32


def test_a_next_vector_env_takes_the_reset_step_action():
    """At the reset step the policy acted on the final observation: that is A_next."""
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.wrappers.TimeLimit(CountEnv(0, 10, terminate=False), max_episode_steps=2),
         lambda: CountEnv(1, 3, terminate=True)])
    tracer = NStep(2, 0.5, num_envs=2)
    obs, _ = envs.reset(seed=0)
    actions = [[0, 1], [1, 0], [1, 1], [0, 0], [1, 0]]
    batches = []
    for t, a in enumerate(actions):
        obs_next, r, term, trunc, _ = envs.step(np.array(a))
        tracer.add(obs, np.array(a), r, term | trunc, np.log([0.25, 0.5]) - t,
                   truncated=trunc & ~term)
        if tracer:
            batches.append(tracer.pop())
        obs = obs_next
    tb = jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *batches)
    got = {tuple(s.astype(int)): (int(an), float(lp)) for s, an, lp in
           zip(tb.S, tb.A_next, tb.logP_next)}
    assert got == {
        # env 0: truncated after steps 0, 1; reset step 2 acts (a=1) on the final observation
        (0, 0, 0): (1, float(np.float32(np.log(0.25) - 2))),
        (0, 0, 1): (1, float(np.float32(np.log(0.25) - 2))),
        # env 1: steps 0, 1, 2 terminate; the full window of step 0 sees a_2 = 1
        (1, 0, 0): (1, float(np.float32(np.log(0.5) - 2))),
        (1, 0, 1): (0, float(np.float32(np.log(0.5) - 3))),
        (1, 0, 2): (0, float(np.float32(np.log(0.5) - 3))),
    }


def test_logp_not_given_is_nan_never_zero():
    tracer = NStep(3, GAMMA)
    run_episode(tracer, [1.0, 2.0, 3.0, 4.0], logps=[None] * 4)
    tb = drain(tracer)
    assert np.isnan(tb.logP).all() and np.isnan(tb.logP_next[:1]).all()
    # real steps are NaN (not recorded), padding steps 0
    np.testing.assert_array_equal(np.isnan(tb.logP_seq), tb.valid_seq.astype(bool))
    # the n-step return and bootstrap factor do not depend on it
    np.testing.assert_allclose(tb.Rn[0], 1 + 2 * GAMMA + 3 * GAMMA**2, rtol=1e-6)
    tb_default = TransitionBatch.from_one_step(np.zeros((1, 1)), [0], [1.0], [0.9],
                                               np.zeros((1, 1)))
    assert np.isnan(tb_default.logP).all() and np.isnan(tb_default.logP_seq).all()


def test_q_learning_target_never_reads_logp():
    """The default n-step target Rn + In max q(S_next): NaN log-propensities change nothing."""
    from coaxlike.td_learning import QLearning
    import coaxlike
    import haiku as hk

    class Env(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        action_space = gym.spaces.Discrete(2)

    q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), Env(), random_seed=0)
    tb = TransitionBatch.from_one_step(np.ones((2, 2), np.float32), [0, 1], [1.0, 0.5],
                                       [0.9, 0.0], np.zeros((2, 2), np.float32))
    recorded = tb._replace(logP=np.zeros(2, np.float32), logP_seq=np.zeros((2, 1), np.float32))
    learner = QLearning(q)
    np.testing.assert_array_equal(learner.td_error(tb), learner.td_error(recorded))
    assert np.isfinite(learner.td_error(tb)).all()


@pytest.mark.parametrize("logp, error, match", [
    (0.5, ValueError, r"logp must be a log-probability <= 0"),
    ("x", TypeError, r"logp must be a number, got 'x'"),
])
def test_logp_validation(logp, error, match):
    with pytest.raises(error, match=match):
        NStep(1, GAMMA).add(np.zeros(1), 0, 1.0, False, logp)


# --- coax's surface: constructor, add(w=), pop/flush, len/bool, EpisodeDoneError -------------

# coax's own test episode (coax/reward_tracing/_nstep_test.py): 13 steps, done at the last
COAX_A = [6, 3, 7, 4, 6, 9, 2, 6, 7, 4, 3, 7, 7]
COAX_R = [-0.48, 0.16, 0.23, 0.11, 1.46, 1.53, -2.43, 0.60, -0.25, -0.16, -1.47, 1.48, -0.02]


def coax_rn(n, gamma):
    return [sum(gamma**k * COAX_R[t + k] for k in range(min(n, 13 - t))) for t in range(13)]


def test_coax_style_episode_pop_len_bool():
    n, gamma = 5, 0.85
    tracer = NStep(n, gamma=gamma)
    for i, (a, r) in enumerate(zip(COAX_A, COAX_R), 1):
        tracer.add(i - 1, a, r, i == 13)
        assert len(tracer) == i
        assert bool(tracer) == (i > n)
    rows = []
    while tracer:
        rows.append(tracer.pop())
        assert rows[-1].batch_size == 1
    assert len(tracer) == 0 and len(rows) == 13
    tb = jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *rows)
    np.testing.assert_array_equal(tb.S, np.arange(13))
    np.testing.assert_array_equal(tb.A, COAX_A)
    np.testing.assert_allclose(tb.Rn, coax_rn(n, gamma), rtol=1e-5)
    np.testing.assert_allclose(tb.In, [gamma**n] * 8 + [0.0] * 5, rtol=1e-6)
    np.testing.assert_array_equal(tb.S_next[:8], np.arange(5, 13))
    np.testing.assert_array_equal(tb.A_next[:8], COAX_A[5:])


def test_coax_style_eager_pop_and_flush():
    n, gamma = 5, 0.85
    tracer = NStep(n, gamma)
    popped = []
    for i, (a, r) in enumerate(zip(COAX_A, COAX_R)):
        tracer.add(i, a, r, i == 12)
        assert len(tracer) == min(i + 1, n + 1)
        if tracer and i < 12:
            popped.append(tracer.flush())
            assert popped[-1].batch_size == 1
    rest = tracer.flush()
    assert rest.batch_size == n + 1 and len(tracer) == 0
    np.testing.assert_array_equal([int(b.A_next[0]) for b in popped], COAX_A[n:12])
    np.testing.assert_allclose(rest.Rn, coax_rn(n, gamma)[13 - n - 1:], rtol=1e-5)


def test_flush_and_pop_with_nothing_ready_raise_insufficient_cache():
    tracer = NStep(5, 0.85)
    for t in range(4):
        tracer.add(t, 0, 1.0, False)
    for call in (tracer.flush, tracer.pop, NStep(5, 0.85).flush):
        with pytest.raises(InsufficientCacheError, match="no transition is ready"):
            call()
    assert issubclass(InsufficientCacheError, IndexError)
    assert len(tracer) == 4  # unchanged


def test_add_after_done_before_popping_raises_episode_done():
    tracer = NStep(5, 0.85)
    tracer.add(0, 6, -0.48, True)
    with pytest.raises(EpisodeDoneError):
        tracer.add(1, 3, 0.16, True)
    assert len(tracer) == 1  # the refused step was not recorded
    tb = tracer.flush()
    np.testing.assert_allclose([tb.S[0], tb.A[0], tb.Rn[0], tb.In[0]], [0, 6, -0.48, 0.0],
                               rtol=1e-6)
    tracer.add(1, 3, 0.16, False)  # popped: the next episode may start
    assert len(tracer) == 1


def test_constructor_argument_order_and_sample_weights():
    tracer = NStep(2, 0.5, False, num_envs=None)
    assert (tracer.n, tracer.gamma, tracer.record_extra_info, tracer.num_envs) == (2, 0.5, False,
                                                                                    None)
    with pytest.raises(TypeError):
        NStep(2, 0.5, False, 3)  # num_envs is keyword-only
    with pytest.raises(TypeError, match="record_extra_info must be a bool"):
        NStep(2, 0.5, record_extra_info="yes")
    for t, w in enumerate([0.5, 2.0, 1.0]):
        tracer.add(np.zeros(1), 0, 1.0, t == 2, -0.1, w)  # coax: add(s, a, r, done, logp, w)
    np.testing.assert_array_equal(tracer.flush().W, [0.5, 2.0, 1.0])
    with pytest.raises(ValueError, match="w must be finite and > 0"):
        tracer.add(np.zeros(1), 0, 1.0, False, -0.1, 0.0)


def test_record_extra_info_as_coax():
    n, gamma = 5, 0.85
    tracer = NStep(n, gamma, record_extra_info=True)
    for i in range(n + 2):
        tracer.add(i, COAX_A[i], COAX_R[i], i == n + 1)
    tb = tracer.flush()
    info = tb.extra_info
    assert set(info) == {"states", "actions", "rewards", "dones", "log_props", "weights"}
    assert all(len(v) == n + 1 for v in info.values())
    np.testing.assert_array_equal(info["states"][0], tb.S)
    np.testing.assert_array_equal(info["actions"][0], tb.A)
    dones = np.stack(info["dones"])  # (n + 1, B): transition i has i steps after the end
    np.testing.assert_array_equal(dones.sum(0), np.arange(n + 2))
    # the full window of step 0 records a_5 and r_5 as its last entries
    assert int(info["actions"][n][0]) == COAX_A[n] and np.isclose(info["rewards"][n][0], COAX_R[n])


# --- issue 10: validate everything before recording anything ----------------------------------

def snapshot(tracer):
    """Everything the tracer holds, for 'unchanged' checks."""
    state = dict(vars(tracer))
    ring = state.pop("_ring")
    ready = state.pop("_ready")
    return (jax.tree_util.tree_map(np.copy, state),
            None if ring is None else [np.copy(x) for x in jax.tree_util.tree_leaves(
                ring._replace(treedef=None))],
            [jax.tree_util.tree_map(np.copy, b) for b in ready])


def assert_same(a, b):
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


@pytest.mark.parametrize("bad, match", [
    (dict(s_next=np.zeros(5)), r"s_next must have the shape \(4,\) of the first observation, "
                               r"got \(5,\)"),
    (dict(s_next=np.float32(1.0)), r"s_next must have the shape \(4,\) of the first observation, "
                                   r"got \(\)"),
    (dict(s_next={"x": np.zeros(4)}), r"s_next must have the structure"),
    (dict(s_next=np.zeros(4), mask_next=np.ones(3, bool)), r"mask_next must have shape \(2,\)"),
    (dict(s_next=np.zeros(4), a_next=np.zeros(2)), r"a_next must have the shape \(\) of the "
                                                    r"first action"),
])
def test_rejected_done_step_records_nothing_and_the_retry_works(bad, match):
    tracer = NStep(2, GAMMA)
    mask = np.array([True, False])
    tracer.add(np.zeros(4), 0, 1.0, False, -0.1, mask=mask)
    before = snapshot(tracer)
    with pytest.raises(ValueError, match=match):
        tracer.add(np.ones(4), 1, 2.0, True, -0.2, truncated=True, mask=mask, **bad)
    assert_same(snapshot(tracer), before)
    # the natural retry: the same step with the right final observation
    tracer.add(np.ones(4), 1, 2.0, True, -0.2, truncated=True, mask=mask,
               s_next=np.full(4, 2.0), mask_next=mask)
    tb = tracer.flush()
    np.testing.assert_array_equal(tb.S_next[:, 0], [2.0, 2.0])
    np.testing.assert_allclose(tb.In, [GAMMA**2, GAMMA], rtol=1e-6)
    np.testing.assert_allclose(tb.Rn, [1 + 2 * GAMMA, 2.0], rtol=1e-6)
    assert tb.batch_size == 2


def test_first_add_rejected_leaves_a_fresh_tracer():
    tracer = NStep(1, GAMMA)
    with pytest.raises(ValueError, match="s_next must have the shape"):
        tracer.add(np.zeros(4), 0, 1.0, True, mask=np.ones(2, bool), s_next=np.zeros(3))
    assert tracer._ring is None and tracer._masked is None and len(tracer) == 0
    tracer.add(np.zeros(3), 0, 1.0, True)  # a different shape and no masks: still free
    assert tracer.flush().mask_next is None


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((np.float32(1.0), 0, 1.0, False), {}, ValueError,
     r"s must have the shape \(4,\) of the first observation, got \(\)"),
    ((np.zeros((1, 4)), 0, 1.0, False), {}, ValueError,
     r"s must have the shape \(4,\) of the first observation, got \(1, 4\)"),
    ((np.array(["a"] * 4), 0, 1.0, False), {}, TypeError,
     r"s must hold numeric arrays, got array\(\[.a.,"),
    ((np.zeros(4), "left", 1.0, False), {}, TypeError, r"a must be an int or an array of numbers"),
    ((np.zeros(4), 0.5, 1.0, False), {}, TypeError, r"a must be integer like the first action"),
    ((np.zeros(4), [0, 1], 1.0, False), {}, ValueError,
     r"a must have the shape \(\) of the first action"),
    ((np.zeros(4), 0, "1.0x", False), {}, TypeError, r"r must be a number, got '1.0x'"),
    ((np.zeros(4), 0, np.ones(2), False), {}, ValueError, r"r must be a scalar for a single env"),
    ((np.zeros(4), 0, np.nan, False), {}, ValueError, r"r must be finite, got nan"),
    ((np.zeros(4), 0, 1.0, "yes"), {}, TypeError, r"done must be a bool, got 'yes'"),
    ((np.zeros(4), 0, 1.0, True), {"truncated": 2}, ValueError, r"truncated must be a bool, got 2"),
    ((np.zeros(4), 0, 1.0, True), {"truncated": np.ones(2, bool)}, ValueError,
     r"truncated must be a bool, got array"),
    ((np.zeros(4), 0, 1.0, True), {"truncated": 1.0}, TypeError, r"truncated must be a bool, got 1.0"),
    ((np.zeros(4), 0, 1.0, False), {"mask": np.ones(3, bool)}, ValueError,
     r"mask= needs masks switched"),
])
def test_later_step_of_wrong_shape_or_type_is_refused_by_name(args, kwargs, error, match):
    # the wrong kind of value: TypeError; the right kind with a wrong shape or value: ValueError
    tracer = NStep(2, GAMMA)
    tracer.add(np.zeros(4, np.float32), 1, 1.0, False)
    before = snapshot(tracer)
    with pytest.raises(error, match=match):
        tracer.add(*args, **kwargs)
    assert_same(snapshot(tracer), before)


def test_vector_batch_without_num_envs_is_refused_up_front():
    envs = gym.vector.SyncVectorEnv([lambda: CountEnv(i, 3, terminate=True) for i in range(3)])
    obs, _ = envs.reset(seed=0)
    obs_next, r, term, trunc, _ = envs.step(np.zeros(3, int))
    tracer = NStep(2, GAMMA)
    with pytest.raises(ValueError, match=r"done has shape \(3,\), but this NStep traces a single "
                                         r"env .* NStep\(n, gamma, num_envs=k\)"):
        tracer.add(obs, np.zeros(3, int), r, term | trunc)
    assert tracer._ring is None and len(tracer) == 0


@pytest.mark.parametrize("field, value, match", [
    ("s", np.zeros((2, 5)), r"s must have the per-sub-env shape \(4,\) of the first observation"),
    ("a", np.zeros((2, 3), int), r"a must have the shape \(\) of the first action"),
    ("done", np.array([0, 2]), r"done must be bools of shape \(2,\)"),
    ("r", np.array([0.0, np.inf]), r"r must be finite"),
    ("mask", np.ones((2, 3), bool), r"mask must have shape \(2, 2\)"),
])
def test_vector_env_later_steps_are_checked_before_recording(field, value, match):
    tracer = NStep(2, GAMMA, num_envs=2)
    step = dict(s=np.zeros((2, 4)), a=np.zeros(2, int), r=np.zeros(2), done=np.zeros(2, bool),
                mask=np.ones((2, 2), bool))
    tracer.add(**step)
    before = snapshot(tracer)
    with pytest.raises(ValueError, match=match):
        tracer.add(**{**step, field: value})
    assert_same(snapshot(tracer), before)


# --- TransitionBatch: mutable as coax, still a pytree ------------------------------------------

def example_batch(B=3):
    return TransitionBatch.from_one_step(
        S={"x": np.arange(B * 2, dtype=np.float32).reshape(B, 2)}, A=np.arange(B),
        Rn=np.ones(B), In=np.full(B, 0.9), S_next={"x": np.zeros((B, 2), np.float32)},
        logP=np.full(B, -0.5), A_next=np.arange(B)[::-1].copy(), mask_next=np.ones((B, 2), bool))


def test_transition_batch_is_mutable_and_copies_as_coax():
    tb = example_batch()
    tb.W = np.full(3, 0.5, np.float32)  # coax: tb.W = ..., tb.idx = ...
    tb.idx = np.arange(3, dtype=np.int32)
    copied = tb.copy()
    copied.W = np.ones(3, np.float32)
    np.testing.assert_array_equal(tb.W, [0.5] * 3)  # the original is untouched
    assert copied.A is tb.A  # shallow
    deep = tb.copy(deep=True)
    deep.A[0] = 99
    assert tb.A[0] == 0
    replaced = tb._replace(Rn=np.zeros(3, np.float32), W=None)
    assert replaced.W is None and tb.W is not None and replaced.Rn.sum() == 0
    with pytest.raises(ValueError, match=r"no field\(s\) \['R'\]"):
        tb._replace(R=1)
    with pytest.raises(AttributeError):
        tb.not_a_field = 1
    assert tuple(tb._asdict()) == TransitionBatch._fields
    assert "A_next=int64[3]" in repr(tb) and "extra_info=None" in repr(tb)


def test_transition_batch_pytree_jit_vmap_pickle():
    import pickle
    tb = example_batch()
    leaves, treedef = jax.tree_util.tree_flatten(tb)
    rebuilt = treedef.unflatten(leaves)
    assert isinstance(rebuilt, TransitionBatch)
    jax.tree_util.tree_map(np.testing.assert_array_equal, rebuilt, tb)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(tb)[0]]
    assert paths[:3] == [".S['x']", ".A", ".logP"]

    @jax.jit
    def double_reward(tb):
        return tb._replace(Rn=2 * tb.Rn)

    out = double_reward(tb)
    assert isinstance(out, TransitionBatch) and isinstance(out.Rn, jax.Array)
    np.testing.assert_allclose(out.Rn, 2 * tb.Rn)
    # one row at a time under vmap: scalars per row
    per_row = jax.vmap(lambda row: row.Rn + row.In * row.A_next)(tb)
    np.testing.assert_allclose(per_row, 1 + 0.9 * np.array([2, 1, 0]), rtol=1e-6)
    # a None field (no masks) stays an empty subtree through jit
    no_w = jax.jit(lambda t: t)(tb._replace(W=None, mask_next=None, mask_seq=None))
    assert no_w.W is None and no_w.mask_next is None
    back = pickle.loads(pickle.dumps(tb))
    jax.tree_util.tree_map(np.testing.assert_array_equal, back, tb)


def test_coax_style_construction_fills_the_window_fields():
    B = 4
    rng = np.random.default_rng(0)
    tb = TransitionBatch(
        S=rng.normal(size=(B, 3)), A=rng.integers(0, 2, B), logP=np.log(rng.random(B)),
        Rn=rng.normal(size=B), In=0.95 * rng.integers(0, 2, B), S_next=rng.normal(size=(B, 3)),
        A_next=rng.integers(0, 2, B), logP_next=np.log(rng.random(B)), extra_info=None)
    np.testing.assert_array_equal(tb.W, np.ones(B))
    np.testing.assert_array_equal(tb.idx, np.zeros(B))
    expected = TransitionBatch.from_one_step(tb.S, tb.A, tb.Rn, tb.In, tb.S_next, logP=tb.logP,
                                             A_next=tb.A_next, logP_next=tb.logP_next)
    for name in ("A_seq", "logP_seq", "R_seq", "gamma_seq", "valid_seq", "S_seq"):
        np.testing.assert_allclose(getattr(tb, name), getattr(expected, name), err_msg=name)
    # positional, in coax's order
    positional = TransitionBatch(tb.S, tb.A, tb.logP, tb.Rn, tb.In, tb.S_next, tb.A_next)
    np.testing.assert_array_equal(positional.A_next, tb.A_next)
    assert np.isnan(positional.logP_next).all()
    with pytest.raises(ValueError, match=r"give all window fields .* missing"):
        TransitionBatch(tb.S, tb.A, tb.logP, tb.Rn, tb.In, tb.S_next, A_seq=tb.A_seq)


@pytest.mark.parametrize("mode", ["SAME_STEP", "DISABLED"])
def test_vector_env_not_in_next_step_autoreset_mode_is_refused_up_front(mode):
    import haiku as hk
    import coaxlike
    envs = gym.vector.SyncVectorEnv([lambda: CountEnv(0, 3, terminate=True)] * 2,
                                    autoreset_mode=getattr(gym.vector.AutoresetMode, mode))
    with pytest.raises(ValueError, match=rf"autoreset_mode={mode}, which is not supported.*"
                                         r"AutoresetMode.NEXT_STEP"):
        coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), envs, random_seed=0)
    next_step = gym.vector.SyncVectorEnv([lambda: CountEnv(0, 3, terminate=True)] * 2)
    q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), next_step, random_seed=0)
    assert q.batched


def test_from_single_and_to_singles_as_coax():
    tb = TransitionBatch.from_single(s=np.array([1.0, 2.0]), a=1, logp=-0.5, r=2.0, done=False,
                                     gamma=0.9, s_next=np.array([3.0, 4.0]), a_next=0, w=2.0)
    assert tb.batch_size == 1
    np.testing.assert_allclose([tb.Rn[0], tb.In[0], tb.logP[0], tb.W[0]], [2.0, 0.9, -0.5, 2.0])
    np.testing.assert_array_equal(tb.S_seq, [[[1, 2], [3, 4]]])
    assert tb.A_next.tolist() == [0] and np.isnan(tb.logP_next).all()
    done = TransitionBatch.from_single(np.zeros(2), 0, None, 1.0, True, 0.9)
    assert done.In.tolist() == [0.0] and np.isnan(done.logP).all()
    with pytest.raises(ValueError, match="logp must be a log-probability <= 0"):
        TransitionBatch.from_single(np.zeros(2), 0, 0.5, 1.0, True, 0.9)
    with pytest.raises(TypeError, match="done must be a bool"):
        TransitionBatch.from_single(np.zeros(2), 0, 0.0, 1.0, "no", 0.9)
    with pytest.raises(TypeError, match="gamma must be a number in"):
        TransitionBatch.from_single(np.zeros(2), 0, 0.0, 1.0, True, "0.9")
    with pytest.raises(ValueError, match="gamma must be in"):
        TransitionBatch.from_single(np.zeros(2), 0, 0.0, 1.0, True, 1.5)
    with pytest.raises(ValueError, match="w must be > 0"):
        TransitionBatch.from_single(np.zeros(2), 0, 0.0, 1.0, True, 0.9, w=0.0)
    rows = list(example_batch(3).to_singles())
    assert [r.batch_size for r in rows] == [1, 1, 1]
    np.testing.assert_array_equal([int(r.A_next[0]) for r in rows], [2, 1, 0])
    np.testing.assert_array_equal(rows[1].S["x"], [[2.0, 3.0]])


def test_vector_env_len_counts_unpopped_steps_and_not_reset_steps():
    tracer = NStep(2, GAMMA, num_envs=2)
    s, a, r = np.zeros((2, 1)), np.zeros(2, int), np.ones(2)
    for _ in range(3):
        tracer.add(s, a, r, np.zeros(2, bool))
    assert len(tracer) == 6 and tracer.pop().batch_size == 2 and len(tracer) == 4
    tracer.add(s, a, r, np.array([True, False]))   # step 3: sub-env 0 ends
    assert len(tracer) == 6
    tracer.add(s, a, r, np.zeros(2, bool))         # step 4: sub-env 0's reset step
    # ready: 2 + sub-env 0's steps 2, 3 + sub-env 1's step 2; not ready: sub-env 1's 3, 4
    assert len(tracer) == 7 and tracer.flush().batch_size == 5 and len(tracer) == 2


@pytest.mark.parametrize("done, error, match", [
    (np.zeros(2, np.float32), TypeError, r"done must be bools of shape \(2,\)"),
    (np.array(["no", "no"]), TypeError, r"done must be bools of shape \(2,\)"),
    (np.array([0, 2]), ValueError, r"done must be bools of shape \(2,\)"),
    (np.zeros(3, bool), ValueError, r"done must be bools of shape \(2,\)"),
])
def test_vector_flags_of_the_wrong_kind_are_type_errors(done, error, match):
    tracer = NStep(2, GAMMA, num_envs=2)
    tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(2), np.zeros(2, bool))
    before = snapshot(tracer)
    with pytest.raises(error, match=match):
        tracer.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(2), done)
    assert_same(snapshot(tracer), before)
