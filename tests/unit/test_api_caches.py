"""The API's two LRU caches (tb_bridge.api.context): a hit returns the stored value without building, the least
recently used entry goes beyond the bound, the lift cache keys by the configuration (not the well's id or name)."""
from __future__ import annotations

from tb_bridge.api.context import CurveCache, SharedLiftCache
from tb_bridge.wells.model import parse_well_config

ATTRS = {"lift_type": "natural_flow", "reservoir_pressure_psi": 4580, "bubble_point_psi": 2000,
         "perforation_depth_ft": 12000, "productivity_index_bpd_psi": 8}


def test_curve_cache_builds_once_and_drops_the_least_recently_used():
    cache = CurveCache(max_entries=2)
    builds = []

    def build(value):
        return lambda: builds.append(value) or value

    assert cache.get(("a",), build(1)) == 1
    assert cache.get(("b",), build(2)) == 2
    assert cache.get(("a",), build(10)) == 1  # a hit: not rebuilt, now the most recent
    assert cache.get(("c",), build(3)) == 3  # over the bound: "b" (least recent) goes
    assert cache.get(("a",), build(11)) == 1
    assert cache.get(("b",), build(4)) == 4
    assert builds == [1, 2, 3, 4]
    assert list(cache._items) == [("a",), ("b",)]


def test_lift_cache_keys_by_configuration_and_what():
    cache = SharedLiftCache(max_entries=256)
    one = parse_well_config("id-1", "NF-01", ATTRS)
    same = parse_well_config("id-2", "NF-02", ATTRS)  # another well with the same configuration
    other = parse_well_config("id-3", "NF-03", {**ATTRS, "reservoir_pressure_psi": 4000})
    assert cache.get(one, "curve", lambda: "first") == "first"
    assert cache.get(same, "curve", lambda: "second") == "first"
    assert cache.get(one, "scan", lambda: "scan") == "scan"
    assert cache.get(other, "curve", lambda: "other") == "other"
    assert len(cache._items) == 3
