"""Ferry's own API for API tokens (Owner only): issue, list, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.arm import ArmError, plain_list
from ferry.control.auth import Principal, forbidden, require_owner
from ferry.control.deps import get_session
from ferry.control.models import ApiToken
from ferry.control.schemas import Body
from ferry.control.tokens import Role, issue_token

TOKENS = "/ferry/v1/tokens"
MAX_TOKEN_ID = 2**31 - 1  # the id column is a 32-bit integer in PostgreSQL

router = APIRouter(tags=["tokens"])


class TokenRequest(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role
    scope: Annotated[str | None, Field(default=None, max_length=1024, pattern=r"^/subscriptions/")]


def render(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "scope": row.scope,
        "revoked": row.revoked,
        "createdAt": row.created_at.isoformat(),
        "createdBy": row.created_by,
    }


@router.post(TOKENS, status_code=201)
def create_token(
    body: TokenRequest,
    principal: Annotated[Principal, Depends(require_owner)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Issue a token. Its value is in this answer only: Ferry keeps just its hash."""
    scope = body.scope or principal.scope
    if scope is not None and not principal.covers(scope):
        raise forbidden(f"A token scoped to '{principal.scope}' can only issue tokens inside it.")
    row, secret = issue_token(
        session, name=body.name, role=body.role, scope=scope, created_by=principal.name
    )
    session.commit()
    return {**render(row), "token": secret}


@router.get(TOKENS)
def list_tokens(
    principal: Annotated[Principal, Depends(require_owner)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    rows = session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
    return plain_list(
        render(row) for row in rows if row.scope is None or principal.covers(row.scope)
    )


@router.post(TOKENS + "/{token_id}/revoke")
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=MAX_TOKEN_ID)],
    principal: Annotated[Principal, Depends(require_owner)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = session.get(ApiToken, token_id)
    if row is None or (row.scope is None and principal.scope is not None):
        raise ArmError(404, "ResourceNotFound", f"The token {token_id} was not found.")
    if row.scope is not None and not principal.covers(row.scope):
        raise ArmError(404, "ResourceNotFound", f"The token {token_id} was not found.")
    row.revoked = True
    session.commit()
    return render(row)
