"""Request paths as ARM treats them: fixed segments in any case, and no NUL characters.

ARM matches ``subscriptions``, ``resourceGroups``, ``providers``, the namespace and the
resource-type segments case-insensitively (``/resourcegroups/rg/providers/microsoft.storagemover
/storagemovers/m`` is the same resource). ``ArmPathMiddleware`` rewrites those segments to their
canonical case before routing, leaving names as the client wrote them; and it refuses a path
or query with an encoded NUL, which no name may contain and PostgreSQL cannot compare."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ferry.control.arm import bad_request, error_response

NAMESPACES = ("Microsoft.StorageMover", "Microsoft.Storage")
TYPE_SEGMENTS = (
    "storageMovers",
    "agents",
    "endpoints",
    "connections",
    "projects",
    "jobDefinitions",
    "jobRuns",
    "startJob",
    "stopJob",
    "locations",
    "operationStatuses",
    "operations",
    "storageAccounts",
)
_NAMESPACES = {name.lower(): name for name in NAMESPACES}
_TYPES = {name.lower(): name for name in TYPE_SEGMENTS}


def canonical_path(path: str) -> str:
    """``path`` with the fixed ARM segments in canonical case; other paths unchanged."""
    parts = path.split("/")
    at = 1  # parts[0] is the empty string before the leading slash
    if len(parts) > at + 1 and parts[at].lower() == "subscriptions":
        parts[at] = "subscriptions"
        at += 2
        if len(parts) > at + 1 and parts[at].lower() == "resourcegroups":
            parts[at] = "resourceGroups"
            at += 2
    if len(parts) > at + 1 and parts[at].lower() == "providers":
        parts[at] = "providers"
        parts[at + 1] = _NAMESPACES.get(parts[at + 1].lower(), parts[at + 1])
        # below the namespace, types and names alternate: type/name/type/name[/action]
        for index in range(at + 2, len(parts), 2):
            parts[index] = _TYPES.get(parts[index].lower(), parts[index])
    return "/".join(parts)


class ArmPathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        if "\x00" in path or b"%00" in query or b"\x00" in query:
            error = bad_request(
                "InvalidRequestUri",
                "The request path and query may not contain NUL (U+0000) characters.",
            )
            await error_response(error)(scope, receive, send)
            return
        canonical = canonical_path(path)
        if canonical != path:
            scope = {**scope, "path": canonical}
        await self.app(scope, receive, send)
