"""EpsilonGreedy and BoltzmannPolicy: exact probabilities, sampling, seeds, errors, compiles.

Most tests use a parameter-free "identity" Q-function, ``q(s, .) = s``, so the observation
*is* the vector of Q-values and every probability can be computed by hand.
"""
import math

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import coaxlike
from ._stats import assert_frequencies, count_compiles
from .conftest import FakeEnv, mlp_type2, same_arrays


def identity_q(n=4, start=0, vector=False, type1=False, seed=0):
    space = gym.spaces.Box(-np.inf, np.inf, (n,), np.float32)
    env = FakeEnv(space, gym.spaces.Discrete(n, start=start))
    if vector:
        env.single_observation_space, env.single_action_space = space, env.action_space
    if type1:
        def func(S, A, is_training):
            return jnp.sum(S * A, axis=-1)
    else:
        def func(S, is_training):
            return S
    return coaxlike.Q(func, env, random_seed=seed)


def eps_probs(q, eps, mask=None):
    q = np.asarray(q, np.float64)
    mask = np.ones(len(q), bool) if mask is None else np.asarray(mask)
    greedy = mask & (q == q[mask].max())
    return eps * mask / mask.sum() + (1 - eps) * greedy / greedy.sum()


def boltz_probs(q, t, mask=None):
    q = np.asarray(q, np.float64)
    mask = np.ones(len(q), bool) if mask is None else np.asarray(mask)
    e = np.where(mask, np.exp((q - q.max()) / t), 0.0)
    return e / e.sum()


S_TIE = np.array([1.0, 3.0, 3.0, 0.0], np.float32)
MASK = np.array([True, False, True, True])


@pytest.mark.parametrize("make, probs", [
    (lambda q: coaxlike.EpsilonGreedy(q, 0.2), lambda s, m: eps_probs(s, 0.2, m)),
    (lambda q: coaxlike.EpsilonGreedy(q, 0.0), lambda s, m: eps_probs(s, 0.0, m)),
    (lambda q: coaxlike.EpsilonGreedy(q, 1.0), lambda s, m: eps_probs(s, 1.0, m)),
    (lambda q: coaxlike.BoltzmannPolicy(q, 0.7), lambda s, m: boltz_probs(s, 0.7, m)),
], ids=["eps0.2", "eps0", "eps1", "boltzmann"])
@pytest.mark.parametrize("mask", [None, MASK], ids=["nomask", "mask"])
def test_dist_params_log_proba_and_every_logp_are_exact(make, probs, mask):
    pi = make(identity_q())
    p = probs(S_TIE, mask)
    logits = pi.dist_params(S_TIE, action_mask=mask)["logits"]
    np.testing.assert_allclose(np.exp(jax.nn.log_softmax(logits)), p, rtol=1e-5, atol=1e-7)
    for a in range(4):
        assert pi.log_proba(S_TIE, a, action_mask=mask) == pytest.approx(
            np.log(p[a]) if p[a] > 0 else -np.inf, rel=1e-5)
    seen = set()
    for _ in range(200):
        a, logp = pi(S_TIE, return_logp=True, action_mask=mask)
        assert p[a] > 0, "an impossible action was sampled"
        assert logp == pytest.approx(np.log(p[a]), rel=1e-5, abs=1e-6)
        seen.add(a)
    assert seen == set(np.flatnonzero(p > 1e-3).tolist()) or max(p) < 1


@pytest.mark.parametrize("make, probs", [
    (lambda q: coaxlike.EpsilonGreedy(q, 0.3), lambda s, m: eps_probs(s, 0.3, m)),
    (lambda q: coaxlike.BoltzmannPolicy(q, 1.5), lambda s, m: boltz_probs(s, 1.5, m)),
])
@pytest.mark.parametrize("mask", [None, MASK], ids=["nomask", "mask"])
@pytest.mark.slow  # statistical (the exact probabilities are checked by the test above)
def test_sampling_frequencies_match_probabilities(make, probs, mask):
    pi = make(identity_q())
    S = jnp.broadcast_to(jnp.asarray(S_TIE), (40000, 4))
    M = None if mask is None else jnp.broadcast_to(jnp.asarray(mask), (40000, 4))
    A, logP = jax.jit(pi.sample_func)(pi.params, {}, jax.random.key(7), S, M)
    p = probs(S_TIE, mask)
    assert_frequencies(A, p)
    np.testing.assert_allclose(np.asarray(logP), np.log(p[np.asarray(A)]), rtol=1e-5)


