"""The job-definition rules (docs/design.md §6.4) that do not need the database."""

from __future__ import annotations

from ferry.control.arm import bad_request
from ferry.control.models import Endpoint

SOURCE_TYPES = frozenset(
    {"NfsMount", "SmbMount", "LocalPath", "AzureStorageBlobContainer", "S3WithHMAC"}
)
# S3WithHMAC describes a source (sourceUri, sourceType): Storage Mover has no S3 target type.
TARGET_TYPES = frozenset({"NfsMount", "SmbMount", "LocalPath", "AzureStorageBlobContainer"})


def check_pair(source: Endpoint, target: Endpoint) -> None:
    """Source and target are distinct, usable in their roles and a supported pair."""
    if source.id == target.id:
        raise bad_request(
            "SameSourceAndTarget",
            f"Endpoint '{source.name}' cannot be both the source and the target.",
            target="properties.targetName",
        )
    for endpoint, role, field in (
        (source, "Source", "sourceName"),
        (target, "Target", "targetName"),
    ):
        if endpoint.endpoint_kind is not None and endpoint.endpoint_kind != role:
            raise bad_request(
                "InvalidEndpointKind",
                f"Endpoint '{endpoint.name}' is a {endpoint.endpoint_kind} endpoint and "
                f"cannot be used as the {role.lower()}.",
                target=f"properties.{field}",
            )
    if source.endpoint_type not in SOURCE_TYPES or target.endpoint_type not in TARGET_TYPES:
        raise bad_request(
            "UnsupportedEndpointPair",
            f"Copying from {source.endpoint_type} to {target.endpoint_type} is not supported. "
            f"Sources: {', '.join(sorted(SOURCE_TYPES))}; targets: "
            f"{', '.join(sorted(TARGET_TYPES))}.",
            target="properties.targetName",
        )


def check_subpath(field: str, value: str | None) -> None:
    if value is not None and ".." in value.replace("\\", "/").split("/"):
        raise bad_request(
            "InvalidSubpath",
            f"The {field} '{value}' may not contain '..' segments.",
            target=f"properties.{field}",
        )
