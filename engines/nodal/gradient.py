"""The pressure-gradient result shared by every VLP correlation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GC = 32.174  # lbm ft / (lbf s2)


@dataclass(frozen=True)
class PressureGradient:
    """Pressure loss per foot of pipe in the flow direction (psi/ft), positive for a pressure drop.

    elevation and friction are the static components; ``total = (elevation + friction) / (1 - ek)``
    where ``ek`` is the dimensionless kinetic-energy (acceleration) term. ``holdup`` is the in-situ
    liquid volume fraction; ``pattern`` a correlation-specific flow-pattern code (-1 when not used).
    """

    elevation: np.ndarray
    friction: np.ndarray
    ek: np.ndarray
    holdup: np.ndarray
    pattern: np.ndarray

    @property
    def acceleration(self) -> np.ndarray:
        """Acceleration component (psi/ft) implied by ``ek``."""
        return self.total - self.elevation - self.friction

    @property
    def total(self) -> np.ndarray:
        return (self.elevation + self.friction) / (1.0 - self.ek)
