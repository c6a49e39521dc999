"""The default demo fills every widget of every bundled dashboard: `atilax demo` renders them from the stand-in's
data at its end (the preview renderer), reports each widget's data points, and headless Chromium draws the page
with no empty widget."""
from __future__ import annotations

import html
import json
import os
import re

import numpy as np
import pytest

from engines.ml.lstm_ae import torch_available
from tb_bridge.demo import LSTM_AE_NO_TORCH, run_demo
from tb_bridge.tbsetup.bundle import bundled_dashboards



@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The default demo (24 h, 3 wells per lift type, seed 7), with the preview page."""
    page = tmp_path_factory.mktemp("demo") / "preview.html"
    return run_demo(progress=False, preview=page), page


WELL_DETAIL = ("well_detail_esp", "well_detail_srp", "well_detail_pcp", "well_detail_gaslift", "well_detail_naturalflow")
LSTM_AE_CHART = "LSTM autoencoder anomaly score (threshold 1)"


def _exempt() -> list[tuple[str, str]]:
    """The widgets the demo leaves empty: none; without PyTorch (the README's demo install, `pip install -e .`) the
    LSTM-AE chart of each well-detail dashboard, as the demo's log says (CI installs PyTorch)."""
    return [] if torch_available() else sorted((stem, LSTM_AE_CHART) for stem in WELL_DETAIL)


def _empty(dashboards: dict[str, dict[str, int]]) -> list[tuple[str, str]]:
    return sorted((stem, title) for stem, widgets in dashboards.items() for title, n in widgets.items()
                  if n == 0)


def test_every_widget_of_every_bundled_dashboard_has_data(demo):
    result, _ = demo
    bundled = bundled_dashboards()
    assert set(result.dashboards) == set(bundled)
    for stem, dashboard in bundled.items():
        titles = {w["config"].get("title") or wid for wid, w in dashboard["configuration"]["widgets"].items()}
        assert set(result.dashboards[stem]) == titles, stem
    assert _empty(result.dashboards) == _exempt()
    assert result.dashboards["well_detail_naturalflow"]["Alarms"] >= 1  # NF-01 carries the injected productivity loss
    assert result.placement == {"field": "Field A", "status": "done"}
    assert result.tier_runs == {"fast": 288, "hourly": 24, "daily": 1, "weekly": 1, "monthly": 1}


def test_every_well_gets_an_lstm_ae_and_the_fast_tier_scores_it(demo):
    """The demo trains each valid well's LSTM autoencoder on its warm-up day (what POST /train-lstm-ae runs, 10 epochs);
    the 5-minute tier scores each well hourly (24 points in the day); the wells with an injected fault score at or
    above the threshold at the end. Without PyTorch nothing is trained and the demo says so."""
    result, _ = demo
    if not torch_available():
        assert result.lstm_ae == {"status": "torch_missing", "detail": LSTM_AE_NO_TORCH}
        return
    wells = [name for name in result.wells if not name.startswith("JP-01")]
    assert len(wells) == 13
    lstm = result.lstm_ae
    assert (lstm["status"], lstm["epochs"], lstm["failed"]) == ("done", 10, {})
    assert lstm["versions"] == {name: 1 for name in wells}
    for stem in WELL_DETAIL:
        assert result.dashboards[stem][LSTM_AE_CHART] == 24, stem
    for name in ("ESP-01", "SRP-01", "PCP-01", "GL-01", "NF-01"):
        attributes = result.attributes[name]
        assert attributes["opt_lstm_ae_anomaly"] is True and attributes["opt_lstm_ae_anomaly_score"] >= 1.0, name
        assert attributes["opt_lstm_ae_model_version"] == 1


def test_the_counts_are_what_the_preview_draws(demo):
    """Each widget's count in the demo's answer is its data-points in the page; charts count their points in
    their time window (the 24 h live chart: the buffered 5-minute samples of the first ESP well)."""
    result, page_path = demo
    page = page_path.read_text(encoding="utf-8")
    drawn = {}
    for grid in re.finditer(r'<div class="grid" data-dashboard="([^"]+)">(.*?)</div>(?=<h2|</body>)', page, re.S):
        for m in re.finditer(r'data-points="(\d+)"><h3>(.*?)</h3>', grid.group(2)):
            drawn.setdefault(grid.group(1), {})[html.unescape(m.group(2))] = int(m.group(1))
    assert drawn == result.dashboards
    esp = result.dashboards["well_detail_esp"]
    assert esp["Live telemetry"] == 6 * 288  # six keys, a day of 5-minute samples (the window's end excluded)
    assert esp["Alarms"] >= 1  # the first ESP well carries the injected pump wear


def test_demo_json_has_the_dashboards(demo, monkeypatch, capsys):
    """`atilax demo --json` prints ``dashboards`` (per dashboard, per widget title, data points); ``--preview`` is
    handed to the run."""
    import tb_bridge.demo as demo_module
    from tb_bridge.cli.main import main

    result, _ = demo
    seen = {}

    def fake_run_demo(**kwargs):
        seen.update(kwargs)
        return result

    monkeypatch.setattr(demo_module, "run_demo", fake_run_demo)
    assert main(["demo", "--json", "--preview", "out.html"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dashboards"] == result.dashboards
    assert str(seen["preview"]) == "out.html" and seen["progress"] is False


def test_headless_chromium_draws_every_widget(demo, tmp_path):
    from tb_bridge.preview.browser import BrowserError, chromium_path, rendered_dom, screenshot

    try:
        chromium_path()
    except BrowserError:
        if os.environ.get("CI"):  # .ci/run installs chromium: in CI its absence is a failure
            pytest.fail("Debian chromium is not installed (apt-get install -y chromium)")
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    result, page = demo
    dom = rendered_dom(page, timeout_s=300.0)
    sections = re.findall(r'<section class="([^"]+)"[^>]*data-fqn="([^"]+)"[^>]*><h3>(.*?)</h3>(.*?)</section>', dom, re.S)
    assert len(sections) == sum(len(w) for w in result.dashboards.values())
    exempt = sorted(t for _, t in _exempt())
    assert sorted(html.unescape(t) for cls, _, t, _ in sections if "empty" in cls) == exempt
    for cls, fqn, title, body in sections:
        title = html.unescape(title)
        if "empty" in cls:
            continue
        if fqn == "system.time_series_chart" or (fqn == "system.cards.markdown_card" and "<table>" not in body):
            assert 'class="main-svg"' in body and re.search(r'class="(?:js-line|point|hm)', body), title
    png = screenshot(page, tmp_path / "demo.png", width=1600, height=6000, timeout_s=300.0)
    import matplotlib.image as mpimg

    image = mpimg.imread(png)[..., :3]
    painted = np.any(np.abs(image - np.array([0xEE, 0xEE, 0xEE]) / 255.0) > 0.02, axis=-1)
    assert painted.mean() > 0.3  # widgets cover the page, not a blank grey canvas
    white = np.all(image > 0.99, axis=-1)
    assert 0.1 < white.mean() < 0.95  # white widget cards with drawn content
