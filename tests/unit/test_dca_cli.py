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
