"""The seed's compatibility room: the seed-shaped paths, their frames, models and settings, built on the public core.

Optional: :func:`communication.create_app` serves it by default (``COMM_COMPAT``), :func:`communication.mount` only
when asked (``compat=True``). Nothing here is imported by :mod:`communication.http`; importing this package imports
nothing else (the workflows read the Monty contract, :mod:`communication.compat.models`, without FastAPI).
"""
