"""Download of a job run's copy log (a Ferry extension beside the ARM jobRuns):
``GET .../jobRuns/{run}/copyLog?format=jsonl|csv``. Readers may download; a scoped token
must cover the run."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control import copy_logs
from ferry.control.arm import require_api_version
from ferry.control.auth import Principal, authorize_path, require_visible
from ferry.control.deps import get_session
from ferry.control.models import JobRun
from ferry.control.resources import job_run_id, missing
from ferry.control.routes.job_runs import ITEM, load_definition

router = APIRouter(tags=["jobRuns"], dependencies=[Depends(require_api_version)])


@router.get(
    ITEM + "/copyLog",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The copy log: one record per item (time, run, path, type, size, "
            "result, code, details).",
            "content": {media: {} for media in copy_logs.FORMATS.values()},
        }
    },
)
def download_copy_log(
    request: Request,
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    job_definition: str,
    job_run: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
    format: Annotated[Literal["jsonl", "csv"], Query(description="jsonl or csv.")] = "jsonl",
) -> StreamingResponse:
    job = load_definition(
        session, subscription_id, resource_group, mover, project, job_definition, below=True
    )
    run = session.scalar(
        select(JobRun).where(JobRun.job_definition_id == job.id, JobRun.key == job_run.lower())
    )
    if run is None:
        raise missing("job run", job_run)
    require_visible(principal, job_run_id(run))
    ids = copy_logs.chunk_ids(session, run)
    session.rollback()  # end the read before streaming; chunks are read in sessions of their own
    chunks = copy_logs.read_chunks(request.app.state.sessions, ids)
    body = copy_logs.as_csv(chunks) if format == "csv" else chunks
    filename = f"{run.name}.{format}"
    return StreamingResponse(
        body,
        media_type=copy_logs.FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
