"""The catalogue of canonical event types: one frozen pydantic model per type, validating its payload.

Every model forbids unknown keys. A canonical payload is our contract with every consumer, so an
unexpected key is either a producer's typo (which would otherwise vanish silently) or data nobody
agreed to carry, possibly personal data we have no purpose for (LGPD's data minimisation). A source
with extra data gets a field in its model, reviewed like any contract change.

Money is integer cents (``amount_cents``): exact, the same in JSON, Avro and every language's
integers, with no decimal separator or rounding to argue about. Sources that send ``"1250.00"``
convert at their mapper, where a third decimal place is refused rather than rounded.

``validate_payload`` returns the normalised payload ready for JSON: phones in E.164, datetimes as
ISO-8601 UTC strings, e-mails lower-cased, CEP and CPF as digits, and optional fields that are absent
or null left out. Errors name the field's dotted path and the rule, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from streams.errors import InvalidEventError
from streams.payload_fields import (
    INTEGRAL,
    Cep,
    Channel,
    Cpf,
    DeliveryStatus,
    Email,
    EntityId,
    Label,
    LeadStatus,
    MessageId,
    MessageKind,
    MessageText,
    Name,
    Note,
    PaymentMethod,
    Phone,
    ServiceType,
    SessionStatus,
    Uf,
    UtcDatetime,
    WhatsAppProvider,
)

_MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


class Payload(BaseModel):
    """Base of every canonical payload: immutable, closed, whitespace-trimmed."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Campaign(Payload):
    """Where a lead's visit came from, as the site's UTM parameters say."""

    utm_source: Label | None = None
    utm_medium: Label | None = None
    utm_campaign: Label | None = None
    utm_term: Label | None = None
    utm_content: Label | None = None


class LeadCreated(Payload):
    """Someone asked about our services; ``lead_id`` is absent when the CRM has not assigned one yet."""

    name: Name
    phone: Phone
    email: Email | None = None
    channel: Channel
    origin: Label | None = Field(default=None, description="Page, form or partner the lead came through.")
    campaign: Campaign | None = None
    service_interest: ServiceType | None = None
    notes: Note | None = None
    marketing_consent: bool | None = Field(default=None, description="LGPD consent to marketing contact.")
    lead_id: EntityId | None = None


class LeadUpdated(Payload):
    """A lead changed in the CRM; only the fields that changed are present."""

    lead_id: EntityId
    status: LeadStatus | None = None
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    owner_id: EntityId | None = Field(default=None, description="The salesperson now responsible.")
    lost_reason: Label | None = None
    notes: Note | None = None


class Address(Payload):
    street: Name
    number: Label
    complement: Label | None = None
    neighborhood: Label | None = None
    city: Label
    state: Uf
    zip: Cep


class ClientRegistered(Payload):
    """A lead became a client (the person who contracts and pays, not necessarily the one cared for)."""

    client_id: EntityId
    name: Name
    phone: Phone
    email: Email | None = None
    cpf: Cpf | None = None
    address: Address | None = None
    lead_id: EntityId | None = None


class ServiceCompleted(Payload):
    """A caregiver or health professional finished a shift or visit at a client's."""

    service_id: EntityId
    client_id: EntityId
    caregiver_id: EntityId
    service_type: ServiceType
    started_at: UtcDatetime
    ended_at: UtcDatetime = Field(description="Later than started_at.")
    notes: Note | None = None
    client_name: Name | None = Field(default=None, description="How to greet the client in a message.")
    client_phone: Phone | None = Field(
        default=None, description="The client's WhatsApp number, to tell them the service ended and ask for feedback."
    )

    @field_validator("ended_at")
    @classmethod
    def _ends_after_start(cls, value: Any, info: ValidationInfo) -> Any:
        started = info.data.get("started_at")
        if started is not None and value <= started:
            raise ValueError("must be later than started_at")
        return value


