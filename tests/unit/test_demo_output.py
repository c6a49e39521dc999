"""What `atilax demo` prints: numbers with grouped digits and their units, errors in full, no progress bar when
stderr is not a terminal."""
from __future__ import annotations

import io

from tb_bridge.demo import DemoResult, _display, _progress_bar, format_result

LONG_ERROR = ("well JP-01 (misconfigured) (id 1a6e0ee1-06cb-4cdd-b8ba-0126c6ca9303): unknown lift type 'jet_pump' "
              "(expected one of esp, srp, pcp, gas_lift)")


def test_numbers_carry_grouped_digits_and_units():
    assert _display("opt_dca_eur_p50", 740123.4) == "740,123 STB"  # EUR in (stock-tank) barrels
    assert _display("opt_nodal_q_bpd", 1312.46) == "1,312 bbl/d"
    assert _display("opt_nodal_pwf_psi", 1425.0) == "1,425 psi"
    assert _display("opt_esp_freq_recommended_hz", 58.5) == "58.5 Hz"
    assert _display("opt_monitor_completeness_pct", 100.0) == "100 %"
    assert _display("opt_gl_injection_recommended_mscfd", 412.3456) == "412.346 Mscf/d"
    assert _display("sim_param_water_cut_pct", 62.0) == "62 %"  # unit from the key's suffix
    assert _display("opt_well_health_score", 93.25) == "93.25 (scale 0-100)"
    assert _display("opt_nodal_flowing", True) == "true"


def test_errors_are_printed_in_full_with_the_well_name():
    result = DemoResult(wells={"JP-01 (misconfigured)": "1a6e0ee1"}, telemetry_events=25344,
                        attributes={"JP-01 (misconfigured)": {"opt_status": "error", "opt_error": LONG_ERROR}},
                        dashboards={"well_detail_esp": {"Alarms": 2, "Production": 0}}, simulated_hours=24)
    out = io.StringIO()
    format_result(result, out)
    text = out.getvalue()
    assert LONG_ERROR in text and "25,344 telemetry events" in text
    assert "well_detail_esp  1 of 2" in text and "Production" in text


def test_no_progress_bar_when_stderr_is_not_a_terminal(monkeypatch):
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    bar = _progress_bar(10, enabled=True)
    bar(5)
    bar(0, close=True)
    assert stderr.getvalue() == ""


def test_the_simulation_session_is_printed_per_well_with_units():
    sim = {"lift_type": "esp", "moves": [
        {"parameter": "freq_hz", "unit": "Hz", "from": 55.0, "to": 57.0, "status": "done", "error": "",
         "original_production_bpd": 1581.2, "production_bpd": 1648.4, "production_delta_bpd": 67.2},
        {"parameter": "water_cut_pct", "unit": "%", "from": 21.0, "to": 41.0, "status": "done", "error": "",
         "original_production_bpd": 1581.2, "production_bpd": 1625.9, "production_delta_bpd": 44.7}],
        "reset": {"restored": ["water_cut_pct"], "not_found": [], "remaining_modified": {"freq_hz": 57.0}},
        "production_after_reset_bpd": 1648.4, "projection_points": {"sim_frequency_hz": 144},
        "closed": True, "remaining_after_close": {"attributes": [], "projection_points": {}, "session_open": False}}
    out = io.StringIO()
    format_result(DemoResult(simulation={"ESP-01": sim}), out)
    text = out.getvalue()
    assert "Simulation session on ESP-01 (esp)" in text
    assert "freq_hz 55 -> 57 Hz: production 1,581 bbl/d -> 1,648 bbl/d (+67.2 bbl/d vs the original)" in text
    assert "reset water_cut_pct: production 1,648 bbl/d; still modified: freq_hz = 57" in text
    assert "sim_frequency_hz 144" in text and "0 sim_* attributes and 0 projection points remain" in text
