"""Masking the personal data of a payload an operator may not see."""

import pytest

from streams.redact import MASK, mask_all, mask_paths

pytestmark = pytest.mark.unit


def test_each_personal_path_is_masked_through_objects_and_arrays_and_the_rest_kept():
    payload = {"name": "Ana", "phone": "+5511", "cliente": {"telefone": "1"}, "itens": [{"cpf": "1"}, {"cpf": None}]}
    masked = mask_paths(payload, ["name", "cliente.telefone", "itens.cpf", "email"])
    assert masked == {"name": MASK, "phone": "+5511", "cliente": {"telefone": MASK},
                      "itens": [{"cpf": MASK}, {"cpf": None}]}  # fmt: skip
    assert payload["name"] == "Ana"  # the original is left as it was


def test_masking_everything_keeps_only_the_shape():
    assert mask_all({"a": [1, {"b": "x"}], "c": None}) == {"a": [MASK, {"b": MASK}], "c": None}
