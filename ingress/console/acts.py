"""What every action of the console checks before it acts: the key holds the action's scope and
acts for the tenant acted on. A refusal is a page saying why, and nothing is done."""

from __future__ import annotations

from aiohttp import web

from ingress.console.access import OPERATOR
from ingress.console.layout import e, respond
from streams.scopes import Scope


def refusal(request: web.Request, scope: Scope, tenant_id: str | None) -> web.Response | None:
    """None when the signed-in key may do what needs ``scope`` to ``tenant_id``'s resources; else
    403 (it lacks the scope) or 404 (another tenant's, which it may not know of)."""
    operator = request[OPERATOR]
    lacking = forbidden(request, scope)
    if lacking is not None:
        return lacking
    if tenant_id is None or not operator.acts_for(tenant_id):
        return respond(request, "Not found", "<h1>Not found</h1><p>No such resource for this key.</p>", status=404)
    return None


def forbidden(request: web.Request, scope: Scope) -> web.Response | None:
    """None when the signed-in key holds ``scope``; else a 403 page naming it."""
    if request[OPERATOR].may(scope):
        return None
    text = f"This key lacks the scope {scope}: nothing was done."
    return respond(request, "Forbidden", f"<h1>Forbidden</h1><p>{e(text)}</p>", status=403)


async def field(request: web.Request, name: str) -> str:
    """A form field's text ('' when absent): the guard has read the form already."""
    value = (await request.post()).get(name, "")
    return value if isinstance(value, str) else ""
