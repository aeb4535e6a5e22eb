"""NStep emits the full windows of steps without episode ends in one pass per pop()/flush()
(deferred): what it returns is, bit for bit, what emitting every step's rows at once gives."""
import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coaxlike.reward_tracing import NStep, _nstep


def add_first(tracers, **step):
    """The first add (which allocates and sizes the ring) of a default tracer and of one
    that emits every step's rows when the step is added (no deferral)."""
    tracers[0].add(**step)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_nstep, "_DEFER_STEPS", 0)
        tracers[1].add(**step)
    assert tracers[0]._defer > 0 and tracers[1]._defer == 0


def zeros_step(num_envs):
    """``(s, a, r, done)`` of zeros for a single env (``None``) or ``num_envs`` sub-envs."""
    if num_envs is None:
        return np.zeros(3, np.float32), 0, 0.0, False
    k = num_envs
    return np.zeros((k, 3), np.float32), np.zeros(k, np.int64), np.zeros(k), np.zeros(k, bool)


def assert_same(a, b):
    assert type(a) is type(b)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2 ** 31), n=st.integers(1, 4), num_envs=st.sampled_from([None, 2, 3]),
       window=st.booleans(), masks=st.booleans(), p_done=st.sampled_from([0.0, 0.02, 0.3]),
       p_flush=st.sampled_from([0.002, 0.05, 0.5]))
def test_deferred_emission_equals_immediate_emission(seed, n, num_envs, window, masks, p_done,
                                                     p_flush):
    """Random streams (terminations, truncations, masks, log-propensities, weights) over
    more than the deferred capacity of 256 steps, popped or flushed at random times: the
    same transitions in the same order, the same len() and bool() after every add."""
    rng = np.random.default_rng(seed)
    k = 1 if num_envs is None else num_envs
    lead = () if num_envs is None else (k,)
    kw = dict(num_envs=num_envs, record_window=window)
    tracers = [NStep(n, 0.9, **kw), NStep(n, 0.9, **kw)]
    for t in range(300 + 40 * n):
        done = rng.random(k) < p_done
        truncated = done & (rng.random(k) < 0.5)
        step = dict(s=rng.normal(size=lead + (3,)).astype(np.float32),
                    a=rng.integers(0, 4, size=lead), r=rng.normal(size=lead),
                    done=done if lead else bool(done[0]),
                    logp=-rng.random(lead) if lead else -float(rng.random()),
                    w=rng.uniform(0.5, 2.0, size=lead) if lead else 1.0 + float(rng.random()),
                    truncated=truncated if lead else bool(truncated[0]))
        if masks:
            step["mask"] = rng.random(lead + (4,)) < 0.8
            step["mask"][..., 0] = True
        if not lead and step["truncated"]:
            step["s_next"] = rng.normal(size=(3,)).astype(np.float32)
        if t == 0:
            add_first(tracers, **step)
            assert tracers[0]._defer == 256 and tracers[0]._ring.size == n + 257
        else:
            for tracer in tracers:
                tracer.add(**step)
        assert len(tracers[0]) == len(tracers[1]) and bool(tracers[0]) == bool(tracers[1])
        if tracers[1] and (rng.random() < p_flush or (not lead and step["done"])):
            if lead and rng.random() < 0.5:
                outs = [tracer.flush() for tracer in tracers]
            else:  # a single env's pop() takes one row at a time
                outs = [tracer.pop() for tracer in tracers]
            assert_same(*outs)
            while not lead and tracers[1]:  # a single env pops an ended episode to the end
                assert_same(*[tracer.pop() for tracer in tracers])
    if tracers[1]:
        assert_same(*[tracer.flush() for tracer in tracers])
    assert not tracers[0] and len(tracers[0]) == len(tracers[1])


def test_large_observations_defer_fewer_steps(monkeypatch):
    """The deferred steps take at most _DEFER_BYTES of the ring (here 1,000 bytes, 74 per
    step: 13 steps beyond the window); 40 steps without a flush still give the rows of the
    tracer that emits at once."""
    monkeypatch.setattr(_nstep, "_DEFER_BYTES", 1_000)
    rng = np.random.default_rng(0)
    tracers = [NStep(2, 0.5, num_envs=2), NStep(2, 0.5, num_envs=2)]
    add_first(tracers, s=np.zeros((2, 3), np.float32), a=np.zeros(2, np.int64),
              r=np.zeros(2), done=np.zeros(2, bool))
    assert tracers[0]._defer == 1_000 // (2 * 12 + 2 * (8 + 17)) == 13
    assert tracers[0]._ring.size == 2 + 1 + 13
    for t in range(40):
        step = (rng.normal(size=(2, 3)).astype(np.float32), rng.integers(0, 2, 2),
                rng.normal(size=2), rng.random(2) < 0.1)
        for tracer in tracers:
            tracer.add(*step)
    assert_same(*[tracer.flush() for tracer in tracers])


def test_extra_info_is_emitted_at_once():
    tracer = NStep(2, 0.5, record_extra_info=True, num_envs=2)
    tracer.add(*zeros_step(2))
    assert tracer._defer == 0 and tracer._ring.size == 3


@pytest.mark.parametrize("num_envs", [None, 3])
def test_reset_forgets_deferred_rows(num_envs):
    tracer = NStep(1, 0.5, num_envs=num_envs)
    for _ in range(5):
        tracer.add(*zeros_step(num_envs))
    assert tracer._span is not None and len(tracer) == 5 * (num_envs or 1)
    tracer.reset()
    assert not tracer and len(tracer) == 0 and tracer._span is None and tracer._ready == []
