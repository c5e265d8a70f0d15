"""``ferry agent``: the registered agents of a storage mover (show, list, update, delete).

Agents are created by their own registration: ``register`` and ``run`` are the agent's own
commands (run on the agent's machine, with its key, no admin token); ``approve`` is the
admin's side of registration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ferry.cli import exitcodes
from ferry.cli.api_options import (
    DESCRIPTION_OPTION,
    MOVER_OPTION,
    NAME_OPTION,
    YES_OPTION,
    Api,
    api_command,
    confirm,
    fail,
    group,
    json_object,
)
from ferry.cli.output import NAME, Column, prop

COLUMNS: list[Column] = [
    NAME,
    ("Status", prop("agentStatus")),
    ("Version", prop("agentVersion")),
    ("Local IP", prop("localIPAddress")),
    ("Last status", prop("lastStatusUpdate")),
    ("Description", prop("description")),
]

agent = group("agent", "Agents: the machines that move the data.")


@agent.command("show")
@MOVER_OPTION
@NAME_OPTION
@api_command()
def show(api: Api, mover: str, name: str) -> None:
    """Show an agent."""
    api.show(api.client.get(api.mover(mover, "agents", name)))


@agent.command("list")
@MOVER_OPTION
@api_command()
def list_(api: Api, mover: str) -> None:
    """List the agents registered to a storage mover."""
    api.show_list(api.client.list(api.mover(mover, "agents")), COLUMNS)


@agent.command("update")
@MOVER_OPTION
@NAME_OPTION
@DESCRIPTION_OPTION
@click.option(
    "--upload-limit-schedule",
    metavar="JSON",
    callback=json_object,
    help="The bandwidth schedule, e.g. '{\"weeklyRecurrences\": [...]}' ('' clears it).",
)
@api_command()
def update(
    api: Api, mover: str, name: str, description: str | None, upload_limit_schedule: Any
) -> None:
    """Change an agent's description or upload-limit schedule."""
    properties: dict[str, Any] = {}
    if description is not None:
        properties["description"] = description
    if upload_limit_schedule is not None:
        properties["uploadLimitSchedule"] = upload_limit_schedule or None
    body = {"properties": properties} if properties else {}
    api.show(api.client.patch(api.mover(mover, "agents", name), body))


@agent.command("delete")
@MOVER_OPTION
@NAME_OPTION
@YES_OPTION
@api_command()
def delete(api: Api, mover: str, name: str, yes: bool) -> None:
    """Unregister an agent; migrations running on it stop."""
    confirm(f"Unregister agent '{name}' (its running migrations stop)?", yes)
    api.deleted(api.client.delete(api.mover(mover, "agents", name)), f"agent '{name}'")


@agent.command("approve")
@click.argument("code")
@api_command(scoped=False)
def approve(api: Api, code: str) -> None:
    """Approve an agent's registration by the user code it printed (within 15 minutes)."""
    from ferry.cli.client import STORAGE_API_VERSION

    created = api.client.post(
        "/ferry/v1/agentRegistrations/approve", {"userCode": code}, api_version=STORAGE_API_VERSION
    )
    if api.as_json:
        api.show(created)
    else:
        api.say(f"Approved agent '{created['name']}': {created['id']}")


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("ferry-agent"),
    show_default=True,
    envvar="FERRY_AGENT_DATA_DIR",
    help="Where the agent keeps its key (0600) and registration [env FERRY_AGENT_DATA_DIR].",
)


@agent.command("register")
@click.option("--server", required=True, metavar="URL", help="The Ferry server.")
@MOVER_OPTION
@click.option("--name", "-n", "name", required=True, metavar="NAME", help="This agent's name.")
@click.option("--subscription", metavar="ID", envvar="FERRY_SUBSCRIPTION", help="Subscription id.")
@click.option(
    "--resource-group", "-g", metavar="NAME", envvar="FERRY_RESOURCE_GROUP", help="Resource group."
)
@DATA_DIR_OPTION
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="FERRY_CA_FILE",
    help="The server's CA (the ca.pem 'ferry server' prints), kept as the only CA this agent "
    "trusts [env FERRY_CA_FILE; default: the system's CAs].",
)
def register(
    server: str,
    mover: str,
    name: str,
    subscription: str | None,
    resource_group: str | None,
    data_dir: Path,
    ca_file: Path | None,
) -> None:
    """Register this machine as an agent: prints a code for an admin to approve."""
    from ferry.agent.client import ProtocolError, ProtocolMismatch, Unreachable
    from ferry.agent.registration import RegistrationFailed
    from ferry.agent.registration import register as run_registration
    from ferry.cli.config import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION, normalize_server

    def show_code(code: str, expires: str) -> None:
        click.echo(f"Registration code: {code}")
        click.echo(f"An admin approves it with: ferry agent approve {code}  (before {expires})")
        click.echo("Waiting for approval...", nl=True)

    try:
        state = run_registration(
            server=normalize_server(server),
            subscription=subscription or DEFAULT_SUBSCRIPTION,
            resource_group=resource_group or DEFAULT_RESOURCE_GROUP,
            mover=mover,
            agent_name=name,
            data_dir=data_dir,
            show_code=show_code,
            ca_file=ca_file,
        )
    except (RegistrationFailed, Unreachable, ProtocolError, ProtocolMismatch) as exc:
        fail(str(exc))
    except Exception as exc:  # ConfigError of a bad URL
        fail(str(exc), exitcodes.USAGE)
    click.echo(
        f"Approved: agent '{state.agent_name}' of storage mover '{state.storage_mover}'. "
        f"Start it with: ferry agent run --data-dir {data_dir}"
    )


@agent.command("run")
@DATA_DIR_OPTION
@click.option(
    "--heartbeat-interval",
    type=click.FloatRange(min=0.05),
    default=30.0,
    show_default=True,
    help="Seconds between heartbeats.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="Seconds between looks for work when there is none.",
)
@click.option(
    "--progress-interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between progress reports of a running job.",
)
@click.option("--bwlimit", metavar="RATE", help="Cap the agent's data rate, e.g. 10M (bytes/s).")
def run(
    data_dir: Path,
    heartbeat_interval: float,
    poll_interval: float,
    progress_interval: float,
    bwlimit: str | None,
) -> None:
    """Run the agent: heartbeat, take job runs and copy their data."""
    import logging
    import signal

    from ferry.agent.client import AgentRevoked, ProtocolMismatch, Unreachable
    from ferry.agent.daemon import Daemon, DaemonOptions
    from ferry.agent.identity import IdentityError
    from ferry.agent.lease_runner import RunnerOptions
    from ferry.cli.sizes import parse_rate

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        rate = parse_rate(bwlimit) if bwlimit else None
    except ValueError as exc:
        fail(f"--bwlimit: {exc}", exitcodes.USAGE)
    options = DaemonOptions(
        heartbeat_interval=heartbeat_interval,
        poll_interval=poll_interval,
        runner=RunnerOptions(progress_interval=progress_interval, bwlimit=rate),
    )
    try:
        daemon = Daemon(data_dir, options)
    except (IdentityError, AgentRevoked) as exc:
        fail(str(exc), exitcodes.USAGE)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop.set())
    click.echo(f"Agent '{daemon.state.agent_name}' running against {daemon.state.server}")
    try:
        daemon.run()
    except AgentRevoked as exc:
        fail(
            f"the control plane refused this agent ({exc}); it was unregistered. "
            "Register it again with 'ferry agent register'."
        )
    except ProtocolMismatch as exc:
        fail(str(exc))
    except Unreachable as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        daemon.stop.set()
    click.echo("Agent stopped.")
