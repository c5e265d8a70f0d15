"""The agent protocol for work units of pool runs (ferry.control.units): what a unit lease
looks like, and its progress (which renews the lease) and completion. Leasing itself goes
through ``POST /ferry/v1/agent/leases`` (routes.agent_protocol), which hands out a unit when
the agent has no whole run to take."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field
from sqlalchemy.orm import Session

from ferry.control import access_policies, units
from ferry.control.agent_auth import AgentPrincipal, authenticate_agent
from ferry.control.arm import ArmError, conflict
from ferry.control.credentials import CredentialError
from ferry.control.deps import get_session, get_settings
from ferry.control.models import Agent, WorkUnit
from ferry.control.routes.lease_views import lease_view
from ferry.control.schemas import Body
from ferry.control.settings import Settings

UNITS = "/ferry/v1/agent/units"
MAX_SUBDIRS = 100_000

router = APIRouter(tags=["agent protocol"])
Session_ = Annotated[Session, Depends(get_session)]
Settings_ = Annotated[Settings, Depends(get_settings)]
Agent_ = Annotated[AgentPrincipal, Depends(authenticate_agent)]


class UnitProgress(Body):
    status: Annotated[str | None, Field(max_length=30)] = None
    counters: dict[str, int] | None = None


class UnitCompletion(UnitProgress):
    status: Annotated[str, Field(max_length=30)]
    subdirs: Annotated[list[str], Field(max_length=MAX_SUBDIRS)] = Field(default_factory=list)
    error: dict[str, str] | None = None


def unit_view(session: Session, unit: WorkUnit, agent: Agent, settings: Settings) -> dict[str, Any]:
    assert unit.lease_id is not None and unit.expires_at is not None
    # the run's grants are read, changed and written back: one unit lease at a time
    run = units.locked_run(session, unit.job_run_id)
    view = lease_view(session, run, agent, unit.lease_id, unit.expires_at, settings)
    return {**view, "unit": {"path": unit.path, "attempt": unit.attempt}}


def take_unit(session: Session, agent: Agent, settings: Settings) -> Any:
    """A unit lease for ``agent`` (committed), or 204 when there is no work."""
    unit = units.lease(session, agent, settings.agent_lease_seconds)
    if unit is None:
        session.rollback()
        return Response(status_code=204)
    try:
        view = unit_view(session, unit, agent, settings)
    except CredentialError as exc:
        assert unit.lease_id is not None
        lease_id = unit.lease_id
        access_policies.revoke(session, unit.job_run, lease_ids=[lease_id])
        session.commit()
        units.complete(
            session,
            agent.id,
            lease_id,
            status="Failed",
            counters=None,
            subdirs=[],
            error={"code": "CredentialsUnavailable", "message": str(exc)},
            max_attempts=0,
        )
        session.commit()
        return Response(status_code=204)
    session.commit()
    return view


def _lost(exc: units.UnitLost, lease_id: str) -> ArmError:
    return conflict("LeaseLost", str(exc), target=lease_id)


@router.post(UNITS + "/{lease_id}/progress")
def unit_progress(
    lease_id: str, body: UnitProgress, principal: Agent_, session: Session_, settings: Settings_
) -> dict[str, Any]:
    try:
        unit, cancel = units.report(
            session,
            principal.agent_id,
            lease_id,
            settings.agent_lease_seconds,
            status=body.status,
            counters=body.counters,
        )
    except units.UnitLost as exc:
        raise _lost(exc, lease_id) from None
    ttl = dt.timedelta(seconds=settings.run_sas_ttl_seconds)
    access_policies.renew(session, unit.job_run, principal.agent_id, ttl)
    assert unit.expires_at is not None
    expires = unit.expires_at.isoformat()
    session.commit()
    return {"cancelRequested": cancel, "expiresAt": expires}


@router.post(UNITS + "/{lease_id}/complete")
def unit_complete(
    lease_id: str,
    body: UnitCompletion,
    principal: Agent_,
    session: Session_,
    settings: Settings_,
) -> dict[str, Any]:
    try:
        run = units.complete(
            session,
            principal.agent_id,
            lease_id,
            status=body.status,
            counters=body.counters,
            subdirs=body.subdirs,
            error=body.error,
            max_attempts=settings.unit_max_attempts,
        )
    except units.UnitLost as exc:
        raise _lost(exc, lease_id) from None
    except ValueError as exc:
        raise ArmError(400, "InvalidUnitStatus", str(exc), target="status") from None
    status = run.status
    session.commit()
    return {"status": status}
