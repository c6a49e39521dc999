"""Setpoint decisions of the service (issue 21: 4, 5): every recommender through the safety layer, operator
approval from the dashboard, the change to the device, the history row.

After each well's hourly run (:meth:`SetpointControl.after_hourly`):

1. the single-step lift optimizer's recommendation (``opt_<lift>_recommended`` of the run) is reviewed by
   :class:`engines.optimize.safety.SafetyLayer` (limits and maximum step from the well's configuration, at
   most one change per 15 minutes, refusal of a setpoint the lift engine predicts to violate a constraint):
   ``opt_lift_safety_verdict``;
2. when a trained policy is found for the well (``settings.rl_policy_dir``: ``<well name>.zip`` or
   ``<lift type>.zip``, :mod:`tb_bridge.rl_advisor`), the RL advisor's action at the latest telemetry is
   reviewed the same way: ``opt_rl_recommended_action``, ``opt_rl_confidence``, ``opt_rl_recommended_setpoint``,
   ``opt_rl_verdict``;
3. the allowed recommendation (the RL advisor's first, else the optimizer's) becomes the well's pending
   action (``opt_setpoint_action_id``, ``opt_setpoint_pending``, ``opt_setpoint_status`` = awaiting approval).
   A well with ``setpoint_mode = "autonomous"`` applies it at once instead.

Approval (:meth:`SetpointControl.on_approval`, the router's hook for the ``setpoint_approval`` attribute, value:
the action id or ``{"action_id": ...}``, or ``"approve"`` / ``true`` for the action pending now, which the
well-detail dashboards' "Approve recommended setpoint" button writes): the pending action is reviewed
again at the time of approval (the rate limit and the current setpoint may have changed) and, if allowed,
``target_<setpoint>`` (``target_frequency_hz``, ``target_spm``, ``target_rpm``, ``target_injection_mscfd``)
is written to the device as a SHARED attribute and a ``setpoint_change`` row records it with who approved
it (the event's ``userName`` / ``userId``). An unknown or stale action id is refused in
``opt_setpoint_status``; a malformed request raises :class:`tb_bridge.events.EventError` (dead letter).
"""
from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from engines.optimize.safety import SETPOINTS, SafetyLimits
from tb_bridge.history.models import SetpointChange
from tb_bridge.writeback import keys

log = logging.getLogger(__name__)

#: The attribute a dashboard's approve button writes (shared or server scope): the pending action's id.
APPROVAL_KEY = "setpoint_approval"
#: ``setpoint_approval`` = this (or ``true``) approves the action pending when the approval arrives: what the
#: dashboard's button writes (a ThingsBoard command button writes a constant; scripts name the id).
APPROVE_PENDING = "approve"
TARGET_PREFIX = "target_"


def target_key(lift_type: str) -> str:
    """``target_<setpoint name>`` of a lift type (the shared attribute the device reads)."""
    return TARGET_PREFIX + SETPOINTS[lift_type][0]


def _action_id_of(value: Any) -> str:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{APPROVAL_KEY} is not valid JSON: {exc.msg}") from None
        else:
            value = {"action_id": text}
    if not isinstance(value, Mapping) or not str(value.get("action_id", "")).strip():
        raise ValueError(f"{APPROVAL_KEY} must be an action id or {{\"action_id\": ...}}, not {value!r}")
    return str(value["action_id"]).strip()


