"""Names of the events, topics and streams the built-in workflows use (shared with clients and tests)."""

STATUS_EVENT = "status"
PROGRESS_EVENT = "progress"
RESULT_EVENT = "result"
NOTIFICATION_TOPIC = "notification"
PROGRESS_STREAM = "progress_stream"
