"""The communication core over DBOS: events, messages, streams, errors and settings.

Nothing here imports FastAPI; the HTTP layer lives in :mod:`api`.
"""
