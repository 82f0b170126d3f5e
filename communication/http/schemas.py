"""Request bodies of the v1 API."""

from __future__ import annotations

from typing import Any

from communication.protocol.requests import ErrorEnvelope


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses (422 for validation is always added)."""
    descriptions = {
        400: "Malformed JSON (malformed_json)",
        404: "Not found (workflow_not_found, event_not_found, queue_not_found)",
        409: "Conflict (workflow_id_conflict, workflow_finished)",
        410: "No longer takes an answer (request_closed)",
        413: "Body too large (payload_too_large)",
        422: "Invalid parameter or body (validation_error, unknown_workflow_type, value_not_decodable)",
        429: "Too many live subscribers (too_many_subscriptions)",
        503: "Not ready (not_ready)",
    }
    return {s: {"model": ErrorEnvelope, "description": descriptions[s]} for s in (*statuses, 422)}
