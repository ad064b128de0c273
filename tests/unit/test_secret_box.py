"""The secret box is a key ring: it seals with its newest key, opens with any, and says which
values an older key sealed; the ring comes from CRMBUS_SECRET_KEY or the key file."""

import pytest
from cryptography.fernet import Fernet

from infra.core.secret_box import SecretBox, add_key, ring_of
from infra.core.settings import Settings
from streams.errors import ConfigurationError

OLD, NEW = Fernet.generate_key(), Fernet.generate_key()


def test_a_ring_opens_what_an_older_key_sealed_and_seals_with_the_newest():
    sealed_before = SecretBox(OLD).seal(b"whsec_1")
    ring = SecretBox(NEW, OLD)
    assert ring.open(sealed_before) == b"whsec_1"
    assert not ring.is_current(sealed_before)
    assert ring.is_current(ring.seal(b"whsec_2"))
    assert SecretBox(NEW).open(ring.seal(b"whsec_2")) == b"whsec_2"


def test_resealing_puts_a_value_under_the_newest_key():
    resealed = SecretBox(NEW, OLD).reseal(SecretBox(OLD).seal(b"+5511987654321"))
    assert SecretBox(NEW).open(resealed) == b"+5511987654321"


def test_a_value_sealed_by_a_key_no_longer_in_the_ring_cannot_be_opened():
    with pytest.raises(ConfigurationError, match="cannot be opened"):
        SecretBox(NEW).open(SecretBox(OLD).seal(b"x"))


def test_the_environment_holds_the_ring_comma_separated_newest_first(tmp_path):
    settings = Settings(state_dir=tmp_path, secret_key=f"{NEW.decode()}, {OLD.decode()}")
    assert ring_of(settings) == [NEW, OLD]
    assert SecretBox.from_settings(settings).size == 2


def test_rotating_the_key_file_puts_a_new_key_first_and_keeps_the_others(tmp_path):
    settings = Settings(state_dir=tmp_path, secret_key=None)
    first = ring_of(settings)
    sealed = SecretBox.from_settings(settings).seal(b"secret")
    ring = add_key(settings)
    assert ring_of(settings) == ring and ring[1:] == first and len(ring) == 2
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert SecretBox.from_settings(settings).open(sealed) == b"secret"


def test_rotating_with_the_key_in_the_environment_writes_no_file(tmp_path):
    settings = Settings(state_dir=tmp_path, secret_key=OLD.decode())
    assert add_key(settings)[1:] == [OLD]
    assert not (tmp_path / "secret.key").exists()


def test_a_malformed_key_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="Fernet keys"):
        SecretBox(b"not-a-key")
