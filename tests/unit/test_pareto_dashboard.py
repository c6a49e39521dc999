"""The Pareto scatter on each well-detail dashboard (issue 21: 2): the card reads opt_pareto_front and its function
(run in QuickJS as ThingsBoard runs it in the browser) draws one dot per front point coloured by life, the knee
ringed and today's operating point a square; the preview renderer draws the same card."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tb_bridge.writeback.keys import KEYS

ROOT = Path(__file__).resolve().parents[2]
STEMS = ("well_detail_esp", "well_detail_srp", "well_detail_pcp", "well_detail_gaslift")
FRONT = {"points": [{"rpm": 1, "oil_bpd": 100, "specific_energy": 1.0, "equipment_life": 300},
                    {"rpm": 2, "oil_bpd": 60, "specific_energy": 0.6, "equipment_life": 600},
                    {"rpm": 3, "oil_bpd": 20, "specific_energy": 0.5, "equipment_life": 900}],
         "current": {"oil_bpd": 80, "specific_energy": 0.9, "equipment_life": 400}, "knee_index": 1,
         "units": {"specific_energy": "kWh/bbl", "equipment_life": "days"}}


def _pareto_widget(stem):
    doc = json.loads((ROOT / "dashboards" / f"{stem}.json").read_text())
    widgets = [w for w in doc["configuration"]["widgets"].values() if w["config"]["title"].startswith("Pareto front")]
    assert len(widgets) == 1
    w = widgets[0]
    assert w["id"] in doc["configuration"]["states"]["default"]["layouts"]["main"]["widgets"]
    return w


@pytest.mark.parametrize("stem", STEMS)
def test_every_well_detail_has_the_pareto_scatter_of_opt_pareto_front(stem):
    keys = [k for ds in _pareto_widget(stem)["config"]["datasources"] for k in ds["dataKeys"]]
    assert [k["name"] for k in keys] == ["opt_pareto_front"] and KEYS["opt_pareto_front"].kind == "attribute"


def test_the_card_function_draws_the_front_knee_and_today():
    import quickjs

    fn = _pareto_widget("well_detail_pcp")["config"]["settings"]["markdownTextFunction"]
    ctx = quickjs.Context()
    ctx.eval("function markdown(data, ctx) {\n" + fn + "\n}")
    svg = ctx.eval(f"markdown({json.dumps([{'entityName': 'W', 'Pareto front': json.dumps(FRONT)}])})")
    dots = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="4" fill="rgb\((\d+),(\d+),(\d+)\)"', svg)
    assert len(dots) == 3
    # x: oil 20..100 -> 40..380 px; y: energy 0.5..1.0 -> 215..15 px; colour red (life 300) to blue (life 900)
    assert [float(d[0]) for d in dots] == [380.0, 210.0, 40.0] and [float(d[1]) for d in dots] == [15.0, 175.0, 215.0]
    assert dots[0][2:] == ("244", "67", "54") and dots[2][2:] == ("33", "150", "243")
    assert re.search(r'<circle cx="210" cy="175" r="8" fill="none"', svg)  # the knee ringed
    assert re.search(r'<rect x="290" y="50"', svg)  # today: oil 80 -> 295 px, energy 0.9 -> 55 px, 10 px square
    assert ctx.eval("markdown([{entityName: 'W'}])") == "<div>No Pareto front yet</div>"


def test_the_preview_draws_the_pareto_card():
    from tb_bridge.preview.render import DashboardRenderer  # noqa: F401  (the class that owns _pareto_card)

    keys = [{"name": "opt_pareto_front", "label": "Pareto front", "settings": {"atilaxPareto": True}}]
    html, points = DashboardRenderer._pareto_card(keys, {"opt_pareto_front": json.dumps(FRONT)})
    assert points == 3 and "knee" in html and "today" in html
    assert DashboardRenderer._pareto_card(keys, {})[1] == 0