class SetpointControl:
    """One per service: the per-well pending action and last change live in the service's well state."""

    def __init__(self, *, registry: Any, history: Any, writeback: Any, write_attributes: Callable[[str, Mapping], None],
                 well_state: Callable[[str], dict], latest_telemetry: Callable[[str], Mapping[str, Any]],
                 policy_dir: str | None = None, clock_ms: Callable[[], int] | None = None):
        self.registry, self.history, self.writeback = registry, history, writeback
        self.write_attributes, self.well_state, self.latest_telemetry = write_attributes, well_state, latest_telemetry
        self.policy_dir = policy_dir
        self.clock_ms = clock_ms or (lambda: int(datetime.now(timezone.utc).timestamp() * 1000))
        self._policies: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._cache = None

    # -- state ------------------------------------------------------------------------------------
    def _state(self, well_id: str) -> dict:
        return self.well_state(well_id).setdefault("setpoint_control", {"pending": None, "last_change_ms": None})

    def last_change_ms(self, well_id: str) -> int | None:
        """When a change was last sent: this process's memory, else the newest ``setpoint_change`` row."""
        state = self._state(well_id)
        if state["last_change_ms"] is None:
            with Session(self.history.engine) as session:
                row = session.scalars(select(SetpointChange).where(SetpointChange.well_id == well_id)
                                      .order_by(SetpointChange.ts.desc()).limit(1)).first()
            if row is not None:
                ts = row.ts if row.ts.tzinfo else row.ts.replace(tzinfo=timezone.utc)
                state["last_change_ms"] = int(ts.timestamp() * 1000)
        return state["last_change_ms"]

    def changes(self, well_id: str, limit: int = 100) -> list[SetpointChange]:
        """The well's recorded setpoint changes, newest first."""
        with Session(self.history.engine) as session:
            rows = session.scalars(select(SetpointChange).where(SetpointChange.well_id == well_id)
                                   .order_by(SetpointChange.ts.desc(), SetpointChange.id.desc()).limit(limit)).all()
            session.expunge_all()
            return list(rows)

    def _current(self, config: Any) -> float | None:
        from tb_bridge.rl_advisor import SETPOINT_TELEMETRY, telemetry_values

        return telemetry_values(self.latest_telemetry(config.entity_id)).get(SETPOINT_TELEMETRY[config.lift_type])

    def _lift_cache(self):
        if self._cache is None:
            from tb_bridge.adapters.lift import LiftCache
            self._cache = LiftCache(max_entries=2_000)
        return self._cache

    def _policy(self, config: Any):
        from tb_bridge.rl_advisor import find_policy, load_policy

        if not self.policy_dir:
            return None, None
        path = find_policy(self.policy_dir, config.name, config.lift_type)
        if path is None:
            return None, None
        mtime = Path(path).stat().st_mtime
        with self._lock:
            cached = self._policies.get(str(path))
            if cached is None or cached[0] != mtime:
                from engines.optimize.rl.ppo import NumpyPolicy

                model, meta = load_policy(path)
                cached = (mtime, (NumpyPolicy(model), meta))
                self._policies[str(path)] = cached
        return cached[1]

    # -- hourly ------------------------------------------------------------------------------------
    def after_hourly(self, config: Any, results: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
        """Review the run's recommendations, set the pending action (or apply it in autonomous mode); returns
        the attributes written."""
        from tb_bridge.rl_advisor import new_action_id, recommend, review, telemetry_values

        if config.lift_type not in SETPOINTS:
            return {}
        well_id = config.entity_id
        current = self._current(config)
        name = SETPOINTS[config.lift_type][0]
        attrs: dict[str, Any] = {}
        if current is None:
            attrs["opt_setpoint_status"] = f"no change: no {name} telemetry to start from"
            self.write_attributes(well_id, attrs)
            return attrs
        last = self.last_change_ms(well_id)
        candidates = []
        proposed = results.get(keys.LIFT_SETPOINT_KEYS[config.lift_type])
        if proposed is not None:
            verdict = review(config, current, float(proposed), now_ms, last, self._lift_cache())
            attrs["opt_lift_safety_verdict"] = verdict.as_dict()
            candidates.append(("optimizer", verdict))
        model, meta = self._policy(config)
        if model is not None:
            try:
                rec = recommend(model, config.model_dump(), telemetry_values(self.latest_telemetry(well_id)), current)
            except Exception as exc:  # missing telemetry keys, a policy of another feature version, ...
                attrs["opt_rl_recommended_action"] = f"none: {type(exc).__name__}: {exc}"[:500]
            else:
                verdict = review(config, current, rec["proposed_setpoint"], now_ms, last, self._lift_cache())
                move = rec["move"]
                words = "hold" if move == 0 else (f"{name} {current:g} -> {rec['proposed_setpoint']:g} "
                                                 f"({'up' if move > 0 else 'down'} {abs(move):g} step)")
                attrs.update(opt_rl_recommended_action=words, opt_rl_confidence=rec["confidence"],
                             opt_rl_recommended_setpoint=verdict.setpoint, opt_rl_verdict=verdict.as_dict())
                candidates.insert(0, ("rl", verdict))
        chosen = next(((source, v) for source, v in candidates if v.allowed), None)
        state = self._state(well_id)
        if chosen is None:
            state["pending"] = None
            reasons = "; ".join(r for _, v in candidates for r in v.reasons) or "no recommendation"
            attrs.update(opt_setpoint_action_id="", opt_setpoint_pending=None,
                         opt_setpoint_status=f"no change: {reasons}"[:1000])
            self.write_attributes(well_id, attrs)
            return attrs
        source, verdict = chosen
        pending = {"action_id": new_action_id(), "source": source, "setpoint_name": name, "current": current,
                   "setpoint": verdict.setpoint, "ts": now_ms}
        state["pending"] = pending
        if config.setpoint_mode == "autonomous":
            self.write_attributes(well_id, attrs)
            attrs.update(self._apply(config, pending, now_ms, mode="autonomous", user_name=None, user_id=None))
            return attrs
        attrs.update(opt_setpoint_action_id=pending["action_id"], opt_setpoint_pending=pending,
                     opt_setpoint_status=f"awaiting approval: {name} {current:g} -> {verdict.setpoint:g} ({source})")
        self.write_attributes(well_id, attrs)
        return attrs

    # -- approval ----------------------------------------------------------------------------------
    def on_approval(self, event: Any) -> None:
        """Router hook for ``setpoint_approval``: apply the pending action the id names (see the module doc)."""
        from tb_bridge.events import EventError

        value = event.values[APPROVAL_KEY]
        pending = self._state(event.well_id)["pending"]
        try:
            if value is True or (isinstance(value, str) and value.strip().lower() == APPROVE_PENDING):
                action_id = pending["action_id"] if pending is not None else APPROVE_PENDING  # the dashboard button
            else:
                action_id = _action_id_of(value)
        except ValueError as exc:
            raise EventError(str(exc)) from None
        config = self.registry.config(event.well_id)
        if config is None or config.lift_type not in SETPOINTS:
            raise EventError(f"{APPROVAL_KEY} for a well without a valid lift configuration")
        metadata = dict(event.metadata or {})
        user_name, user_id = metadata.get("userName"), metadata.get("userId")
        if pending is None or pending["action_id"] != action_id:
            self.write_attributes(event.well_id, {"opt_setpoint_status": f"refused: approval of {action_id!r} by "
                                                  f"{user_name or 'unknown user'}, which is not the pending action"})
            return
        self._apply(config, pending, self.clock_ms(), mode="approval", user_name=user_name, user_id=user_id)

    def _apply(self, config: Any, pending: Mapping[str, Any], now_ms: int, *, mode: str, user_name: str | None,
               user_id: str | None) -> dict[str, Any]:
        """Review once more, then send ``target_<setpoint>`` (SHARED_SCOPE) and record the change."""
        from tb_bridge.rl_advisor import review

        well_id = config.entity_id
        current = self._current(config)
        current = pending["current"] if current is None else current
        verdict = review(config, current, float(pending["setpoint"]), now_ms, self.last_change_ms(well_id), self._lift_cache())
        state = self._state(well_id)
        if not verdict.allowed:
            attrs = {"opt_setpoint_status": f"refused at {mode}: " + "; ".join(verdict.reasons)[:900],
                     "opt_setpoint_action_id": "", "opt_setpoint_pending": None}
            state["pending"] = None
            self.write_attributes(well_id, attrs)
            return attrs
        key = target_key(config.lift_type)
        self.writeback.write_attributes(well_id, keys.check_attributes({key: verdict.setpoint}), scope="SHARED_SCOPE")
        with Session(self.history.engine) as session, session.begin():
            session.add(SetpointChange(
                well_id=well_id, ts=datetime.fromtimestamp(now_ms / 1000.0, timezone.utc),
                setpoint_name=pending["setpoint_name"], previous=current, setpoint=verdict.setpoint,
                source=pending["source"], mode=mode, action_id=pending["action_id"], approved_by=user_name,
                approved_by_id=user_id, verdict=verdict.as_dict()))
        state.update(pending=None, last_change_ms=now_ms)
        who = f"approved by {user_name}" if mode == "approval" else "autonomous"
        attrs = {"opt_setpoint_status": f"applied: {key} = {verdict.setpoint:g} ({who})", "opt_setpoint_action_id": "",
                 "opt_setpoint_pending": None, "opt_setpoint_last_change_ts": now_ms}
        self.write_attributes(well_id, attrs)
        log.info("setpoint of %s: %s = %g (%s, %s)", well_id, key, verdict.setpoint, pending["source"], who)
        return attrs


__all__ = ["APPROVAL_KEY", "SafetyLimits", "SetpointControl", "target_key"]
