"""Bearer-token authentication and role/scope authorization (docs/design.md §8.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from ferry.control.arm import ArmError, within
from ferry.control.deps import get_session
from ferry.control.tokens import Role, find_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRINCIPAL_KEY = "ferry.principal"

bearer = HTTPBearer(auto_error=False, description="A Ferry API token.")


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: Role
    scope: str | None  # resource id prefix; None = everything

    def covers(self, resource_id: str) -> bool:
        """The token reaches ``resource_id`` (it lies within the scope)."""
        return self.scope is None or within(resource_id, self.scope)

    def reaches_into(self, path: str) -> bool:
        """Some of ``path``'s descendants are in scope (a list there may show some items)."""
        return self.covers(path) or (self.scope is not None and within(self.scope, path))

    @property
    def can_write(self) -> bool:
        return self.role in (Role.OWNER, Role.CONTRIBUTOR)


def unauthorized(message: str) -> ArmError:
    return ArmError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={"WWW-Authenticate": 'Bearer realm="ferry"'},
    )


def forbidden(message: str) -> ArmError:
    return ArmError(403, "AuthorizationFailed", message)


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    session: Annotated[Session, Depends(get_session)],
) -> Principal:
    """Dependency: the caller behind the bearer token, or 401."""
    if credentials is None:
        raise unauthorized("An 'Authorization: Bearer <token>' header is required.")
    row = find_token(session, credentials.credentials)
    if row is None or row.revoked:
        raise unauthorized("The access token is invalid or has been revoked.")
    principal = Principal(row.id, row.name, Role(row.role), row.scope)
    request.scope[PRINCIPAL_KEY] = principal
    return principal


def authorize_path(
    request: Request, principal: Annotated[Principal, Depends(authenticate)]
) -> Principal:
    """Dependency for ARM resource routes: the token's role and scope allow this request.

    Reads may address an ancestor of the scope (lists there are filtered item by item);
    writes must address something inside it."""
    path = request.url.path
    if request.method in SAFE_METHODS:
        if not principal.reaches_into(path):
            raise forbidden(f"The token '{principal.name}' has no access to '{path}'.")
        return principal
    if not principal.can_write:
        raise forbidden(
            f"The token '{principal.name}' has the Reader role and cannot make changes."
        )
    if not principal.covers(path):
        raise forbidden(f"The token '{principal.name}' cannot make changes to '{path}'.")
    return principal


def authorize_global(
    request: Request, principal: Annotated[Principal, Depends(authenticate)]
) -> Principal:
    """Dependency for Ferry resources outside any subscription (the secret store): every
    token reads; changes need Contributor or Owner on everything, since a token scoped to one
    storage mover must not replace credentials other movers use."""
    if request.method in SAFE_METHODS:
        return principal
    if not principal.can_write:
        raise forbidden(
            f"The token '{principal.name}' has the Reader role and cannot make changes."
        )
    if principal.scope is not None:
        raise forbidden(
            f"The token '{principal.name}' is scoped to '{principal.scope}'; changing "
            f"'{request.url.path}' needs a token without a scope."
        )
    return principal


def require_visible(principal: Principal, resource_id: str) -> None:
    """Reading one resource needs the scope to cover it, not just to lie below it."""
    if not principal.covers(resource_id):
        raise forbidden(f"The token '{principal.name}' has no access to '{resource_id}'.")


def require_owner(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if principal.role is not Role.OWNER:
        raise forbidden(f"The token '{principal.name}' needs the Owner role for this.")
    return principal


def principal_of(request: Request) -> Principal | None:
    found = request.scope.get(PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else None
