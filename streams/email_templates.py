"""E-mail templates an SMTP destination renders itself: a subject, a plain-text body, optionally HTML.

An e-mail HTTP API keeps its templates at the provider; an SMTP server has none, so an SMTP
destination carries them in its config, per template name::

    "templates": {"boas_vindas": {"subject": "Boas-vindas, {name}!", "text": "Olá, {name}! ...",
                                  "html": "<p>Olá, {name}!</p>"}}

Placeholders are those of route mapping templates (``streams.mapping``): ``{name}``, a dotted
path into nested variables ``{cliente.nome}``, or a formatted one ``{name|first_name}`` with any
of ``streams.mapping.FORMATS``; write literal braces as ``{{`` and ``}}``. Nothing else is
evaluated: no attribute access, indexing or format specs, so a template cannot reach beyond the
variables it is given.

Substitution is safe for each part: in HTML every value is escaped, and in the subject line
breaks and other control characters become spaces (a header cannot be split by a variable). A
template names variables the delivery does not carry → ``PermanentDeliveryError`` naming the
template and the variable, never a value. The seed templates (``streams.seed_flows``) are the
defaults a destination's own templates add to or replace by name.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from string import Formatter
from typing import Any

from streams.errors import ConfigurationError, PermanentDeliveryError
from streams.mapping import FORMATS
from streams.seed_flows import EMAIL_TEMPLATES

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_PARTS = ("subject", "text", "html")

_Piece = tuple[str, str | None, str | None]
"""(literal text, variable path or None, format name or None)."""


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True, slots=True)
class _Part:
    pieces: tuple[_Piece, ...]

    def render(self, template: str, variables: Mapping[str, Any], escape: Callable[[str], str]) -> str:
        out: list[str] = []
        for literal, path, format_name in self.pieces:
            out.append(literal)
            if path is not None:
                out.append(escape(_value(template, path, format_name, variables)))
        return "".join(out)


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    """One compiled template; ``render`` gives the subject and bodies for one delivery's variables."""

    name: str
    subject: _Part
    text: _Part
    html: _Part | None = None

    def render(self, variables: Mapping[str, Any]) -> RenderedEmail:
        return RenderedEmail(
            subject=self.subject.render(self.name, variables, _one_line).strip(),
            text=self.text.render(self.name, variables, str),
            html=self.html.render(self.name, variables, html.escape) if self.html is not None else None,
        )


def compile_template(name: str, spec: Any) -> EmailTemplate:
    """``spec`` is ``{"subject": ..., "text": ..., "html"?: ...}``; ConfigurationError names what is wrong."""
    where = f"templates.{name}"
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"{where} must be an object with subject, text and optionally html")
    unknown = set(spec) - set(_PARTS)
    if unknown:
        raise ConfigurationError(f"{where} has unknown keys {sorted(unknown)}; it takes subject, text and html")
    for required in ("subject", "text"):
        if not isinstance(spec.get(required), str) or not spec[required].strip():
            raise ConfigurationError(f"{where}.{required} must be non-empty text")
    if "html" in spec and not isinstance(spec["html"], str):
        raise ConfigurationError(f"{where}.html must be text")
    if _CONTROL.search(spec["subject"]):
        raise ConfigurationError(f"{where}.subject must be one line")
    return EmailTemplate(
        name,
        _parsed(spec["subject"], f"{where}.subject"),
        _parsed(spec["text"], f"{where}.text"),
        _parsed(spec["html"], f"{where}.html") if spec.get("html") else None,
    )


def compile_templates(given: Any) -> Mapping[str, EmailTemplate]:
    """The seed templates with a destination's own (config ``templates``) added or replacing them by name."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ConfigurationError("templates must be an object: template name → {subject, text, html}")
    merged = {**EMAIL_TEMPLATES, **given}
    return {name: compile_template(str(name), spec) for name, spec in merged.items()}


def _parsed(source: str, where: str) -> _Part:
    try:
        parsed = list(Formatter().parse(source))
    except ValueError:
        raise ConfigurationError(f"{where} has an unmatched brace; write literal braces as {{{{ and }}}}") from None
    pieces: list[_Piece] = []
    for literal, field, format_spec, conversion in parsed:
        if field is None:
            pieces.append((literal, None, None))
            continue
        path, bar, format_name = field.partition("|")
        if format_spec or conversion is not None or not _NAME.fullmatch(path):
            raise ConfigurationError(f"{where}: placeholders are {{name}}, {{a.b}} or {{name|format}}")
        if bar and format_name not in FORMATS:
            raise ConfigurationError(f"{where}: {format_name!r} is not a format; use one of {', '.join(FORMATS)}")
        pieces.append((literal, path, format_name if bar else None))
    return _Part(tuple(pieces))


def _value(template: str, path: str, format_name: str | None, variables: Mapping[str, Any]) -> str:
    found: Any = variables
    for key in path.split("."):
        found = found.get(key) if isinstance(found, Mapping) else None
    if found is None:
        raise PermanentDeliveryError(f"template {template!r} needs the variable {path!r}, which the delivery lacks")
    try:
        return FORMATS[format_name or "string"](found)
    except ValueError as exc:  # FORMATS' messages name the rule, never the value
        how = f"format {format_name}" if format_name else "text"
        raise PermanentDeliveryError(
            f"template {template!r}: variable {path!r} cannot be written as {how}: {exc}"
        ) from None


def _one_line(value: str) -> str:
    return _CONTROL.sub(" ", value)
