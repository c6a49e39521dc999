"""Hypothesis settings of the fuzz suite (applied per test with ``@FUZZ``, so other suites keep theirs).

``ATILAX_FUZZ_PROFILE=nightly`` runs 10,000 examples per parser (the nightly size, 15-30 min on 2 cores); the
default ``ci`` profile runs 300 per parser so the suite stays around a minute. Both are derandomized, so a
failure reproduces; ``ATILAX_FUZZ_PROFILE=explore`` draws fresh random examples (2,000 per parser).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
PROFILES = {
    "ci": settings(max_examples=300, derandomize=True, **_COMMON),
    "nightly": settings(max_examples=10_000, derandomize=True, **_COMMON),
    "explore": settings(max_examples=2_000, **_COMMON),
}
PROFILE_NAME = os.environ.get("ATILAX_FUZZ_PROFILE", "ci")
if PROFILE_NAME not in PROFILES:
    raise ValueError(f"ATILAX_FUZZ_PROFILE must be one of {', '.join(PROFILES)}, got {PROFILE_NAME!r}")
#: Decorator applying the selected profile to a hypothesis test.
FUZZ = PROFILES[PROFILE_NAME]
