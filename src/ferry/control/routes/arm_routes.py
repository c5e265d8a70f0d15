"""What the ARM resource routes share: the caller's request as one dependency, the list page
of what the caller may see, and the answers of a delete (204 when there is nothing, 409 while
something uses it, 202 with the polling headers once it is gone)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ferry.control import async_operations
from ferry.control.arm import ArmError, Row, conflict, list_page, page_request
from ferry.control.auth import Principal, authorize_path
from ferry.control.deps import get_session, get_settings
from ferry.control.models import MoverChild
from ferry.control.resources import require_mover
from ferry.control.settings import Settings

Child = TypeVar("Child", bound=MoverChild)
# the OpenAPI answers of a delete route besides its 202 (or 200)
DELETE_RESPONSES: dict[int | str, dict[str, Any]] = {204: {"description": "Did not exist."}}


@dataclass(frozen=True)
class ArmCall:
    """One request to a resource route: the request, its authorized caller, the database
    session and the settings."""

    request: Request
    principal: Principal
    session: Session
    settings: Settings

    def page(
        self, query: Select[Row], id_column: Any, render: Callable[[Row], dict[str, Any]]
    ) -> dict[str, Any]:
        """One page of ``query``'s rows, rendered; items outside the caller's scope are left
        out (a token scoped below the collection lists only what it covers)."""
        return list_page(
            self.session,
            self.request,
            page_request(self.request, self.settings.page_size),
            query,
            id_column,
            render,
            lambda item: self.principal.covers(item["id"]),
        )

    def mover_page(
        self,
        subscription: str,
        group: str,
        mover: str,
        model: type[Child],
        render: Callable[[Child], dict[str, Any]],
    ) -> dict[str, Any]:
        """One page of a storage mover's resources of one type."""
        parent = require_mover(self.session, subscription, group, mover)
        return self.page(select(model).where(model.storage_mover_id == parent.id), model.id, render)

    def accepted_delete(
        self, location: str, resource_id: str, delete: Callable[[], None]
    ) -> Response:
        """Run ``delete`` and answer 202 with the operation's polling headers, which name the
        subscription as the request's path does."""
        return async_operations.accepted_delete(
            self.session,
            self.request,
            self.settings,
            subscription=self.request.path_params["subscription_id"],
            location=location,
            resource_id=resource_id,
            delete=delete,
        )


def authorized_call(
    request: Request,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> ArmCall:
    return ArmCall(request, principal, session, settings)


AuthorizedCall = Annotated[ArmCall, Depends(authorized_call)]


def not_there() -> Response:
    """A delete of something that does not exist: done already."""
    return Response(status_code=204)


def in_use(code: str, what: str, name: str, why: str, *, then: str) -> ArmError:
    """The 409 of a delete refused while something still uses the resource:
    "<what> '<name>' <why>; <then>." (``then`` says what to do first)."""
    return conflict(code, f"{what} '{name}' {why}; {then}.", target=name)


def refuse_while_used(what: str, name: str, users: Sequence[str], by: str, then: str) -> None:
    """No delete of ``name`` while ``users`` (of the kind ``by``) use it: the 409
    ``<What>InUse`` with ``then`` saying what to do first."""
    if users:
        code = what.title().replace(" ", "") + "InUse"
        raise in_use(code, what, name, f"is used by the {by} {', '.join(users)}", then=then)
