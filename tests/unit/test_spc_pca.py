"""PCA monitoring on a known multivariate normal: false-alarm rates of T^2 (F limit, Tracy, Young &
Mason 1992) and SPE (Jackson & Mudholkar 1979) at the chosen confidence; contributions name a fault."""
from __future__ import annotations

import numpy as np
import pytest

from engines.spc.pca import fit_pca


def _mvn(rng, n, p=6):
    # Two latent factors + independent noise: a rank-2 structure PCA should capture.
    load = np.array([[1.0, 0.8, 0.6, 0.0, 0.2, 0.1], [0.0, 0.3, 0.5, 1.0, 0.9, 0.7]])
    latent = rng.standard_normal((n, 2))
    return latent @ load + 0.3 * rng.standard_normal((n, p))


@pytest.mark.parametrize("confidence", [0.99, 0.95])
def test_false_alarm_rates_match_confidence(confidence):
    rng = np.random.default_rng(4)
    model = fit_pca(_mvn(rng, 2000), [f"x{i}" for i in range(6)], n_components=2, confidence=confidence)
    test = _mvn(rng, 40000)
    t2, spe = model.statistics(test)
    alpha = 1 - confidence
    se = np.sqrt(alpha * (1 - alpha) / len(test))
    assert abs(np.mean(t2 > model.t2_limit) - alpha) < 5 * se  # F-distribution limit is exact for Gaussian data
    assert abs(np.mean(spe > model.spe_limit) - alpha) < 0.2 * alpha + 5 * se  # J-M is an approximation


def test_contributions_identify_the_faulty_variable():
    rng = np.random.default_rng(5)
    model = fit_pca(_mvn(rng, 2000), [f"x{i}" for i in range(6)], n_components=2)
    x = _mvn(rng, 200)
    for j in range(6):
        faulty = x.copy()
        faulty[:, j] += 2.5 * model.scale[j]
        t2c, spec = model.contributions(faulty.mean(axis=0))
        assert int(np.argmax(spec)) == j
    # T^2 contributions sum to T^2
    t2, _ = model.statistics(x)
    t2c, _ = model.contributions(x)
    np.testing.assert_allclose(t2c.sum(axis=1), t2, rtol=1e-10)


def test_variance_explained_selects_components_and_validates():
    rng = np.random.default_rng(6)
    model = fit_pca(_mvn(rng, 1000), [f"x{i}" for i in range(6)], variance_explained=0.85)
    assert model.loadings.shape == (6, 2)
    with pytest.raises(ValueError):
        fit_pca(np.zeros((3, 6)), [f"x{i}" for i in range(6)])
