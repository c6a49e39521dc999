"""Tabular CUSUM: run lengths against Montgomery (2009), Introduction to Statistical Quality Control
6th ed., Table 9.3 (two-sided, k = 1/2, h = 4 and 5, from Hawkins 1993) and Table 9.4 (h giving
ARL0 = 370), by Markov chain (Brook & Evans 1972) and by simulation within its standard error."""
from __future__ import annotations

import numpy as np
import pytest

from engines.anomaly.cusum import CusumState, cusum_arl, cusum_update, h_for_arl0

# shift (sigma) -> ARL, Montgomery Table 9.3
TABLE_9_3 = {
    4.0: {0.0: 168.0, 0.25: 74.2, 0.5: 26.6, 0.75: 13.3, 1.0: 8.38, 1.5: 4.75, 2.0: 3.34, 2.5: 2.62, 3.0: 2.19, 4.0: 1.71},
    5.0: {0.0: 465.0, 0.25: 139.0, 0.5: 38.0, 0.75: 17.0, 1.0: 10.4, 1.5: 5.75, 2.0: 4.01, 2.5: 3.11, 3.0: 2.57, 4.0: 2.01},
}
# k -> h with ARL0 = 370, Montgomery Table 9.4
TABLE_9_4 = {0.25: 8.01, 0.5: 4.77, 0.75: 3.34, 1.0: 2.52, 1.25: 1.99, 1.5: 1.61}


def simulate_run_lengths(h, shift, runs, seed, k=0.5, chunk=256):
    """Run lengths of ``runs`` independent two-sided CUSUMs fed N(shift, 1) samples."""
    rng = np.random.default_rng(seed)
    state = CusumState.zeros(runs)
    length = np.zeros(runs)
    done = np.zeros(runs, bool)
    t0 = 0
    while not done.all():
        z = rng.standard_normal((runs, chunk)) + shift
        state, sig, _ = cusum_update(z, state, k, h, reset_on_signal=False)
        first = np.where(sig.any(axis=1), sig.argmax(axis=1) + 1, 0)
        new = ~done & (first > 0)
        length[new] = t0 + first[new]
        done |= new
        t0 += chunk
    return length


@pytest.mark.parametrize("h", [4.0, 5.0])
def test_markov_chain_matches_table_9_3(h):
    for shift, published in TABLE_9_3[h].items():
        # The table is printed to 3 significant figures.
        assert cusum_arl(0.5, h, shift) == pytest.approx(published, rel=0.006, abs=0.006)


@pytest.mark.parametrize("h,shift,runs", [(4.0, 0.0, 3000), (5.0, 0.0, 3000), (4.0, 0.5, 3000), (5.0, 0.5, 3000),
                                          (4.0, 1.0, 4000), (5.0, 1.0, 4000), (4.0, 2.0, 4000), (5.0, 2.0, 4000)])
def test_simulated_arl_matches_table_within_simulation_error(h, shift, runs):
    rl = simulate_run_lengths(h, shift, runs, seed=int(10 * h + 100 * shift))
    se = rl.std(ddof=1) / np.sqrt(runs)
    assert abs(rl.mean() - TABLE_9_3[h][shift]) < 4.0 * se


def test_adaptive_threshold_reproduces_table_9_4():
    for k, h in TABLE_9_4.items():
        assert h_for_arl0(370.0, k) == pytest.approx(h, abs=0.012)
    # and the adaptive h indeed gives the requested ARL0 (round trip)
    assert cusum_arl(0.5, h_for_arl0(2000.0)) == pytest.approx(2000.0, rel=1e-3)


def test_state_carries_across_windows():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((5, 300)) + 0.3
    full_state, full_sig, _ = cusum_update(z, CusumState.zeros(5), 0.5, 5.0)
    st = CusumState.zeros(5)
    sigs = []
    for a in range(0, 300, 7):
        st, s, _ = cusum_update(z[:, a:a + 7], st, 0.5, 5.0)
        sigs.append(s)
    np.testing.assert_array_equal(np.concatenate(sigs, axis=1), full_sig)
    np.testing.assert_allclose(st.c_plus, full_state.c_plus)


def test_tabular_recursion_by_hand():
    # Montgomery Example 9.1 style: C+_i = max(0, x_i - (mu0 + K) + C+_{i-1}), standardized.
    z = np.array([[1.0, 2.0, -0.5, 3.0, 0.2]])
    _, sig, cmax = cusum_update(z, CusumState.zeros(1), k=0.5, h=4.0, reset_on_signal=False)
    # C+: 0.5, 2.0, 1.0, 3.5, 3.2 ; C-: 0, 0, 0, 0, 0
    np.testing.assert_allclose(cmax[0], [0.5, 2.0, 1.0, 3.5, 3.2])
    assert not sig.any()
    with pytest.raises(ValueError):
        cusum_update(z, CusumState.zeros(1), k=-1.0)
