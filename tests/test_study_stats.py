import numpy as np
import pytest

from tntopo.study.stats import FAILS, HOLDS, INCONCLUSIVE, bootstrap_interval, compare, wilson_interval


def test_wilson_known_values():
    lo, hi = wilson_interval(0, 4)
    assert lo == 0.0 and hi == pytest.approx(0.4899, abs=1e-4)  # the referee's "[0, 0.60]" was the exact CP bound
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.8389, abs=1e-4)
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_wilson_coverage():
    # the interval covers the true proportion in ~95% of binomial draws (n = 20, p = 0.3)
    rng = np.random.default_rng(0)
    ks = rng.binomial(20, 0.3, 4000)
    cover = np.mean([lo <= 0.3 <= hi for lo, hi in (wilson_interval(k, 20) for k in ks)])
    assert 0.92 < cover < 0.99


def test_bootstrap_deterministic_and_sensible():
    v = [0.9, 1.0, 0.95, 0.97, 1.0, 0.5]
    a, b = bootstrap_interval(v, seed=3), bootstrap_interval(v, seed=3)
    assert a == b and a[0] < np.mean(v) < a[1]
    assert bootstrap_interval([1.0, 1.0]) == (1.0, 1.0)
    assert bootstrap_interval([None]) is None


def test_compare_three_ways():
    assert compare((0.6, 0.9), 0.5) == HOLDS
    assert compare((0.1, 0.4), 0.5) == FAILS
    assert compare((0.3, 0.7), 0.5) == INCONCLUSIVE
    assert compare((0.0, 0.49), 0.5, "<") == HOLDS
    assert compare(None, 0.5) is None
    # a 0/4 result cannot show "rarely learns" (< 0.5) with a Wilson interval -- it needs more seeds
    assert compare(wilson_interval(0, 4), 0.5, "<") == HOLDS and compare(wilson_interval(1, 4), 0.5, "<") == INCONCLUSIVE
