"""Asynchronous sources of the client (the ``_sync`` twins are generated from them by unasync)."""
