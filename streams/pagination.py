"""How a REST pull walks a system's list of changes: which page to ask for next, when a run has
read everything, and which change cursor (watermark) the next run starts from. Pure: the puller
(``connectors.rest.pull``) makes the requests and hands each answer here.

A pull is configured by a ``PullSpec`` (a sync job's ``source``)::

    {"path": "/v1/appointments", "records_at": "items", "page_size": 100, "id_field": "id",
     "query": {"status": "completed"},
     "pagination": {"style": "cursor", "param": "cursor", "next": "next_cursor", "more": "has_more"},
     "changes": {"style": "updated_since", "param": "updated_since", "field": "updated_at"}}

Pagination styles: ``cursor`` (the answer names the next page's cursor), ``link`` (an RFC 8288
``Link: <…>; rel="next"`` header), ``offset`` (``offset``/``limit``, done at ``total`` or a short
page), ``page`` (page numbers from 1, done at ``pages`` or a short page), ``none`` (one request).

Change styles: ``updated_since`` asks for records changed at or after the watermark and moves it
to the largest ``updated_at`` the run saw; ``token`` keeps the cursor the API returned last (a
delta token: the next run starts where this one ended); ``none`` reads everything every run.
``updated_since`` is inclusive on purpose: records sharing the watermark's instant are read again
rather than missed, and their deliveries, keyed by record id and ``updated_at``, are skipped as
duplicates.

A run's position (where its next page starts) carries the run's watermark so far, so a run killed
between pages resumes from its stored position without losing what its first pages saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from streams.errors import ConfigurationError, PermanentDeliveryError

PaginationStyle = Literal["cursor", "link", "offset", "page", "none"]
ChangeStyle = Literal["updated_since", "token", "none"]

_PAGINATION_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "cursor": {"param": "cursor", "next": "next_cursor", "more": None, "size_param": "limit"},
    "link": {"size_param": "per_page"},
    "offset": {"param": "offset", "size_param": "limit", "total": None},
    "page": {"param": "page", "size_param": "per_page", "pages": None, "first": 1},
    "none": {"size_param": None},
}
_CHANGE_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "updated_since": {"param": "updated_since", "field": "updated_at"},
    "token": {"param": "cursor"},
    "none": {},
}


def _style_options(
    given: Any, what: str, defaults: Mapping[str, Mapping[str, Any]], fallback: str
) -> tuple[str, dict[str, Any]]:
    if given is None:
        given = {"style": fallback}
    if not isinstance(given, Mapping):
        raise ConfigurationError(f"{what} must be an object with a style", field=what)
    style = given.get("style", fallback)
    if style not in defaults:
        raise ConfigurationError(f"{what}.style must be one of {', '.join(defaults)}", field=f"{what}.style")
    unknown = set(given) - set(defaults[style]) - {"style"}
    if unknown:
        raise ConfigurationError(f"{what} of style {style} has no option {sorted(unknown)[0]!r}", field=what)
    options = {**defaults[style], **{key: value for key, value in given.items() if key != "style"}}
    for key, value in options.items():
        if key == "first":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(
                    f"{what}.first must be the number of the first page (0 or more)", field=f"{what}.first"
                )
        elif value is not None and not (isinstance(value, str) and value):
            raise ConfigurationError(f"{what}.{key} must be non-empty text", field=f"{what}.{key}")
    return style, options


@dataclass(frozen=True, slots=True)
class PullSpec:
    """Where a system lists its records and how to walk that list (see the module's docstring)."""

    path: str
    records_at: str | None = None
    pagination: Mapping[str, Any] = field(default_factory=lambda: {"style": "none"})
    changes: Mapping[str, Any] = field(default_factory=lambda: {"style": "none"})
    page_size: int = 100
    id_field: str = "id"
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def pagination_style(self) -> PaginationStyle:
        style: PaginationStyle = self.pagination["style"]
        return style

    @property
    def change_style(self) -> ChangeStyle:
        style: ChangeStyle = self.changes["style"]
        return style

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PullSpec:
        """A spec from JSON config; ConfigurationError names the first thing wrong."""
        unknown = set(config) - {"path", "records_at", "pagination", "changes", "page_size", "id_field", "query"}
        if unknown:
            raise ConfigurationError(f"a pull has no option {sorted(unknown)[0]!r}")
        path = config.get("path")
        if not isinstance(path, str) or not path.startswith("/") or "?" in path:
            raise ConfigurationError("a pull's path must start with / and carry no query (use query)", field="path")
        records_at = config.get("records_at")
        if records_at is not None and not (isinstance(records_at, str) and records_at):
            raise ConfigurationError(
                "records_at must be the name of the field holding the records, or null", field="records_at"
            )
        size = config.get("page_size", 100)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1000:
            raise ConfigurationError("page_size must be an integer from 1 to 1000", field="page_size")
        id_field = config.get("id_field", "id")
        if not isinstance(id_field, str) or not id_field:
            raise ConfigurationError("id_field must be non-empty text", field="id_field")
        query = config.get("query") or {}
        if not isinstance(query, Mapping) or not all(isinstance(v, str) for v in query.values()):
            raise ConfigurationError("query must be an object of text values", field="query")
        pagination_style, pagination = _style_options(
            config.get("pagination"), "pagination", _PAGINATION_DEFAULTS, "none"
        )
        change_style, changes = _style_options(config.get("changes"), "changes", _CHANGE_DEFAULTS, "none")
        if change_style == "token" and pagination_style != "cursor":
            raise ConfigurationError(
                "changes of style token need pagination of style cursor (the API's own cursor)", field="changes"
            )
        return cls(
            path=path,
            records_at=records_at,
            pagination={"style": pagination_style, **pagination},
            changes={"style": change_style, **changes},
            page_size=size,
            id_field=id_field,
            query=dict(query),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page's records; where the next page starts (None: the run has read everything); and
    the change cursor as it stands after this page (store it as the job's watermark once the run
    has ended, i.e. when ``position`` is None)."""

    records: list[Mapping[str, Any]]
    position: Mapping[str, Any] | None
    watermark: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Ask:
    """The request for one page: query parameters on the spec's path, or a whole URL (``link``)."""

    params: Mapping[str, str]
    url: str | None = None


def ask(spec: PullSpec, watermark: Mapping[str, Any] | None, position: Mapping[str, Any] | None) -> Ask:
    """The request for the page at ``position`` (None: the run's first) of a run that started from
    ``watermark`` (None: the job's first run)."""
    if position is not None and position.get("url"):
        return Ask({}, str(position["url"]))
    params: dict[str, str] = dict(spec.query)
    size_param = spec.pagination.get("size_param")
    if size_param:
        params[size_param] = str(spec.page_size)
    changes = spec.changes
    if changes["style"] == "updated_since" and watermark and watermark.get("updated_since"):
        params[changes["param"]] = str(watermark["updated_since"])
    pagination = spec.pagination
    style = pagination["style"]
    if style == "cursor":
        cursor = (position or {}).get("cursor")
        if cursor is None and changes["style"] == "token":
            cursor = (watermark or {}).get("cursor")
        if cursor:
            params[pagination["param"]] = str(cursor)
    elif style == "offset":
        params[pagination["param"]] = str((position or {}).get("offset", 0))
    elif style == "page":
        params[pagination["param"]] = str((position or {}).get("page", int(pagination["first"])))
    return Ask(params)


def records_of(spec: PullSpec, body: Any) -> list[Mapping[str, Any]]:
    """The records of a page's JSON ``body``; PermanentDeliveryError when it does not hold a list of objects."""
    found = body.get(spec.records_at) if spec.records_at is not None and isinstance(body, Mapping) else body
    where = f"the page's {spec.records_at!r}" if spec.records_at else "the page"
    if not isinstance(found, list) or not all(isinstance(record, Mapping) for record in found):
        raise PermanentDeliveryError(f"{where} is not a list of objects")
    for record in found:
        if record.get(spec.id_field) in (None, ""):
            raise PermanentDeliveryError(f"a record of {where} has no {spec.id_field!r}")
    return found


def _instant(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    raise PermanentDeliveryError(f"a record's {name!r} is not an RFC 3339 instant")


def _latest(current: str | None, records: Sequence[Mapping[str, Any]], name: str) -> str | None:
    latest = current
    latest_at = None if current is None else _instant(current, name)
    for record in records:
        moment = _instant(record.get(name), name)
        if latest_at is None or moment > latest_at:
            latest, latest_at = str(record[name]), moment
    return latest


def _next_link(header: str | None) -> str | None:
    """The target of the ``rel="next"`` link of an RFC 8288 ``Link`` header, if any."""
    for part in (header or "").split(","):
        target, _, params = part.strip().partition(";")
        if not (target.startswith("<") and target.endswith(">")):
            continue
        rels = {
            value.strip().strip('"').lower()
            for name, _, value in (param.strip().partition("=") for param in params.split(";"))
            if name.strip().lower() == "rel"
        }
        if any("next" in rel.split() for rel in rels):
            return target[1:-1]
    return None


def _field(body: Any, name: str | None) -> Any:
    return body.get(name) if name and isinstance(body, Mapping) else None


def turn(
    spec: PullSpec,
    *,
    watermark: Mapping[str, Any] | None,
    position: Mapping[str, Any] | None,
    body: Any,
    link_header: str | None = None,
) -> Page:
    """The page a system answered at ``position`` with ``body`` (and, for ``link``, its ``Link``
    header, whose target the caller must still check is the same system's)."""
    records = records_of(spec, body)
    pagination = spec.pagination
    style = pagination["style"]
    following: dict[str, Any] | None = None
    full = len(records) >= spec.page_size
    if style == "cursor":
        cursor = _field(body, pagination["next"])
        more = _field(body, pagination["more"]) if pagination["more"] else bool(records)
        if cursor and more:
            following = {"cursor": str(cursor)}
    elif style == "link":
        target = _next_link(link_header)
        if target and records:
            following = {"url": target}
    elif style == "offset":
        offset = int((position or {}).get("offset", 0)) + len(records)
        total = _field(body, pagination["total"])
        more = offset < total if isinstance(total, int) else full
        if more and records:
            following = {"offset": offset}
    elif style == "page":
        number = int((position or {}).get("page", int(pagination["first"])))
        pages = _field(body, pagination["pages"])
        more = number < pages if isinstance(pages, int) else full
        if more and records:
            following = {"page": number + 1}
    changes = spec.changes
    run_high: dict[str, Any] = {}
    if changes["style"] == "updated_since":
        started = (position or {}).get("high") or (watermark or {}).get("updated_since")
        high = _latest(started, records, changes["field"])
        run_high = {"high": high} if high is not None else {}
        mark: dict[str, Any] = {"updated_since": high} if high is not None else {}
    elif changes["style"] == "token":
        token = _field(body, pagination["next"]) or (position or {}).get("cursor") or (watermark or {}).get("cursor")
        mark = {"cursor": str(token)} if token else {}
    else:
        mark = {}
    return Page(records, None if following is None else {**following, **run_high}, mark)
