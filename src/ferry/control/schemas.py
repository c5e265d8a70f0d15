"""Request bodies, validated by Pydantic: wire names are camelCase, read-only fields ignored."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from ferry.protocol import Message

Description = Annotated[str | None, Field(max_length=1024)]
Required = Annotated[str, Field(min_length=1, max_length=1024)]
# An Azure region name; stored in a column of 90 characters, like names.
Location = Annotated[str, Field(min_length=1, max_length=90)]


class Body(Message):
    """A request body of the management API: camelCase wire names, no NUL characters, and
    unknown fields ignored, since clients may send back read-only fields they got from a GET."""

    def given(self) -> dict[str, Any]:
        """The fields the client actually sent (PATCH merges only those), by wire name."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# --------------------------------------------------------------------------------------------
# Storage movers and projects


class DescriptionProperties(Body):
    description: Description = None


class StorageMoverPut(Body):
    location: Location
    tags: dict[str, str] | None = None
    properties: DescriptionProperties = Field(default_factory=lambda: DescriptionProperties())


class StorageMoverPatch(Body):
    tags: dict[str, str] | None = None
    properties: DescriptionProperties | None = None


class ProjectPut(Body):
    properties: DescriptionProperties = Field(default_factory=lambda: DescriptionProperties())


class ProjectPatch(Body):
    properties: DescriptionProperties | None = None


# --------------------------------------------------------------------------------------------
# Endpoints: properties are polymorphic on endpointType


class SmbCredentials(Body):
    type: Literal["AzureKeyVaultSmb"]
    username_uri: str | None = None
    password_uri: str | None = None


class S3WithHmacCredentials(Body):
    type: Literal["AzureKeyVaultS3WithHMAC"]
    access_key_uri: str | None = None
    secret_key_uri: str | None = None


class EndpointCommon(Body):
    description: Description = None
    endpoint_kind: Literal["Source", "Target"] | None = None


class BlobContainerProperties(EndpointCommon):
    endpoint_type: Literal["AzureStorageBlobContainer"]
    storage_account_resource_id: Required
    blob_container_name: Annotated[str, Field(min_length=3, max_length=63)]


class NfsMountProperties(EndpointCommon):
    endpoint_type: Literal["NfsMount"]
    host: Required
    export: Required
    nfs_version: Literal["NFSauto", "NFSv3", "NFSv4"] | None = None


class SmbMountProperties(EndpointCommon):
    endpoint_type: Literal["SmbMount"]
    host: Required
    share_name: Required
    credentials: SmbCredentials | None = None


class S3WithHmacProperties(EndpointCommon):
    endpoint_type: Literal["S3WithHMAC"]
    source_uri: Required
    source_type: Literal["MINIO", "IBM", "GCS", "ALIBABA", "DELL_EMC", "OTHER"] | None = None
    other_source_type_description: str | None = None
    credentials: S3WithHmacCredentials | None = None


class LocalPathProperties(EndpointCommon):
    """Ferry's own endpoint type: a directory on the agent's machine."""

    endpoint_type: Literal["LocalPath"]
    path: Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^/")]


EndpointProperties = Annotated[
    BlobContainerProperties
    | NfsMountProperties
    | SmbMountProperties
    | S3WithHmacProperties
    | LocalPathProperties,
    Field(discriminator="endpoint_type"),
]

# Fields every endpoint type shares; the rest of a type's properties are stored as one object.
ENDPOINT_COMMON_FIELDS = frozenset({"endpointType", "endpointKind", "description"})
# Type-specific fields that may change after creation.
ENDPOINT_MUTABLE_FIELDS = frozenset({"credentials"})


class EndpointPut(Body):
    properties: EndpointProperties


class EndpointPatchProperties(Body):
    endpoint_type: Required
    description: Description = None
    credentials: Annotated[
        SmbCredentials | S3WithHmacCredentials | None, Field(default=None, discriminator="type")
    ]


class EndpointPatch(Body):
    properties: EndpointPatchProperties | None = None


# --------------------------------------------------------------------------------------------
# Job definitions


# Loose on purpose: control/schedules.py checks the values and answers each mistake with its
# own error code and advice, rather than one generic InvalidRequestContent.
class ScheduleTime(Body):
    hour: int
    minute: int | None = None


class ScheduleInfo(Body):
    frequency: str | None = None
    is_active: bool | None = None
    execution_time: ScheduleTime | None = None
    start_date: dt.datetime | None = None
    days_of_week: list[str] | None = None
    days_of_month: list[int] | None = None
    cron_expression: str | None = None
    end_date: dt.datetime | None = None


CopyMode = Literal["Additive", "Mirror"]
DataIntegrityValidation = Literal["SaveVerifyFileMD5", "SaveFileMD5", "None"]
Subpath = Annotated[str | None, Field(default=None, max_length=4096)]


class JobDefinitionProperties(Body):
    description: Description = None
    job_type: Literal["OnPremToCloud", "CloudToCloud"] = "OnPremToCloud"
    copy_mode: CopyMode
    source_name: Required
    source_subpath: Subpath
    target_name: Required
    target_subpath: Subpath
    agent_name: str | None = None
    agent_pool_name: str | None = None  # Ferry extension, instead of agentName
    connections: list[str] | None = None
    schedule: ScheduleInfo | None = None
    data_integrity_validation: DataIntegrityValidation = "None"
    preserve_permissions: bool = True


class JobDefinitionPut(Body):
    properties: JobDefinitionProperties


# Create-only fields: a PATCH naming one of them is refused rather than silently ignored.
JOB_DEFINITION_IMMUTABLE = ("jobType", "sourceName", "sourceSubpath", "targetName", "targetSubpath")


class JobDefinitionPatchProperties(Body):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    description: Description = None
    copy_mode: CopyMode | None = None
    agent_name: str | None = None
    agent_pool_name: str | None = None
    connections: list[str] | None = None
    schedule: ScheduleInfo | None = None
    data_integrity_validation: DataIntegrityValidation | None = None


class JobDefinitionPatch(Body):
    properties: JobDefinitionPatchProperties | None = None
