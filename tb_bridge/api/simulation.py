"""Simulation routes: what-if sessions of :class:`tb_bridge.sessions.SimulationSessionManager`
(``service.sessions``), the same sessions a dashboard's ``sim_param_*`` sliders drive.

``POST /simulation/reactive`` does what a ``sim_param_*`` attribute update does (open the well's session
when it has none, set the parameters, simulate), for rule chains that post with ThingsBoard's REST API call
node instead of routing the attribute update to the service. It takes ``{"well_id", "params"}`` (the bundled
chain's "Simulation request for the API") or the envelope the chain's REST branch posts to the REST ingress
(``{"msgType": "ATTRIBUTES_UPDATED", "entityId", "data": {"sim_param_<p>": value}, ...}``)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path

from tb_bridge.api.context import ApiContext, jsonable
from tb_bridge.api.models import Closed, CreateSession, ReactiveEnvelope, ReactiveRequest, ResetParams, SetParams

SessionPath = Annotated[str, Path(alias="id", min_length=1, max_length=128,
                                        description="simulation session id")]
SIM_PARAM_PREFIX = "sim_param_"


def _refusal(exc: ValueError) -> HTTPException:
    """A session manager's refusal as a 4xx: 429 at the session limit, else 422 (bad well or parameters)."""
    return HTTPException(429 if type(exc).__name__ == "SessionLimitError" else 422, str(exc))


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["Simulation"])

    def sessions() -> Any:
        return ctx.service.sessions

    def existing(session_id: str) -> dict[str, Any]:
        found = sessions().get(session_id)
        if found is None:
            raise HTTPException(404, f"no open simulation session {session_id!r}")
        return found

    def call(method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return jsonable(getattr(sessions(), method)(*args, **kwargs))
        except ValueError as exc:  # SessionError, SessionLimitError, a parameter the well model refuses
            raise _refusal(exc) from None

    @router.post("/simulation/create", response_model=dict[str, Any], status_code=201,
                 summary="Open a what-if session on a well")
    def create(request: CreateSession) -> Any:
        ctx.config(request.well_id)
        return call("create", request.well_id)

    @router.post("/simulation/reactive", response_model=dict[str, Any],
                 summary="Set sim_param_* values of a well as a slider would (the rule chain's REST branch)")
    def reactive(request: ReactiveRequest | ReactiveEnvelope) -> Any:
        if isinstance(request, ReactiveEnvelope):  # the REST branch's envelope: its sim_param_* keys
            well_id = request.entityId
            given = {k: v for k, v in request.data.items() if k.startswith(SIM_PARAM_PREFIX)}
            if not given:
                raise HTTPException(422, "the envelope's data holds no sim_param_* key")
        else:
            well_id, given = request.well_id, request.params
        ctx.config(well_id)
        params = {k[len(SIM_PARAM_PREFIX):] if k.startswith(SIM_PARAM_PREFIX) else k: v for k, v in given.items()}
        if any(not name for name in params):
            raise HTTPException(422, "a parameter name is empty")
        open_ = sessions().by_well(well_id)
        session = open_ if open_ is not None else call("create", well_id)
        result = call("set_params", session["session_id"], params, wait=True)
        return {"session_id": session["session_id"], "well_id": well_id, "result": result}

    @router.patch("/simulation/{id}/params", response_model=dict[str, Any],
                  summary="Change parameters of a session and simulate")
    def set_params(session_id: SessionPath, request: SetParams) -> Any:
        existing(session_id)
        return call("set_params", session_id, request.params, wait=request.wait)

    @router.patch("/simulation/{id}/reset-params", response_model=dict[str, Any],
                  summary="Restore parameters of a session to the configured values")
    def reset_params(session_id: SessionPath, request: Annotated[ResetParams | None, Body()] = None) -> Any:
        session = existing(session_id)
        keys = (request or ResetParams()).keys
        if keys is None:
            keys = list((session.get("modified") or {}).keys())
        return call("reset_params", session_id, keys)

    @router.post("/simulation/{id}/run", response_model=dict[str, Any],
                 summary="Simulate the session's current parameters")
    def run(session_id: SessionPath) -> Any:
        existing(session_id)
        return call("run", session_id)

    @router.get("/simulation/{id}/compare", response_model=dict[str, Any],
                summary="The session's modified well against the configured one")
    def compare(session_id: SessionPath) -> Any:
        existing(session_id)
        return call("compare", session_id)

    @router.delete("/simulation/{id}", response_model=Closed, summary="Close a session")
    def close(session_id: SessionPath) -> Any:
        existing(session_id)
        return {"session_id": session_id, "closed": bool(call("close", session_id))}

    return router
