"""The audit trail: who changed what in the control plane."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from infra.db.models import AuditLog


def audit(
    session: Session,
    *,
    actor: str,
    tenant_id: str | None,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, str] | None = None,
) -> None:
    """Add one audit row to ``session``: it commits, or rolls back, with the change it describes."""
    session.add(
        AuditLog(
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
        )
    )


def audit_alone(
    engine: Engine,
    *,
    actor: str,
    tenant_id: str | None,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, str] | None = None,
) -> None:
    """One audit row in a transaction of its own: for an act spanning several stores."""
    with Session(engine) as session, session.begin():
        audit(
            session, actor=actor, tenant_id=tenant_id, action=action, target_type=target_type,
            target_id=target_id, details=details,
        )  # fmt: skip
