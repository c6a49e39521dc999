"""Field routes: lift-gas allocation over the gas-lift wells (equal slope, ``engines.lift.gas_allocation``), on
the same GLPCs the hourly field step builds (:func:`tb_bridge.adapters.lift.gas_lift_glpc`)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from tb_bridge.api.context import ApiContext, jsonable
from tb_bridge.api.models import AllocateRequest, AllocationAnswer


def allocate(ctx: ApiContext, available: float | None, well_ids: list[str] | None = None,
             min_slope: float = 0.0) -> tuple[dict[str, Any], list[str]]:
    """Equal-slope split of ``available`` Mscf/d (None: the sum of the wells' maximum injections, as the hourly
    step offers when ``lift_gas_available_mscfd`` is unset) over the valid gas-lift wells (or ``well_ids``)."""
    from engines.lift.gas_allocation import allocate_gas_equal_slope
    from tb_bridge.adapters.lift import gas_lift_glpc

    service = ctx.service
    if well_ids is None:
        wells = service.registry.valid_wells("gas_lift")
    else:
        wells = []
        for well_id in dict.fromkeys(well_ids):
            config = ctx.config(well_id)
            if config.lift_type != "gas_lift":
                raise HTTPException(422, f"well {well_id!r} is a {config.lift_type} well, not gas lift")
            wells.append(config)
    ids, curves, errors = [], [], {}
    for well in wells:
        try:
            curve = ctx.curves.get(("glpc", well.model_dump_json(exclude={"entity_id", "name"})),
                                   lambda: gas_lift_glpc(well)[0])
        except Exception as exc:
            errors[well.entity_id] = f"GLPC: {type(exc).__name__}: {exc}"
            continue
        ids.append(well.entity_id)
        curves.append(curve)
    offered = float(sum(c.injection_mscfd[-1] for c in curves)) if available is None else float(available)
    answer: dict[str, Any] = {"available_mscfd": offered, "total_injection_mscfd": 0.0, "total_oil_bpd": 0.0,
                              "marginal_slope_bbl_per_mscf": 0.0, "wells": [], "errors": errors}
    if not curves:
        return answer, ids
    allocation = allocate_gas_equal_slope(curves, offered, min_slope)
    answer.update(total_injection_mscfd=allocation.total_injection_mscfd, total_oil_bpd=allocation.total_oil_bpd,
                  marginal_slope_bbl_per_mscf=allocation.marginal_slope_bbl_per_mscf,
                  wells=[{"well_id": i, "injection_mscfd": float(g), "oil_bpd": float(q)}
                         for i, g, q in zip(ids, allocation.injection_mscfd, allocation.oil_bpd)])
    return jsonable(answer), ids


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["Field"])

    @router.get("/field/allocation", response_model=AllocationAnswer,
                summary="The equal-slope lift-gas split of the configured available gas")
    def allocation(available_mscfd: Annotated[float | None, Query(ge=0, le=1e7, description="instead of the "
                                                                  "configured lift_gas_available_mscfd")] = None
                   ) -> dict[str, Any]:
        offered = available_mscfd if available_mscfd is not None else ctx.settings.lift_gas_available_mscfd
        return allocate(ctx, offered)[0]

    @router.post("/field/allocate-gas", response_model=AllocationAnswer,
                 summary="Split lift gas over the gas-lift wells; with apply, write opt_gl_allocated_*")
    def allocate_gas(request: AllocateRequest) -> dict[str, Any]:
        from tb_bridge.writeback.keys import gas_allocation_attributes

        answer, _ = allocate(ctx, request.available_mscfd, request.well_ids, request.min_slope_bbl_per_mscf)
        if request.apply and answer["wells"]:
            for well in answer["wells"]:
                ctx.service.write_attributes(well["well_id"], gas_allocation_attributes(
                    well["injection_mscfd"], well["oil_bpd"], answer["marginal_slope_bbl_per_mscf"]))
            ctx.service.writeback.flush()
            answer["applied"] = True
        return answer

    return router