@pytest.mark.slow  # statistical
def test_single_calls_follow_probabilities_too():
    pi = coaxlike.EpsilonGreedy(identity_q(), 0.5)
    draws = [pi(S_TIE) for _ in range(3000)]
    assert_frequencies(draws, eps_probs(S_TIE, 0.5))


@pytest.mark.slow  # statistical
def test_mode_breaks_ties_uniformly():
    pi = coaxlike.EpsilonGreedy(identity_q(), 0.1)
    modes = [pi.mode(S_TIE) for _ in range(3000)]
    assert_frequencies(modes, [0, 0.5, 0.5, 0])


def test_mode_picks_only_tied_maxima_and_respects_mask():
    pi = coaxlike.EpsilonGreedy(identity_q(), 0.1)
    assert {pi.mode(S_TIE) for _ in range(30)} == {1, 2}   # P(one value only) = 2^-29
    assert all(pi.mode(S_TIE, action_mask=MASK) == 2 for _ in range(50))
    assert pi.mean(np.array([0., 0., 5., 1.], np.float32)) == 2


@pytest.mark.parametrize("make", [lambda q: coaxlike.EpsilonGreedy(q, 0.5),
                                  lambda q: coaxlike.BoltzmannPolicy(q, 2.0)])
def test_greedy_evaluation_never_changes_the_sampled_actions(make):
    """mode() breaks ties from a stream of its own: a run that evaluates greedily in between
    samples exactly the actions of one that does not (training must not depend on whether
    it was evaluated)."""
    plain, evaluated = make(identity_q(seed=4)), make(identity_q(seed=4))
    draws, ties = [], []
    for _ in range(40):
        draws.append(plain(S_TIE))
        ties.append(evaluated.mode(S_TIE))        # a tie: a random draw every time
        assert evaluated(S_TIE) == draws[-1]
    assert set(ties) == {1, 2}                    # the tie-breaks still vary (P(fail) = 2^-39)


def test_same_seed_same_actions_and_different_seeds_differ():
    def run(seed):
        pi = coaxlike.BoltzmannPolicy(identity_q(seed=seed), 2.0)
        return [pi(S_TIE) for _ in range(50)] + [pi.mode(S_TIE) for _ in range(20)]
    assert run(1) == run(1)
    assert run(1) != run(2)
    q = identity_q(seed=1)
    a = coaxlike.EpsilonGreedy(q, 0.5, random_seed=9)
    b = coaxlike.EpsilonGreedy(q, 0.5, random_seed=9)
    assert [a(S_TIE) for _ in range(30)] == [b(S_TIE) for _ in range(30)]


def test_vector_env_rows_draw_independently():
    pi = coaxlike.EpsilonGreedy(identity_q(vector=True), 1.0)
    S = np.broadcast_to(S_TIE, (2000, 4))
    A, logP = pi(S, return_logp=True)
    assert A.shape == (2000,) and logP.shape == (2000,)
    assert_frequencies(A, [0.25] * 4)
    np.testing.assert_allclose(logP, np.log(0.25), rtol=1e-6)
    modes = pi.mode(S)
    assert_frequencies(modes, [0, 0.5, 0.5, 0])
    M = np.tile(MASK, (2000, 1))
    M[:1000, 0] = False
    A = pi(S, action_mask=M)
    assert not np.isin(A[:1000], [0, 1]).any() and not (A[1000:] == 1).any()
    assert pi.log_proba(S[:2], np.array([0, 3])).shape == (2,)


