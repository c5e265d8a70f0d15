"""Ferry's secret store API: write a value, read metadata. No call ever returns a value."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.arm import conflict, list_page, not_found, page_request
from ferry.control.auth import Principal, authorize_global
from ferry.control.deps import get_session, get_settings
from ferry.control.models import Endpoint, EndpointSecret, Secret, StorageAccount, utcnow
from ferry.control.resources import commit, endpoint_id
from ferry.control.schemas import Body
from ferry.control.secrets import FERRY_URI_PREFIX, check_secret_name, find_secret, store_value
from ferry.control.settings import Settings
from ferry.control.storage_accounts import account_id

COLLECTION = "/ferry/v1/secrets"
ITEM = COLLECTION + "/{name}"
MAX_VALUE_LENGTH = 25_000  # Key Vault's limit for a secret value

router = APIRouter(tags=["secrets"])


class SecretPut(Body):
    value: Annotated[str, Field(max_length=MAX_VALUE_LENGTH, repr=False)]


def render(secret: Secret) -> dict[str, Any]:
    return {
        "name": secret.name,
        "uri": FERRY_URI_PREFIX + secret.name,
        "createdAt": secret.created_at.isoformat(),
        "createdBy": secret.created_by,
        "updatedAt": secret.updated_at.isoformat(),
        "updatedBy": secret.updated_by,
    }


def require_secret(session: Session, name: str) -> Secret:
    secret = find_secret(session, name)
    if secret is None:
        raise not_found("secret", name)
    return secret


@router.put(ITEM)
def put_secret(
    name: str,
    body: SecretPut,
    principal: Annotated[Principal, Depends(authorize_global)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Create the secret or replace its value."""
    check_secret_name(name)
    now = utcnow()
    secret = find_secret(session, name)
    if secret is None:
        secret = Secret(name=name, key=name.lower(), created_at=now, created_by=principal.name)
        session.add(secret)
    secret.updated_at = now
    secret.updated_by = principal.name
    store_value(session, secret, body.value)
    commit(session, f"Secret '{name}'")
    return render(secret)


@router.get(ITEM)
def get_secret(
    name: str,
    _principal: Annotated[Principal, Depends(authorize_global)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    return render(require_secret(session, name))


@router.get(COLLECTION)
def list_secrets(
    request: Request,
    _principal: Annotated[Principal, Depends(authorize_global)],
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> dict[str, Any]:
    return list_page(
        session,
        request,
        page_request(request, settings.page_size),
        select(Secret),
        Secret.id,
        render,
        lambda _item: True,
    )


@router.delete(ITEM, responses={204: {"description": "Did not exist."}})
def delete_secret(
    name: str,
    _principal: Annotated[Principal, Depends(authorize_global)],
    session: Annotated[Session, Depends(get_session)],
) -> Response:
    secret = find_secret(session, name)
    if secret is None:
        return Response(status_code=204)
    users = sorted(
        [
            endpoint_id(endpoint)
            for endpoint in session.scalars(
                select(Endpoint).where(
                    Endpoint.id.in_(
                        select(EndpointSecret.endpoint_id).where(
                            EndpointSecret.secret_id == secret.id
                        )
                    )
                )
            )
        ]
        + [
            account_id(account)
            for account in session.scalars(
                select(StorageAccount).where(StorageAccount.account_key_secret_id == secret.id)
            )
        ]
    )
    if users:
        raise conflict(
            "SecretInUse",
            f"The secret '{secret.name}' is referenced by {', '.join(users)}; change or delete "
            "them first.",
            target=secret.name,
        )
    session.delete(secret)
    commit(session, f"Secret '{name}'")
    return Response(status_code=200)
