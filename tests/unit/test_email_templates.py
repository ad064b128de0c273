"""E-mail templates of SMTP destinations: placeholders as in route mappings, substituted safely."""

import pytest

from streams.email_templates import compile_template, compile_templates
from streams.errors import ConfigurationError, PermanentDeliveryError
from streams.mapping import compile_mapping
from streams.seed_flows import EMAIL_TEMPLATES, SEED_ROUTES
from tests.builtin_types import paths

APPOINTMENT = {
    "subject": "Consulta de {name|first_name} em {when|date_br}",
    "text": "Olá, {name|first_name}! Sua consulta com {care.team} está confirmada. {{sem placeholder}}",
    "html": "<p>Olá, <b>{name}</b>!</p>",
}


def test_placeholders_formats_and_dotted_paths_are_filled_from_the_variables():
    template = compile_template("consulta", APPOINTMENT)

    rendered = template.render({"name": "maria souza", "when": "2026-03-05T22:00:00Z", "care": {"team": "Equipe A"}})

    assert rendered.subject == "Consulta de Maria em 05/03/2026"
    assert rendered.text == "Olá, Maria! Sua consulta com Equipe A está confirmada. {sem placeholder}"
    assert rendered.html == "<p>Olá, <b>maria souza</b>!</p>"


def test_a_missing_variable_is_permanent_and_names_the_template_and_variable_not_the_values():
    template = compile_template("consulta", APPOINTMENT)

    with pytest.raises(PermanentDeliveryError) as raised:
        template.render({"name": "Maria Souza", "when": "2026-03-05T22:00:00Z"})

    assert "'consulta'" in str(raised.value) and "'care.team'" in str(raised.value)
    assert "Maria" not in str(raised.value)


def test_a_variable_a_format_cannot_read_is_permanent_without_its_value():
    template = compile_template("consulta", APPOINTMENT)

    with pytest.raises(PermanentDeliveryError) as raised:
        template.render({"name": "Maria", "when": "amanhã às 10h", "care": {"team": "A"}})

    assert "'when'" in str(raised.value) and "date_br" in str(raised.value)
    assert "amanhã" not in str(raised.value)


def test_values_are_escaped_in_html_and_kept_as_written_in_text():
    template = compile_template("t", {"subject": "Oi", "text": "{note}", "html": "<p>{note}</p>"})

    rendered = template.render({"note": '<script>alert("x")</script> & cia'})

    assert rendered.html == "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; cia</p>"
    assert rendered.text == '<script>alert("x")</script> & cia'


def test_a_variable_cannot_break_the_subject_into_more_header_lines():
    template = compile_template("t", {"subject": "Olá, {name}", "text": "."})

    rendered = template.render({"name": "Ana\r\nBcc: todos@example.com"})

    assert rendered.subject == "Olá, Ana Bcc: todos@example.com"
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


@pytest.mark.parametrize("text", ["{name[0]}", "{name:>10}", "{name!r}", "{0}", "{}", "{a b}"])
def test_placeholders_take_no_indexes_format_specs_or_conversions(text):
    with pytest.raises(ConfigurationError, match="placeholders are"):
        compile_template("t", {"subject": "s", "text": text})


def test_a_dotted_placeholder_reads_nested_variables_never_attributes():
    template = compile_template("t", {"subject": "s", "text": "{name.__class__}"})

    with pytest.raises(PermanentDeliveryError, match=r"'name\.__class__'"):
        template.render({"name": "Ana"})


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("Olá", "must be an object"),
        ({"subject": "s"}, "templates.t.text must be non-empty text"),
        ({"subject": "", "text": "x"}, "templates.t.subject must be non-empty text"),
        ({"subject": "a\nb", "text": "x"}, "subject must be one line"),
        ({"subject": "s", "text": "x", "body": "y"}, "unknown keys"),
        ({"subject": "s", "text": "{name|shout}"}, "'shout' is not a format"),
        ({"subject": "s", "text": "{name"}, "unmatched brace"),
        ({"subject": "s", "text": "x", "html": 3}, "html must be text"),
    ],
)
def test_a_template_that_cannot_be_rendered_is_refused_when_configured(spec, complaint):
    with pytest.raises(ConfigurationError, match=complaint):
        compile_template("t", spec)


def test_a_destinations_templates_add_to_and_replace_the_seed_ones_by_name():
    own = {"boas_vindas": {"subject": "Bem-vinda, {name}", "text": "Oi"}, "lembrete": {"subject": "s", "text": "t"}}

    templates = compile_templates(own)

    assert set(templates) == set(EMAIL_TEMPLATES) | {"lembrete"}
    assert templates["boas_vindas"].render({"name": "Ana"}).subject == "Bem-vinda, Ana"
    assert templates["boas_vindas"].render({"name": "Ana"}).html is None


def test_templates_must_be_an_object_of_templates():
    with pytest.raises(ConfigurationError, match="templates must be an object"):
        compile_templates(["boas_vindas"])


def test_every_template_a_seed_route_names_has_a_portuguese_default_that_renders_its_variables():
    templates = compile_templates(None)
    sample = {
        "name": "Maria Aparecida Souza",
        "email": "maria@example.com.br",
        "client_id": "CL-1",
        "phone": "+5511987654321",
    }
    meta = {"$event.id": "e-1"}
    emails = [route for route in SEED_ROUTES if route.action == "email.send_template"]
    assert emails, "the seed flows send e-mail"
    for route in emails:
        payload = compile_mapping(route.mapping, paths=paths(route.event_type)).apply(sample, meta)
        rendered = templates[payload["template"]].render(payload["variables"])
        assert "Maria" in rendered.subject and rendered.text.startswith("Olá, Maria!")
        assert rendered.html is not None and "<p>Olá, Maria!</p>" in rendered.html
