"""Robust baselines: consistency of 1.4826 MAD for a Gaussian sigma (Rousseeuw & Croux 1993),
exclusion of masked periods, and incremental (stochastic-approximation) tracking of a level shift."""
from __future__ import annotations

import numpy as np
import pytest

from engines.anomaly.baseline import fit_baseline, update_baseline


def test_median_and_mad_sigma_recover_gaussian_parameters():
    rng = np.random.default_rng(0)
    n = 20000
    x = 10.0 + 2.0 * rng.standard_normal((3, n))
    b = fit_baseline({"q": x})
    # Standard errors: median 1.2533 sigma / sqrt(n); MAD-sigma 1.1664 sigma / sqrt(n).
    assert np.all(np.abs(b.med("q") - 10.0) < 4 * 1.2533 * 2.0 / np.sqrt(n))
    assert np.all(np.abs(b.sd("q") - 2.0) < 4 * 1.1664 * 2.0 / np.sqrt(n))
    assert np.all(np.abs(b.scale[:, 0] - 2.0) < 0.05)  # de-biased trimmed sd
    assert np.all(b.ready)


def test_excluded_samples_do_not_move_the_baseline():
    rng = np.random.default_rng(1)
    x = 5.0 + rng.standard_normal((2, 3000))
    mask = np.zeros_like(x, bool)
    x_bad = x.copy()
    x_bad[:, 1000:2000] += 50.0  # an alarm period
    mask[:, 1000:2000] = True
    clean = fit_baseline({"p": np.concatenate([x[:, :1000], x[:, 2000:]], axis=1)})
    masked = fit_baseline({"p": x_bad}, exclude=mask)
    np.testing.assert_allclose(masked.median, clean.median)
    np.testing.assert_allclose(masked.sigma, clean.sigma)
    assert np.all(masked.n_samples == 2000)


def test_incremental_update_tracks_a_shift():
    rng = np.random.default_rng(2)
    b = fit_baseline({"p": rng.standard_normal((4, 2000))})
    shifted = 3.0 + rng.standard_normal((4, 3000))
    b2 = update_baseline(b, {"p": shifted}, eta=0.01)
    assert np.all(np.abs(b2.median[:, 0] - 3.0) < 0.3)
    assert np.all(np.abs(b2.sigma[:, 0] - 1.0) < 0.3)
    assert np.all(np.abs(b2.loc[:, 0] - 3.0) < 0.3)
    with pytest.raises(ValueError):
        update_baseline(b, {"p": shifted}, eta=1.5)


def test_sorted_quantiles_match_numpy_with_missing_and_masked_samples():
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 3.0, (5, 400))
    x[0, ::7] = np.nan  # missing telemetry
    mask = np.zeros_like(x, bool)
    mask[1, 100:250] = True
    b = fit_baseline({"k": x}, exclude=mask)
    ref = np.where(mask, np.nan, x)
    np.testing.assert_allclose(b.median[:, 0], np.nanmedian(ref, axis=1), rtol=1e-12)
    mad = np.nanmedian(np.abs(ref - np.nanmedian(ref, axis=1, keepdims=True)), axis=1)
    np.testing.assert_allclose(b.sigma[:, 0], 1.4826 * mad, rtol=1e-12)
    lo, hi = np.nanpercentile(ref, 1, axis=1, keepdims=True), np.nanpercentile(ref, 99, axis=1, keepdims=True)
    trimmed = np.where((ref >= lo) & (ref <= hi), ref, np.nan)
    np.testing.assert_allclose(b.loc[:, 0], np.nanmean(trimmed, axis=1), rtol=1e-12)
    np.testing.assert_allclose(b.scale[:, 0], np.nanstd(trimmed, axis=1, ddof=1) / 0.93457, rtol=1e-12)
    assert list(b.n_samples) == [400 - 58, 250, 400, 400, 400]
