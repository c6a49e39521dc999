"""Count, mean and spread of a sample, combinable across parts (a week from its days).

Parts combine exactly (Chan, Golub & LeVeque 1979, the pairwise update of the sum of squared deviations):
``n = n_a + n_b``, ``mean = mean_a + (mean_b - mean_a) n_b / n``, ``M2 = M2_a + M2_b + (mean_b - mean_a)^2 n_a n_b / n``;
the standard deviation is the sample one, ``sqrt(M2 / (n - 1))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True)
class Moments:
    """``n`` finite values, their ``mean`` and ``m2`` (sum of squared deviations from the mean)."""

    n: int = 0
    mean: float = math.nan
    m2: float = 0.0

    @property
    def sd(self) -> float:
        """Sample standard deviation (NaN below two values)."""
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else math.nan

    @staticmethod
    def of(values: np.ndarray | Sequence[float]) -> "Moments":
        """The moments of the finite entries of ``values``."""
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return Moments()
        mean = float(v.mean())
        return Moments(int(v.size), mean, float(np.sum((v - mean) ** 2)))

    def __add__(self, other: "Moments") -> "Moments":
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(n, self.mean + delta * other.n / n, self.m2 + other.m2 + delta * delta * self.n * other.n / n)

    @staticmethod
    def combine(parts: Iterable["Moments"]) -> "Moments":
        total = Moments()
        for part in parts:
            total = total + part
        return total

    def to_list(self) -> list[float]:
        """``[n, mean, sd]`` (the JSON form; NaN entries become None)."""
        return [self.n, _finite(self.mean), _finite(self.sd)]

    @staticmethod
    def from_list(item: Sequence[float | None]) -> "Moments":
        """Inverse of :meth:`to_list`."""
        n = int(item[0] or 0)
        if n == 0:
            return Moments()
        mean = float(item[1]) if item[1] is not None else math.nan
        sd = float(item[2]) if len(item) > 2 and item[2] is not None else 0.0
        return Moments(n, mean, sd * sd * (n - 1))


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
