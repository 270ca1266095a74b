"""`talkrig serve`: the HTTP API, the live WebSocket stream and the web page (docs/serving.md).

A front end like the CLI: it imports only :mod:`talkrig.api` and :mod:`talkrig.errors`.
"""
