"""The client mirrors the server's one error tree: every code the server can send lands in the right client class.

The server's tree is :mod:`communication.protocol.errors` (each class: a stable ``code`` and an HTTP ``status``); the
client's is :mod:`communication.client.errors`. These tests keep them from drifting apart.
"""

from __future__ import annotations

import pytest

from communication.client import errors as client_errors
from communication.http import errors as http_errors
from communication.protocol import errors as server_errors

# Pure unit tests: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent


def _server_classes() -> list[type[server_errors.CommError]]:
    found: list[type[server_errors.CommError]] = []
    pending: list[type[server_errors.CommError]] = [server_errors.CommError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [c for c in found if "code" in c.__dict__]


@pytest.mark.parametrize("server_cls", _server_classes(), ids=lambda c: c.code)
def test_every_server_code_maps_to_a_client_error_of_its_family(server_cls: type[server_errors.CommError]) -> None:
    error = client_errors.api_error(server_cls.status, server_cls.code, "m", {})
    assert error.code == server_cls.code and error.status == server_cls.status
    assert isinstance(error, type(client_errors.api_error(server_cls.status, "some_new_code", "m")))
    twin = getattr(client_errors, server_cls.__name__, None)
    if isinstance(twin, type) and issubclass(twin, client_errors.ApiError):
        assert isinstance(error, twin), f"{server_cls.__name__}: the client's class of that name must be chosen"


def test_every_client_code_is_one_the_server_sends() -> None:
    # The tree's codes, plus those the HTTP layer gives Starlette's own errors (unknown route, method, media type).
    server_codes = {c.code for c in _server_classes()} | set(http_errors._HTTP_CODES.values())
    stale = sorted(set(client_errors.ERRORS_BY_CODE) - server_codes)
    assert stale == [], f"client error classes for codes the server never sends: {stale}"
