"""Wells grouped by operating behaviour: k-means (scikit-learn) on standardized per-well features.

Input is a matrix of per-well features (rows wells, NaN where unknown) built by the shell from recent
telemetry and results. Features unknown for every well, or equal for every well, are left out; other
gaps take the feature's median. The number of groups is given, or chosen by the silhouette score over
2..``k_max`` (Rousseeuw 1987). k-means runs on the standardized features (``n_init=10``, seeded), and the
answer says which features separate the groups: the one-way ANOVA F ratio of each feature across the
groups (scikit-learn's ``f_classif``; large = the feature's spread is mostly between groups), and per group
the features whose mean lies furthest from the field's, in standard deviations.

Clusters are numbered by size (largest first, ties by first well id). Deterministic given ``seed``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: Upper bound of the number of groups a caller may ask for.
MAX_CLUSTERS = 12
#: Distinguishing features listed per group.
TOP_FEATURES = 3


@dataclass(frozen=True)
class WellClusters:
    """``features``: the features used; ``clusters``: ``[{cluster, wells, centroid (feature units),
    distinguishing: [{feature, z}]}]``; ``separation``: F ratio per feature, largest first;
    ``silhouette``: mean silhouette of the partition (None for one group)."""

    features: list[str]
    clusters: list[dict[str, Any]]
    separation: list[dict[str, float]]
    silhouette: float | None

    @property
    def k(self) -> int:
        return len(self.clusters)


def _kmeans(z: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)


def cluster_wells(ids: Sequence[str], x: np.ndarray, names: Sequence[str], k: int | None = None, seed: int = 0,
                  k_max: int = 6) -> WellClusters:
    """Group the wells ``ids`` (rows of ``x``, columns ``names``) into ``k`` clusters (``None``: by silhouette)."""
    from sklearn.feature_selection import f_classif
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x, dtype=float).reshape(len(ids), len(names))
    if k is not None and not (1 <= k <= MAX_CLUSTERS):
        raise ValueError(f"k must be in [1, {MAX_CLUSTERS}], got {k}")
    if not ids:
        return WellClusters([], [], [], None)
    known = ~np.all(np.isnan(x), axis=0)
    x = x[:, known]
    used = [n for n, keep in zip(names, known) if keep]
    x = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    varying = np.ptp(x, axis=0) > 0 if x.size else np.zeros(0, bool)
    distinct = len({tuple(row) for row in x.tolist()})
    if k is None:
        k_hi = min(k_max, distinct - 1, len(ids) - 1)
        z = StandardScaler().fit_transform(x[:, varying]) if varying.any() else None
        best, k = -np.inf, 1
        for kk in range(2, k_hi + 1) if z is not None else ():
            labels = _kmeans(z, kk, seed)
            score = silhouette_score(z, labels)
            if score > best + 1e-12:
                best, k = score, kk
    n_clusters = min(k, len(ids), distinct)
    z = StandardScaler().fit_transform(x) if x.size else np.zeros((len(ids), 0))
    labels = _kmeans(z, n_clusters, seed) if x.size and n_clusters > 1 else np.zeros(len(ids), int)
    mean, std = x.mean(axis=0), x.std(axis=0)
    clusters = []
    for label in range(n_clusters):
        members = labels == label
        centroid = x[members].mean(axis=0)
        zc = np.where(std > 0, (centroid - mean) / np.where(std > 0, std, 1.0), 0.0)
        order = [i for i in np.argsort(-np.abs(zc)) if varying[i]][:TOP_FEATURES]
        clusters.append({"cluster": label, "wells": [i for i, m in zip(ids, members) if m],
                         "centroid": {name: float(v) for name, v in zip(used, centroid)},
                         "distinguishing": [{"feature": used[i], "z": float(zc[i])} for i in order]})
    clusters.sort(key=lambda c: (-len(c["wells"]), c["wells"][0]))
    for n, cluster in enumerate(clusters):
        cluster["cluster"] = n
    separation: list[dict[str, float]] = []
    silhouette = None
    if n_clusters > 1 and varying.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            f, _ = f_classif(x[:, varying], labels)
        f = np.nan_to_num(f, nan=0.0, posinf=1e12)
        names_v = [n for n, v in zip(used, varying) if v]
        separation = [{"feature": names_v[i], "f_ratio": float(f[i])} for i in np.argsort(-f)]
        if n_clusters < len(ids):
            silhouette = float(silhouette_score(z, labels))
    return WellClusters(used, clusters, separation, silhouette)
