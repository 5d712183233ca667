"""Deflated Sharpe Ratio and PBO (CSCV) on series whose answer is known."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from app.services.validation.overfitting import deflated_sharpe, probability_of_backtest_overfitting


def test_one_trial_is_the_probabilistic_sharpe_ratio_against_zero():
    r = np.random.default_rng(0).normal(0.001, 0.01, 1000)

    dsr = deflated_sharpe(r, n_trials=1)

    sr = r.mean() / r.std(ddof=1)
    c = r - r.mean()
    skew, kurt = (c**3).mean() / c.std() ** 3, (c**4).mean() / c.std() ** 4
    expected = NormalDist().cdf(sr * math.sqrt(999) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
    assert dsr.benchmark == 0.0
    assert dsr.probability == pytest.approx(expected)


def test_more_trials_deflate_the_same_sharpe_ratio():
    r = np.random.default_rng(1).normal(0.001, 0.01, 2000)

    values = [deflated_sharpe(r, n_trials=n).probability for n in (1, 10, 100, 1000)]

    assert values == sorted(values, reverse=True)
    assert values[0] > 0.95 > values[-1]


def test_the_trials_sharpe_variance_sets_the_benchmark():
    r = np.random.default_rng(2).normal(0.001, 0.01, 500)

    narrow = deflated_sharpe(r, 20, trial_sharpes=[0.0, 0.001, -0.001])
    wide = deflated_sharpe(r, 20, trial_sharpes=[0.0, 0.1, -0.1])

    assert narrow.benchmark < wide.benchmark
    assert narrow.probability > wide.probability


def test_a_configuration_that_wins_everywhere_is_not_overfit():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.01, (1600, 8))
    noise[:, 0] += 0.005

    assert probability_of_backtest_overfitting(noise, 8).probability == 0.0


def test_picking_the_best_of_pure_noise_overfits_about_half_the_time():
    noise = np.random.default_rng(4).normal(0, 0.01, (2000, 30))

    pbo = probability_of_backtest_overfitting(noise, 10)

    assert pbo.splits == math.comb(10, 5)
    assert 0.3 < pbo.probability < 0.7


def test_a_configuration_that_only_shines_in_sample_is_caught():
    rng = np.random.default_rng(5)
    returns = rng.normal(0, 0.01, (1600, 6))
    returns[:800, 0] += 0.01  # great in the first half ...
    returns[800:, 0] -= 0.01  # ... and awful in the second

    assert probability_of_backtest_overfitting(returns, 2).probability == 1.0


def test_pbo_needs_two_configurations_and_an_even_block_count():
    with pytest.raises(ValueError, match="N >= 2"):
        probability_of_backtest_overfitting(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), 5)
