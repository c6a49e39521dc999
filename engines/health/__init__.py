"""Well health score (0-100) per lift type: components, bands and 7-day trend."""
from engines.health.score import COMPONENTS, WEIGHTS, HealthResult, band, health_score

__all__ = ["COMPONENTS", "WEIGHTS", "HealthResult", "band", "health_score"]
