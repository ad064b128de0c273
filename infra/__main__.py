"""``python -m infra`` is the ``crmbus`` command (handy where the console script is not on PATH)."""

from infra.cli import main

main()
