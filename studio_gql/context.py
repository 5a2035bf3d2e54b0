"""The typed per-request context: app state, the caller, fresh DataLoaders; never a shared session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from studio_gql.loaders import Loaders
from studio_gql.sockets import Slot
from studio_gql.state import AppState
from studio_shared.auth import Principal
from studio_shared.errors import Unauthenticated


@dataclass
class Context:
    state: AppState
    request: Request | WebSocket
    response: Response | WebSocket | None
    principal: Principal | None = None
    auth_error: Unauthenticated | None = None
    connection_params: dict[str, Any] | None = None
    subscriptions: int = 0  # live subscriptions on this websocket connection
    socket_slot: Slot | None = None  # this websocket's place under the connection caps, given back when it closes
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self)

    @property
    def tenant_id(self) -> uuid.UUID:
        """The caller's tenant; resolvers behind a permission check always have one."""
        return self.require_principal().tenant_id

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise self.auth_error or Unauthenticated()
        return self.principal


Info: TypeAlias = strawberry.Info[Context, None]
