"""CartPole-v1 as two pure JAX functions, for training loops compiled whole.

What it shows: gymnasium's CartPole-v1 (same constants, Euler integration, termination
thresholds, reward 1 on every step including the terminating one, truncation after 500
steps as ``gym.make``'s ``TimeLimit`` does) written as

* ``reset(key) -> (state, obs)`` (``reset_batch(key, N)`` for ``N`` at once)
* ``step(state, action) -> (state, obs, reward, terminated, truncated)``

both pure, so they ``jit``, ``vmap`` (many CartPoles at once) and run inside ``lax.scan``.
There is no auto-reset: the caller decides what to do when an episode ends (see
``examples/dqn_ingraph.py``). The physics runs in the dtype of the state (float32 by
default; gymnasium integrates in float64 and rounds the observation to float32, so the two
agree to float32 rounding). ``tests/test_cartpole_jax.py`` checks the equivalence with
gymnasium step by step on identical states and actions.

Run ``python examples/cartpole_jax.py`` to step 1024 CartPoles under a random policy for
500 steps in one compiled call and print the rate.
"""
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp

GRAVITY = 9.8
MASSCART = 1.0
MASSPOLE = 0.1
TOTAL_MASS = MASSPOLE + MASSCART
LENGTH = 0.5  # half the pole's length
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02  # seconds between state updates
THETA_THRESHOLD = 12 * 2 * 3.141592653589793 / 360  # 12 degrees, in radians
X_THRESHOLD = 2.4
MAX_EPISODE_STEPS = 500  # CartPole-v1's TimeLimit
RESET_BOUND = 0.05  # initial state ~ U(-0.05, 0.05)^4
OBS_SHAPE = (4,)
N_ACTIONS = 2


class CartPoleState(NamedTuple):
    """The state of one CartPole (add a leading axis for many, e.g. with ``jax.vmap``).

    Attributes:
        physics: ``(4,)`` float: cart position, cart velocity, pole angle, pole angular
            velocity (the observation is this array).
        t: int32 scalar, steps taken in the current episode.
    """

    physics: jax.Array
    t: jax.Array


def reset(key):
    """Start an episode: every state variable uniform in ``[-0.05, 0.05)``.

    Args:
        key: a JAX PRNG key.

    Returns:
        ``(state, obs)``: a :class:`CartPoleState` and the float32 ``(4,)`` observation.
    """
    physics = jax.random.uniform(key, OBS_SHAPE, jnp.float32, -RESET_BOUND, RESET_BOUND)
    return CartPoleState(physics, jnp.zeros((), jnp.int32)), physics


def step(state, action):
    r"""Advance one time step of ``TAU`` seconds with a push of ``FORCE_MAG`` newtons.

    With :math:`F = \pm 10` (``action`` 1 pushes right, 0 left),

    .. math::

        \text{temp} = \frac{F + m_p l \dot\theta^2 \sin\theta}{m}, \quad
        \ddot\theta = \frac{g \sin\theta - \cos\theta\, \text{temp}}
                           {l (4/3 - m_p \cos^2\theta / m)}, \quad
        \ddot x = \text{temp} - \frac{m_p l \ddot\theta \cos\theta}{m}

    then explicit Euler: :math:`x \leftarrow x + \tau \dot x`, :math:`\dot x \leftarrow \dot x
    + \tau \ddot x` (likewise for :math:`\theta`).

    Args:
        state: a :class:`CartPoleState`.
        action: int scalar, 0 or 1.

    Returns:
        ``(state, obs, reward, terminated, truncated)``: the new state, its float32 ``(4,)``
        observation, float32 reward 1, bool ``terminated`` (``|x| > 2.4`` or ``|theta| >
        12°``) and bool ``truncated`` (the 500th step of the episode).
    """
    x, x_dot, theta, theta_dot = (state.physics[i] for i in range(4))
    force = jnp.where(action == 1, FORCE_MAG, -FORCE_MAG).astype(state.physics.dtype)
    costheta, sintheta = jnp.cos(theta), jnp.sin(theta)
    temp = (force + POLEMASS_LENGTH * jnp.square(theta_dot) * sintheta) / TOTAL_MASS
    thetaacc = (GRAVITY * sintheta - costheta * temp) / (
        LENGTH * (4.0 / 3.0 - MASSPOLE * jnp.square(costheta) / TOTAL_MASS))
    xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
    physics = jnp.stack([x + TAU * x_dot, x_dot + TAU * xacc,
                         theta + TAU * theta_dot, theta_dot + TAU * thetaacc])
    new_x, new_theta = physics[0], physics[2]
    terminated = ((new_x < -X_THRESHOLD) | (new_x > X_THRESHOLD)
                  | (new_theta < -THETA_THRESHOLD) | (new_theta > THETA_THRESHOLD))
    t = state.t + 1
    truncated = t >= MAX_EPISODE_STEPS
    return (CartPoleState(physics, t), physics.astype(jnp.float32), jnp.float32(1.0),
            terminated, truncated)


