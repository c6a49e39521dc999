"""Input drift of a learned model: the population stability index (PSI) of each input against its training sample.

PSI = sum_b (a_b - e_b) ln(a_b / e_b) over bins b, with e_b the share of the training values and a_b the share of
the recent values in bin b (Siddiqi 2006, *Credit Risk Scorecards*, ch. 8; Yurdakul & Naranjo 2020, *Statistical
properties of the population stability index*, J. Risk Model Validation 14(4)). The bins are the training sample's
deciles, so e_b = 0.1 each; a share of zero is floored at ``EPS`` (ln 0 is not finite). Customary reading: below 0.1
no shift, 0.1-0.25 a moderate one, 0.25 or more a shift that calls for a refit (``PSI_RETRAIN``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bins of the reference (quantile bins: equal shares of the training sample).
PSI_BINS = 10
#: Floor of a bin's share (an empty bin would make the index infinite).
EPS = 1e-4
#: The customary "significant shift" level: a model whose largest input PSI reaches it is retrained.
PSI_RETRAIN = 0.25


@dataclass(frozen=True)
class PsiReference:
    """One input's training distribution: ``edges`` (the ``bins - 1`` interior quantile edges) and ``fractions``
    (share of the training values in each of the ``bins`` bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``)."""

    edges: tuple[float, ...]
    fractions: tuple[float, ...]

    def to_list(self) -> list[list[float]]:
        return [list(self.edges), list(self.fractions)]

    @classmethod
    def from_list(cls, data) -> "PsiReference":
        edges, fractions = data
        return cls(tuple(float(e) for e in edges), tuple(float(f) for f in fractions))


def _shares(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(edges, values, side="left")  # (-inf, e0] -> 0, (e0, e1] -> 1, ...
    counts = np.bincount(idx, minlength=edges.size + 1).astype(float)
    return counts / max(values.size, 1)


def psi_reference(values: np.ndarray, bins: int = PSI_BINS) -> PsiReference:
    """The reference of one input from its training values (non-finite values left out)."""
    if not 2 <= bins <= 100:
        raise ValueError(f"bins must be in [2, 100], got {bins}")
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < bins:
        raise ValueError(f"{v.size} finite training values; a {bins}-bin reference needs at least {bins}")
    edges = np.unique(np.quantile(v, np.arange(1, bins) / bins))  # a constant input has fewer edges
    return PsiReference(tuple(edges.tolist()), tuple(_shares(edges, v).tolist()))


def population_stability_index(reference: PsiReference, values: np.ndarray) -> float:
    """PSI of ``values`` (recent, non-finite left out) against ``reference``; NaN when no value is finite."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    edges = np.asarray(reference.edges, dtype=float)
    expected = np.maximum(np.asarray(reference.fractions, dtype=float), EPS)
    actual = np.maximum(_shares(edges, v), EPS)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