def test_real_vector_env_round():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 4)
    q = coaxlike.Q(mlp_type2(2), envs, random_seed=0)
    pi = coaxlike.EpsilonGreedy(q, 0.1)
    S, _ = envs.reset(seed=0)
    for _ in range(5):
        A, logP = pi(S, return_logp=True)
        assert A.shape == (4,) and np.all(logP <= 0)
        S, *_ = envs.step(A)
    envs.close()


def test_type1_and_type2_give_identical_policies():
    q2, q1 = identity_q(seed=5), identity_q(type1=True, seed=5)
    for make in (lambda q: coaxlike.EpsilonGreedy(q, 0.3),
                 lambda q: coaxlike.BoltzmannPolicy(q, 0.9)):
        p2, p1 = make(q2), make(q1)
        np.testing.assert_array_equal(p2.dist_params(S_TIE)["logits"],
                                      p1.dist_params(S_TIE)["logits"])
        assert [p2(S_TIE, True) for _ in range(30)] == [p1(S_TIE, True) for _ in range(30)]


def test_discrete_action_space_with_start():
    pi = coaxlike.EpsilonGreedy(identity_q(start=-2), 0.5)
    draws = [pi(S_TIE) for _ in range(400)]
    assert set(draws) == {-2, -1, 0, 1}
    assert pi.mode(np.array([0, 0, 0, 9.], np.float32)) == 1
    assert pi.log_proba(S_TIE, -2) == pytest.approx(np.log(0.125))
    with pytest.raises(ValueError, match=r"a must be an integer action\(s\) in \[-2, 2\), got 2"):
        pi.log_proba(S_TIE, 2)
    A, _ = pi.sample_func(pi.params, {}, jax.random.key(0), jnp.asarray(S_TIE)[None])
    assert -2 <= int(A[0]) < 2


def test_hyperparameter_setters_validate_and_do_not_recompile():
    q = identity_q()
    pi, pb = coaxlike.EpsilonGreedy(q, 0.1), coaxlike.BoltzmannPolicy(q, 1.0)
    pi(S_TIE), pi(S_TIE, True), pi.mode(S_TIE), pb(S_TIE), pb.dist_params(S_TIE)
    with count_compiles() as n:
        for x in np.linspace(0.0, 1.0, 7):
            pi.epsilon = x
            pb.temperature = x + 0.1
            pi(S_TIE), pi(S_TIE, True), pi.mode(S_TIE), pb(S_TIE), pb.dist_params(S_TIE)
    assert n[0] == 0, f"{n[0]} compilations after changing hyperparameters"
    assert pi.epsilon == 1.0 and pb.temperature == pytest.approx(1.1)
    for bad, error in ((-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                       ("a", TypeError), (None, TypeError)):
        with pytest.raises(error, match="epsilon must"):
            pi.epsilon = bad
    for bad, error in ((0.0, ValueError), (-1.0, ValueError), (float("inf"), ValueError),
                       ("x", TypeError)):
        with pytest.raises(error, match="temperature must"):
            pb.temperature = bad
    assert pi.epsilon == 1.0 and pb.temperature == pytest.approx(1.1)
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\], got 2"):
        coaxlike.EpsilonGreedy(q, 2)


def test_params_setter_checks_and_shares_q(cartpole):
    q = coaxlike.Q(mlp_type2(2), cartpole, random_seed=0)
    pi, pb = coaxlike.EpsilonGreedy(q, 0.0), coaxlike.BoltzmannPolicy(q, 0.1)
    assert set(pi.params) == {"epsilon", "q"} and set(pb.params) == {"temperature", "q"}
    s = np.array([0.1, 0.2, -0.3, 0.4], np.float32)
    old_q, old_logits = q.params, pb.dist_params(s)["logits"]
    bad = dict(pi.params, epsilon=jnp.float32(3.0))
    with pytest.raises(ValueError, match="epsilon"):
        pi.params = bad
    with pytest.raises(TypeError, match="temperature"):
        pb.params = pi.params
    bad_shape = dict(pi.params, epsilon=jnp.zeros(2))
    with pytest.raises(ValueError, match=r"params\['epsilon'\]"):
        pi.params = bad_shape
    assert same_arrays(q.params, old_q) and pi.epsilon == 0.0
    # an update through one policy is seen by the other immediately
    new = dict(pi.params, q=jax.tree_util.tree_map(lambda x: -x, q.params))
    pi.params = new
    assert not np.allclose(pb.dist_params(s)["logits"], old_logits)
    np.testing.assert_allclose(pb.dist_params(s)["logits"], q(s) / 0.1, rtol=1e-5)


