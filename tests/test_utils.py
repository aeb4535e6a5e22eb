"""coaxlike.utils: the schedule against hand values (host and jit), the frame-difference
matrix against finite differences, GIFs read back frame by frame, logging set-up, errors."""
import logging
import os

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coaxlike.utils import (StepwiseLinearFunction, check_array, diff_transform,
                            diff_transform_matrix, enable_logging, generate_gif,
                            get_transition_batch, safe_sample)
from coaxlike.wrappers import TrainMonitor

Image = pytest.importorskip("PIL.Image")


# --- StepwiseLinearFunction -----------------------------------------------------------------

def test_schedule_hand_values_and_flat_outside():
    f = StepwiseLinearFunction((0, 1.0), (100, 0.1), (300, 0.0))
    assert [f(t) for t in (-10, 0, 50, 100, 200, 300, 10**9)] == \
        pytest.approx([1.0, 1.0, 0.55, 0.1, 0.05, 0.0, 0.0])
    assert isinstance(f(50), float) and isinstance(f(np.int64(50)), float)
    g = StepwiseLinearFunction((10, 0), (20, 4))            # ints are fine, offset start
    assert (g(0), g(15), g(25)) == (0.0, 2.0, 4.0)


def test_schedule_in_graph_matches_host():
    f = StepwiseLinearFunction((0, 1.0), (100, 0.1), (300, 0.0))
    T = jnp.arange(-5, 400, 7)
    got = jax.jit(f)(T)
    np.testing.assert_allclose(got, [f(int(t)) for t in T], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("steps, error, match", [
    (((0, 1.0),), TypeError, "at least two"),
    (((0, 1.0), [10, 0.5]), TypeError, r"pair \(int timestep, number value\), got \[10"),
    (((0.5, 1.0), (10, 0.5)), TypeError, "got \\(0.5, 1.0\\)"),
    (((0, 1.0), (10, "a")), TypeError, "number value"),
    (((10, 1.0), (10, 0.5)), ValueError, r"strictly increasing, got \[10, 10\]"),
    (((0, 1.0), (10, float("nan"))), ValueError, "finite"),
])
def test_schedule_rejects_bad_steps(steps, error, match):
    with pytest.raises(error, match=match):
        StepwiseLinearFunction(*steps)


# --- diff_transform -------------------------------------------------------------------------

def test_diff_transform_matrix_four_frames_by_hand():
    np.testing.assert_array_equal(diff_transform_matrix(4, dtype=int),
                                  [[-1, 0, 0, 0], [3, 1, 0, 0], [-3, -2, -1, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(diff_transform_matrix(1), [[1.0]])
    assert diff_transform_matrix(3).dtype == np.float32


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_diff_transform_columns_are_backward_differences(n):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(2, 7, 6, n))
    Y = np.asarray(diff_transform(X, dtype="float64" if jax.config.x64_enabled else "float32"))
    assert Y.shape == X.shape
    for j in range(n):
        k = n - 1 - j
        # the k-th backward difference at the newest frame, computed by repeated np.diff
        want = np.diff(X, n=k, axis=-1)[..., -1] if k else X[..., -1]
        np.testing.assert_allclose(Y[..., j], want, rtol=1e-4, atol=1e-4)


def test_diff_transform_inside_jit_and_errors():
    X = jnp.ones((3, 4, 4, 3))
    np.testing.assert_allclose(jax.jit(diff_transform)(X)[..., -1], 1.0)
    np.testing.assert_allclose(jax.jit(diff_transform)(X)[..., :2], 0.0)
    for bad, error in ((0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)):
        with pytest.raises(error, match="num_frames must be an int >= 1"):
            diff_transform_matrix(bad)


# --- generate_gif ---------------------------------------------------------------------------

def read_frames(path):
    with Image.open(path) as im:
        sizes = []
        for i in range(im.n_frames):
            im.seek(i)
            sizes.append(im.size)
        return im.n_frames, sizes, im.info.get("duration"), im.info.get("loop")


class Counter(gym.Env):
    """Renders frame t as a 6x5 image with t pixels lit; ends after ``length`` steps."""

    observation_space = gym.spaces.Discrete(100)
    action_space = gym.spaces.Discrete(2)
    render_mode = "rgb_array"

    def __init__(self, length=7):
        self.length = length

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return 0, {}

    def step(self, action):
        self.t += 1
        return self.t, 0.0, self.t >= self.length, False, {}

    def render(self):
        frame = np.zeros((5, 6, 3), np.uint8)
        frame.reshape(-1, 3)[: self.t] = 255
        return frame


def test_gif_has_one_frame_per_step_plus_the_first(tmp_path):
    path = tmp_path / "a" / "b" / "episode.gif"
    steps = generate_gif(Counter(length=7), path, policy=lambda s: 0, duration=40)
    n_frames, sizes, duration, loop = read_frames(path)
    assert steps == 7 and n_frames == 8
    assert set(sizes) == {(6, 5)} and duration == 40 and loop == 0


def test_gif_of_a_cartpole_episode(tmp_path):
    pytest.importorskip("pygame")  # gymnasium's classic-control rendering
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    steps = generate_gif(env, tmp_path / "cartpole.gif", policy=lambda s: 0)
    n_frames, sizes, *_ = read_frames(tmp_path / "cartpole.gif")
    # Pillow merges identical consecutive frames (sub-pixel moves): at most steps + 1
    assert 5 < steps < 30 and 1 < n_frames <= steps + 1 and set(sizes) == {(600, 400)}


def test_gif_resize_max_steps_and_monitor_is_skipped(tmp_path):
    env = TrainMonitor(Counter(length=10))
    env.reset(seed=0)
    env.step(0)
    path = tmp_path / "short.gif"
    steps = generate_gif(env, str(path), resize_to=(12, 8), max_episode_steps=4,
                         policy=lambda s: 1)
    n_frames, sizes, *_ = read_frames(path)
    assert steps == 4 and n_frames == 5 and set(sizes) == {(12, 8)}
    assert (env.T, env.t) == (1, 1)           # the recorded episode did not count
    assert [p.name for p in tmp_path.iterdir()] == ["short.gif"]  # no temporary left


def test_gif_errors_leave_no_file(tmp_path):
    path = tmp_path / "x.gif"
    with pytest.raises(RuntimeError, match="render_mode='rgb_array'"):
        generate_gif(gym.make("CartPole-v1"), path, max_episode_steps=2)
    with pytest.raises(TypeError, match=r"resize_to must be a pair of positive ints"):
        generate_gif(Counter(), path, resize_to=[10, 10])
    with pytest.raises(TypeError, match="vector env"):
        generate_gif(gym.make_vec("CartPole-v1", 2), path)
    assert list(tmp_path.iterdir()) == []


# --- enable_logging -------------------------------------------------------------------------

def test_enable_logging_adds_a_file_handler(tmp_path):
    path = tmp_path / "logs" / "run.log"
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        enable_logging("run", level=logging.INFO, output_filepath=str(path),
                       output_level=logging.WARNING)
        (handler,) = [h for h in root.handlers if h not in before
                      and isinstance(h, logging.FileHandler)]
        assert handler.level == logging.WARNING and os.path.isdir(tmp_path / "logs")
        old_level, root.level = root.level, logging.INFO
        logging.getLogger("coaxlike.test").warning("kept")
        logging.getLogger("coaxlike.test").info("dropped")
        root.level = old_level
        handler.flush()
        assert path.read_text().splitlines() == ["kept"]
    finally:
        for h in root.handlers[:]:
            if h not in before:
                root.removeHandler(h)
                h.close()
    with pytest.raises(TypeError, match="name must be a str"):
        enable_logging(3)


# --- safe_sample, get_transition_batch, check_array ------------------------------------------

@pytest.mark.parametrize("space", [
    gym.spaces.Box(low=-np.inf, high=np.inf, shape=(50,)),
    gym.spaces.Box(low=5.0, high=np.inf, shape=(50,)),
    gym.spaces.Box(low=-np.inf, high=-3.0, shape=(50,)),
    gym.spaces.Box(low=0, high=255, shape=(4, 4), dtype=np.uint8),
    gym.spaces.Discrete(3, start=-1),
    gym.spaces.MultiDiscrete([2, 5]),
    gym.spaces.MultiBinary(6),
    gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(-1.0, 1.0, (2,)))),
    gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.Box(0.0, 1.0, (3,))}),
])
def test_safe_sample_lies_in_the_space_and_is_reproducible(space):
    samples = [safe_sample(space, seed=s) for s in range(20)]
    assert all(space.contains(x) for x in samples)
    again = safe_sample(space, seed=7)
    jax.tree_util.tree_map(np.testing.assert_array_equal, again, samples[7])


