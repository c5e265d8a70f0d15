"""Stored access policies behind the run SAS an agent receives (docs/design.md §5.8, §8.3).

For each Azure Blob container a leased run touches, the control plane puts a stored access
policy ``ferry-r<RUN>-a<AGENT>-<s|t>`` on the container (the run's source or target, for the
agent working on it) holding the permissions and a short expiry
(``Settings.run_sas_ttl_seconds``); the SAS it signs names only that policy (``si=``). While
the run lives, progress reports push the policy's expiry forward; when the agent's work on the
run ends (completion, an expired lease, the agent unregistered) the policy is removed and the
SAS stops working at once. The agents of a pool run hold one policy each per container for
all the work units they take of it; theirs are removed when the run ends, when their unit's
lease expires, or when they are unregistered.

A container holds at most 5 policies. Other policies on the container are kept as they are
(read-modify-write, with the container's public-access level); when the 5 are taken, expired
Ferry policies go first (oldest expiry first); with 5 live ones the lease fails with a message.

What was granted is recorded in ``JobRun.properties["accessPolicies"]`` (policy id, endpoint,
container, permissions, expiry, lease id), so any replica can renew or revoke it. Two
replicas changing the same container's policies at the same instant may lose one change (the
Blob API offers no ETag condition on this call); within one server a lock per container
orders them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import AccessPolicy, ContainerClient, ContainerSasPermissions
from sqlalchemy.orm import Session

from ferry.control.credentials import CredentialError
from ferry.control.models import Endpoint, JobRun, utcnow
from ferry.control.secrets import SecretReferenceError
from ferry.control.storage_accounts import BlobContainerAccess, blob_container_access

log = logging.getLogger(__name__)

PREFIX = "ferry-"
MAX_POLICIES = 5  # the Blob service's limit per container
RUN_KEY = "accessPolicies"
CLOCK_SKEW = dt.timedelta(minutes=5)
TIMEOUT = 30  # seconds per storage call

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class PolicyLimitReached(CredentialError):
    """The container already holds 5 stored access policies that cannot be evicted."""


def _lock(container_url: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(container_url, threading.Lock())


def policy_id(run: JobRun, agent_id: int, role: str) -> str:
    return f"{PREFIX}r{run.id}-a{agent_id}-{role[:1]}"


def container_client(access: BlobContainerAccess) -> ContainerClient:
    return ContainerClient.from_container_url(
        access.container_url,
        credential=AzureNamedKeyCredential(access.account_name, access.account_key),
        connection_timeout=TIMEOUT,
        read_timeout=TIMEOUT,
    )


def _expiry_of(policy: AccessPolicy | None) -> dt.datetime | None:
    value: Any = getattr(policy, "expiry", None)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def _read(client: ContainerClient) -> tuple[dict[str, AccessPolicy], Any]:
    current = client.get_container_access_policy()
    policies = {
        ident.id: ident.access_policy or AccessPolicy() for ident in current["signed_identifiers"]
    }
    return policies, current.get("public_access")


def put_policy(
    access: BlobContainerAccess, ident: str, permission: str, expiry: dt.datetime
) -> None:
    """Add or update the policy ``ident``; evict expired Ferry policies when all 5 are taken."""
    with _lock(access.container_url):
        client = container_client(access)
        policies, public_access = _read(client)
        policies[ident] = AccessPolicy(
            permission=permission, start=utcnow() - CLOCK_SKEW, expiry=expiry
        )
        if len(policies) > MAX_POLICIES:
            now = utcnow()
            expired = sorted(
                (
                    (expires, name)
                    for name, policy in policies.items()
                    if name.startswith(PREFIX)
                    and name != ident
                    and (expires := _expiry_of(policy)) is not None
                    and expires <= now
                ),
            )
            for _expires, name in expired[: len(policies) - MAX_POLICIES]:
                del policies[name]
        if len(policies) > MAX_POLICIES:
            ours = sum(1 for name in policies if name.startswith(PREFIX)) - 1
            raise PolicyLimitReached(
                f"The container {access.container_url} already holds {MAX_POLICIES} stored "
                f"access policies ({ours} of them Ferry's, of runs still working), the most "
                "the Blob service allows; the run cannot get its access. Remove unused "
                "policies from the container, or start the run when others have ended."
            )
        client.set_container_access_policy(policies, public_access=public_access)


def drop_policies(access: BlobContainerAccess, idents: Iterable[str]) -> None:
    """Remove the policies ``idents`` (others stay); a missing container is not an error."""
    wanted = set(idents)
    with _lock(access.container_url):
        client = container_client(access)
        try:
            policies, public_access = _read(client)
        except ResourceNotFoundError:
            return
        kept = {name: policy for name, policy in policies.items() if name not in wanted}
        if len(kept) != len(policies):
            client.set_container_access_policy(kept, public_access=public_access)


@dataclass
class RunBinder:
    """Binds the SAS of ``run``'s containers, for ``agent_id`` under ``lease_id`` (a whole
    run's lease or a work unit's), to stored access policies (what
    ``credentials.store_access`` calls for blob endpoints). An agent taking unit after unit
    of one pool run keeps one policy per container, renewed as it reports progress; the
    grant records the latest lease, whose expiry revokes it."""

    run: JobRun
    agent_id: int
    lease_id: str
    ttl: dt.timedelta

    def __call__(
        self,
        endpoint: Endpoint,
        access: BlobContainerAccess,
        role: str,
        permissions: ContainerSasPermissions,
    ) -> str:
        ident = policy_id(self.run, self.agent_id, role)
        now = utcnow()
        held = next((g for g in _grants(self.run) if g["policyId"] == ident), None)
        if (
            held is not None
            and held["permission"] == str(permissions)
            and held["containerUrl"] == access.container_url
            and dt.datetime.fromisoformat(str(held["expiresAt"])) - now > self.ttl / 2
        ):
            # the agent's next work unit of the run: the policy it holds still has time
            self._record(endpoint, access, ident, permissions, held["expiresAt"])
            return ident
        expiry = now + self.ttl
        try:
            put_policy(access, ident, str(permissions), expiry)
        except AzureError as exc:
            raise CredentialError(
                f"Cannot set the access policy on {access.container_url}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
        self._record(endpoint, access, ident, permissions, expiry.isoformat())
        return ident

    def _record(
        self,
        endpoint: Endpoint,
        access: BlobContainerAccess,
        ident: str,
        permissions: ContainerSasPermissions,
        expires_at: str,
    ) -> None:
        grants = [g for g in _grants(self.run) if g["policyId"] != ident]
        grants.append(
            {
                "policyId": ident,
                "agentId": self.agent_id,
                "leaseId": self.lease_id,
                "endpointId": endpoint.id,
                "containerUrl": access.container_url,
                "permission": str(permissions),
                "expiresAt": expires_at,
            }
        )
        self.run.properties = {**self.run.properties, RUN_KEY: grants}


def _grants(run: JobRun) -> list[dict[str, Any]]:
    return [dict(g) for g in run.properties.get(RUN_KEY) or []]


def _access(session: Session, grant: dict[str, Any]) -> BlobContainerAccess | None:
    endpoint = session.get(Endpoint, int(grant["endpointId"]))
    if endpoint is None:
        return None
    try:
        return blob_container_access(session, endpoint)
    except (ValueError, SecretReferenceError, KeyError):
        return None


def renew(session: Session, run: JobRun, agent_id: int, ttl: dt.timedelta) -> None:
    """Push the expiry of ``agent_id``'s policies on ``run`` forward when half of it is gone
    (so a run reporting progress every second touches the container rarely)."""
    now = utcnow()
    grants = _grants(run)
    changed = False
    for grant in grants:
        if grant.get("agentId") != agent_id:
            continue
        expires = dt.datetime.fromisoformat(str(grant["expiresAt"]))
        if expires - now > ttl / 2:
            continue
        access = _access(session, grant)
        if access is None:
            continue
        expiry = now + ttl
        try:
            put_policy(access, str(grant["policyId"]), str(grant["permission"]), expiry)
        except (AzureError, CredentialError) as exc:
            log.warning("cannot renew access policy %s: %s", grant["policyId"], exc)
            continue
        grant["expiresAt"] = expiry.isoformat()
        changed = True
    if changed:
        run.properties = {**run.properties, RUN_KEY: grants}


def revoke(
    session: Session,
    run: JobRun,
    *,
    agent_id: int | None = None,
    lease_ids: Iterable[str] | None = None,
) -> None:
    """Remove the policies granted on ``run`` (those of ``agent_id`` / of ``lease_ids`` only,
    when given) from their containers, and forget them. A container that cannot be reached
    keeps the policy until its short expiry; that is logged."""
    leases = set(lease_ids) if lease_ids is not None else None
    grants = _grants(run)
    keep: list[dict[str, Any]] = []
    by_container: dict[str, list[dict[str, Any]]] = {}
    for grant in grants:
        if (agent_id is not None and grant.get("agentId") != agent_id) or (
            leases is not None and grant.get("leaseId") not in leases
        ):
            keep.append(grant)
            continue
        by_container.setdefault(str(grant["containerUrl"]), []).append(grant)
    for container, dropped in by_container.items():
        access = _access(session, dropped[0])
        if access is None or access.container_url != container:
            log.warning("cannot revoke access policies on %s: its endpoint changed", container)
            continue
        try:
            drop_policies(access, (str(g["policyId"]) for g in dropped))
        except AzureError as exc:
            log.warning(
                "cannot revoke access policies on %s (they expire by themselves): %s",
                container,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
    if len(keep) != len(grants):
        run.properties = {**run.properties, RUN_KEY: keep}