def test_errors_for_bad_inputs(cartpole):
    q = identity_q()
    pi = coaxlike.EpsilonGreedy(q, 0.1)
    with pytest.raises(ValueError, match=r"s must be a numeric array of shape \(4,\)"):
        pi(np.zeros(3))
    with pytest.raises(ValueError, match="all False"):
        pi(S_TIE, action_mask=np.zeros(4, bool))
    with pytest.raises(ValueError, match=r"action_mask must have shape \(4,\), got \(3,\)"):
        pi(S_TIE, action_mask=np.ones(3, bool))
    with pytest.raises(TypeError, match="action_mask must be a bool array .*got dtype float"):
        pi(S_TIE, action_mask=np.full(4, 0.5))
    with pytest.raises(ValueError, match="action_mask must be a bool array .*got int64 values"):
        pi(S_TIE, action_mask=np.array([0, 2, 1, 0]))
    with pytest.raises(TypeError, match="a must be an integer action.*got dtype float"):
        pi.log_proba(S_TIE, 1.0)
    with pytest.raises(ValueError, match=r"a must be an integer action\(s\) in \[0, 4\)"):
        pi.log_proba(S_TIE, 4)
    assert pi(S_TIE, action_mask=np.array([0, 0, 1, 0], np.int8)) == 2
    with pytest.raises(TypeError, match="q must be a coaxlike.Q or coaxlike.StochasticQ, got str"):
        coaxlike.BoltzmannPolicy("q")
    with pytest.raises(TypeError, match="abstract"):
        coaxlike.policies.ValuePolicy(q, 0.1)


@pytest.fixture(scope="module")
def both_policies():
    """One EpsilonGreedy and one BoltzmannPolicy, shared to compile their programs once."""
    return coaxlike.EpsilonGreedy(identity_q(), 0.1), coaxlike.BoltzmannPolicy(identity_q())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_q_values_raise(bad, both_policies):
    s = np.array([1.0, bad, 0.0, 0.0], np.float32)
    for pi in both_policies:
        for call in (lambda: pi(s), lambda: pi(s, True), lambda: pi.mode(s),
                     lambda: pi.dist_params(s), lambda: pi.log_proba(s, 0), lambda: pi.dist(s)):
            with pytest.raises(ValueError, match="must be finite"):
                call()
        # a non-finite value under a masked action is fine
        assert pi(s, action_mask=np.array([True, False, True, True])) in (0, 2, 3)


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_pure_functions_inside_jit_vmap_and_scan():
    pi = coaxlike.EpsilonGreedy(identity_q(), 0.2)
    S = jnp.asarray(np.tile(S_TIE, (3, 1)))

    def step(key, _):
        key, sub = jax.random.split(key)
        A, logP = pi.sample_func(pi.params, {}, sub, S)
        return key, (A, logP, pi.mode_func(pi.params, {}, sub, S))
    _, (A, logP, M) = jax.jit(lambda k: jax.lax.scan(step, k, None, length=500))(
        jax.random.key(0))
    assert A.shape == (500, 3) and M.shape == (500, 3)
    assert_frequencies(np.asarray(A).ravel(), eps_probs(S_TIE, 0.2))
    assert set(np.unique(M).tolist()) == {1, 2}
    # vmap over hyperparameters: epsilon is just an array leaf
    eps = jnp.array([0.0, 1.0])
    logits = jax.vmap(lambda e: pi.logits_func(dict(pi.params, epsilon=e), {}, None, S))(eps)
    assert logits.shape == (2, 3, 4)
    np.testing.assert_allclose(np.exp(np.asarray(logits[1, 0])), 0.25, rtol=1e-6)
    logp = pi.log_proba_func(pi.params, {}, None, S, jnp.array([0, 1, 2]))
    np.testing.assert_allclose(np.asarray(logp), np.log([0.05, 0.45, 0.45]), rtol=1e-5)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_params_func_builds_the_params_layout(jit):
    q = identity_q()
    pi, pb = coaxlike.EpsilonGreedy(q, 0.1), coaxlike.BoltzmannPolicy(q, 1.0)
    for policy, value in ((pi, 0.25), (pb, 2.0)):
        fn = jax.jit(policy.params_func) if jit else policy.params_func
        params = fn(policy.q.params, value)
        assert jax.tree_util.tree_structure(params) == \
            jax.tree_util.tree_structure(policy.params)
        hp = params[policy._hp_name]
        assert hp.shape == () and hp.dtype == jnp.float32 and float(hp) == value
    # a traced epsilon feeds the pure functions: epsilon = 1 is uniform over 4 actions
    S = jnp.asarray(S_TIE)[None]
    logits = jax.jit(lambda e: pi.logits_func(pi.params_func(q.params, e), {}, None, S))(
        jnp.float32(1.0))
    np.testing.assert_allclose(np.exp(np.asarray(logits[0])), 0.25, rtol=1e-6)


