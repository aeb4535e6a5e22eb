"""Tests for coaxlike.value_losses: hand-computed values, weights, gradients, jit, errors."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coaxlike import value_losses
from coaxlike.value_losses import huber, logloss, logloss_sign, mse

JIT = pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
Y = jnp.array([0.0, 1.0, -2.0])
P = jnp.array([0.5, 3.0, -2.25])  # errors 0.5, 2.0, -0.25
W = jnp.array([1.0, 0.5, 2.0])


def maybe_jit(fn, jit):
    return jax.jit(fn) if jit else fn


@JIT
def test_mse_hand_values(jit):
    f = maybe_jit(mse, jit)
    elementwise = np.array([0.125, 2.0, 0.03125])  # 0.5 * err^2
    assert float(f(Y, P)) == pytest.approx(elementwise.mean())
    assert float(f(Y, P, W)) == pytest.approx((elementwise * [1.0, 0.5, 2.0]).mean())


@JIT
def test_huber_hand_values_and_delta(jit):
    f = maybe_jit(huber, jit)
    # delta 1: 0.5 * 0.25, 2 - 0.5, 0.5 * 0.0625
    elementwise = np.array([0.125, 1.5, 0.03125])
    assert float(f(Y, P)) == pytest.approx(elementwise.mean())
    assert float(f(Y, P, W)) == pytest.approx((elementwise * [1.0, 0.5, 2.0]).mean())
    # delta 0.4: 0.4 * 0.5 - 0.08, 0.4 * 2 - 0.08, 0.5 * 0.0625
    assert float(huber(Y, P, delta=0.4)) == pytest.approx(np.mean([0.12, 0.72, 0.03125]))


@JIT
def test_logloss_hand_values_and_edges(jit):
    f = maybe_jit(logloss, jit)
    y, p = jnp.array([1.0, 0.0, 1.0]), jnp.array([0.8, 0.25, 1.0])
    want = np.array([-np.log(0.8), -np.log(0.75), 0.0])
    assert float(f(y, p)) == pytest.approx(want.mean(), rel=1e-6)
    assert float(f(y, p, W)) == pytest.approx((want * [1.0, 0.5, 2.0]).mean(), rel=1e-6)
    assert float(f(jnp.array([0.0]), jnp.array([0.0]))) == 0.0  # 0 log 0 counts 0, not NaN
    assert float(f(jnp.array([1.0]), jnp.array([0.0]))) == np.inf


@JIT
def test_logloss_sign_hand_values_and_large_logits(jit):
    f = maybe_jit(logloss_sign, jit)
    y, z = jnp.array([1.0, -1.0, 1.0]), jnp.array([2.0, 0.5, -1.0])
    want = np.log1p(np.exp(-np.array([2.0, -0.5, -1.0])))
    assert float(f(y, z)) == pytest.approx(want.mean(), rel=1e-6)
    assert float(f(y, z, W)) == pytest.approx((want * [1.0, 0.5, 2.0]).mean(), rel=1e-6)
    assert float(f(jnp.array([-1.0, 1.0]), jnp.array([500.0, 500.0]))) == 250.0  # no overflow


def test_mse_gradient_is_the_td_error():
    """-N dL/dy_pred = y_true - y_pred for mse (the TD error)."""
    grad = jax.grad(mse, argnums=1)(Y, P)
    np.testing.assert_allclose(-Y.shape[0] * grad, Y - P, rtol=1e-6)


def test_weights_broadcast_along_trailing_axes():
    y, p = jnp.zeros((2, 3)), jnp.ones((2, 3))
    assert float(mse(y, p, jnp.array([2.0, 0.0]))) == pytest.approx(0.5)  # (3 * 1 + 0) / 6


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=8))
def test_huber_between_linear_and_quadratic(errors):
    err = jnp.asarray(errors, jnp.float32)
    zero = jnp.zeros_like(err)
    quadratic, h = float(mse(zero, err)), float(huber(zero, err))
    assert 0.0 <= h <= quadratic * (1 + 1e-6) + 1e-6
    assert h >= float(jnp.mean(jnp.abs(err))) - 0.5 - 1e-3  # |e| - 1/2 <= huber


@pytest.mark.parametrize("loss", [mse, huber, logloss, logloss_sign])
def test_bad_weights_name_w(loss):
    with pytest.raises(ValueError, match=r"w must be a 1-d array.*\(3,\).*got shape \(2,\)"):
        loss(jnp.full(3, 0.5), jnp.full(3, 0.5), jnp.ones(2))


def test_coax_signatures():
    for loss in (mse, logloss, logloss_sign):
        assert len(inspect.signature(loss).parameters) == 3
    assert list(inspect.signature(huber).parameters) == ["y_true", "y_pred", "w", "delta"]
    assert value_losses.__all__ == ["mse", "huber", "logloss", "logloss_sign"]