class PaymentReceived(Payload):
    """Money arrived for an invoice."""

    # The validators' cross-field rules, stated in the JSON Schema too (OpenAPI and server agree).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"required": ["method"], "properties": {"method": {"not": {"const": "card"}}}},
            "then": {"properties": {"installments": {"type": "null"}}},
        }
    )

    payment_id: EntityId
    invoice_id: EntityId | None = None
    client_id: EntityId
    amount_cents: Annotated[int, Field(gt=0, le=10**11), INTEGRAL] = Field(
        description="Amount in centavos: R$ 12,50 is 1250."
    )
    currency: Literal["BRL"] = "BRL"
    paid_at: UtcDatetime
    method: PaymentMethod
    installments: Annotated[int, Field(ge=1, le=24), INTEGRAL] | None = None

    @field_validator("installments")
    @classmethod
    def _installments_only_by_card(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("method") != "card":
            raise ValueError("is allowed only when method is card")
        return value


class Media(Payload):
    mime_type: Label | None = None
    url: str | None = Field(default=None, max_length=2048, description="The provider's link; may expire.")
    filename: Name | None = None


class WhatsAppMessageReceived(Payload):
    """A contact sent us a WhatsApp message in a one-to-one chat."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"required": ["kind"], "properties": {"kind": {"const": "text"}}},
                    "then": {"required": ["text"], "properties": {"text": {"type": "string"}}},
                },
                {
                    "if": {
                        "required": ["kind"],
                        "properties": {"kind": {"not": {"enum": [kind for kind in sorted(_MEDIA_KINDS)]}}},
                    },
                    "then": {"properties": {"media": {"type": "null"}}},
                },
            ]
        }
    )

    provider: WhatsAppProvider
    instance: Label = Field(description="The provider's instance or session that received the message.")
    message_id: MessageId
    phone: Phone
    contact_name: Name | None = None
    kind: MessageKind
    text: MessageText | None = Field(default=None, validate_default=True, description="Text, or media caption.")
    media: Media | None = None
    reply_to_message_id: MessageId | None = None
    edited: bool = False

    @field_validator("text")
    @classmethod
    def _text_messages_have_text(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.data.get("kind") == "text":
            raise ValueError("is required when kind is text")
        return value

    @field_validator("media")
    @classmethod
    def _media_only_for_media_kinds(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("kind") not in _MEDIA_KINDS:
            raise ValueError("is allowed only for image, audio, video, document or sticker messages")
        return value


class WhatsAppMessageStatus(Payload):
    """What became of a message we sent: the recipient's phone got it, read it, played it, or it failed."""

    provider: WhatsAppProvider
    instance: Label
    message_id: MessageId
    status: DeliveryStatus
    phone: Phone | None = None


class WhatsAppSessionStatus(Payload):
    """A WhatsApp instance connected or lost its connection (e.g. the phone logged out)."""

    provider: WhatsAppProvider
    instance: Label
    status: SessionStatus
    phone: Phone | None = Field(default=None, description="The company's own number on that instance.")
    reason: Label | None = Field(default=None, description="The provider's reason for a disconnection.")


EVENT_TYPES: Mapping[str, type[BaseModel]] = MappingProxyType(
    {
        "lead.created": LeadCreated,
        "lead.updated": LeadUpdated,
        "client.registered": ClientRegistered,
        "service.completed": ServiceCompleted,
        "payment.received": PaymentReceived,
        "whatsapp.message.received": WhatsAppMessageReceived,
        "whatsapp.message.status": WhatsAppMessageStatus,
        "whatsapp.session.status": WhatsAppSessionStatus,
    }
)


def validate_payload(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of an ``event_type`` event, validated and normalised for JSON.

    Raises ``InvalidEventError`` whose ``field`` is the dotted path of the first offending field
    (``"type"`` for an unknown type) and whose message names that field and the rule only.
    """
    model = EVENT_TYPES.get(event_type)
    if model is None:
        # The unknown name is not repeated: it is whatever the client sent.
        raise InvalidEventError("type: is not a known event type", field="type")
    try:
        # Strict JSON validation, as the OpenAPI document states the types: 0 is not a date-time,
        # "1" not an integer, 1 not a boolean (lax mode took them all).
        validated = model.model_validate_json(orjson.dumps(payload), strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        path = ".".join(str(part) for part in first["loc"]) or "payload"
        # "from None": a ValidationError's text quotes the input, which may be personal data.
        raise InvalidEventError(f"{path}: {_rule(first['msg'])}", field=path) from None
    return validated.model_dump(mode="json", exclude_none=True)


def json_schemas() -> dict[str, dict[str, Any]]:
    """Event type to the JSON Schema (2020-12, as OpenAPI 3.1 uses) of its payload, with no ``$ref``.

    Nested models are inlined so each schema can be placed anywhere in an OpenAPI document.
    """
    return {name: _inline(model.model_json_schema()) for name, model in EVENT_TYPES.items()}


def _rule(message: str) -> str:
    return message.removeprefix("Value error, ")


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                return resolve(definitions[ref.rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
