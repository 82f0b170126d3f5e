"""Names of the events, topics and streams that cross the wire (shared by workflows, server, clients, tests)."""

STATUS_EVENT = "status"
PROGRESS_EVENT = "progress"
RESULT_EVENT = "result"
NOTIFICATION_TOPIC = "notification"
PROGRESS_STREAM = "progress_stream"
#: Event holding a workflow's callback link (``publish_callback_link``). Never readable with a read token.
APPROVAL_LINK_EVENT = "approval_link"
#: Stream of step-status records written by ``tracked_step``.
STEP_STATUS_STREAM = "step_status"
#: Type name of the seed's fast-temporal WebSocket demo workflow (``WS /ws/{user_id}`` starts it by name).
FAST_TEMPORAL_TYPE = "fast_temporal"
#: Events whose key starts with this prefix are secret, like ``approval_link``: never readable with a read token
#: (GET, lists, SSE watches, WebSocket subscriptions); only an API key reads them.
SECRET_EVENT_PREFIX = "secret."
#: Events ``request.<topic>`` hold a workflow's request for human input (``communication.kit.ask``). Secret: a
#: request carries its signed answer link.
REQUEST_EVENT_PREFIX = "request."


def is_secret_event(key: str) -> bool:
    """Whether event ``key`` holds a secret (``approval_link``, a key under ``secret.`` or a ``request.``)."""
    return key == APPROVAL_LINK_EVENT or key.startswith((SECRET_EVENT_PREFIX, REQUEST_EVENT_PREFIX))
