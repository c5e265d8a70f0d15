"""``ferry job`` (job definitions, with start-job and stop-job) and ``ferry run`` (job runs),
as ``az storage-mover job-definition`` and ``job-run``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ferry.cli.api_options import (
    DESCRIPTION_OPTION,
    MOVER_OPTION,
    NAME_OPTION,
    Api,
    api_command,
    group,
    json_object,
)
from ferry.cli.output import NAME, STATE, Column, field, prop

job = group("job", "Job definitions: what to copy from which endpoint to which, and how.")
run = group("run", "Job runs: one execution of a job definition each.")

JOB_COLUMNS: list[Column] = [
    NAME,
    ("Copy mode", prop("copyMode")),
    ("Source", prop("sourceName")),
    ("Target", prop("targetName")),
    ("Agent", prop("agentName")),
    ("Latest run", prop("latestJobRunStatus")),
    STATE,
]
RUN_COLUMNS: list[Column] = [
    NAME,
    ("Status", prop("status")),
    ("Trigger", prop("triggerType")),
    ("Scan", prop("scanStatus")),
    ("Items", prop("itemsTransferred")),
    ("Bytes", prop("bytesTransferred")),
    ("Failed", prop("itemsFailed")),
    ("Created", field("systemData", "createdAt")),
]

PROJECT_OPTION = click.option(
    "--project-name", "--project", "project", required=True, metavar="NAME", help="The project."
)
JOB_OPTION = click.option(
    "--job-definition-name",
    "--job",
    "job_name",
    required=True,
    metavar="NAME",
    help="The job definition.",
)
COPY_MODE = click.Choice(["Additive", "Mirror"])
INTEGRITY = click.Choice(["SaveVerifyFileMD5", "SaveFileMD5", "None"])


SCHEDULE_OPTION = click.option(
    "--schedule",
    metavar="JSON",
    callback=json_object,
    help='A ScheduleInfo object, e.g. \'{"frequency": "Daily", "executionTime": {"hour": 2}}\'.',
)


def job_path(api: Api, mover: str, project: str, name: str, *rest: str) -> str:
    return api.mover(mover, "projects", project, "jobDefinitions", name, *rest)


@job.command("create")
@MOVER_OPTION
@PROJECT_OPTION
@NAME_OPTION
@click.option("--copy-mode", type=COPY_MODE, required=True, help="Additive or Mirror.")
@click.option("--source-name", required=True, metavar="ENDPOINT", help="The source endpoint.")
@click.option("--target-name", required=True, metavar="ENDPOINT", help="The target endpoint.")
@click.option("--source-subpath", metavar="PATH", help="A subpath of the source.")
@click.option("--target-subpath", metavar="PATH", help="A subpath of the target.")
@click.option("--agent-name", metavar="AGENT", help="The agent that runs the job.")
@click.option(
    "--agent-pool-name", metavar="POOL", help="The agent pool whose agents share the job."
)
@click.option("--job-type", type=click.Choice(["OnPremToCloud", "CloudToCloud"]))
@click.option("--data-integrity-validation", type=INTEGRITY)
@click.option("--preserve-permissions/--no-preserve-permissions", default=None)
@SCHEDULE_OPTION
@DESCRIPTION_OPTION
@api_command()
def create(api: Api, mover: str, project: str, name: str, **options: Any) -> None:
    """Create (or replace) a job definition; source, target and subpaths are fixed for good."""
    wire = {
        "copy_mode": "copyMode",
        "source_name": "sourceName",
        "target_name": "targetName",
        "source_subpath": "sourceSubpath",
        "target_subpath": "targetSubpath",
        "agent_name": "agentName",
        "agent_pool_name": "agentPoolName",
        "job_type": "jobType",
        "data_integrity_validation": "dataIntegrityValidation",
        "preserve_permissions": "preservePermissions",
        "schedule": "schedule",
        "description": "description",
    }
    properties = {wire[k]: v for k, v in options.items() if v is not None and v != ""}
    body = {"properties": properties}
    api.show(api.client.put(job_path(api, mover, project, name), body))


@job.command("show")
@MOVER_OPTION
@PROJECT_OPTION
@NAME_OPTION
@api_command()
def show(api: Api, mover: str, project: str, name: str) -> None:
    """Show a job definition."""
    api.show(api.client.get(job_path(api, mover, project, name)))


@job.command("list")
@MOVER_OPTION
@PROJECT_OPTION
@api_command()
def list_(api: Api, mover: str, project: str) -> None:
    """List the job definitions of a project."""
    path = api.mover(mover, "projects", project, "jobDefinitions")
    api.show_list(api.client.list(path), JOB_COLUMNS)


@job.command("update")
@MOVER_OPTION
@PROJECT_OPTION
@NAME_OPTION
@click.option("--copy-mode", type=COPY_MODE)
@click.option("--agent-name", metavar="AGENT", help="The agent ('' for none).")
@click.option("--data-integrity-validation", type=INTEGRITY)
@SCHEDULE_OPTION
@DESCRIPTION_OPTION
@api_command()
def update(
    api: Api,
    mover: str,
    project: str,
    name: str,
    copy_mode: str | None,
    agent_name: str | None,
    data_integrity_validation: str | None,
    schedule: Any,
    description: str | None,
) -> None:
    """Change a job definition's settings (they apply from its next run)."""
    properties: dict[str, Any] = {}
    if copy_mode is not None:
        properties["copyMode"] = copy_mode
    if agent_name is not None:
        properties["agentName"] = agent_name or None
    if data_integrity_validation is not None:
        properties["dataIntegrityValidation"] = data_integrity_validation
    if schedule is not None:
        properties["schedule"] = schedule or None
    if description is not None:
        properties["description"] = description
    body = {"properties": properties} if properties else {}
    api.show(api.client.patch(job_path(api, mover, project, name), body))


