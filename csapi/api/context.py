"""The call context: who is calling, in which database transaction, on which server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from csapi.db.models import Account, Domain, Role, User

if TYPE_CHECKING:
    from csapi.api.registry import Command
    from csapi.app import AppState
    from csapi.events import PublishedEvent

# Account types (Account.Type ordinals).
TYPE_NORMAL, TYPE_ADMIN, TYPE_DOMAIN_ADMIN, TYPE_RESOURCE_ADMIN = 0, 1, 2, 3
TYPE_READ_ONLY_ADMIN, TYPE_PROJECT = 4, 5


@dataclass
class CallContext:
    db: Session
    state: AppState
    user: User
    account: Account
    domain: Domain
    role: Role
    remote_addr: str = ""
    http_method: str = "GET"
    command: Command | None = None
    # Events recorded in this transaction, published to the bus only after it commits.
    pending_events: list[PublishedEvent] = field(default_factory=list)
    # Set by handlers to refine the command's declared ActionEvent.
    event_details: dict[str, Any] = field(default_factory=dict)

    @property
    def role_type(self) -> str:
        return self.role.role_type

    @property
    def is_root_admin(self) -> bool:
        return self.account.type == TYPE_ADMIN or (
            self.account.type == TYPE_READ_ONLY_ADMIN and self.role.role_type == "Admin"
        )

    @property
    def is_domain_admin(self) -> bool:
        return self.account.type in (TYPE_DOMAIN_ADMIN, TYPE_RESOURCE_ADMIN)

    @property
    def is_normal_user(self) -> bool:
        return self.account.type == TYPE_NORMAL
