"""Benchmarks of crmbus on loopback: ``python -m bench run <scenario>`` (see ``bench/__main__.py``)."""
