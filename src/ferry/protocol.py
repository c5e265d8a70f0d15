"""The vocabulary the control plane and its agents speak (docs/agent-protocol.md): the protocol
version, the routes, the run, scan and work-unit states, the counter names and every message
an agent sends or receives. Both sides build and read these models; this module imports
neither side, so an agent's and a server's idea of a message cannot drift apart.

Wire names are camelCase; fields a side does not know are ignored, so an optional field can be
added without a new version. A change that an agent of the previous version would misread
(a renamed or removed field, a new required one, a changed meaning) raises PROTOCOL_VERSION.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# 1: a whole run and a pool's work unit were two kinds of lease with two sets of routes.
# 2: one kind of lease (a work unit, the whole run being its root unit), this module's messages.
PROTOCOL_VERSION = 2
VERSION_HEADER = "Ferry-Agent-Protocol"
VERSION_MISMATCH = "AgentProtocolVersionMismatch"

PREFIX = "/ferry/v1"
REGISTRATIONS = PREFIX + "/agentRegistrations"
AGENT = PREFIX + "/agent"
TOKEN = AGENT + "/token"
HEARTBEAT = AGENT + "/heartbeat"
LEASES = AGENT + "/leases"
MAX_CHUNK_BYTES = 1024 * 1024  # one copy-log shipment
MAX_SUBDIRS = 100_000  # subdirectories one completed unit may queue


def lease_route(lease_id: str, action: Literal["progress", "copyLog", "complete"]) -> str:
    return f"{LEASES}/{lease_id}/{action}"


def version_mismatch_message(theirs: str | None) -> str:
    """What a server tells an agent that speaks another protocol version."""
    spoken = f"version {theirs}" if theirs else "no version (an agent older than version 2)"
    return (
        f"This Ferry server speaks agent protocol version {PROTOCOL_VERSION}; the agent speaks "
        f"{spoken}. Install the Ferry release of the server on the agent and start it again."
    )


# -- states -----------------------------------------------------------------------------------


class RunStatus(enum.StrEnum):
    """A job run's status, as Storage Mover names it."""

    QUEUED = "Queued"
    STARTED = "Started"
    RUNNING = "Running"
    PAUSED_BY_BANDWIDTH = "PausedByBandwidthManagement"
    CANCEL_REQUESTED = "CancelRequested"
    CANCELING = "Canceling"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"


ACTIVE_RUN_STATUSES = frozenset(
    {
        RunStatus.QUEUED,
        RunStatus.STARTED,
        RunStatus.RUNNING,
        RunStatus.PAUSED_BY_BANDWIDTH,
        RunStatus.CANCEL_REQUESTED,
        RunStatus.CANCELING,
    }
)
FINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})
CANCEL_RUN_STATUSES = frozenset({RunStatus.CANCEL_REQUESTED, RunStatus.CANCELING})
# a started run whose units agents may lease
WORKING_RUN_STATUSES = frozenset(
    {RunStatus.STARTED, RunStatus.RUNNING, RunStatus.PAUSED_BY_BANDWIDTH}
)
# what an agent may report while it works: the run takes the latest
REPORTABLE_RUN_STATUSES = frozenset(
    {RunStatus.RUNNING, RunStatus.PAUSED_BY_BANDWIDTH, RunStatus.CANCELING}
)


class ScanStatus(enum.StrEnum):
    NOT_STARTED = "NotStarted"
    SCANNING = "Scanning"
    COMPLETED = "Completed"


class UnitState(enum.StrEnum):
    """A work unit's state on the control plane."""

    QUEUED = "queued"
    LEASED = "leased"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"


OPEN_UNIT_STATES = frozenset({UnitState.QUEUED, UnitState.LEASED})


class UnitOutcome(enum.StrEnum):
    """How an agent ends a unit it holds."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"


class AgentStatus(enum.StrEnum):
    """An agent's status, as Storage Mover names it (the heartbeat answers it)."""

    REGISTERING = "Registering"
    OFFLINE = "Offline"
    ONLINE = "Online"
    EXECUTING = "Executing"
    REQUIRES_ATTENTION = "RequiresAttention"


class RunKind(enum.StrEnum):
    """What a run does with its units; the agent picks the engine operation by it."""

    COPY = "Copy"


# -- messages ---------------------------------------------------------------------------------


