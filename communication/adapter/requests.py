"""Reads of requests for human input across every application on the system database.

A request is the event ``request.<topic>`` of the asking workflow (``communication.kit.ask``). DBOS's public API
reads one event of one known workflow; the inbox needs every open request of every workflow, with the workflow's
name, status and application. That is one join of DBOS's ``workflow_events`` (the latest value per key) with
``workflow_status``, pinned in ``contract.py``. Values are decoded with the store's one decoder, so a value this
process must not decode is skipped (and logged) instead of failing the whole list.

All functions are synchronous (SQLAlchemy); callers run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from communication.adapter.store import _decode, sysdb
from communication.protocol.errors import ValueNotDecodable
from communication.protocol.names import REQUEST_EVENT_PREFIX

log = logging.getLogger("communication.adapter.requests")

#: DBOS statuses of a workflow that may still take an answer.
ACTIVE_STATUSES = ("PENDING", "ENQUEUED")


@dataclass(frozen=True)
class RequestRow:
    """One request event with its workflow's facts."""

    workflow_id: str
    key: str
    value: Any
    workflow_status: str
    workflow_name: str | None
    application: str | None


def _select(active_only: bool) -> sa.Select[Any]:
    db = sysdb()
    ev = db.tables.workflow_events
    ws = db.tables.workflow_status
    query = (
        sa.select(ev.c.workflow_uuid, ev.c.key, ev.c.value, ev.c.serialization, ws.c.status, ws.c.name)
        .add_columns(ws.c.application_name)
        .join(ws, ws.c.workflow_uuid == ev.c.workflow_uuid)
        # LIKE: "request." has no wildcard characters; the prefix keeps the scan to request events.
        .where(ev.c.key.like(REQUEST_EVENT_PREFIX + "%"))
    )
    if active_only:
        query = query.where(ws.c.status.in_(ACTIVE_STATUSES))
    return query


def _rows(query: sa.Select[Any]) -> list[RequestRow]:
    db = sysdb()
    with db.engine.begin() as c:
        rows = c.execute(query).fetchall()
    found = []
    for wf, key, value, serialization, status, name, application in rows:
        try:
            decoded = _decode(value, serialization, workflow_id=str(wf), key=str(key), kind="event")
        except ValueNotDecodable as exc:
            log.warning("request skipped: %s", exc.message)
            continue
        found.append(RequestRow(str(wf), str(key), decoded, str(status), name, application))
    return found


def list_requests(*, active_only: bool, limit: int) -> list[RequestRow]:
    """Request events (at most ``limit`` rows, of the newest workflows first): of running workflows only when
    ``active_only``."""
    ws = sysdb().tables.workflow_status
    return _rows(_select(active_only).order_by(ws.c.created_at.desc()).limit(limit))


def read_request(workflow_id: str, topic: str) -> RequestRow | None:
    """The request on ``topic`` of ``workflow_id`` with its workflow's facts, or ``None`` if it never asked."""
    ev = sysdb().tables.workflow_events
    rows = _rows(_select(False).where(ev.c.workflow_uuid == workflow_id, ev.c.key == REQUEST_EVENT_PREFIX + topic))
    return rows[0] if rows else None
