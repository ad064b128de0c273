"""Each source's mapper with the built-in types' validation, as the ingress runs it."""

from streams.sources import validating
from streams.sources.crm import map_crm as read_crm
from streams.sources.financeiro import map_financeiro as read_financeiro
from streams.sources.operacao import map_operacao as read_operacao
from streams.sources.site import map_site as read_site
from streams.sources.waha import map_waha as read_waha
from streams.sources.zapi import map_zapi as read_zapi
from tests.builtin_types import validate_payload


def _validated(read):
    mapper = validating(read)
    return lambda body: mapper(body, validate_payload)


map_crm = _validated(read_crm)
map_financeiro = _validated(read_financeiro)
map_operacao = _validated(read_operacao)
map_site = _validated(read_site)
map_waha = _validated(read_waha)
map_zapi = _validated(read_zapi)
