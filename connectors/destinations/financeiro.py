"""Financeiro, the billing system: customers and invoices (Bearer token)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from connectors.destinations.base import BearerDestination


class FinanceiroDestination(BearerDestination):
    kind = "financeiro"
    ACTIONS: ClassVar[Mapping[str, str]] = {
        "financeiro.create_customer": "/api/v1/customers",
        "financeiro.create_invoice": "/api/v1/invoices",
    }
