"""Statistics for sampler tests: chi-square goodness of fit and compile counting.

Tolerances: every statistical test here uses a fixed seed and rejects at p < 1e-4, so for a
correct sampler the false-failure rate over any fresh seed is 1e-4 per test; with the fixed
seeds the outcome is deterministic.
"""
import contextlib

import jax
import jax.numpy as jnp
import numpy as np

P_THRESHOLD = 1e-4


def chi_square_pvalue(counts, probs):
    """Pearson chi-square goodness-of-fit p-value of ``counts`` against ``probs``.

    Categories with probability 0 must have count 0 (asserted); they do not add degrees of
    freedom.
    """
    counts = np.asarray(counts, np.float64)
    probs = np.asarray(probs, np.float64)
    zero = probs == 0
    assert counts[zero].sum() == 0, f"impossible categories were drawn: {counts[zero]}"
    counts, probs = counts[~zero], probs[~zero]
    if len(counts) < 2:
        return 1.0
    expected = counts.sum() * probs / probs.sum()
    stat = float(((counts - expected) ** 2 / expected).sum())
    dof = len(counts) - 1
    return float(jax.scipy.special.gammaincc(dof / 2.0, jnp.float32(stat / 2.0)))


def assert_frequencies(samples, probs, offset=0):
    """Assert that integer ``samples`` (values offset..offset+n-1) follow ``probs``."""
    probs = np.asarray(probs)
    counts = np.bincount(np.asarray(samples) - offset, minlength=len(probs))
    assert len(counts) == len(probs), f"values outside [0, {len(probs)}): {counts}"
    p = chi_square_pvalue(counts, probs)
    assert p > P_THRESHOLD, f"counts {counts} do not fit probs {probs} (p = {p:.2e})"


@contextlib.contextmanager
def count_compiles():
    """Count XLA backend compilations inside the block: ``with count_compiles() as n: ...;
    n[0]``."""
    n = [0]

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            n[0] += 1
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield n
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
