"""Request and answer bodies of the HTTP API (pydantic): what the OpenAPI document publishes and the
routes validate. Units are in the names (oilfield units, epoch milliseconds)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Largest number of what-if / simulation parameters in one request.
MAX_PARAMS = 64
#: Largest number of wells named in one request.
MAX_WELLS = 2_500

WellId = Field(min_length=1, max_length=128, description="ThingsBoard entity id of the well")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorAnswer(BaseModel):
    """Every 4xx (and the 501 of ``POST /train-lstm-ae``): what was wrong."""

    detail: Any


class Health(BaseModel):
    status: Literal["ok"]
    wells: int = Field(description="wells with a valid configuration")


class Version(BaseModel):
    name: str
    version: str
    api: str


class WellSummary(BaseModel):
    id: str
    name: str
    lift_type: str | None
    valid: bool
    error: str | None = None


class WellDetail(WellSummary):
    config: dict[str, Any] | None = Field(description="the validated configuration (None while invalid)")
    latest_telemetry: dict[str, float] = Field(description="last finite value of each buffered key")
    last_telemetry_ts_ms: int | None
    buffered_points: int


class Telemetry(BaseModel):
    well_id: str
    ts_ms: list[int]
    values: dict[str, list[float | None]] = Field(description="key -> values aligned with ts_ms (null: absent)")


class RunAnswer(BaseModel):
    id: int | None
    well_id: str
    lift_type: str
    tier: str
    engine: str
    started_at: str
    finished_at: str | None
    status: str
    error: str | None
    results: dict[str, Any]
    units: dict[str, str | None] = Field(default_factory=dict)


class Optimization(BaseModel):
    well_id: str
    latest: dict[str, RunAnswer] = Field(description="the newest stored run of each tier")


Tier = Literal["fast", "hourly", "daily", "weekly", "monthly"]


class RunRequest(_Body):
    tier: Tier = Field(default="hourly", description="whose steps to run (hourly: nodal and lift optimizer)")


class WhatIfRequest(_Body):
    well_id: str = WellId
    params: dict[str, Any] = Field(min_length=1, max_length=MAX_PARAMS,
                                   description="well-model field -> modified value (e.g. reservoir_pressure_psi)")


class OperatingPointAnswer(BaseModel):
    liquid_bpd: float | None
    oil_bpd: float | None
    pwf_psi: float | None


class WhatIfAnswer(BaseModel):
    well_id: str
    params: dict[str, Any]
    original: OperatingPointAnswer
    modified: OperatingPointAnswer
    delta_liquid_bpd: float | None
    delta_oil_bpd: float | None
    delta_pwf_psi: float | None
    setpoint_key: str
    setpoint: float | None
    setpoint_source: str
    basis: str


class Forecasts(BaseModel):
    well_id: str
    dca: dict[str, Any] | None = Field(description="opt_dca_* results of the newest daily run that has them")
    dca_run_started_at: str | None
    stored: list[dict[str, Any]] = Field(description="forecasts kept in the history store, newest first")


class DcaAnswer(BaseModel):
    well_id: str
    history_source: str
    points: int
    model: str
    qi_bpd: float | None
    di_pct_month: float | None
    b_factor: float | None
    eur_stb: float | None
    eur_p10_stb: float | None
    eur_p50_stb: float | None
    eur_p90_stb: float | None
    di_secant_eff_pct_year: float | None
    b_above_one: bool
    criterion: str
    no_decline: bool = Field(False, description="no decline identified (flat or rising history, or a recent restart)")
    no_decline_reason: str = Field("", description="why no decline was identified (empty otherwise)")
    forecast: dict[str, Any]


class DistinguishingFeature(BaseModel):
    feature: str
    z: float = Field(description="cluster mean minus the field mean, in the field's standard deviations")


class FeatureSeparation(BaseModel):
    feature: str
    f_ratio: float = Field(description="one-way ANOVA F ratio across the clusters (between / within variance)")


class Cluster(BaseModel):
    cluster: int
    wells: list[str]
    centroid: dict[str, float] = Field(description="feature means of the cluster's wells (feature units)")
    distinguishing: list[DistinguishingFeature] = Field(
        default_factory=list, description="the features whose cluster mean lies furthest from the field's")


class Clusters(BaseModel):
    k: int
    features: list[str]
    clusters: list[Cluster]
    unclustered: list[str] = Field(description="wells without recent telemetry")
    separation: list[FeatureSeparation] = Field(default_factory=list,
                                                description="features by how well they separate the clusters, best first")
    silhouette: float | None = Field(None, description="mean silhouette of the partition (-1..1; null for one cluster)")
    computed_at: str | None = Field(None, description="when the clustering was computed (recomputed weekly or on refresh)")


class PatternCount(BaseModel):
    well_id: str
    lift_type: str
    anomaly_type: str
    count: int
    first: str
    last: str


class PatternBucket(BaseModel):
    start: str
    counts: dict[str, int]


class AnomalyPatterns(BaseModel):
    since: str
    bucket: Literal["hour", "day"]
    runs: int = Field(description="diagnosed runs in the period")
    by_well: list[PatternCount]
    by_lift_type: dict[str, dict[str, int]]
    by_time: list[PatternBucket]


class TrainRequest(_Body):
    lift_type: Literal["esp", "srp", "pcp", "gas_lift"] | None = Field(default=None, description="train the wells "
                                                                        "of this lift type (default: every lift type)")
    well_ids: list[str] | None = Field(default=None, max_length=MAX_WELLS, description="train these wells only")
    epochs: int | None = Field(default=None, ge=1, le=500, description="default: ml.lstm_ae_epochs")
    stop: bool = Field(default=False, description="stop the run under way after its current epoch (nothing starts)")


class TrainAnswer(BaseModel):
    status: str = Field(description="started | stopping | idle")
    wells: list[str] = Field(default_factory=list, description="wells the run trains, in order")
    epochs: int | None = None
    detail: str


class AllocationWell(BaseModel):
    well_id: str
    injection_mscfd: float
    oil_bpd: float


class AllocationAnswer(BaseModel):
    available_mscfd: float
    total_injection_mscfd: float
    total_oil_bpd: float
    marginal_slope_bbl_per_mscf: float
    wells: list[AllocationWell]
    errors: dict[str, str] = Field(default_factory=dict, description="wells left out: why")
    applied: bool = False


class AllocateRequest(_Body):
    available_mscfd: float = Field(ge=0, le=1e7, description="lift gas to split (Mscf/d)")
    well_ids: list[str] | None = Field(default=None, max_length=MAX_WELLS,
                                       description="gas-lift wells to include (None: every valid one)")
    min_slope_bbl_per_mscf: float = Field(default=0.0, ge=0, le=1e4, description="economic threshold: no gas "
                                          "where a Mscf/d brings less oil")
    apply: bool = Field(default=False, description="write opt_gl_allocated_* to the wells")


class AlarmAnswer(BaseModel):
    id: int
    well_id: str
    alarm_type: str
    severity: str
    state: str
    ts: str
    details: Any = None


class AlarmList(BaseModel):
    alarms: list[AlarmAnswer]


class AcknowledgeRequest(_Body):
    well_id: str = WellId
    alarm_type: str = Field(min_length=1, max_length=128, description="an alarm point of the well, or *")
    by: str | None = Field(default=None, max_length=128, description="who acknowledges (kept in the history)")


class AcknowledgeAnswer(BaseModel):
    well_id: str
    acknowledged: list[AlarmAnswer]


class CreateSession(_Body):
    well_id: str = WellId


class ReactiveRequest(_Body):
    well_id: str = WellId
    params: dict[str, Any] = Field(min_length=1, max_length=MAX_PARAMS, description="sim_param_* names (prefix "
                                   "optional) -> values, as a slider writes them")


class ReactiveEnvelope(BaseModel):
    """The envelope the rule chain's REST branch posts to the REST ingress (``tb_bridge.transport.mqtt_envelope``):
    an ATTRIBUTES_UPDATED of the well ``entityId`` whose ``data`` holds the ``sim_param_*`` values (other keys of
    ``data`` are not simulation parameters and are left alone)."""

    model_config = ConfigDict(extra="allow")

    msgType: Literal["ATTRIBUTES_UPDATED"]
    entityId: str = Field(min_length=1, max_length=128)
    data: dict[str, Any] = Field(max_length=MAX_PARAMS * 4)


class SetParams(_Body):
    params: dict[str, Any] = Field(min_length=1, max_length=MAX_PARAMS)
    wait: bool = True


class ResetParams(_Body):
    keys: list[str] | None = Field(default=None, max_length=MAX_PARAMS, description="parameters to restore "
                                   "(None: all)")


class Closed(BaseModel):
    session_id: str
    closed: bool
