"""The marketing platform: a consenting lead is assigned to a campaign (Bearer token)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from connectors.destinations.base import BearerDestination


class MarketingDestination(BearerDestination):
    kind = "marketing"
    ACTIONS: ClassVar[Mapping[str, str]] = {"marketing.assign_campaign": "/api/v1/campaign-assignments"}
