"""Pure domain logic of crmbus: the envelope, errors and decisions. No I/O here."""