def test_params_func_checks_python_numbers_and_rank():
    pi, pb = coaxlike.EpsilonGreedy(identity_q(), 0.1), coaxlike.BoltzmannPolicy(identity_q())
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\], got 1.5"):
        pi.params_func(pi.q.params, 1.5)
    with pytest.raises(ValueError, match="temperature must"):
        pb.params_func(pb.q.params, 0.0)
    # a wrong rank names the argument, eagerly and at trace time alike
    with pytest.raises(TypeError, match=r"epsilon must be a 0-d array, got shape \(2,\)"):
        pi.params_func(pi.q.params, jnp.zeros(2))
    with pytest.raises(TypeError, match=r"temperature must be a 0-d array, got shape \(1,\)"):
        jax.jit(pb.params_func)(pb.q.params, jnp.ones(1))
    with pytest.raises(TypeError, match=r"epsilon must be a float in \[0, 1\], got array of "
                                        r"shape \(2,\)"):
        pi.params_func(pi.q.params, np.zeros(2))
    for bad in ("0.5", True):
        with pytest.raises(TypeError, match="epsilon must be a float"):
            pi.params_func(pi.q.params, bad)
    assert pi.epsilon == 0.1  # the shell is untouched


def test_dist_object_matches_dist_params():
    pi = coaxlike.BoltzmannPolicy(identity_q(), 0.5)
    d = pi.dist(S_TIE)
    np.testing.assert_allclose(np.asarray(d.probs), boltz_probs(S_TIE, 0.5), rtol=1e-5)
    assert float(d.entropy()) > 0


def _unique_argmax_reference(q, mask):
    """numpy: the index of the unique allowed maximum, -2 if tied, non-finite or none."""
    out = []
    for row, m in zip(q, mask):
        if not m.any() or not np.isfinite(row[m]).all():
            out.append(-2)
            continue
        top = np.flatnonzero(m & (row == row[m].max()))
        out.append(int(top[0]) if len(top) == 1 else -2)
    return out


_VALUES = st.sampled_from([0.0, -0.0, 1.0, 2.0, -3.5, np.inf, -np.inf, np.nan, 1e30])


# four independent rows per example at every width: a handful of shapes to compile, where
# varying the batch size too compiled up to 90 programs
@settings(max_examples=200, deadline=None)
@given(q=hnp.arrays(np.float32, st.tuples(st.just(4), st.integers(1, 6)),
                    elements=_VALUES),
       data=st.data())