@job.command("delete")
@MOVER_OPTION
@PROJECT_OPTION
@NAME_OPTION
@api_command()
def delete(api: Api, mover: str, project: str, name: str) -> None:
    """Delete a job definition (refused while it has an active run)."""
    existed = api.client.delete(job_path(api, mover, project, name))
    api.deleted(existed, f"job definition '{name}'")


def run_name(answer: dict[str, Any]) -> str:
    return str(answer.get("jobRunResourceId", "")).rsplit("/", 1)[-1]


@job.command("start-job")
@MOVER_OPTION
@PROJECT_OPTION
@NAME_OPTION
@api_command()
def start_job(api: Api, mover: str, project: str, name: str) -> None:
    """Start a run of a job definition; it waits in Queued until an agent takes it."""
    answer = api.client.post(job_path(api, mover, project, name, "startJob"))
    if api.as_json:
        api.show(answer)
    else:
        click.echo(f"Started job run {run_name(answer)}.")


@job.command("stop-job")
@MOVER_OPTION
@PROJECT_OPTION
@NAME_OPTION
@api_command()
def stop_job(api: Api, mover: str, project: str, name: str) -> None:
    """Stop the active run of a job definition."""
    answer = api.client.post(job_path(api, mover, project, name, "stopJob"))
    if api.as_json:
        api.show(answer)
    else:
        click.echo(f"Stop requested for job run {run_name(answer)}.")


@run.command("show")
@MOVER_OPTION
@PROJECT_OPTION
@JOB_OPTION
@NAME_OPTION
@api_command()
def run_show(api: Api, mover: str, project: str, job_name: str, name: str) -> None:
    """Show a job run."""
    api.show(api.client.get(job_path(api, mover, project, job_name, "jobRuns", name)))


@run.command("list")
@MOVER_OPTION
@PROJECT_OPTION
@JOB_OPTION
@api_command()
def run_list(api: Api, mover: str, project: str, job_name: str) -> None:
    """List the runs of a job definition."""
    path = job_path(api, mover, project, job_name, "jobRuns")
    api.show_list(api.client.list(path), RUN_COLUMNS)


@run.command("logs")
@MOVER_OPTION
@PROJECT_OPTION
@JOB_OPTION
@NAME_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="JSON lines, or CSV with the columns of the engine's copy log.",
)
@click.option(
    "--output", "-o", metavar="FILE", help="Write the log to FILE (mode 0600), not to stdout."
)
@api_command()
def run_logs(
    api: Api, mover: str, project: str, job_name: str, name: str, fmt: str, output: str | None
) -> None:
    """Download a job run's copy log: one record per item (path, result, status code)."""
    path = job_path(api, mover, project, job_name, "jobRuns", name, "copyLog")
    body = api.client.send("GET", path, params={"format": fmt}).body
    if output is None:
        sys.stdout.buffer.write(body)
        return

    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with open(fd, "wb") as stream:
        stream.write(body)
    if not api.as_json:
        click.echo(f"Wrote the copy log of run {name} to {output}.", err=True)
