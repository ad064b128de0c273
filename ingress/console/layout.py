"""The frame of every console page: the navigation, who is signed in, the flash a POST left for
the page it redirected to (POST-redirect-GET), and forms that carry the CSRF token.

No script anywhere: links and plain HTML forms, so the console works with JavaScript off and its
Content-Security-Policy allows none. Every value is escaped.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from html import escape

from aiohttp import web

from ingress.console.access import CSRF_FIELD, SIGNED_IN, set_cookie

FLASH_COOKIE = "crmbus_console_flash"
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.3rem;margin:0 0 .3rem}h2{font-size:1.05rem;margin:1.6rem 0 .4rem}
nav{display:flex;gap:1rem;align-items:center;margin:0 0 1rem;padding:.4rem 0;border-bottom:1px solid #d8dde6}
nav form{display:inline;margin:0}nav .who{margin-left:auto;color:#6b7280}
table{border-collapse:collapse;background:#fff;margin:.3rem 0}
th,td{border:1px solid #d8dde6;padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:#eef1f6;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
td form{margin:0}
.ok{color:#11703a;font-weight:600}.bad{color:#b3261e;font-weight:600}.idle,.muted{color:#6b7280}
.banner{padding:.6rem .9rem;border-radius:4px;margin:.8rem 0}
.banner.ok{background:#e5f6ec}.banner.bad{background:#fdecea}.banner ul{margin:.2rem 0 0;padding-left:1.2rem}
code{background:#eef1f6;padding:0 .25rem;border-radius:3px}
"""


def e(text: object) -> str:
    return escape(str(text), quote=True)


def respond(
    request: web.Request, title: str, body: str, *, refresh_s: int | None = None, status: int = 200
) -> web.Response:
    """The page ``body`` in the console's frame; shows, and clears, the flash the last POST left."""
    flash = _flash(request.cookies.get(FLASH_COOKIE))
    refresh = f'<meta http-equiv=refresh content="{refresh_s}">' if refresh_s else ""
    html = (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"{refresh}<title>{e(title)} · crmbus console</title><style>{STYLE}</style></head><body>"
        f"{_nav(request)}{flash}{body}</body></html>\n"
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    if FLASH_COOKIE in request.cookies:
        response.del_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: web.Request, location: str, flash: str, *, ok: bool = True) -> web.HTTPSeeOther:
    """A 303 to ``location`` that shows ``flash`` there once."""
    response = web.HTTPSeeOther(location)
    value = base64.urlsafe_b64encode(json.dumps([ok, flash]).encode()).decode()
    set_cookie(response, request, FLASH_COOKIE, value)
    return response


def form(request: web.Request, action: str, label: str, fields: Mapping[str, str] | None = None) -> str:
    """A POST form with the session's CSRF token, ``fields`` as hidden inputs, and one button."""
    token = request[SIGNED_IN].csrf_token
    hidden = "".join(
        f"<input type=hidden name={e(name)} value={_q(value)}>"
        for name, value in {CSRF_FIELD: token, **(fields or {})}.items()
    )
    return f"<form method=post action={_q(action)}>{hidden}<button type=submit>{e(label)}</button></form>"


def _nav(request: web.Request) -> str:
    signed = request.get(SIGNED_IN)
    if signed is None:
        return "<nav><strong>crmbus console</strong></nav>"
    operator = signed.operator
    who = f"key {operator.key_id} · " + (f"tenant {operator.tenant_id}" if operator.tenant_id else "platform")
    links = "".join(
        f"<a href={_q(href)}>{e(text)}</a>"
        for href, text in (
            ("/dashboard", "Overview"),
            ("/console/dead-letters", "Dead letters"),
            ("/console/destinations", "Destinations"),
        )
    )
    find = (
        "<form method=get action=/console/events><input name=id placeholder='event id' size=38 aria-label='event id'>"
        "<button type=submit>Open event</button></form>"
    )
    return (
        f"<nav><strong>crmbus console</strong>{links}{find}<span class=who>{e(who)}</span>"
        f"{form(request, '/console/sign-out', 'Sign out')}</nav>"
    )


def _flash(cookie: str | None) -> str:
    if not cookie:
        return ""
    try:
        ok, text = json.loads(base64.urlsafe_b64decode(cookie.encode()))
    except (binascii.Error, ValueError, TypeError):
        return ""
    return f"<div class='banner {'ok' if ok is True else 'bad'}' role=status>{e(text)}</div>"


def _q(value: str) -> str:
    return f'"{e(value)}"'