def test_greedy_fast_path_finds_unique_maxima_and_flags_the_rest(q, data):
    from coaxlike.policies._pure import _TIE_BREAK, _unique_argmax
    mask = data.draw(hnp.arrays(bool, q.shape))
    want = _unique_argmax_reference(q, mask)
    assert _TIE_BREAK == -2
    # jitted throughout: eagerly, lax.reduce traces its combiner anew and compiles on
    # every call (that made this test cost ~25 s)
    unique_argmax = jax.jit(_unique_argmax)
    np.testing.assert_array_equal(unique_argmax(q, mask), want)
    np.testing.assert_array_equal(unique_argmax(jnp.asarray(q)),
                                  _unique_argmax_reference(q, np.ones(q.shape, bool)))
    # low precision: the same decisions on values exactly representable in float16
    with np.errstate(over="ignore"):
        q16 = q.astype(np.float16)
    np.testing.assert_array_equal(unique_argmax(jnp.asarray(q16), mask),
                                  _unique_argmax_reference(q16, mask))


# --- hardening (issue 10): state unchanged on error, clear errors, pickling, reprs ----------

BAD_ROW = np.array([1.0, np.nan, 0.0, 0.0], np.float32)


@pytest.mark.parametrize("make", [lambda q: coaxlike.EpsilonGreedy(q, 0.5, random_seed=3),
                                  lambda q: coaxlike.BoltzmannPolicy(q, 1.0, random_seed=3)],
                         ids=["EpsilonGreedy", "BoltzmannPolicy"])
def test_a_call_that_raises_leaves_the_key_and_the_action_stream_unchanged(make):
    q, qv = identity_q(), identity_q(vector=True)
    pi, reference = make(q), make(q)
    key = np.asarray(jax.random.key_data(pi._key))
    for call in (lambda: pi(BAD_ROW), lambda: pi(BAD_ROW, return_logp=True),
                 lambda: pi.mode(BAD_ROW)):      # mode: the tie-breaking draw raises
        with pytest.raises(ValueError, match="must be finite"):
            call()
    np.testing.assert_array_equal(jax.random.key_data(pi._key), key)
    assert [pi(S_TIE) for _ in range(20)] == [reference(S_TIE) for _ in range(20)]
    # batched: one bad row refuses the whole call and keeps the key too
    piv, reference = make(qv), make(qv)
    S = np.stack([S_TIE, BAD_ROW, S_TIE])
    for call in (lambda: piv(S), lambda: piv.mode(S)):
        with pytest.raises(ValueError, match=r"rows \[1\]"):
            call()
    np.testing.assert_array_equal(piv(S[[0, 2]]), reference(S[[0, 2]]))


def test_hyperparameters_refuse_strings_bools_and_values_float32_cannot_hold():
    q = identity_q()
    pi, pb = coaxlike.EpsilonGreedy(q, 0.1), coaxlike.BoltzmannPolicy(q, 1.0)
    for bad in ("0.5", b"0.5", True, np.bool_(False), 0.5 + 0j, [0.5], np.array([0.5])):
        with pytest.raises(TypeError, match="epsilon must be a float in"):
            pi.epsilon = bad
        with pytest.raises(TypeError, match="epsilon must be a float in"):
            coaxlike.EpsilonGreedy(q, bad)
        with pytest.raises(TypeError, match="temperature must be a positive float"):
            pb.temperature = bad
        with pytest.raises(TypeError, match="temperature must be a positive float"):
            coaxlike.BoltzmannPolicy(q, bad)
    for bad in (-0.1, 1.5, math.nan, math.inf):    # the right type, a bad value
        with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\]"):
            pi.epsilon = bad
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="temperature must be finite and > 0"):
            pb.temperature = bad
    with pytest.raises(TypeError, match="epsilon must be a 0-d array, got shape"):
        pi.params_func(q.params, jnp.zeros(2))
    with pytest.raises(TypeError, match="random_seed must be an int or None, got str"):
        coaxlike.EpsilonGreedy(q, 0.1, random_seed="1")
    # float32 would store 1e-46 and 1e-39 as 0 or a subnormal, 1e39 as inf
    for bad in (1e-46, 1e-39, 1e39, 3.5e38):
        with pytest.raises(ValueError, match="temperature must lie in the float32 range"):
            pb.temperature = bad
        with pytest.raises(ValueError, match="temperature must lie in the float32 range"):
            coaxlike.BoltzmannPolicy(q, bad)
    assert pi.epsilon == 0.1 and pb.temperature == 1.0
    # the edges of the range, NumPy and 0-d JAX numbers are fine
    pb.temperature = 2e-38
    assert pb.temperature == 2e-38
    pb.temperature, pi.epsilon = 3e38, jnp.float32(0.25)
    assert pb.temperature == 3e38 and pi.epsilon == 0.25
    pi.epsilon = np.float64(1)
    assert pi.epsilon == 1.0