def test_safe_sample_keeps_unbounded_values_moderate():
    x = safe_sample(gym.spaces.Box(low=-np.inf, high=np.inf, shape=(1000,)), seed=0)
    assert np.all(np.abs(x) <= 1.0) and x.std() > 0.3           # uniform on [-1, 1]
    y = safe_sample(gym.spaces.Box(low=5.0, high=np.inf, shape=(1000,)), seed=0)
    assert np.all((y >= 5.0) & (y <= 6.0))
    with pytest.raises(TypeError, match="space must be a gymnasium space"):
        safe_sample((0, 1))


def test_get_transition_batch_fields_ranges_and_seed():
    env = gym.make("CartPole-v1")
    tb = get_transition_batch(env, batch_size=64, gamma=0.8, random_seed=3)
    assert tb.S.shape == (64, 4) and tb.S_next.shape == (64, 4)
    assert tb.A.shape == (64,) and set(np.unique(tb.A)) <= {0, 1}
    np.testing.assert_allclose(np.unique(tb.In), [0.0, 0.8], rtol=1e-6)
    for logp in (tb.logP, tb.logP_next):
        assert np.all((logp >= np.log(0.01) - 1e-6) & (logp <= np.log(0.99) + 1e-6))
    assert np.all((tb.W >= 0.01) & (tb.W <= 100.0)) and np.all(np.abs(tb.Rn) <= 5.0)
    again = get_transition_batch(env, batch_size=64, gamma=0.8, random_seed=3)
    np.testing.assert_array_equal(again.S, tb.S)
    np.testing.assert_array_equal(again.Rn, tb.Rn)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        get_transition_batch(env, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int >= 1, got float 4.0"):
        get_transition_batch(env, batch_size=4.0)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\], got 1.5"):
        get_transition_batch(env, gamma=1.5)
    with pytest.raises(TypeError, match=r"gamma must be a float in \[0, 1\], got str"):
        get_transition_batch(env, gamma="0.9")


def test_check_array_checks_each_property():
    x = jnp.zeros((2, 3), jnp.float32)
    check_array(x, ndim=2, ndim_min=1, ndim_max=2, dtype=jnp.float32, shape=(2, 3),
                axis_size=(1, 2), axis=0)
    bad = [({"ndim": 1}, "ndim in \\[1\\]"), ({"ndim_min": 3}, "ndim >= 3"),
           ({"ndim_max": 1}, "ndim <= 1"), ({"dtype": "int32"}, "dtype"),
           ({"shape": (3, 2)}, "shape \\(3, 2\\)"),
           ({"axis_size": 4, "axis": 1}, "along axis 1")]
    for kwargs, match in bad:
        with pytest.raises(TypeError, match=match):
            check_array(x, **kwargs)
    with pytest.raises(TypeError, match="expected a JAX array, got ndarray"):
        check_array(np.zeros(3))
    check_array(np.zeros(3), ndim=1, except_np=True)
