"""The CRM: leads, services and interactions, one REST resource each (Bearer token)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from connectors.destinations.base import BearerDestination


class CrmDestination(BearerDestination):
    kind = "crm"
    ACTIONS: ClassVar[Mapping[str, str]] = {
        "crm.upsert_lead": "/api/v1/leads",
        "crm.update_service": "/api/v1/services",
        "crm.log_interaction": "/api/v1/interactions",
    }