def reset_batch(key, num_envs):
    """Start ``num_envs`` episodes at once: :func:`reset` for a batch, from one draw.

    One ``(num_envs, 4)`` uniform draw rather than ``jax.vmap(reset)`` over ``num_envs``
    split keys: the same distribution, one random-number call (and key split) fewer in a
    traced program.

    Args:
        key: a JAX PRNG key.
        num_envs: the batch size ``N`` (static).

    Returns:
        ``(states, obs)``: a batched :class:`CartPoleState` (leaves ``(N, ...)``) and the
        float32 ``(N, 4)`` observations.
    """
    physics = jax.random.uniform(key, (num_envs, *OBS_SHAPE), jnp.float32, -RESET_BOUND,
                                 RESET_BOUND)
    return CartPoleState(physics, jnp.zeros((num_envs,), jnp.int32)), physics


def reset_where(done, key, states, obs):
    """Reset the CartPoles (leading axis ``N``) whose ``done`` is True; keep the others.

    Args:
        done: bool ``(N,)``.
        key: a JAX PRNG key (one draw of ``N`` fresh states, see :func:`reset_batch`).
        states: a batched :class:`CartPoleState` (leaves ``(N, ...)``).
        obs: float32 ``(N, 4)``, the current observations.

    Returns:
        ``(states, obs)`` with fresh episodes where ``done``.
    """
    fresh = reset_batch(key, done.shape[0])

    def select(new, old):
        return jnp.where(jnp.reshape(done, done.shape + (1,) * (old.ndim - 1)), new, old)
    return jax.tree_util.tree_map(select, fresh, (states, obs))


def random_rollout(key, num_envs, num_steps):
    """Step ``num_envs`` CartPoles for ``num_steps`` steps under uniform random actions,
    resetting each one when its episode ends. Returns the number of episodes finished."""
    def body(carry, key):
        states, obs, episodes = carry
        k_act, k_reset = jax.random.split(key)
        actions = jax.random.randint(k_act, (num_envs,), 0, N_ACTIONS)
        states, obs, _, terminated, truncated = jax.vmap(step)(states, actions)
        done = terminated | truncated
        states, obs = reset_where(done, k_reset, states, obs)
        return (states, obs, episodes + jnp.sum(done)), None

    k_init, k_steps = jax.random.split(key)
    states, obs = reset_batch(k_init, num_envs)
    (_, _, episodes), _ = jax.lax.scan(body, (states, obs, jnp.zeros((), jnp.int32)),
                                       jax.random.split(k_steps, num_steps))
    return episodes


def main():
    num_envs, num_steps = 1024, 500
    rollout = jax.jit(random_rollout, static_argnums=(1, 2))
    int(rollout(jax.random.key(0), num_envs, num_steps))  # compile
    t0 = time.perf_counter()
    episodes = int(rollout(jax.random.key(1), num_envs, num_steps))
    seconds = time.perf_counter() - t0
    print(f"{num_envs * num_steps} random-policy CartPole steps in {seconds * 1e3:.1f} ms "
          f"({num_envs * num_steps / seconds / 1e6:.1f} M steps/s), {episodes} episodes "
          f"(mean length {num_envs * num_steps / max(episodes, 1):.1f})")


if __name__ == "__main__":
    main()
