"""EWMA ARLs against Lucas & Saccucci (1990), Technometrics 32(1) 1-12, as tabulated in Montgomery
(2009) Table 9.11: Markov chain within table rounding, simulation within its standard error."""
from __future__ import annotations

import numpy as np
import pytest

from engines.spc.ewma import PUBLISHED_ARL, EwmaState, L_for_arl0, ewma_arl, ewma_update


@pytest.mark.parametrize("design", list(PUBLISHED_ARL))
def test_markov_chain_matches_lucas_saccucci(design):
    lam, L = design
    for shift, published in PUBLISHED_ARL[design].items():
        tol = 0.01 * published if shift == 0 else 0.051  # ARL0 printed as 500 (3 s.f.), others to 0.1
        assert abs(ewma_arl(lam, L, shift) - published) <= tol


def simulate(lam, L, shift, runs, seed, chunk=256):
    rng = np.random.default_rng(seed)
    st = EwmaState.zeros(runs)
    length, done, t0 = np.zeros(runs), np.zeros(runs, bool), 0
    while not done.all():
        st, sig, _ = ewma_update(rng.standard_normal((runs, chunk)) + shift, st, lam, L, reset_on_signal=False)
        first = np.where(sig.any(axis=1), sig.argmax(axis=1) + 1, 0)
        new = ~done & (first > 0)
        length[new] = t0 + first[new]
        done |= new
        t0 += chunk
    return length


@pytest.mark.parametrize("shift,runs", [(0.0, 2500), (0.5, 3000), (1.0, 4000), (2.0, 4000)])
def test_simulated_arl_default_design(shift, runs):
    rl = simulate(0.10, 2.814, shift, runs, seed=int(100 * shift) + 1)
    se = rl.std(ddof=1) / np.sqrt(runs)
    assert abs(rl.mean() - PUBLISHED_ARL[(0.10, 2.814)][shift]) < 4.0 * se + 0.05


@pytest.mark.parametrize("design,shift,runs", [((0.05, 2.615), 0.0, 2500), ((0.05, 2.615), 1.0, 3000),
                                               ((0.20, 2.962), 0.0, 2500), ((0.20, 2.962), 1.0, 3000)])
def test_simulated_arl_other_published_designs(design, shift, runs):
    """The small-lambda (0.05) and larger-lambda (0.20) designs of the same table, in and out of control."""
    lam, L = design
    rl = simulate(lam, L, shift, runs, seed=int(1000 * lam + 10 * shift))
    se = rl.std(ddof=1) / np.sqrt(runs)
    assert abs(rl.mean() - PUBLISHED_ARL[design][shift]) < 4.0 * se + 0.05


def test_limit_for_target_arl0():
    assert L_for_arl0(500.0, 0.10) == pytest.approx(2.814, abs=0.004)
    assert L_for_arl0(500.0, 0.05) == pytest.approx(2.615, abs=0.004)


def test_recursion_by_hand():
    st, sig, path = ewma_update(np.array([[1.0, 1.0, -2.0]]), EwmaState.zeros(1), lam=0.5, L=3.0)
    np.testing.assert_allclose(path[0], [0.5, 0.75, -0.625])  # z = 0.5 x + 0.5 z_prev
    assert not sig.any()  # limit 3 sqrt(0.5 / 1.5) = 1.732
