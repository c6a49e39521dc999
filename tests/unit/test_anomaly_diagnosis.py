"""The 5-minute tier entry point ``diagnose_window`` end to end on the synthetic field, and the
`atilax diagnose` command."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engines.anomaly import MONITORED_KEYS, diagnose_window, fit_baseline, fit_field_forest
from engines.anomaly.diagnosis import DiagnosisConfig
from engines.anomaly.cusum import cusum_arl
from engines.fielddata import FAULTS_BY_LIFT_TYPE, LIFT_TYPES, SyntheticField
from engines.spc.pca import fit_pca
from tb_bridge.writeback.keys import check_attributes, diagnosis_attributes

PREFIX = {"esp": "ESP", "srp": "SRP", "pcp": "PCP", "gas_lift": "GL"}
H, W = 864, 72
OUTPUT_KEYS = {"opt_anomaly_detected", "opt_anomaly_score", "opt_anomaly_type", "opt_anomaly_severity",
               "opt_anomaly_evidence", "opt_well_health_score", "opt_health_status", "opt_health_components",
               "opt_health_trend", "opt_spc_t2", "opt_spc_spe", "opt_spc_ewma_alarm"}


def _pca(lift, a, base):
    keys = MONITORED_KEYS[lift]
    z = np.stack([((a[k][:, :H] - base.loc[:, [base.column(k)]]) / base.scale[:, [base.column(k)]]).ravel() for k in keys], axis=1)
    return fit_pca(z, keys)


@pytest.fixture(scope="module")
def field():
    faults = {f"{PREFIX[l]}-{i + 2:02d}": (f, H) for l, fs in FAULTS_BY_LIFT_TYPE.items() for i, f in enumerate(fs)}
    return SyntheticField({l: len(fs) + 1 for l, fs in FAULTS_BY_LIFT_TYPE.items()}, seed=13, faults=faults)


@pytest.mark.parametrize("lift", LIFT_TYPES)
def test_faults_diagnosed_with_evidence_and_health(field, lift):
    end = H + 150
    a = field.arrays(lift, end)
    base = fit_baseline({k: v[:, :H] for k, v in a.items()})
    params = [w.attributes for w in field.wells_of(lift)]
    pca = _pca(lift, a, base)
    res = diagnose_window(lift, params, {k: v[:, end - W:end] for k, v in a.items()}, base, pca=pca)
    for w in field.wells_of(lift):
        out = diagnosis_attributes(res, w.index)
        assert set(out) == OUTPUT_KEYS
        assert check_attributes(out, "attribute") == {k: v for k, v in out.items() if v is not None}
        assert isinstance(out["opt_anomaly_evidence"], list)
        comps = out["opt_health_components"]
        assert set(comps) == {"mechanical", "electrical", "hydraulic", "production", "efficiency"}
        if w.fault is None:
            assert out["opt_anomaly_type"] in ("none", "statistical_deviation")
            assert out["opt_health_status"] == "Excellent"
            assert out["opt_spc_t2"] < pca.t2_limit
        else:
            assert out["opt_anomaly_detected"] and out["opt_anomaly_type"] == w.fault
            assert out["opt_anomaly_score"] >= 0.5
            assert out["opt_well_health_score"] < res.health_score[0]
            assert (out["opt_anomaly_severity"] == "CRITICAL") == (w.fault in ("rod_part", "separator_flooding"))


def test_cusum_catches_a_shift_no_rule_covers_and_pca_names_it():
    field = SyntheticField({"esp": 4}, seed=5)
    a = field.arrays("esp", H + W)
    base = fit_baseline({k: v[:, :H] for k, v in a.items()})
    win = {k: v[:, H:].copy() for k, v in a.items()}
    sd = base.scale[0, base.column("water_cut_frac")]
    win["water_cut_frac"][0] += 2.0 * sd  # +2 sigma on one key: below every rule threshold
    cfg = DiagnosisConfig()
    res = diagnose_window("esp", None, win, base, pca=_pca("esp", a, base), config=cfg)
    assert res.cusum_alarm[0] and res.anomaly_type[0] == "statistical_deviation"
    assert res.evidence[0][0]["key"] == "water_cut_frac"
    assert not res.cusum_alarm[1:].any()
    # The expected detection delay at a 2 sigma shift is the chart's ARL1 (Markov chain) << window.
    assert cusum_arl(cfg.cusum_k, cfg.cusum_h(len(MONITORED_KEYS["esp"])), 2.0) < 15


def test_no_baseline_falls_back_to_isolation_forest():
    field = SyntheticField({"srp": 30}, seed=8, faults={"SRP-07": ("rod_part", 0)})
    a = field.arrays("srp", 21 * W)
    forest = fit_field_forest("srp", [{k: v[:, s:s + W] for k, v in a.items()} for s in range(0, 20 * W, W)], n_estimators=100)
    res = diagnose_window("srp", None, {k: v[:, -W:] for k, v in a.items()}, baseline=None, forest=forest)
    i = field.well("SRP-07").index
    assert res.anomaly_type[i] == "multivariate_outlier" and res.anomaly_detected[i]
    assert res.anomaly_detected.sum() <= 2


def test_input_validation():
    with pytest.raises(ValueError, match="unknown lift type"):
        diagnose_window("jet", None, {})
    with pytest.raises(ValueError, match="missing keys"):
        diagnose_window("esp", None, {"flow_rate_bpd": np.ones((1, 5))})


def test_cli_diagnose(tmp_path, capsys, monkeypatch):
    import tb_bridge.cli.main as cli_main

    if "diagnose" not in cli_main.COMMAND_FAMILIES:
        monkeypatch.setattr(cli_main, "COMMAND_FAMILIES", cli_main.COMMAND_FAMILIES + ("diagnose",))
    field = SyntheticField({"esp": 2}, seed=3, faults={"ESP-02": ("pump_wear", 288)})
    a = field.arrays("esp", 288 + 150)
    i = field.well("ESP-02").index
    doc = {"lift_type": "esp", "params": field.well("ESP-02").attributes,
           "history": {k: v[i, :288].tolist() for k, v in a.items()},
           "window": {k: v[i, -W:].tolist() for k, v in a.items()}}
    path = tmp_path / "window.json"
    path.write_text(json.dumps(doc))
    assert cli_main.main(["diagnose", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["opt_anomaly_type"] == "pump_wear" and out["opt_anomaly_detected"] is True
    assert out["rule_scores"]["pump_wear"] >= 0.5
    # the history also fits the well's own PCA monitor: T^2 of the newest sample, by hand from the history's
    # column means / sample sds and eigen-decomposition (90 % of the variance), above its 99 % limit
    keys = MONITORED_KEYS["esp"]
    x = np.stack([a[k][i, :288] for k in keys], axis=1)
    mu, sd = x.mean(axis=0), x.std(axis=0, ddof=1)
    lam, vec = np.linalg.eigh(np.cov((x - mu) / sd, rowvar=False))
    lam, vec = lam[::-1], vec[:, ::-1]
    k = int(np.argmax(np.cumsum(lam) / lam.sum() >= 0.9)) + 1
    t = ((np.array([a[key][i, -1] for key in keys]) - mu) / sd) @ vec[:, :k]
    assert out["opt_spc_t2"] == pytest.approx(float(np.sum(t**2 / lam[:k])), abs=5e-4)
    assert out["opt_spc_t2"] > out["spc_t2_limit"] > 0
    assert cli_main.main(["diagnose", str(path)]) == 0
    assert "evidence key" in capsys.readouterr().out
    doc.pop("history")
    path.write_text(json.dumps(doc))
    assert cli_main.main(["diagnose", str(path)]) == 2
