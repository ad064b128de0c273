"""``crmbus keys rotate|reseal|status``: the secret box's key ring (``infra.core.secret_box``).

A rotation in three steps, none of which leaves a stored value unreadable: ``rotate`` puts a new
key first (in ``<state_dir>/secret.key``, or printed for ``CRMBUS_SECRET_KEY``); every process is
restarted with the new ring; ``reseal`` (or the workers' ``reseal`` job, in the background) seals
again under the new key what the older keys sealed. Once ``status`` counts no value under an
older key, the older keys may leave the ring.
"""

from __future__ import annotations

import typer
from rich.console import Console

from infra.cli.wiring import repositories
from infra.core.secret_box import add_key
from infra.core.settings import Settings

app = typer.Typer(help="The keys sealing stored secrets and personal data.", no_args_is_help=True)
console = Console()


@app.command("rotate")
def rotate() -> None:
    """Put a new key first in the ring: it seals from now on, the older keys still open."""
    settings = Settings()
    ring = add_key(settings)
    if settings.secret_key is not None:
        # The operator's to set: this process cannot change another's environment.
        console.print("keys: set CRMBUS_SECRET_KEY on every process to (newest first):", highlight=False)
        typer.echo(",".join(key.decode() for key in ring))
    else:
        console.print(f"keys: a new key is first of {len(ring)} in {settings.state_path / 'secret.key'}")
    console.print(
        "keys: restart every process (ingress, workers, dashboard) with the new ring, then run "
        "'crmbus keys reseal' (the workers' reseal job also does it, a few pages an hour)",
        highlight=False,
    )


@app.command("reseal")
def reseal() -> None:
    """Seal again under the newest key every stored value an older key sealed, a page at a time.
    Safe to run again, or at the same time as the job: a value already under the newest key is skipped."""
    with repositories(Settings()) as store:
        done = store.resealer.run()
    for item in done:
        console.print(f"keys: {item.column}: resealed {item.resealed}, unreadable {item.unreadable}", highlight=False)
    if any(item.unreadable for item in done):
        console.print("keys: some values open with no key of the ring: a key they need was removed", highlight=False)
        raise typer.Exit(1)


@app.command("status")
def status() -> None:
    """How many stored values each column holds under the newest key, an older one, none yet, or none of the ring's."""
    with repositories(Settings()) as store:
        columns = store.resealer.status()
        size = store.box.size
    console.print(f"keys: {size} key(s) in the ring", highlight=False)
    for item in columns:
        console.print(
            f"keys: {item.column}: newest {item.current}, older {item.older}, clear {item.clear}, "
            f"unreadable {item.unreadable}",
            highlight=False,
        )
    if not any(item.older or item.clear for item in columns):
        console.print("keys: nothing is sealed under an older key: the older keys may leave the ring", highlight=False)
