"""The engine: small policies, each with one job, that the SDK adapter (``streams.py``) composes.

- :mod:`.documents`: a response body decoded once; the server's own words for errors.
- :mod:`.placement`: where a value goes (URLs, query strings, JSON bodies, origins).
- :mod:`.paging`: the paginator registry and paginators (the SDK's ``BaseAPIPaginator``).
- :mod:`.auth`: the authenticator registry and authenticators.
- :mod:`.request`: a stream's request, built from its resource.
- :mod:`.records`: records selected from a body and shaped for the schema.
- :mod:`.incremental`: where a sync starts, what is older than the bookmark, early stops.
- :mod:`.retry`: classify answers, back off (``Retry-After``), renew tokens, final errors.
- :mod:`.concurrency`: request slots, pooled sessions, pages and children fetched ahead.
- :mod:`.partition`: the typed per-stream and per-partition run state.
- :mod:`.runtime`: what one tap run shares (settings, definition, authenticator, concurrency).
- :mod:`.writer`, :mod:`.conform`: the fast Singer output path.
- :mod:`.progress`: progress lines and per-stream summaries.
"""
