"""A runnable tour of the Python client library, then of ``DBOSClient`` talking to the database directly.

Start a server in one terminal (``python server.py`` or ``wfc serve``), then run::

    python example_client_lib.py [SERVER_URL] [SYSTEM_DATABASE_URL]

``SERVER_URL`` defaults to ``$COMM_URL`` or http://localhost:8000 (``$COMM_API_KEY`` is sent when set).
``SYSTEM_DATABASE_URL`` (default ``$DBOS_SYSTEM_DATABASE_URL``, else the server's default SQLite file
``data/dbos-comm.sqlite`` when it exists) is the server's database, for the ``DBOSClient`` half of the tour.

Over HTTP (:class:`communication.client.Client`):
  1. an ``events`` workflow with a progress bar fed by a live event watch;
  2. an approval (``messaging``) workflow approved by a message;
  3. a live tail of a ``streaming`` workflow's stream;
  4. request/reply into a ``counter`` workflow (a retried request is answered once).
Without HTTP (``DBOSClient``, the way a backend service sharing the database would): the same first three, with
``enqueue``, ``get_event``, ``send`` and ``read_stream`` (only calls DBOS 3.4's ``DBOSClient`` has: it has no
``get_all_events``; read every event at once with ``Client.events`` / ``GET /v1/workflows/{id}/events``).
``DBOSClient`` can only *enqueue* workflows, so the tour enqueues onto ``$COMM_WORK_QUEUE`` when the deployment
has a work queue, else onto a queue it registers itself (``example-tour``); the server executes every registered
queue unless told otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from communication.client import Client
from communication.client.errors import ClientError

TOUR_QUEUE = "example-tour"
WAIT = 60.0  # seconds any single step of the tour may take before it is reported as failed


def _id(kind: str) -> str:
    return f"tour-{kind}-{uuid.uuid4().hex[:8]}"


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console)


# --- over HTTP ---------------------------------------------------------------------------------------------------


def events_with_progress_bar(client: Client, console: Console) -> None:
    """Start an events workflow and draw its ``progress`` event (0-100) as a bar, live."""
    console.rule("1. events workflow, progress bar fed by a live event watch")
    wf = client.start("events", {"n_steps": 5, "step_delay_seconds": 0.2}, workflow_id=_id("events"))
    console.print(f"started [bold]{wf.workflow_id}[/]")
    with _progress(console) as bar:
        task = bar.add_task("progress", total=100)
        # One SSE connection delivers every change of these keys until the workflow finishes.
        for event in client.watch_events(wf.workflow_id, keys=["progress", "status"]):
            if event.key == "progress":
                bar.update(task, completed=event.value)
            else:
                bar.console.print(f"  status → {event.value}")
    outcome = client.result(wf.workflow_id, timeout=WAIT)
    console.print(f"result: {outcome.status}, total_fibonacci = {outcome.output['total_fibonacci']}")
    # Every event at once (GET /v1/workflows/{id}/events): DBOS 3.4's DBOSClient has no get_all_events.
    every = client.events(wf.workflow_id)
    console.print("all events: " + ", ".join(f"{key} (v{e.version})" for key, e in sorted(every.events.items())))


def approval_by_message(client: Client, console: Console) -> None:
    """Start an approval workflow, wait until it waits, approve it with a message."""
    console.rule("2. approval workflow approved by a message")
    wf = client.start("messaging", {"n_steps": 3}, workflow_id=_id("approval"))
    status = client.get_event(wf.workflow_id, "status", timeout=WAIT)
    console.print(f"{wf.workflow_id} status: {status.value}")
    sent = client.send(
        wf.workflow_id,
        {"approved": True, "message": "Approved by example_client_lib"},
        topic="notification",
        idempotency_key=f"approve-{wf.workflow_id}",
    )
    console.print(f"approval message: {sent.outcome}")
    outcome = client.result(wf.workflow_id, timeout=WAIT)
    console.print(f"result: {outcome.status}, {outcome.output['status']} ({outcome.output['approval_message']!r})")


def live_stream_tail(client: Client, console: Console) -> None:
    """Start a streaming workflow and print its stream as it is written."""
    console.rule("3. live stream tail")
    wf = client.start("streaming", {"n_steps": 3, "step_delay_seconds": 0.2}, workflow_id=_id("stream"))
    # The tail reconnects by itself after a dropped connection and resumes after the last offset it yielded.
    tail = client.tail_stream(wf.workflow_id, "progress_stream")
    for item in tail:
        value = item.value
        console.print(f"  [{item.offset}] {value['type']:<8} {value.get('message') or value.get('result')}")
    end = tail.end
    assert end is not None
    console.print(f"stream ended: {end.reason}, {end.next_offset} values")


def request_reply(client: Client, console: Console) -> None:
    """Ask a running workflow questions and get its answers (request/reply)."""
    console.rule("4. request/reply into a counter workflow")
    wf = client.start("counter", {"start": 0}, workflow_id=_id("counter"))
    first = client.send_and_wait(wf.workflow_id, {"op": "add", "amount": 2}, timeout=WAIT)
    console.print(f"add 2 → {first.value}")
    rid = f"{wf.workflow_id}-add-40"
    second = client.send_and_wait(wf.workflow_id, {"op": "add", "amount": 40}, request_id=rid, timeout=WAIT)
    retry = client.send_and_wait(wf.workflow_id, {"op": "add", "amount": 40}, request_id=rid, timeout=WAIT)
    console.print(f"add 40 → {second.value} ({second.outcome}); retried → {retry.value} ({retry.outcome})")
    stopped = client.send_and_wait(wf.workflow_id, {"op": "stop"}, timeout=WAIT)
    console.print(f"stop → {stopped.value}")


# --- without HTTP: DBOSClient ------------------------------------------------------------------------------------


def dbos_client_tour(database_url: str, console: Console) -> None:
    """The same first three with ``DBOSClient`` against the system database."""
    from dbos import DBOSClient, EnqueueOptions, WorkflowSerializationFormat

    portable = WorkflowSerializationFormat.PORTABLE  # the server's workflows read and write portable JSON
    postgres = database_url.startswith("postgres")
    # LISTEN/NOTIFY wakes waits at once on Postgres; SQLite has no notifications, so reads poll.
    client = DBOSClient(system_database_url=database_url, use_listen_notify=postgres)
    poll = 0.05
    try:
        queue = os.environ.get("COMM_WORK_QUEUE") or TOUR_QUEUE
        if queue == TOUR_QUEUE:
            client.register_queue(TOUR_QUEUE, polling_interval_sec=0.1)
        console.print(f"enqueueing onto queue {queue!r}")

        def enqueue(workflow: str, kind: str, params: dict[str, Any]) -> Any:
            options: EnqueueOptions = {
                "workflow_name": workflow,
                "queue_name": queue,
                "workflow_id": _id(f"dbos-{kind}"),
                "serialization_type": portable,
            }
            return client.enqueue(options, params)

        console.rule("5. DBOSClient: events workflow")
        handle = enqueue("events", "events", {"n_steps": 5, "step_delay_seconds": 0.1})
        wid = handle.get_workflow_id()
        # get_event returns the latest value once the key exists (DBOS has no "newer than version" wait).
        console.print(f"enqueued {wid}; latest status: {client.get_event(wid, 'status', WAIT)}")
        output = handle.get_result(polling_interval_sec=poll)
        progress = client.get_event(wid, "progress", WAIT)
        console.print(f"progress {progress}%, total_fibonacci = {output['total_fibonacci']}")

        console.rule("6. DBOSClient: approval by message")
        handle = enqueue("messaging", "approval", {"n_steps": 3})
        wid = handle.get_workflow_id()
        console.print(f"enqueued {wid}; status: {client.get_event(wid, 'status', WAIT)}")
        message = {"approved": True, "message": "Approved through DBOSClient"}
        client.send(wid, message, "notification", f"approve-{wid}", serialization_type=portable)
        output = handle.get_result(polling_interval_sec=poll)
        console.print(f"result: {output['status']} ({output['approval_message']!r})")

        console.rule("7. DBOSClient: read_stream")
        handle = enqueue("streaming", "stream", {"n_steps": 3, "step_delay_seconds": 0.1})
        count = 0
        for value in client.read_stream(handle.get_workflow_id(), "progress_stream", polling_interval_sec=poll):
            console.print(f"  [{count}] {value['type']:<8} {value.get('message') or value.get('result')}")
            count += 1
        console.print(f"stream ended after {count} values")
    finally:
        client.destroy()


def _default_database_url() -> str | None:
    if os.environ.get("DBOS_SYSTEM_DATABASE_URL"):
        return os.environ["DBOS_SYSTEM_DATABASE_URL"]
    default = Path("data/dbos-comm.sqlite")
    return f"sqlite:///{default.resolve()}" if default.exists() else None


def main(argv: list[str] | None = None) -> int:
    """Run the tour; returns the exit status (0 when every step worked)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", default=os.environ.get("COMM_URL", "http://localhost:8000"))
    parser.add_argument("database_url", nargs="?", default=None, help="system database URL, for DBOSClient")
    args = parser.parse_args(argv)
    console = Console(soft_wrap=True)
    console.print(f"server: [bold]{args.url}[/]")
    try:
        with Client(args.url) as client:
            events_with_progress_bar(client, console)
            approval_by_message(client, console)
            live_stream_tail(client, console)
            request_reply(client, console)
    except ClientError as exc:
        console.print(f"[red]tour failed:[/] {type(exc).__name__}: {exc}")
        return 1
    database_url = args.database_url or _default_database_url()
    if database_url is None:
        console.print("no system database URL given: skipping the DBOSClient part (pass it as the second argument)")
    else:
        dbos_client_tour(database_url, console)
    console.rule("tour complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
