"""Well clustering (engines.ml.clustering) and the weekly ``GET /clusters`` answer."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import pytest

from engines.ml.clustering import cluster_wells

NAMES = ["rate_bpd", "cv", "noise", "constant", "unknown"]


def _field(seed: int = 3):
    """Three behaviours (low steady, high steady, low erratic) of 6 wells each; 'noise' carries no group."""
    rng = np.random.default_rng(seed)
    centres = [(200.0, 0.05), (900.0, 0.05), (200.0, 0.40)]
    rows, ids, truth = [], [], []
    for g, (q, cv) in enumerate(centres):
        for i in range(10):
            rows.append([q + rng.normal(0, 20), cv + rng.normal(0, 0.02), rng.normal(0, 1), 7.0, np.nan])
            ids.append(f"W{g}{i}")
            truth.append(g)
    x = np.array(rows)
    x[4, 0] = np.nan  # a gap takes the median
    return ids, x, truth


def test_silhouette_finds_the_three_behaviours():
    ids, x, truth = _field()
    keep = [0, 1, 3, 4]  # without the noise feature (standardized, pure noise earns a fourth group a better silhouette)
    got = cluster_wells(ids, x[:, keep], [NAMES[i] for i in keep])
    assert got.k == 3 and got.features == ["rate_bpd", "cv", "constant"]
    assert {frozenset(c["wells"]) for c in got.clusters} == {frozenset(i for i, t in zip(ids, truth) if t == g) for g in range(3)}
    assert 0.7 < got.silhouette <= 1.0


def test_the_features_that_separate_the_groups_are_named():
    ids, x, truth = _field()
    got = cluster_wells(ids, x, NAMES, k=3)
    assert got.k == 3
    assert got.features == ["rate_bpd", "cv", "noise", "constant"]  # all-NaN column left out
    groups = {frozenset(c["wells"]) for c in got.clusters}
    assert groups == {frozenset(i for i, t in zip(ids, truth) if t == g) for g in range(3)}
    ranked = [s["feature"] for s in got.separation]
    assert ranked[:2] == ["rate_bpd", "cv"] or ranked[:2] == ["cv", "rate_bpd"]
    assert ranked[-1] == "noise" and "constant" not in ranked
    f_noise = got.separation[-1]["f_ratio"]
    assert f_noise < 5.0 and got.separation[0]["f_ratio"] > 100.0
    # the high-rate group is told apart by its rate, the erratic one by its cv (z of several std devs)
    by_first = {c["wells"][0][:2]: c for c in got.clusters}
    assert by_first["W1"]["distinguishing"][0]["feature"] == "rate_bpd" and by_first["W1"]["distinguishing"][0]["z"] > 1.3
    assert by_first["W2"]["distinguishing"][0]["feature"] == "cv" and by_first["W2"]["distinguishing"][0]["z"] > 1.3
    centroid = by_first["W1"]["centroid"]["rate_bpd"]
    assert centroid == pytest.approx(np.mean(x[10:20, 0]), rel=1e-12)


def test_given_k_is_scikit_learns_kmeans_on_standardized_features():
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    ids, x, _ = _field(seed=11)
    got = cluster_wells(ids, x, NAMES, k=2)
    xx = x[:, :4]
    xx = np.where(np.isnan(xx), np.nanmedian(xx, axis=0), xx)
    labels = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(xx))
    assert {frozenset(c["wells"]) for c in got.clusters} == {frozenset(i for i, lab in zip(ids, labels) if lab == k)
                                                              for k in (0, 1)}
    assert [len(c["wells"]) for c in got.clusters] == sorted((len(c["wells"]) for c in got.clusters), reverse=True)


def test_few_or_identical_wells_and_bad_k():
    assert cluster_wells([], np.zeros((0, 2)), ["a", "b"]).k == 0
    same = cluster_wells(["A", "B", "C"], np.ones((3, 2)), ["a", "b"])
    assert same.k == 1 and same.clusters[0]["wells"] == ["A", "B", "C"] and same.separation == []
    with pytest.raises(ValueError, match="k must be"):
        cluster_wells(["A"], np.ones((1, 2)), ["a", "b"], k=13)


def test_clusters_answer_stands_for_a_week(monkeypatch):
    from tb_bridge.api import analytics

    calls = []
    ids, x, _ = _field()
    x8 = np.column_stack([x[:, :2], np.full((len(ids), len(analytics.FEATURES) - 2), np.nan)])

    def features(ctx):
        calls.append(1)
        return ids, x8, ["DOWN-1"]

    monkeypatch.setattr(analytics, "well_features", features)
    ctx = SimpleNamespace(clusters={})
    t0 = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
    first = analytics.clusters_answer(ctx, None, False, t0)
    assert first["k"] == 3 and first["unclustered"] == ["DOWN-1"] and len(calls) == 1
    assert analytics.clusters_answer(ctx, None, False, t0 + timedelta(days=6)) is first and len(calls) == 1
    assert analytics.clusters_answer(ctx, None, True, t0 + timedelta(days=6))["computed_at"] != first["computed_at"]
    assert len(calls) == 2
    analytics.clusters_answer(ctx, None, False, t0 + timedelta(days=13, hours=1))
    assert len(calls) == 3
    analytics.clusters_answer(ctx, 2, False, t0 + timedelta(days=13, hours=1))  # another k: its own clustering
    assert len(calls) == 4
