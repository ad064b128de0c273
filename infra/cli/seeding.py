"""How the CLI seeds a new tenant: with the sandbox's stand-in credentials in development, and
otherwise with the commands that configure each destination it lacks a credential for.

"Development" is decided by asking: a sandbox answering at ``CRMBUS_SANDBOX_URL`` (``crmbus up``
runs one) is where the seed destinations point, and it takes any credential, so they get stand-ins
and deliver at once. Where none answers (production), a stand-in would only fail at the real
system, so the seed destinations start without one and their routes paused.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from yarl import URL

from infra.cli.wiring import Repositories
from infra.core.secret_box import SecretBox
from infra.core.settings import Settings
from infra.db.endpoints import EndpointView
from infra.local.bus_node import healthy


def sandbox_answers(settings: Settings) -> bool:
    """Whether the sandbox answers its health URL at ``settings.sandbox_url``."""
    return healthy(str(URL(settings.sandbox_url).with_path("/_control/health")))


def stand_ins(settings: Settings, store: Repositories) -> SecretBox | None:
    """The box that seals stand-in credentials for a new tenant's seed destinations, in development."""
    return store.box if sandbox_answers(settings) else None


def show_unconfigured(console: Console, destinations: Iterable[EndpointView]) -> None:
    """For each destination that lacks its credential: what it lacks and the command that sets it."""
    unconfigured = [view for view in destinations if view.missing]
    if not unconfigured:
        return
    console.print(
        f"{len(unconfigured)} destinations have no credential yet; their routes are paused (nothing is "
        "sent or dead-lettered) until you configure them:",
        highlight=False,
        soft_wrap=True,
    )
    for view in unconfigured:
        console.print(f"  {view.name} ({view.kind}), needs {', '.join(view.missing)}:", highlight=False, soft_wrap=True)
        console.print(f"    {view.setup_command()}", markup=False, highlight=False, soft_wrap=True)