def test_reprs_and_hyperparameters_read_back_without_float32_noise():
    q = identity_q()
    pi, pb = coaxlike.EpsilonGreedy(q, 0.05), coaxlike.BoltzmannPolicy(q, 0.1)
    assert repr(pi).startswith("EpsilonGreedy(epsilon=0.05, q=Q(")
    assert repr(pb).startswith("BoltzmannPolicy(temperature=0.1, q=Q(")
    assert pi.epsilon == 0.05 and pb.temperature == 0.1
    pi.epsilon = 1 / 3   # float32 keeps 7 digits: the read-back is the float32's shortest form
    assert pi.epsilon == 0.33333334 and np.float32(pi.epsilon) == pi.params["epsilon"]


def test_batched_masks_and_actions_must_match_the_batch():
    pi = coaxlike.EpsilonGreedy(identity_q(vector=True), 0.5)
    S = np.tile(S_TIE, (3, 1))
    calls = (lambda m: pi(S, action_mask=m), lambda m: pi.mode(S, action_mask=m),
             lambda m: pi.dist_params(S, action_mask=m),
             lambda m: pi.log_proba(S, np.array([0, 1, 2]), action_mask=m))
    for mask in (np.ones((2, 4), bool), np.ones((4, 4), bool),
                 np.array([[True, False, True, True]])):   # (1, n) is not broadcast
        for call in calls:
            with pytest.raises(ValueError, match=r"action_mask must have one row per "
                                                 r"observation, shape \(3, 4\)"):
                call(mask)
    for a in (np.array([0, 1]), np.array([0, 1, 2, 3])):
        with pytest.raises(ValueError, match=r"a must have one action per observation, "
                                             r"shape \(3,\)"):
            pi.log_proba(S, a)
    # a batch of one takes a (1, n) mask
    assert pi(S[:1], action_mask=np.array([[False, False, True, False]])).tolist() == [2]


def test_tracing_the_stateful_calls_points_to_the_pure_functions():
    pi, qb = coaxlike.EpsilonGreedy(identity_q(), 0.1), identity_q(vector=True)
    s, S = jnp.asarray(S_TIE), jnp.tile(jnp.asarray(S_TIE), (2, 1))
    for traced, x in ((jax.jit(pi), s), (jax.jit(pi.mode), s), (jax.vmap(pi.mode), S),
                      (jax.jit(pi.dist_params), s), (jax.jit(lambda s: pi.log_proba(s, 1)), s),
                      (jax.jit(pi.q), s), (jax.jit(qb), S)):
        with pytest.raises(TypeError, match=r"s is a JAX tracer.*pure functions.*"
                                            r"pi.sample_func, pi.mode_func"):
            traced(x)
    with pytest.raises(TypeError, match="action_mask is a JAX tracer"):
        jax.vmap(lambda m: pi.mode(S_TIE, action_mask=m))(jnp.ones((2, 4), bool))
    with pytest.raises(TypeError, match="a is a JAX tracer"):
        jax.jit(lambda a: pi.log_proba(S_TIE, a))(1)


def test_a_single_env_q_given_a_batch_says_how_to_get_a_batched_one():
    pi = coaxlike.EpsilonGreedy(identity_q(), 0.1)
    for call in (pi, pi.mode, pi.q):
        with pytest.raises(ValueError, match=r"got a batch of shape \(3, 4\): this Q was "
                                             r"built on a single env.*vector env"):
            call(np.tile(S_TIE, (3, 1)))
    q = coaxlike.Q(mlp_type2(2), FakeEnv(gym.spaces.Discrete(5), gym.spaces.Discrete(2)),
                   random_seed=0)
    with pytest.raises(ValueError, match=r"batch of shape \(2,\).*single env"):
        q(np.array([1, 2]))
