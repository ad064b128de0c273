"""WhatsApp beyond text, end to end: a route sends an image through Z-API from a real `crmbus worker`
reading Kafka, and the sandbox (`crmbus sandbox`) receives it in Z-API's own send-image shape; a
route whose media URL points inside the network is dead-lettered without a request."""

from __future__ import annotations

from infra.db.endpoints import Endpoints
from infra.db.routes import Routes
from infra.devtools.sandbox import SandboxClient
from streams.dead_letter import DESTINATION, ERROR_CLASS, ERROR_MESSAGE, STAGE
from streams.deadlines import wait_until
from streams.routes import delivery_id
from tests.integration.worker_harness import Bus, TopicReader, event, example

PHONE = {"from": "phone", "format": "phone_digits"}
INTERNAL = "http://169.254.169.254/latest/meta-data/iam.pdf"


def test_a_route_sends_a_whatsapp_image_through_z_api_and_refuses_an_internal_media_url(
    bus: Bus, sandbox: SandboxClient
) -> None:
    sandbox.clear()
    sandbox.heal("zapi")
    Endpoints(bus.engine, bus.box(), actor="test").update(
        bus.tenant, "zapi", url=sandbox.url_of("zapi"), secret="sandbox-zapi-token"
    )
    routes = Routes(bus.engine, actor="test")
    for seeded in routes.list(bus.tenant):  # only this test's routes: no welcome text beside the image
        routes.disable(seeded.id)
    # A loopback URL: the workers' policy allows loopback here, as it does for the sandbox itself.
    image = f"{sandbox.url}/arquivos/boas-vindas.jpg"
    caption = {"template": "Olá, {name|first_name}! Seja bem-vinda."}
    sent_image = routes.add(
        bus.tenant,
        "lead.created",
        "zapi",
        "zapi.send_image",
        mapping={"fields": {"phone": PHONE, "url": {"const": image}, "caption": caption}},
    )
    routes.add(
        bus.tenant,
        "lead.created",
        "zapi",
        "zapi.send_document",
        mapping={"fields": {"phone": PHONE, "url": {"const": INTERNAL}}},
    )
    lead = event(bus.tenant, "lead.created", example("lead.created"))
    dlq = TopicReader(bus.settings.kafka_bootstrap, [bus.topic("crmbus.dlq")])
    workers = bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true").start()
    try:
        bus.lane.send([lead])
        wait_until(lambda: len(sandbox.applied("zapi")) == 1, 90, "the image at the Z-API sandbox")
        dlq.poll_until(lambda seen: any(r.headers.get(DESTINATION) == "zapi" for r in seen), 60, "the refused PDF")
    finally:
        workers.stop()
        dlq.close()

    [sent] = sandbox.applied("zapi")
    assert sent.path == "/zapi/instances/demo/token/***/send-image"
    assert sent.body == {"phone": "5511987654321", "image": image, "caption": "Olá, Maria! Seja bem-vinda."}
    assert sent.idempotency_key == delivery_id(lead.event_id, sent_image.id)
    [refused] = [r for r in dlq.seen if r.headers.get(STAGE, "").startswith("sink.")]
    assert refused.headers[ERROR_CLASS] == "PermanentDeliveryError"
    assert "'url'" in refused.headers[ERROR_MESSAGE]
    assert "169.254" not in refused.headers[ERROR_MESSAGE]
    assert [r.path for r in sandbox.requests("zapi")] == [sent.path]  # the PDF never left crmbus
