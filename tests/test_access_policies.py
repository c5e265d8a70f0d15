"""Just-in-time blob access (docs/design.md §5.8) against Azurite: the SAS a lease carries names a
stored access policy on the container; it works while the run lives and is refused (403) as
soon as the run ends or the agent is unregistered. Other policies on the container stay; the
5-policy limit evicts expired Ferry policies and otherwise fails the run with a message.

The agent here is this test, in-process: it registers with a fresh key, leases through the
agent protocol and uses the SAS it received directly with azure-storage-blob."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import AccessPolicy, ContainerClient, ContainerSasPermissions
from sqlalchemy import select, update

from agent_harness import in_process_agent
from control_server import Ferry, RunningServer
from ferry.agent.client import AgentClient
from ferry.control import Settings, work_units
from ferry.control.models import JobDefinition, JobRun, WorkUnit
from ferry.protocol import Completion, Lease, ProgressReport
from servers import Azurite

RG = "rg-jit"
MOVER = "mover"


@pytest.fixture(scope="module")
def jit_ferry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ferry]:
    data_dir = tmp_path_factory.mktemp("ferry-jit")
    settings = Settings(data_dir=data_dir, retry_after_ms=50, agent_sweep_interval_seconds=None)
    with RunningServer(settings) as server:
        token = (data_dir / "admin.token").read_text().strip()
        yield Ferry("sqlite", server.url, data_dir, token)


@dataclass
class Site:
    ferry: Ferry
    client: Any
    azurite: Azurite
    container: str
    tmp: Path

    def container_client(self) -> ContainerClient:
        return self.azurite.service().get_container_client(self.container)  # type: ignore[no-any-return]

    def agent(self, name: str) -> AgentClient:
        """Register agent ``name`` in-process (approved with the admin token)."""
        sub = self.client._config.subscription_id
        return in_process_agent(self.ferry, sub, RG, MOVER, name, self.tmp / f"agent-{name}")

    def start(self, job: str, agent: str, mode: str = "Additive") -> None:
        body = {"copyMode": mode, "sourceName": "src", "targetName": "blob", "agentName": agent}
        self.client.job_definitions.create_or_update(RG, MOVER, "proj", job, {"properties": body})
        self.client.job_definitions.start_job(RG, MOVER, "proj", job)

    def run_status(self, job: str) -> Any:
        runs = list(self.client.job_runs.list(RG, MOVER, "proj", job))
        assert len(runs) == 1
        return runs[0].properties


@pytest.fixture
def site(jit_ferry: Ferry, azurite: Azurite, tmp_path: Path) -> Site:
    ferry = jit_ferry
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, MOVER, {"location": "eastus"})
    client.projects.create_or_update(RG, MOVER, "proj", {})
    container = "jit" + uuid.uuid4().hex[:12]
    azurite.service().create_container(container)
    account_id = (
        f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Storage"
        f"/storageAccounts/{azurite.primary.name}"
    )
    key_uri = ferry.put_secret("key-" + sub[:8], azurite.primary.key)
    body = {
        "location": "eastus",
        "properties": {
            "primaryEndpoints": {"blob": azurite.primary.url + "/"},
            "accountKeySecretUri": key_uri,
        },
    }
    assert ferry.http("PUT", account_id, json=body).status_code == 200
    (tmp_path / "src").mkdir()
    for name, properties in {
        "src": {"endpointType": "LocalPath", "path": str(tmp_path / "src")},
        "blob": {
            "endpointType": "AzureStorageBlobContainer",
            "storageAccountResourceId": account_id,
            "blobContainerName": container,
        },
    }.items():
        client.endpoints.create_or_update(RG, MOVER, name, {"properties": properties})
    return Site(ferry, client, azurite, container, tmp_path)


def sas_works(address: str) -> bool:
    """Write and list with the SAS; False when the service refuses it (403)."""
    container = ContainerClient.from_container_url(address)
    try:
        container.upload_blob(f"probe-{uuid.uuid4().hex}", b"x")
        list(container.list_blobs())
    except HttpResponseError as exc:
        assert exc.status_code == 403, exc
        return False
    return True


def policies(site: Site) -> dict[str, Any]:
    found = site.container_client().get_container_access_policy()
    return {ident.id: ident.access_policy for ident in found["signed_identifiers"]}


def test_sas_is_bound_to_a_policy_and_revoked_when_the_run_ends(site: Site) -> None:
    site.container_client().set_container_access_policy(
        {"keepme": AccessPolicy(permission="r", expiry=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))},
        public_access="blob",
    )
    agent = site.agent("a1")
    site.start("job", "a1")
    lease = agent.lease()
    assert lease is not None
    address = str(lease.target.address)
    assert "si=ferry-" in address and "sp=" not in address and "se=" not in address
    held = policies(site)
    assert set(held) == {"keepme", next(k for k in held if k.startswith("ferry-"))}
    ours = next(v for k, v in held.items() if k.startswith("ferry-"))
    assert "d" not in ours.permission and {"r", "w", "l"} <= set(ours.permission)  # Additive
    assert sas_works(address)
    agent.progress(
        lease.lease_id, ProgressReport(status="Running", scan_status="Scanning", counters=None)
    )
    assert sas_works(address)

    assert (
        agent.complete(
            lease.lease_id,
            Completion(status="Succeeded", scan_status="Completed", counters=None, error=None),
        ).status
        == "Succeeded"
    )
    assert not sas_works(address)
    assert set(policies(site)) == {"keepme"}
    access = site.container_client().get_container_access_policy()
    assert access["public_access"] == "blob"  # the container's other settings stay


def test_mirror_target_may_delete(site: Site) -> None:
    agent = site.agent("a2")
    site.start("mirror", "a2", mode="Mirror")
    lease = agent.lease()
    assert lease is not None
    ours = next(v for k, v in policies(site).items() if k.startswith("ferry-"))
    assert "d" in ours.permission
    agent.complete(
        lease.lease_id, Completion(status="Failed", scan_status=None, counters=None, error=None)
    )
    assert policies(site) == {}


def test_unregistering_the_agent_mid_run_revokes_the_sas(site: Site) -> None:
    agent = site.agent("a3")
    site.start("job3", "a3")
    lease = agent.lease()
    assert lease is not None
    address = str(lease.target.address)
    assert sas_works(address)
    site.client.agents.begin_delete(RG, MOVER, "a3").result()
    assert not sas_works(address)
    assert policies(site) == {}
    run = site.run_status("job3")
    assert str(getattr(run.status, "value", run.status)) == "Failed"
    assert run.error is not None and run.error.code == "AgentUnregistered"


def test_policy_limit(site: Site) -> None:
    container = site.container_client()
    live = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    past = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    perm = ContainerSasPermissions(read=True)
    foreign = {f"other{i}": AccessPolicy(permission=perm, expiry=live) for i in range(4)}
    # four foreign policies and an expired Ferry one: the expired one makes room
    container.set_container_access_policy(
        {**foreign, "ferry-r999-a1-t": AccessPolicy(permission=perm, expiry=past)}
    )
    agent = site.agent("a4")
    site.start("job4", "a4")
    lease = agent.lease()
    assert lease is not None
    held = set(policies(site))
    assert set(foreign) < held and "ferry-r999-a1-t" not in held and len(held) == 5
    agent.complete(
        lease.lease_id, Completion(status="Succeeded", scan_status=None, counters=None, error=None)
    )
    assert set(policies(site)) == set(foreign)

    # five live policies: the run fails with a message saying why
    container.set_container_access_policy({**foreign, "other4": AccessPolicy(perm, live)})
    site.start("job5", "a4")
    assert agent.lease() is None
    run = site.run_status("job5")
    assert str(getattr(run.status, "value", run.status)) == "Failed"
    assert run.error is not None and "5 stored access policies" in run.error.message
    assert set(policies(site)) == {*foreign, "other4"}


def start_pool_job(site: Site, job: str, agent: str) -> None:
    """A job of the agent pool ``pool-<agent>`` (of that one agent) into the container."""
    mover = site.client.storage_movers.get(RG, MOVER).id
    pool = site.ferry.http(
        "PUT", f"{mover}/agentPools/pool-{agent}", json={"properties": {"agents": [agent]}}
    )
    assert pool.status_code == 200, pool.text
    body = {
        "copyMode": "Additive",
        "sourceName": "src",
        "targetName": "blob",
        "agentPoolName": f"pool-{agent}",
    }
    site.client.job_definitions.create_or_update(RG, MOVER, "proj", job, {"properties": body})
    site.client.job_definitions.start_job(RG, MOVER, "proj", job)


def complete_unit(agent: AgentClient, lease: Lease, subdirs: list[str]) -> str:
    return agent.complete(lease.lease_id, Completion(status="Succeeded", subdirs=subdirs)).status


def test_pool_unit_sas_is_bound_and_revoked_when_the_run_ends(site: Site) -> None:
    agent = site.agent("u1")
    start_pool_job(site, "pooled", "u1")
    root = agent.lease()
    assert root is not None and root.unit.path == ""
    address = str(root.target.address)
    assert "si=ferry-" in address and "sp=" not in address and "se=" not in address
    held = {k: v for k, v in policies(site).items() if k.startswith("ferry-")}
    assert len(held) == 1 and "d" not in next(iter(held.values())).permission
    assert sas_works(address)
    agent.progress(root.lease_id, ProgressReport(status="Running"))
    assert complete_unit(agent, root, ["sub"]) == "Running"
    assert sas_works(address)  # the run goes on: the agent keeps its policy for the next unit

    child = agent.lease()
    assert child is not None and child.unit.path == "sub"
    assert set(policies(site)) == set(held)  # the same policy serves the next unit
    assert complete_unit(agent, child, []) == "Succeeded"
    assert not sas_works(address) and not sas_works(str(child.target.address))
    assert policies(site) == {}


def lease_first_unit(site: Site, job: str, agent_name: str) -> tuple[AgentClient, Lease, str]:
    """Agent ``agent_name`` leases the root unit of a new pool job; its target SAS works."""
    agent = site.agent(agent_name)
    start_pool_job(site, job, agent_name)
    unit = agent.lease()
    assert unit is not None
    address = str(unit.target.address)
    assert sas_works(address)
    return agent, unit, address


def test_unregistering_a_pool_agent_revokes_its_unit_sas(site: Site) -> None:
    _agent, _unit, address = lease_first_unit(site, "pooled2", "u2")
    site.client.agents.begin_delete(RG, MOVER, "u2").result()
    assert not sas_works(address)
    assert policies(site) == {}
    with site.ferry.db() as session:  # its unit is back in the queue for the pool's others
        states = session.scalars(
            select(WorkUnit.state)
            .join(JobRun, JobRun.id == WorkUnit.job_run_id)
            .join(JobDefinition, JobDefinition.id == JobRun.job_definition_id)
            .where(JobDefinition.name == "pooled2")
        ).all()
    assert states == ["queued"]


def test_an_expired_unit_lease_revokes_its_sas(site: Site) -> None:
    agent, unit, address = lease_first_unit(site, "pooled3", "u3")
    with site.ferry.db() as session:  # the agent went silent: its lease runs out, a sweep runs
        session.execute(
            update(WorkUnit)
            .where(WorkUnit.lease_id == unit.lease_id)
            .values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        )
        session.commit()
        work_units.sweep(session)
    assert not sas_works(address)
    assert policies(site) == {}
    again = agent.lease()  # the unit is queued again, and its new lease gets a new policy
    assert again is not None and again.unit.path == "" and again.unit.attempt == 2
    assert sas_works(str(again.target.address))


def test_progress_renews_a_policy_running_out(site: Site) -> None:
    agent = site.agent("r1")
    site.start("renewed", "r1")
    lease = agent.lease()
    assert lease is not None
    address = str(lease.target.address)
    ident = next(k for k in policies(site) if k.startswith("ferry-"))
    # a run that has held its policy for most of its 30 minutes: one minute left
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    container = site.container_client()
    held = policies(site)[ident]
    container.set_container_access_policy({ident: AccessPolicy(held.permission, soon)})
    with site.ferry.db() as session:
        run = session.scalars(select(JobRun).where(JobRun.key == lease.run.name)).one()
        grants = [{**g, "expiresAt": soon.isoformat()} for g in run.properties["accessPolicies"]]
        run.properties = {**run.properties, "accessPolicies": grants}
        session.commit()

    agent.progress(
        lease.lease_id, ProgressReport(status="Running", scan_status="Scanning", counters=None)
    )
    renewed = policies(site)[ident]
    expiry = renewed.expiry
    if isinstance(expiry, str):
        expiry = dt.datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    assert expiry - dt.datetime.now(dt.UTC) > dt.timedelta(minutes=25)
    assert renewed.permission == held.permission
    assert sas_works(address)
    agent.complete(
        lease.lease_id, Completion(status="Succeeded", scan_status=None, counters=None, error=None)
    )
    assert not sas_works(address)
