"""Every column the secret box seals, in one registry, and the re-sealing that follows a key
rotation (``crmbus keys reseal``, the workers' ``reseal`` job).

A rotation puts a new key first in the ring (``infra.core.secret_box``); what the older keys
sealed stays readable, and ``Resealer`` walks each registered column a page at a time, by primary
key, sealing again under the newest key every value an older key sealed, and sealing the values a
column's ``flag`` says are still in the clear (rows written before the column was sealed). Each
row is updated only if it still holds the value read (``WHERE value = <read>``), so a run racing
a writer, or another run, changes nothing twice; a run stopped halfway is simply run again: rows
already under the newest key are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Engine, Table, and_, select, update

from infra.core.secret_box import SecretBox
from infra.db.errors import translated
from infra.db.models import ArchivedEvent, DeadLetter, InboundSource, WebhookEndpoint
from streams.errors import ConfigurationError

PAGE = 500


@dataclass(frozen=True, slots=True)
class SealedColumn:
    table: Table
    column: str
    flag: str | None = None
    """A boolean column saying the value is sealed; without one, every value is."""

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(WebhookEndpoint.__table__, "secret_encrypted"),  # type: ignore[arg-type]
    SealedColumn(InboundSource.__table__, "signing_secret_encrypted"),  # type: ignore[arg-type]
    SealedColumn(DeadLetter.__table__, "value", flag="value_sealed"),  # type: ignore[arg-type]
    SealedColumn(ArchivedEvent.__table__, "record"),  # type: ignore[arg-type]
)


@dataclass(frozen=True, slots=True)
class ColumnKeys:
    """How the values of one column are sealed: under the newest key, an older one, not yet
    (``clear``), or by no key of the ring (``unreadable``: sealed under a key since removed)."""

    column: str
    current: int = 0
    older: int = 0
    clear: int = 0
    unreadable: int = 0


@dataclass(frozen=True, slots=True)
class Resealed:
    column: str
    resealed: int
    unreadable: int
    done: bool
    """False when the run stopped at its page budget with rows of the column left to look at."""
    after: object = None
    """Where it stopped: the last key it looked at (None: before the first)."""


class Resealer:
    def __init__(
        self, engine: Engine, box: SecretBox, columns: Sequence[SealedColumn] = SEALED_COLUMNS, *, page: int = PAGE
    ) -> None:
        self.engine, self._box, self._columns, self._page = engine, box, columns, page

    @translated("reading which key sealed each value")
    def status(self) -> list[ColumnKeys]:
        """Per column, how many values each kind of key sealed (reads every value, a page at a time)."""
        found = []
        for sealed in self._columns:
            counts = {"current": 0, "older": 0, "clear": 0, "unreadable": 0}
            for _, value, is_sealed in self._rows(sealed):
                counts[self._state(value, is_sealed)] += 1
            found.append(ColumnKeys(sealed.name, **counts))
        return found

    @translated("re-sealing stored values")
    def run(self, *, max_pages: int | None = None, start: Mapping[str, object] | None = None) -> list[Resealed]:
        """Seal under the newest key every value an older key sealed or none did yet, at most
        ``max_pages`` pages in all (None: every page), each column from its key in ``start``
        (where an earlier run stopped) or its first row."""
        used = 0
        done = []
        for sealed in self._columns:
            resealed = unreadable = 0
            after = (start or {}).get(sealed.name)
            finished = True
            for page in self._pages(sealed, after):
                if max_pages is not None and used >= max_pages:
                    finished = False
                    break
                used += 1
                after = page[-1][0]
                for key, value, is_sealed in page:
                    state = self._state(value, is_sealed)
                    if state == "unreadable":
                        unreadable += 1
                    elif state != "current":
                        resealed += self._write(sealed, key, value, state == "clear")
            done.append(Resealed(sealed.name, resealed, unreadable, finished, None if finished else after))
        return done

    def _state(self, value: bytes, is_sealed: bool) -> str:
        if not is_sealed:
            return "clear"
        if self._box.is_current(value):
            return "current"
        try:
            self._box.open(value)
        except ConfigurationError:
            return "unreadable"
        return "older"

    def _write(self, sealed: SealedColumn, key: object, value: bytes, clear: bool) -> int:
        table, column = sealed.table, sealed.table.c[sealed.column]
        values: dict[str, object] = {sealed.column: self._box.seal(value) if clear else self._box.reseal(value)}
        if sealed.flag is not None:
            values[sealed.flag] = True
        where = and_(_key(table) == key, column == value)
        if sealed.flag is not None:
            where = and_(where, table.c[sealed.flag].is_(not clear))
        with self.engine.begin() as connection:
            return int(connection.execute(update(table).where(where).values(values)).rowcount)

    def _rows(self, sealed: SealedColumn) -> Iterator[tuple[object, bytes, bool]]:
        for page in self._pages(sealed):
            yield from page

    def _pages(self, sealed: SealedColumn, after: object = None) -> Iterator[list[tuple[object, bytes, bool]]]:
        """The column's rows after ``after`` a page at a time, each read after the previous one was handled."""
        while page := self._next(sealed, after):
            yield page
            after = page[-1][0]

    def _next(self, sealed: SealedColumn, after: object) -> list[tuple[object, bytes, bool]]:
        table, key, column = sealed.table, _key(sealed.table), sealed.table.c[sealed.column]
        flag = table.c[sealed.flag] if sealed.flag is not None else None
        query = select(key, column, *([flag] if flag is not None else [])).where(column.is_not(None))
        if after is not None:
            query = query.where(key > after)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(key).limit(self._page)).all()
        return [(row[0], bytes(row[1]), bool(row[2]) if flag is not None else True) for row in rows]


def _key(table: Table) -> Column[object]:
    """The column that names a row: the primary key's first (a partitioned table's key adds its
    time column to an id that is unique alone)."""
    return next(iter(table.primary_key.columns))
