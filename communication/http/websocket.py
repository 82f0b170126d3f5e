"""What both WebSocket routes share: the bearer key of a handshake and the one close-code table.

Close codes: RFC 6455's own (1001 going away, 1008 policy violation, 1011 internal error), and 44xx mirroring the
HTTP status of the error that refused the handshake (4401 unauthorized, 4403 forbidden origin, 4404 unknown
workflow, 4422 invalid parameter). Errors after the handshake are answered with error frames, not closes.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from communication.protocol.errors import CommError

GOING_AWAY = 1001
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
#: HTTP status of a handshake refusal -> its close code.
_BY_STATUS = {401: 4401, 403: 4403, 404: 4404, 422: 4422}


def close_code(exc: CommError) -> int:
    """The close code for an error that refuses a handshake (44xx mirrors its HTTP status; else 1008)."""
    return _BY_STATUS.get(exc.status, POLICY_VIOLATION)


def bearer_key(connection: HTTPConnection) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or ``None`` (the HTTP routes use FastAPI's HTTPBearer)."""
    header = connection.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None
