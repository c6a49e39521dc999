"""``atilax dca fit``: CSV/JSON histories, table and JSON output, input errors (exit 2).

Numbers are checked against a direct engine call on the same arrays (the CLI must add nothing)
and against the generating Arps curve (Arps 1945) for a noise-free history.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from engines.dca import DcaSettings, analyze_decline, rate_bpd
from engines.dca.conventions import DAYS_PER_MONTH
from tb_bridge.cli.main import main


def _write_csv(path, dates, rates, header="date,flow_rate_bpd"):
    path.write_text(header + "\n" + "\n".join(f"{d},{r!r}" for d, r in zip(dates, rates)) + "\n", encoding="utf-8")


def test_fit_csv_dates_json_matches_engine(tmp_path, capsys):
    t = np.arange(150)
    rng = np.random.default_rng(5)
    q = rate_bpd(t, 420.0, 0.005, 0.6) * np.exp(rng.normal(0, 0.04, t.size))
    q[30] = 0.0
    dates = [str(np.datetime64("2026-02-01") + np.timedelta64(int(i), "D")) for i in t]
    path = tmp_path / "hist.csv"
    _write_csv(path, dates, q.tolist())
    rc = main(["dca", "fit", str(path), "--json", "--economic-limit-bpd", "8", "--seed", "3"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    ref = analyze_decline(dates, q, settings=DcaSettings(economic_limit_bpd=8.0, seed=3))
    assert out["opt_dca_model"] == ref.model
    assert out["opt_dca_eur_stb"] == pytest.approx(ref.eur_stb, rel=1e-12)
    assert out["opt_dca_eur_p90"] == pytest.approx(ref.eur_p90_stb, rel=1e-12)
    assert len(out["opt_dca_forecast"]["months"]) == 60
    assert out["opt_dca_forecast"]["start_date"] == "2026-06-30"
    assert out["quality"]["n_shut_in"] == 1
    assert [c["model"] for c in out["candidates"]] == ["exponential", "harmonic", "hyperbolic", "modified_hyperbolic"]
    assert all({"aic", "aicc", "bic"} <= set(c) for c in out["candidates"])


def test_fit_json_days_volumes_table(tmp_path, capsys):
    starts = (np.arange(18) * DAYS_PER_MONTH).tolist()
    vol = [float(v) for v in (rate_bpd(np.array(starts) + 15.0, 900.0, 0.004, 0.0) * DAYS_PER_MONTH)]
    path = tmp_path / "hist.json"
    path.write_text(json.dumps({"t_days": starts, "volume_bbl": vol, "settings": {"criterion": "bic"}}))
    rc = main(["dca", "fit", str(path)])
    text = capsys.readouterr().out
    assert rc == 0
    for needle in ("Decline-curve analysis", "Candidates (chosen by BIC)", "eur_p90_stb (low)",
                   "Forecast, 12-month summaries", "Forecast, monthly", "modified_hyperbolic"):
        assert needle in text


def test_fit_records_list_noise_free_recovers_parameters(tmp_path, capsys):
    t = np.arange(100.0)
    q = rate_bpd(t, 250.0, 0.003, 0.0)
    path = tmp_path / "records.json"
    path.write_text(json.dumps([{"t_days": float(a), "rate_bpd": float(b)} for a, b in zip(t, q)]))
    assert main(["dca", "fit", str(path), "--json", "--trials", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["opt_dca_model"] == "exponential"
    assert out["opt_dca_qi_bpd"] == pytest.approx(250.0, rel=1e-8)
    assert out["opt_dca_di_pct_month"] == pytest.approx(100 * 0.003 * DAYS_PER_MONTH, rel=1e-7)


@pytest.mark.parametrize("content, needle", [
    ("when,amount\n2026-01-01,5\n2026-01-02,4\n2026-01-03,3\n", "need a time column"),
    ('{"t_days": [0, 1, 2], "rate_bpd": [3, 2]}', "lengths differ"),
    ('{"t_days": [0, 1, 2], "rate_bpd": [3, 2, 1], "settings": {"criterion": "r2"}}', "settings.criterion"),
    ('{"t_days": [0, 1, 2, 3], "rate_bpd": [0, 0, 0, 1]}', "producing samples"),
])
def test_bad_input_exits_2(tmp_path, capsys, content, needle):
    path = tmp_path / ("in.csv" if content.startswith("when") else "in.json")
    path.write_text(content)
    assert main(["dca", "fit", str(path)]) == 2
    assert needle in capsys.readouterr().err


def test_fit_uptime_column_and_fit_all_segments(tmp_path, capsys):
    """``--uptime-column`` (hours on stream) gives the engine's on-stream-normalized answer; a 100-day shut-in
    splits the history and only the last decline is fitted unless ``--fit-all-segments``."""
    rng = np.random.default_rng(12)
    t = np.arange(400)
    q_cap = np.where(t < 200, rate_bpd(t, 600.0, 0.004), rate_bpd(np.abs(t - 300.0), 450.0, 0.006))
    hours = rng.uniform(8.0, 24.0, t.size)
    hours[200:300] = 0.0
    q = q_cap * hours / 24.0 * np.exp(rng.normal(0.0, 0.02, t.size))
    dates = [str(np.datetime64("2025-01-01") + np.timedelta64(int(i), "D")) for i in t]
    path = tmp_path / "hist.csv"
    path.write_text("date,flow_rate_bpd,hrs\n" + "\n".join(f"{d},{r!r},{h!r}" for d, r, h in zip(dates, q.tolist(), hours.tolist())) + "\n")
    rc = main(["dca", "fit", str(path), "--json", "--uptime-column", "hrs", "--uptime-unit", "hours"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    ref = analyze_decline(dates, q, on_stream=hours, on_stream_unit="hours")
    assert out["opt_dca_qi_bpd"] == pytest.approx(ref.qi_bpd, rel=1e-12)
    assert out["n_segments"] == 2 and out["segment_start_t_days"] == 300.0
    assert out["opt_dca_qi_bpd"] == pytest.approx(450.0, rel=0.03)  # the restart's capacity, not the partial days
    assert out["opt_dca_no_decline"] is False and out["opt_dca_no_decline_reason"] == ""
    assert out["opt_dca_forecast"]["months"][0]["date"] == "2026-02-28"  # calendar month after 2026-02-04
    rc = main(["dca", "fit", str(path), "--json", "--uptime-column", "hrs", "--uptime-unit", "hours", "--fit-all-segments"])
    out_all = json.loads(capsys.readouterr().out)
    assert rc == 0 and out_all["segment_start_t_days"] == 0.0
    # the table shows the P50 band column and the no-decline line
    rc = main(["dca", "fit", str(path), "--uptime-column", "hrs", "--uptime-unit", "hours"])
    text = capsys.readouterr().out
    assert "p50_bpd" in text and "no decline identified" in text
    assert main(["dca", "fit", str(path), "--uptime-column", "nope"]) == 2
    assert main(["dca", "fit", str(path), "--uptime-column", "hrs"]) == 2  # read as days: up to 24 days in a day