def contains_nul(value: object) -> bool:
    """Some string in ``value`` (a JSON document: dicts, lists, scalars) holds U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


class Message(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        # PostgreSQL text cannot hold U+0000, and no name, path or message needs one
        if contains_nul(data):
            raise ValueError("strings may not contain NUL (U+0000) characters")
        return data

    def wire(self) -> dict[str, Any]:
        """The message as JSON-ready data under its wire names."""
        return self.model_dump(mode="json", by_alias=True)


Count = Annotated[int, Field(ge=0)]


class Counters(Message):
    """The twelve job-run counters of a unit or a run, under their Storage Mover names."""

    items_scanned: Count = 0
    items_excluded: Count = 0
    items_unsupported: Count = 0
    items_no_transfer_needed: Count = 0
    items_failed: Count = 0
    items_transferred: Count = 0
    bytes_scanned: Count = 0
    bytes_excluded: Count = 0
    bytes_unsupported: Count = 0
    bytes_no_transfer_needed: Count = 0
    bytes_failed: Count = 0
    bytes_transferred: Count = 0

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The twelve wire names, in the order Storage Mover lists them."""
        return tuple(str(field.alias) for field in cls.model_fields.values())

    @classmethod
    def of(cls, named: dict[str, Any]) -> Counters:
        """The counters among ``named`` (wire names; others, like itemsDeleted, are left)."""
        return cls.model_validate({name: named.get(name, 0) for name in cls.names()})

    def named(self) -> dict[str, int]:
        values: dict[str, int] = self.model_dump(by_alias=True)
        return values

    def __add__(self, other: Counters) -> Counters:
        mine, theirs = self.named(), other.named()
        return Counters.of({name: mine[name] + theirs[name] for name in mine})


class ErrorDetail(Message):
    code: Annotated[str, Field(min_length=1, max_length=100)]
    message: Annotated[str, Field(max_length=2000)]


def error_detail(code: str, message: str) -> ErrorDetail:
    """An ErrorDetail whose message is cut to what the protocol carries."""
    return ErrorDetail(code=code[:100], message=message[:2000])


DayOfWeek = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class UploadLimitTime(Message):
    hour: int
    minute: int = 0

    @property
    def minutes(self) -> int:
        return self.hour * 60 + self.minute


class WeeklyRecurrence(Message):
    start_time: UploadLimitTime
    end_time: UploadLimitTime
    days: list[DayOfWeek]
    limit_in_mbps: int


class UploadLimitSchedule(Message):
    """An agent's weekly upload limits, as Storage Mover's ``uploadLimitSchedule``."""

    weekly_recurrences: list[WeeklyRecurrence] = Field(default_factory=list)


class StoreGrant(Message):
    """How the agent opens one side of a run: a store address and the secrets it needs
    (a SAS bound to the lease, an S3 key pair, an SMB password), held in memory only.
    ``shown`` is the address with no secret in it, for messages and logs."""

    address: str
    env: dict[str, str] = Field(default_factory=dict)
    shown: str = ""


class RunInfo(Message):
    name: str
    id: str
    kind: str = RunKind.COPY.value  # a str: an agent refuses a kind it does not know itself
    copy_mode: Literal["Additive", "Mirror"] = "Additive"
    data_integrity_validation: str = "None"
    source_name: str | None = None
    target_name: str | None = None


class UnitInfo(Message):
    """The directory a lease covers, relative to the source's root ("" is the root), and
    whether it covers the whole subtree (a run given to one agent) or one level (a unit of a
    pool run, whose subdirectories the completion returns as new units)."""

    path: str
    recursive: bool
    attempt: int


class Lease(Message):
    """The answer to POST LEASES: one work unit to run until ``expires_at`` unless renewed."""

    lease_id: str
    expires_at: str
    lease_seconds: float
    run: RunInfo
    unit: UnitInfo
    source: StoreGrant
    target: StoreGrant
    upload_limit_schedule: UploadLimitSchedule = Field(default_factory=UploadLimitSchedule)


class ProgressReport(Message):
    status: RunStatus | None = None
    scan_status: ScanStatus | None = None
    counters: Counters | None = None


class ProgressAnswer(Message):
    cancel_requested: bool
    expires_at: str


class Completion(Message):
    status: UnitOutcome
    scan_status: ScanStatus | None = None
    counters: Counters | None = None
    subdirs: Annotated[list[str], Field(max_length=MAX_SUBDIRS)] = Field(default_factory=list)
    error: ErrorDetail | None = None


class CompletionAnswer(Message):
    status: RunStatus  # the run's, after this unit


class CopyLogAnswer(Message):
    size: int  # what the server holds of this lease's copy log


class Heartbeat(Message):
    facts: dict[str, Any] = Field(default_factory=dict)
    error_details: ErrorDetail | None = None


class HeartbeatAnswer(Message):
    agent_status: AgentStatus
    agent_resource_id: str
    upload_limit_schedule: UploadLimitSchedule = Field(default_factory=UploadLimitSchedule)


class TokenAnswer(Message):
    token: str
    expires_on: str
    expires_in: int


Name = Annotated[str, Field(min_length=1, max_length=90)]


class RegistrationRequest(Message):
    public_key: Annotated[str, Field(min_length=1, max_length=64)]
    subscription_id: Name
    resource_group: Name
    storage_mover: Name
    agent_name: Name
    facts: dict[str, Any] = Field(default_factory=dict)


class Registration(Message):
    id: str
    status: Literal["Pending", "Approved", "Expired"]
    storage_mover: str
    agent_name: str
    expires_at: str
    user_code: str | None = None  # only in the answer that creates it
