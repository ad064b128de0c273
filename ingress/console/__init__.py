"""The operator console (``crmbus dashboard``): whether the bus is healthy, and what an operator
does about it, on server-rendered pages that need no script, and the overview as JSON.

``access`` lets in only who signed in with an API key (``sign_in``), checking every form's CSRF
token; ``layout`` frames every page. ``gather`` reads every source (the delivery history and DLQ
archive in PostgreSQL, the workers' metrics, consumer lag from Kafka), ``document`` turns the
readings into the overview and ``page`` renders it. ``events`` tells an event's story (``story``)
and retries its dead-lettered deliveries, ``dead_letters`` replays DLQ groups after a dry run,
``destinations`` pauses and resumes; ``acts`` is what every action checks first. ``app`` wires
the routes to what the composition root opened (``state``).
"""
