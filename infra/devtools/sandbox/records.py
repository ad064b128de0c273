"""The records the company's REST systems keep, and their list endpoints' pages (``contracts.LISTINGS``).

Pure of HTTP: ``page`` takes the query and answers the body and headers. Each system starts with a
few seeded records; a push action (``operacao.upsert_service``, ``agenda.book``…) adds or replaces
one with ``updated_at`` now. Records are listed oldest change first, ties by id, so a page boundary
is a stable (updated_at, id) position; ``updated_since`` is inclusive (a sync re-reads the records
of its last instant and dedupes them by id).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from yarl import URL

from infra.devtools.sandbox.contracts import DEFAULT_PAGE_SIZE, LISTINGS, MAX_PAGE_SIZE, System

_SEED_AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _seed() -> dict[System, dict[str, dict[str, Any]]]:
    def at(n: int) -> str:
        return rfc3339(_SEED_AT + timedelta(hours=n))

    def records(*rows: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in rows}

    return {
        "agenda": records(
            *({"id": f"AGD-{n}", "client_id": f"C-{n}", "starts_at": at(24 + n), "updated_at": at(n)} for n in range(5))
        ),
        "cuidadores": records(
            *({"id": f"CG-{n}", "name": f"Cuidadora {n}", "active": True, "updated_at": at(n)} for n in range(5))
        ),
        "operacao": records(
            *(
                {
                    "id": f"S-{n}",
                    "client_id": f"C-{n}",
                    "status": "completed" if n % 4 else "scheduled",
                    "service_type": "visita",
                    "updated_at": at(n),
                }
                for n in range(6)
            )
        ),
        "atendimento": records(
            *({"id": f"TCK-{n}", "subject": "Dúvida", "status": "open", "updated_at": at(n)} for n in range(5))
        ),
        "documentos": records(*({"id": f"DOC-{n}", "title": f"Documento {n}", "updated_at": at(n)} for n in range(4))),
    }


class Records:
    """Each REST system's records, and the change log Documentos' cursor reads."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._by_system = _seed()
        self._serial: Iterator[int] = itertools.count(1)
        # Documentos' change feed: (sequence, record) per change, oldest first.
        self._changes = [(next(self._serial), dict(r)) for r in _ordered(self._by_system["documentos"].values())]

    def upsert(self, system: System, record: Mapping[str, Any], now: datetime) -> tuple[dict[str, Any], bool]:
        """Store ``record`` (it has an ``id``) changed ``now``: the stored record, and whether it is new."""
        stored = {**record, "updated_at": rfc3339(now)}
        records = self._by_system[system]
        created = stored["id"] not in records
        records[stored["id"]] = stored
        if system == "documentos":
            self._changes.append((next(self._serial), dict(stored)))
        return stored, created

    def page(self, system: System, query: Mapping[str, str], url: str) -> tuple[int, Any, Mapping[str, str]]:
        """The list endpoint's answer to ``query``: status, body and headers (``url`` for Link)."""
        try:
            return self._page(system, query, url)
        except ValueError as exc:
            return 400, {"error": "invalid_query", "message": str(exc)}, {}

    def _page(self, system: System, query: Mapping[str, str], url: str) -> tuple[int, Any, Mapping[str, str]]:
        listing = LISTINGS[system]
        if listing.pagination == "changes":
            return self._changes_page(query)
        since = _since(query.get("updated_since"))
        size = _size(query.get("limit") or query.get("per_page"))
        rows = [r for r in _ordered(self._by_system[system].values()) if since is None or r["updated_at"] >= since]
        rows = [r for r in rows if all(r.get(k) == v for k, v in listing.query.items() if k in query)]
        match listing.pagination:
            case "cursor":
                after = _decode(query.get("cursor"))
                rest = [r for r in rows if after is None or (r["updated_at"], r["id"]) > after]
                items = rest[:size]
                more = len(rest) > size
                return 200, {"items": items, "next_cursor": _encode(items[-1]) if more else None}, {}
            case "offset":
                offset = _number(query.get("offset"), 0, "offset")
                return 200, {"items": rows[offset : offset + size], "total": len(rows)}, {}
            case _:
                number = _number(query.get("page"), 1, "page")
                items = rows[(number - 1) * size : number * size]
                pages = max(1, -(-len(rows) // size))
                if listing.pagination == "page":
                    return 200, {"items": items, "page": number, "pages": pages}, {}
                headers = {"Link": f'<{_with(url, page=number + 1)}>; rel="next"'} if number < pages else {}
                return 200, items, headers

    def _changes_page(self, query: Mapping[str, str]) -> tuple[int, Any, Mapping[str, str]]:
        given = query.get("cursor")
        after = 0 if not given else _number(given.removeprefix("chg_"), 0, "cursor")
        newer = [(seq, record) for seq, record in self._changes if seq > after]
        taken = newer[:DEFAULT_PAGE_SIZE]
        last = taken[-1][0] if taken else after
        body = {"items": [r for _, r in taken], "next_cursor": f"chg_{last}", "has_more": len(newer) > len(taken)}
        return 200, body, {}


def _ordered(records: Any) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (r["updated_at"], r["id"]))


def _since(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return rfc3339(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError("updated_since must be an RFC 3339 instant") from None


def _size(value: str | None) -> int:
    return min(MAX_PAGE_SIZE, _number(value, DEFAULT_PAGE_SIZE, "limit"))


def _number(value: str | None, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or (name != "offset" and name != "cursor" and int(value) < 1):
        raise ValueError(f"{name} must be a positive whole number")
    return int(value)


def _encode(record: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(f"{record['updated_at']}|{record['id']}".encode()).decode()


def _decode(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        updated_at, _, record_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    except ValueError:
        raise ValueError("cursor is not one this endpoint returned") from None
    return updated_at, record_id


def _with(url: str, **params: int) -> str:
    return str(URL(url).update_query({k: str(v) for k, v in params.items()}))
