from streams.redact import safe_excerpt


def test_an_excerpt_keeps_the_message_and_masks_emails_and_phone_like_numbers():
    body = '{"error": "duplicate lead", "email": "maria.souza@example.com.br", "phone": "+55 (11) 98765-4321"}'
    excerpt = safe_excerpt(body)
    assert "duplicate lead" in excerpt
    assert "maria" not in excerpt and "98765" not in excerpt
    assert "[email]" in excerpt and "[number]" in excerpt


def test_an_excerpt_is_short_and_short_numbers_such_as_status_codes_stay():
    assert safe_excerpt("x" * 10_000) == "x" * 300
    assert safe_excerpt("error 4221 at line 12") == "error 4221 at line 12"
